/**
 * `tmosh serve` as a process, for the serve tests (tests/unit/serve_test.ts
 * and tests/interop/serve_stock_client_test.ts): runs it to completion,
 * starts a detached daemon and parses what it printed.
 * @module
 */

import assert from "node:assert/strict";
import { freeUdpPort, PORT_RACE_ATTEMPTS, portsTaken } from "./ports.ts";
import { descendants, killAndWait } from "./stock_mosh.ts";
import { runEnv } from "./leaks.ts";
import { selfCommand } from "../self_command.ts";
import { serveThroughFinder } from "../client/bootstrap/install_script.ts";

export const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** Longest a `tmosh serve` parent may take to print MOSH CONNECT and exit, ms. */
export const START_LIMIT_MS = 15_000;

/** A minimal UTF-8 environment (nothing inherited, so the tests do not depend on the caller's). */
export function baseEnv(
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    LANG: "C.UTF-8",
    ...runEnv(), // so the suite's leak check sees these servers (harness/leaks.ts)
    ...extra,
  };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** How `tmosh serve` is started: by itself, or as the finder starts it (install_script.ts SERVE_FUNCTION). */
export interface ServeStart {
  finder?: boolean;
}

/** `tmosh ARGS` from source, as tmosh runs itself (self_command.ts: with its V8 flags). */
export function tmoshProcess(
  args: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.Command {
  const [exe, ...self] = selfCommand();
  return new Deno.Command(exe, { ...options, args: [...self, ...args] });
}

/** Runs `tmosh serve ARGS` to completion (which must not wait for the daemon); `finder`: until the finder's shell exits. */
export async function runServe(
  args: string[],
  env: Record<string, string> = baseEnv(),
  start: ServeStart = {},
): Promise<Run> {
  const argv = [...selfCommand(), "serve", ...args];
  const [exe, ...rest] = start.finder ? serveThroughFinder(argv) : argv;
  const child = new Deno.Command(exe, {
    args: rest,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `tmosh serve ${
            args.join(" ")
          } did not finish within ${START_LIMIT_MS} ms (is the daemon holding its stdio?)`,
        ),
      );
    }, START_LIMIT_MS);
  });
  try {
    const out = await Promise.race([child.output(), timeout]);
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A fresh temporary XDG_STATE_HOME: its own registry, hence its own user
 * daemon (server/user_daemon.ts), so a test that signals "the server's" pid
 * ends its own sessions only. Remove it with {@linkcode removeStateHome}.
 */
export async function freshStateHome(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_state_" });
  await Deno.chmod(dir, 0o700);
  return dir;
}

/** Removes a directory from {@linkcode freshStateHome} (once its daemon has gone). */
export async function removeStateHome(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** A detached server started by {@linkcode startServe}. */
export interface Daemon {
  port: number;
  key: string;
  pid: number;
  run: Run;
  /** SIGTERMs the daemon and its descendants, SIGKILLs leftovers, waits until gone. */
  stop(): Promise<void>;
}

/**
 * Starts `tmosh serve new -p <free port> ...` and parses what it printed;
 * without an XDG_STATE_HOME in `env` the server gets a fresh one (its own
 * daemon; removed by stop()).
 */
export async function startServe(
  args: string[],
  env: Record<string, string> = baseEnv(),
  start: ServeStart = {},
): Promise<Daemon> {
  const state = env.XDG_STATE_HOME === undefined
    ? await freshStateHome()
    : null;
  if (state !== null) env = { ...env, XDG_STATE_HOME: state };
  let requested = 0, run: Run;
  for (let attempt = 1;; attempt++) {
    requested = await freeUdpPort();
    run = await runServe(["new", "-p", `${requested}`, ...args], env, start);
    // Another process may take the port between finding and binding it.
    if (attempt >= PORT_RACE_ATTEMPTS || !portsTaken(run.stderr)) {
      break;
    }
  }
  const connect = /^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})$/m.exec(run.stdout);
  const detached = /^\[tmosh-server detached, pid = (\d+)\]$/m.exec(
    run.stderr,
  );
  if (detached !== null) {
    // Register cleanup before asserting, so a failed assertion leaves nothing running.
    const pid = Number(detached[1]);
    if (connect === null) await killAndWait([pid, ...await descendants(pid)]);
  }
  if ((run.code !== 0 || connect === null) && state !== null) {
    await removeStateHome(state);
  }
  assert.equal(run.code, 0, `exit status; stderr: ${run.stderr}`);
  assert.ok(connect, "a MOSH CONNECT line on stdout");
  assert.ok(detached, `a detached banner on stderr: ${run.stderr}`);
  assert.equal(Number(connect[1]), requested);
  const pid = Number(detached[1]);
  return {
    port: Number(connect[1]),
    key: connect[2],
    pid,
    run,
    async stop() {
      await killAndWait([pid, ...await descendants(pid)]);
      if (state !== null) await removeStateHome(state);
    },
  };
}

/** Sends `sig` to `pid` if it is still there. */
export function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // gone
  }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A shell with a fixed prompt, for deterministic screens. */
export const SHELL = ["--", "/bin/sh", "-c", "PS1='$ ' exec /bin/sh -i"];

/** Starts `tmosh client 127.0.0.1 PORT` with piped stdio, a minimal environment and `env` (MOSH_KEY, TERM, ...). */
export function spawnClient(
  port: number,
  env: Record<string, string>,
): Deno.ChildProcess {
  return tmoshProcess(["client", "127.0.0.1", `${port}`], {
    env: baseEnv(env),
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}
