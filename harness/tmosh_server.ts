/**
 * Starts `tmosh serve new` from source for tests and benchmarks, directly (no
 * ssh), on 127.0.0.1 and a free port, and parses what it prints: the
 * `MOSH CONNECT <port> <key>` line and the detached daemon's pid.
 * @module
 */

import { freeUdpPort } from "./ports.ts";
import { TEST_MARK_VAR } from "./sshd.ts";
import { killPidsWithEnv, killServer } from "./stock_mosh.ts";
import {
  freshStateHome,
  removeStateHome,
  tmoshProcess,
} from "./serve_process.ts";

/** Options of {@linkcode startTmoshServer}. */
export interface TmoshServerOptions {
  /** Extra environment of the server (LANG=C.UTF-8 is set unless given; a fresh XDG_STATE_HOME, so its own daemon, unless given). */
  env?: Record<string, string>;
}

/** A detached `tmosh serve` daemon. */
export interface TmoshServer {
  /** UDP port it listens on (127.0.0.1). */
  port: number;
  /** Session key (22 base64 characters). Never log it. */
  key: string;
  /** Pid of the detached daemon. */
  pid: number;
  /** Value of TMOSH_TEST_MARK in the daemon's (and its command's) environment. */
  mark: string;
  /** Kills the daemon, its descendants and whatever carries the mark, and waits until they are gone. */
  stop(): Promise<void>;
}

/** Ports tried when the one picked was taken in the meantime. */
const ATTEMPTS = 4;

/** Starts `tmosh serve new -i 127.0.0.1 -p <free port> -- COMMAND` and resolves once it has detached. */
export async function startTmoshServer(
  command: string[],
  options: TmoshServerOptions = {},
): Promise<TmoshServer> {
  const mark = `tmosh-${crypto.randomUUID()}`;
  const state = options.env?.XDG_STATE_HOME === undefined
    ? await freshStateHome()
    : null;
  const env = {
    LANG: "C.UTF-8",
    ...(state === null ? {} : { XDG_STATE_HOME: state }),
    ...options.env,
    [TEST_MARK_VAR]: mark,
  };
  let lastError = "";
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const out = await tmoshProcess([
      "serve",
      "new",
      "-i",
      "127.0.0.1",
      "-p",
      `${await freeUdpPort()}`,
      "--",
      ...command,
    ], {
      env,
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const connect = /^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})\s*$/m.exec(stdout);
    const detached = /\[tmosh-server detached, pid = (\d+)\]/.exec(stderr);
    if (connect !== null && detached !== null) {
      const pid = Number(detached[1]);
      return {
        port: Number(connect[1]),
        key: connect[2],
        pid,
        mark,
        stop: async () => {
          await killServer(pid, mark);
          if (state !== null) await removeStateHome(state);
        },
      };
    }
    // stdout is not quoted: it would hold the key on a partial success.
    lastError = `exit ${out.code}: ${stderr.trim()}`;
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    if (!/not free/.test(stderr)) break;
  }
  if (state !== null) await removeStateHome(state);
  throw new Error(`tmosh: tmosh serve did not start (${lastError})`);
}
