/**
 * What `tmosh serve new` (the front ssh runs) does to get a session from the
 * user's daemon (server/user_daemon.ts, docs/architecture.md §12.3): connect
 * to its socket, start a daemon when none answers (`tmosh serve
 * --user-daemon-internal`, detached; two fronts racing start two, the loser
 * reports `busy` and both connect to the winner), send the request and read
 * the answer (the key arrives on this socket only). A daemon that hangs up
 * without answering was exiting as we came: try again. A front that the
 * finder started and waits for becomes the daemon itself instead of starting
 * one (server/user_daemon.ts becomeUserDaemon). Loads no node: module
 * (docs/architecture.md §12.4).
 * @module
 */

import { selfCommand } from "../self_command.ts";
import { TMOSH_VERSION } from "../version.ts";
import { writeAll } from "../stdio.ts";
import { disableCoreDumpsOnce } from "../secrets.ts";
import { registryDir } from "./registry.ts";
import { printConnect, printDetachedNotice } from "./attach.ts";
import { exitedEarly, oneLine } from "./serve.ts";
import { closeConn, readLine } from "./control_socket.ts";
import {
  DAEMON_ANSWER_MAX_BYTES,
  DAEMON_REQUEST_MAX_BYTES,
  type DaemonAnswer,
  type DaemonRequest,
  daemonSocketPath,
  encodeRequest,
  parseAnswer,
  USER_DAEMON_FLAG,
  USER_DAEMON_VAR,
} from "./daemon_protocol.ts";

/** How long a front tries to get its session (start a daemon, connect, be answered), ms. */
const DAEMON_SESSION_TIMEOUT_MS = 30_000;
/** Pause before connecting again after a `busy` daemon or a hang-up, ms. */
const RETRY_PAUSE_MS = 20;

/**
 * `tmosh serve new` with the user's daemon: asks it for the session `args`
 * describe (the program gets the environment `env` would have given it),
 * then prints what mosh-server prints (warnings, `TMOSH DETACHED`, `MOSH
 * CONNECT`, the banner with the daemon's pid); resolves to the exit status.
 */
export async function serveNew(
  args: string[],
  options: {
    env: Record<string, string>;
    size: { cols: number; rows: number };
    ownerPid: number | null;
    /** The finder waiting for this front (self_command.ts FINDER_PID_VAR), or null. */
    finderPid?: number | null;
  },
): Promise<number> {
  const { env, size, ownerPid } = options;
  const finderPid = options.finderPid ?? null;
  let dir: string;
  try {
    dir = registryDir(env);
  } catch (err) {
    writeAll(Deno.stderr, `${oneLine(err)}\n`);
    return 1;
  }
  const request: DaemonRequest = {
    op: "new",
    version: TMOSH_VERSION,
    args,
    env,
    cwd: currentDir(),
    size,
    ownerPid,
  };
  // Set when this front became the daemon: serves once the answer is printed.
  const became: { serve?: () => Promise<number> } = {};
  const answer = await requestSession(request, {
    dir,
    beforeAnswer: disableCoreDumpsOnce,
    become: finderPid === null ? undefined : async () => {
      disableCoreDumpsOnce(); // the key is made in this process
      try {
        const { becomeUserDaemon } = await import("./user_daemon.ts");
        const own = await becomeUserDaemon(request, { dir, finderPid });
        if (own === null) return null;
        became.serve = own.serve;
        return own.answer;
      } catch (err) {
        return { ok: false, error: oneLine(err) };
      }
    },
  });
  if (!answer.ok) {
    writeAll(Deno.stderr, `${answer.error}\n`);
    await became.serve?.(); // closes the socket it bound
    return 1;
  }
  for (const w of answer.warnings) writeAll(Deno.stderr, `${w}\n`);
  printDetachedNotice(env, { exceptId: answer.id });
  printConnect(answer.port, answer.key);
  writeAll(
    Deno.stderr,
    `\ntmosh ${TMOSH_VERSION}\n\n[tmosh-server detached, pid = ${answer.pid}]\n`,
  );
  return became.serve === undefined ? 0 : await became.serve();
}

/** This process's working directory, or null when it is gone. */
function currentDir(): string | null {
  try {
    return Deno.cwd();
  } catch {
    return null;
  }
}

/**
 * Asks the daemon of registry `dir` for a session (starting the daemon if
 * needed, or once `become` it: its answer, null when another daemon holds
 * the socket); resolves to its answer (an error answer on failure, with a
 * one-line reason).
 */
export async function requestSession(
  request: DaemonRequest,
  options: {
    dir: string;
    beforeAnswer?: () => void;
    become?: () => Promise<DaemonAnswer | null>;
  },
): Promise<DaemonAnswer> {
  let become = options.become;
  const bytes = new TextEncoder().encode(encodeRequest(request)).length;
  if (bytes > DAEMON_REQUEST_MAX_BYTES) {
    return {
      ok: false,
      error:
        `tmosh: the environment is too large to pass to the tmosh daemon (over ${DAEMON_REQUEST_MAX_BYTES} bytes); unset some variables, or set ${USER_DAEMON_VAR}=0`,
    };
  }
  const path = daemonSocketPath(options.dir);
  const deadline = Date.now() + DAEMON_SESSION_TIMEOUT_MS;
  let why = "it did not answer";
  while (Date.now() < deadline) {
    const conn = await connect(path);
    if (conn !== null) {
      const answer = await ask(conn, request, {
        timeoutMs: deadline - Date.now(),
        beforeAnswer: options.beforeAnswer,
      });
      if (answer !== null) return answer;
      why = "it hung up without answering";
    } else if (become !== undefined) {
      const own = await become();
      if (own !== null) return own;
      become = undefined; // another daemon has the socket: ask it
    } else {
      const started = await startDaemon(deadline - Date.now());
      if (started.kind === "error") return { ok: false, error: started.text };
      if (started.kind === "ready") continue;
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
  return {
    ok: false,
    error:
      `tmosh: the tmosh daemon did not start a session within ${DAEMON_SESSION_TIMEOUT_MS} ms (${why}); run tmosh serve -v to see why`,
  };
}

/** A connection to the daemon socket, or null when nothing listens there. */
async function connect(path: string): Promise<Deno.Conn | null> {
  try {
    return await Deno.connect({ transport: "unix", path });
  } catch {
    return null;
  }
}

/** Sends the request and reads the answer (`beforeAnswer` runs in between); null when the daemon hung up first. */
async function ask(
  conn: Deno.Conn,
  request: DaemonRequest,
  options: { timeoutMs: number; beforeAnswer?: () => void },
): Promise<DaemonAnswer | null> {
  // Not setTimeout: the first one costs a process 10-15 ms (Deno 2.9), here
  // on the path to MOSH CONNECT; AbortSignal.timeout does not.
  const deadline = AbortSignal.timeout(Math.max(0, options.timeoutMs));
  const hangUp = () => closeConn(conn);
  deadline.addEventListener("abort", hangUp);
  try {
    const bytes = new TextEncoder().encode(encodeRequest(request));
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    options.beforeAnswer?.(); // the daemon is at work meanwhile
    const line = await readLine(conn, DAEMON_ANSWER_MAX_BYTES);
    if (line === null) return null;
    return parseAnswer(line) ??
      { ok: false, error: "tmosh: malformed answer from the tmosh daemon" };
  } catch {
    return null;
  } finally {
    deadline.removeEventListener("abort", hangUp);
    closeConn(conn);
  }
}

/** What a daemon being started said: listening, another one holds the socket, or why it cannot. */
type Started = { kind: "ready" | "busy" } | { kind: "error"; text: string };

/** Starts `tmosh serve --user-daemon-internal` detached and reads its first line. */
async function startDaemon(timeoutMs: number): Promise<Started> {
  const [exe, ...selfArgs] = selfCommand();
  const child = new Deno.Command(exe, {
    args: [...selfArgs, "serve", USER_DAEMON_FLAG],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    detached: true,
  }).spawn();
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), Math.max(0, timeoutMs));
  });
  try {
    while (!text.includes("\n")) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === null) {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone
        }
        return {
          kind: "error",
          text:
            `tmosh: the tmosh daemon did not start within ${timeoutMs} ms; run tmosh serve -v to see why`,
        };
      }
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
    child.unref();
  }
  const nl = text.indexOf("\n");
  const line = nl >= 0 ? text.slice(0, nl) : text;
  if (line === "ready" || line === "busy") return { kind: line };
  if (line.startsWith("error ")) return { kind: "error", text: line.slice(6) };
  return { kind: "error", text: await exitedEarly(child, "tmosh daemon") };
}
