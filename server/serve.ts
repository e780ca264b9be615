/**
 * `tmosh serve`: the mosh-server contract (docs/wire.md §1.2–§1.7). Checks the
 * locale and prints `MOSH CONNECT <port> <key>` for a session that runs on
 * after this process has exited.
 *
 * The session runs in the user's daemon (server/user_daemon.ts,
 * docs/architecture.md §12.3), one process for all of the user's sessions:
 * this process (the front ssh runs) sends it the request with its
 * environment and window size (server/daemon_client.ts), starting the
 * daemon when there is none, and prints what it answers. The key travels
 * only on the daemon's 0600 socket, never in argv or the environment.
 * With `TMOSH_USER_DAEMON=0` the session gets a daemon process of its own
 * instead: Deno cannot fork, so tmosh re-executes itself detached
 * (`--daemon-internal=COLSxROWS` as first word, same arguments), and that
 * child binds, generates the key and reports `ok PORT KEY` (or `error TEXT`)
 * on a pipe, then points its stdio at /dev/null and runs the session.
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
import { FINDER_PID_VAR, selfCommand } from "../self_command.ts";
import { buildChildEnv, isUtf8Locale, localeMessage } from "./child_env.ts";
import { libc, redirectStdioToDevNull } from "../libc.ts";
import { disableCoreDumpsOnce } from "../secrets.ts";
import {
  DAEMON_FLAG,
  parseServeArgs,
  SERVE_USAGE,
  type ServeOptions,
  withoutDetachedTimeout,
} from "./serve_args.ts";
import type { SessionOptions } from "./session.ts";
import { readTimeouts, sessionOptions } from "./session_setup.ts";
import { takeOwnerPid, takePid } from "./owner.ts";
import type { Registered } from "./registration.ts";
import {
  ATTACH_USAGE,
  KILL_USAGE,
  LIST_USAGE,
  SESSION_COMMANDS,
} from "./session_commands.ts";
import { printConnect, printDetachedNotice } from "./attach.ts";
import { RELAY_USAGE } from "./relay_args.ts";
import { USER_DAEMON_FLAG, USER_DAEMON_VAR } from "./daemon_protocol.ts";
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
  // Core dumps go off before a key can exist: first thing on every path but
  // the user daemon's front, which does it while the daemon makes its session.
  const command = withoutDetachedTimeout(args);
  if (command[0] === USER_DAEMON_FLAG) {
    disableCoreDumpsOnce();
    const { runUserDaemon } = await import("./user_daemon.ts");
    return await runUserDaemon();
  }
  if (command[0] === "relay") {
    disableCoreDumpsOnce();
    const { relayMain } = await import("./relay.ts");
    return await relayMain(command.slice(1));
  }
  if (SESSION_COMMANDS.includes(command[0])) {
    disableCoreDumpsOnce();
    const { sessionCommand } = await import("./session_commands.ts");
    return await sessionCommand(command, { env: Deno.env.toObject() });
  }
  const env = Deno.env.toObject();
  // Read by the daemon too (it inherits our environment); never the program's.
  const ownerPid = takeOwnerPid(env);
  const finderPid = takePid(env, FINDER_PID_VAR);
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
    disableCoreDumpsOnce();
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
    disableCoreDumpsOnce();
    const session = sessionOptions(opts, { env: childEnv, size, timeouts });
    session.detachedTimeoutMs = detached.ms;
    if (ownerPid !== null) session.ownerPid = ownerPid;
    return opts.daemon
      ? await runDaemon(opts, session)
      : await runAttached(opts, session);
  }
  if (env[USER_DAEMON_VAR] === "0") {
    disableCoreDumpsOnce();
    return await detach(args, size);
  }
  const { serveNew } = await import("./daemon_client.ts");
  return await serveNew(args, {
    env,
    size,
    ownerPid,
    // The finder that started this front waits for it (not a stale variable).
    finderPid: finderPid === Deno.ppid ? finderPid : null,
  });
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
  const [exe, ...selfArgs] = selfCommand();
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
    return { kind: "error", text: await exitedEarly(child, "server process") };
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

/** Why a daemon `child` (the `what`) ended before it reported ready, as one line (waits for its exit). */
export async function exitedEarly(
  child: Deno.ChildProcess,
  what: string,
): Promise<string> {
  const status = await child.status;
  return `tmosh: the ${what} exited (status ${status.code}${
    status.signal ? `, ${status.signal}` : ""
  }) before it was ready; run tmosh serve -v to see why`;
}

/** An error's message on one line, starting `tmosh: `. */
export function oneLine(err: unknown): string {
  const line = errorText(err).replaceAll("\n", " ");
  return line.startsWith("tmosh: ") ? line : `tmosh: ${line}`;
}

/** Loads libc now, so that silenceStdio() right after the report is immediate. */
export function prepareSilence(): void {
  try {
    libc();
  } catch {
    // reported by silenceStdio's fallback
  }
}

/** Points fds 0, 1 and 2 at /dev/null, as mosh-server's daemon does, so nothing holds ssh's pipes. */
export function silenceStdio(): void {
  try {
    redirectStdioToDevNull();
  } catch {
    // No FFI: stdout stays a pipe nobody reads, which only matters if we print.
  }
}
