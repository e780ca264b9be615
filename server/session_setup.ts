/**
 * What a `tmosh serve new` session runs with, from its words and the
 * environment of the process ssh started: the program (command, or login
 * shell with its motd), its environment and working directory, the window
 * size, and the server timeouts of docs/wire.md §1.7. Used by the front
 * (`-v`, a per-session daemon) and by the user's daemon alike.
 * @module
 */

import { writeAll } from "../stdio.ts";
import { loginShell, readMotd } from "./child_env.ts";
import type { ServeOptions } from "./serve_args.ts";
import type { SessionOptions } from "./session.ts";

/** The seconds-valued server timeouts of docs/wire.md §1.7, in ms (0 = off), and complaints about bad values. */
export interface ServerTimeouts {
  /** MOSH_SERVER_NETWORK_TMOUT in ms. */
  networkMs: number;
  /** MOSH_SERVER_SIGNAL_TMOUT in ms. */
  signalMs: number;
  /** Messages about values that were ignored. */
  warnings: string[];
}

/** Reads MOSH_SERVER_NETWORK_TMOUT and MOSH_SERVER_SIGNAL_TMOUT as mosh-server does (strtol, whole string). */
export function readTimeouts(
  env: Record<string, string | undefined>,
): ServerTimeouts {
  const warnings: string[] = [];
  function read(name: string): number {
    const text = env[name];
    if (text === undefined || text === "") return 0;
    if (!/^\s*[+-]?\d+$/.test(text)) {
      warnings.push(`${name} not a valid integer, ignoring`);
      return 0;
    }
    const n = Number(text.trim());
    if (n < 0) {
      warnings.push(`${name} is negative, ignoring`);
      return 0;
    }
    return Math.min(n, 2 ** 31) * 1000;
  }
  return {
    networkMs: read("MOSH_SERVER_NETWORK_TMOUT"),
    signalMs: read("MOSH_SERVER_SIGNAL_TMOUT"),
    warnings,
  };
}

/** The session's settings: the command (or login shell), its environment (the program's, after buildChildEnv), window size and timeouts. */
export function sessionOptions(
  opts: ServeOptions,
  setup: {
    env: Record<string, string>;
    size: { cols: number; rows: number };
    timeouts: ServerTimeouts;
  },
): SessionOptions {
  const { env, size, timeouts } = setup;
  const home = env.HOME;
  const cwd = home !== undefined && home !== "" ? home : undefined;
  const childEnv = { ...env };
  if (cwd !== undefined) childEnv.PWD = cwd;
  const base = {
    env: childEnv,
    cwd,
    width: size.cols,
    height: size.rows,
    networkTimeoutMs: timeouts.networkMs,
    signalTimeoutMs: timeouts.signalMs,
    log: opts.verbose > 0
      ? (line: string) => writeAll(Deno.stderr, `${line}\n`)
      : undefined,
  };
  if (opts.command !== null) return { ...base, command: opts.command };
  const shell = loginShell();
  return {
    ...base,
    command: [shell.path],
    argv0: shell.argv0,
    banner: readMotd(cwd),
  };
}
