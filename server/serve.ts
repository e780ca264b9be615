/**
 * `tmosh serve`: the mosh-server contract (docs/wire.md §1.2–§1.7). Checks the
 * locale, binds the UDP port, prints `MOSH CONNECT <port> <key>` and detaches,
 * leaving a daemon that runs the session.
 *
 * Detaching: Deno cannot fork, so the process ssh started re-executes tmosh as
 * a detached child (`--daemon-internal=COLSxROWS` as first word, same
 * arguments). The child binds, generates the key and reports `ok PORT KEY`
 * (or `error TEXT`) on a pipe, so the key never appears in argv or the
 * environment; then it points its stdio at /dev/null and runs the session.
 * The first process prints the `MOSH CONNECT` line and the banner and exits 0.
 * With `-v` nothing detaches: the session runs in the first process, logging
 * to stderr. Either way the session registers itself (server/registration.ts)
 * before it reports its port; `tmosh serve list|kill` go to
 * server/session_commands.ts.
 * @module
 */

// Only a type: the front process ssh runs never loads the network (and node:
// compatibility) code, which costs it ~30 ms of start-up (docs/architecture.md §12.4).
import type { Connection } from "../protocol/network/connection.ts";
import { TMOSH_VERSION } from "../version.ts";
import { writeAll } from "../stdio.ts";
import { errorText } from "../protocol/network/os_error.ts";
import { encodeKey, generateKey } from "../protocol/crypto/key.ts";
import { selfCommand, SERVER_V8_FLAGS } from "../self_command.ts";
import {
  buildChildEnv,
  isUtf8Locale,
  localeMessage,
  loginShell,
  readMotd,
} from "./child_env.ts";
import { libc, redirectStdioToDevNull } from "../libc.ts";
import {
  DAEMON_FLAG,
  parseServeArgs,
  SERVE_USAGE,
  type ServeOptions,
  withoutDetachedTimeout,
} from "./serve_args.ts";
import type { SessionOptions } from "./session.ts";
import { takeOwnerPid } from "./owner.ts";
import type { Registered } from "./registration.ts";
import {
  ATTACH_USAGE,
  KILL_USAGE,
  LIST_USAGE,
  SESSION_COMMANDS,
} from "./session_commands.ts";
import { printConnect, printDetachedNotice } from "./attach.ts";
import { RELAY_USAGE } from "./relay_args.ts";
import {
  DETACHED_TIMEOUT_HELP,
  readDetachedTimeout,
} from "./detached_timeout.ts";

/** How long the first process waits for the daemon to report its port, ms. */
const DAEMON_READY_TIMEOUT = 30_000;

/** Window size used when stdin is not a terminal (mosh: run_server). */
const DEFAULT_SIZE = { cols: 80, rows: 24 };

/** Runs `tmosh serve` with the words after `serve`; resolves to the exit status. */
export async function serve(args: string[]): Promise<number> {
  const command = withoutDetachedTimeout(args);
  if (command[0] === "relay") {
    const { relayMain } = await import("./relay.ts");
    return await relayMain(command.slice(1));
  }
  if (SESSION_COMMANDS.includes(command[0])) {
    const { sessionCommand } = await import("./session_commands.ts");
    return await sessionCommand(command, { env: Deno.env.toObject() });
  }
  const env = Deno.env.toObject();
  // Read by the daemon too (it inherits our environment); never the program's.
  const ownerPid = takeOwnerPid(env);
  const parsed = parseServeArgs(args, { env });
  if (parsed.kind === "help") {
    writeAll(
      Deno.stdout,
      `${SERVE_USAGE}\n${DETACHED_TIMEOUT_HELP}\n${LIST_USAGE}\n${KILL_USAGE}\n${ATTACH_USAGE}\n${RELAY_USAGE}\n`,
    );
    return 0;
  }
  if (parsed.kind === "version") {
    writeAll(
      Deno.stdout,
      `tmosh ${TMOSH_VERSION} ${Deno.build.target} (serve: a Mosh 1.4 compatible server)\n`,
    );
    return 0;
  }
  if (parsed.kind === "error") {
    writeAll(Deno.stderr, `${parsed.message}\n${SERVE_USAGE}\n`);
    return 1;
  }
  const opts = parsed.options;
  if (opts.attach !== null) {
    // `mosh --server="tmosh serve --attach=ID"`: the session exists; the
    // front-end's `new ...` arguments are for a new one and are ignored.
    const { sessionCommand } = await import("./session_commands.ts");
    return await sessionCommand(["attach", opts.attach], { env });
  }
  if (!opts.daemon) {
    for (const line of opts.warnings) writeAll(Deno.stderr, `${line}\n`);
  }
  const childEnv = buildChildEnv(env, {
    colors: opts.colors,
    locale: opts.locale,
  });
  if (!isUtf8Locale(childEnv)) {
    writeAll(Deno.stderr, localeMessage(env, opts.locale));
    return 1;
  }
  const timeouts = readTimeouts(env);
  const detached = readDetachedTimeout(env, opts.detachedTimeout);
  if (!opts.daemon) {
    for (const line of [...timeouts.warnings, ...detached.warnings]) {
      writeAll(Deno.stderr, `${line}\n`);
    }
  }
  const size = opts.daemonSize ?? terminalSize();
  if (opts.daemon || opts.verbose > 0) {
    const session = sessionOptions(opts, childEnv, size, timeouts);
    session.detachedTimeoutMs = detached.ms;
    if (ownerPid !== null) session.ownerPid = ownerPid;
    return opts.daemon
      ? await runDaemon(opts, session)
      : await runAttached(opts, session);
  }
  return await detach(args, size);
}

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

/** The session's settings: the command (or login shell), its environment and the timeouts. */
function sessionOptions(
  opts: ServeOptions,
  env: Record<string, string>,
  size: { cols: number; rows: number },
  timeouts: ServerTimeouts,
): SessionOptions {
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

/** The daemon: bind, report `ok PORT KEY` on stdout, silence stdio, run the session. */
async function runDaemon(
  opts: ServeOptions,
  session: SessionOptions,
): Promise<number> {
  let connection: Connection;
  let sessionModule: Promise<typeof import("./session.ts")> | undefined;
  const registration = import("./registration.ts");
  registration.catch(() => {}); // awaited below
  const key = generateKey();
  try {
    const { Connection } = await import("../protocol/network/connection.ts");
    // The session code (emulator, pty) loads while the first process reports
    // MOSH CONNECT: it is off the critical path of the ssh bootstrap.
    sessionModule = import("./session.ts");
    sessionModule.catch(() => {}); // awaited below
    connection = await Connection.listen(key, {
      ip: opts.ip,
      portRange: opts.portRange,
    });
  } catch (err) {
    writeAll(Deno.stdout, `error ${oneLine(err)}\n`);
    return 1;
  }
  for (const w of connection.warnings) {
    writeAll(Deno.stdout, `warn ${w.replaceAll("\n", " ")}\n`);
  }
  let registered: Registered;
  try {
    const { registerServe } = await registration;
    registered = registerServe(connection, { name: opts.name, session });
  } catch (err) {
    writeAll(Deno.stdout, `error ${oneLine(err)}\n`);
    await connection.close();
    return 1;
  }
  prepareSilence();
  writeAll(Deno.stdout, `ok ${connection.port} ${encodeKey(key)}\n`);
  key.fill(0);
  silenceStdio();
  try {
    const { runSession } = await sessionModule!;
    return await runSession(connection, registered.session);
  } finally {
    registered.close();
  }
}

/** `-v`: bind, print MOSH CONNECT and run the session in this process, logging to stderr. */
async function runAttached(
  opts: ServeOptions,
  session: SessionOptions,
): Promise<number> {
  const key = generateKey();
  let connection: Connection;
  let runSession: typeof import("./session.ts").runSession;
  try {
    ({ runSession } = await import("./session.ts"));
    const { Connection } = await import("../protocol/network/connection.ts");
    connection = await Connection.listen(key, {
      ip: opts.ip,
      portRange: opts.portRange,
      log: session.log,
    });
  } catch (err) {
    writeAll(Deno.stderr, `${oneLine(err)}\n`);
    return 1;
  }
  for (const w of connection.warnings) writeAll(Deno.stderr, `${w}\n`);
  let registered: Registered;
  try {
    const { registerServe } = await import("./registration.ts");
    registered = registerServe(connection, { name: opts.name, session });
  } catch (err) {
    writeAll(Deno.stderr, `${oneLine(err)}\n`);
    await connection.close();
    return 1;
  }
  printConnect(connection.port, encodeKey(key));
  key.fill(0);
  writeAll(
    Deno.stderr,
    `\ntmosh ${TMOSH_VERSION}\n\n[tmosh-server attached (-v), pid = ${Deno.pid}, id = ${registered.id}]\n`,
  );
  let status: number;
  try {
    status = await runSession(connection, registered.session);
  } finally {
    registered.close();
  }
  writeAll(Deno.stdout, "\n[tmosh-server is exiting.]\n");
  return status;
}

/** Starts the daemon, relays its report as MOSH CONNECT and the banner; does not wait for it. */
async function detach(
  args: string[],
  size: { cols: number; rows: number },
): Promise<number> {
  const started = await startDaemon([
    `${DAEMON_FLAG}=${size.cols}x${size.rows}`,
    ...args,
  ]);
  if (started === null) return 1;
  const { child, report } = started;
  for (const w of report.warnings) writeAll(Deno.stderr, `${w}\n`);
  printDetachedNotice(Deno.env.toObject(), { exceptPid: child.pid });
  printConnect(report.port, report.key);
  writeAll(
    Deno.stderr,
    `\ntmosh ${TMOSH_VERSION}\n\n[tmosh-server detached, pid = ${child.pid}]\n`,
  );
  return 0;
}

/**
 * Starts `tmosh serve WORDS` as a detached daemon and reads its report; on
 * failure prints why (killing a daemon that never reported) and returns null.
 */
export async function startDaemon(
  words: string[],
): Promise<
  { child: Deno.ChildProcess; report: Extract<Report, { kind: "ok" }> } | null
> {
  const [exe, ...selfArgs] = selfCommand({ v8Flags: SERVER_V8_FLAGS });
  const child = new Deno.Command(exe, {
    args: [...selfArgs, "serve", ...words],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    detached: true,
  }).spawn();
  const report = await readReport(child);
  child.unref();
  if (report.kind === "ok") return { child, report };
  writeAll(Deno.stderr, `${report.text}\n`);
  if (report.kind === "silent") {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  return null;
}

/** What the daemon reported on its pipe. */
type Report =
  | { kind: "ok"; port: number; key: string; warnings: string[] }
  | { kind: "error" | "silent"; text: string };

/** Reads `warn`/`ok`/`error` lines from the daemon until ok or error, EOF or the timeout. */
async function readReport(
  child: Deno.ChildProcess,
): Promise<Report> {
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  const warnings: string[] = [];
  let buffered = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), DAEMON_READY_TIMEOUT);
  });
  try {
    while (true) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === null) {
        return {
          kind: "silent",
          text:
            `tmosh: the server process did not report its port within ${DAEMON_READY_TIMEOUT} ms; run tmosh serve -v to see why`,
        };
      }
      if (chunk.done) break;
      buffered += decoder.decode(chunk.value, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const ok = /^ok (\d+) ([A-Za-z0-9/+]{22})$/.exec(line);
        if (ok !== null) {
          return { kind: "ok", port: Number(ok[1]), key: ok[2], warnings };
        }
        if (line.startsWith("error ")) {
          return { kind: "error", text: line.slice(6) };
        }
        if (line.startsWith("warn ")) warnings.push(line.slice(5));
      }
    }
    const status = await child.status;
    return {
      kind: "error",
      text: `tmosh: the server process exited (status ${status.code}${
        status.signal ? `, ${status.signal}` : ""
      }) before it was ready; run tmosh serve -v to see why`,
    };
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
}

/** The ssh pty's window size, or 80×24 when stdin is not a terminal (mosh: run_server). */
function terminalSize(): { cols: number; rows: number } {
  try {
    if (Deno.stdin.isTerminal()) {
      const { columns, rows } = Deno.consoleSize();
      if (columns > 0 && rows > 0) return { cols: columns, rows };
    }
  } catch {
    // no usable terminal
  }
  return DEFAULT_SIZE;
}

/** An error's message on one line. */
function oneLine(err: unknown): string {
  const line = errorText(err).replaceAll("\n", " ");
  return line.startsWith("tmosh: ") ? line : `tmosh: ${line}`;
}

/** Loads libc now, so that silenceStdio() right after the report is immediate. */
function prepareSilence(): void {
  try {
    libc();
  } catch {
    // reported by silenceStdio's fallback
  }
}

/** Points fds 0, 1 and 2 at /dev/null, as mosh-server's daemon does, so nothing holds ssh's pipes. */
function silenceStdio(): void {
  try {
    redirectStdioToDevNull();
  } catch {
    // No FFI: stdout stays a pipe nobody reads, which only matters if we print.
  }
}
