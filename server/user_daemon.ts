/**
 * The user's daemon (docs/architecture.md §12.3): one process hosts every
 * `tmosh serve` session of a user, so the second and later sessions share
 * the runtime and start without a cold start. `tmosh serve new` (the front
 * ssh runs, server/daemon_client.ts) connects to its socket
 * `daemon-VERSION.sock` in the registry directory and sends one request;
 * the daemon starts the session (its own UDP socket and key, registry
 * record and control socket, pty and program with the front's environment,
 * detached timeout) and answers with its port and key.
 *
 * Started as `tmosh serve --user-daemon-internal` by a front that found
 * none: binds the socket under a lock file (O_EXCL), reports `ready` (`busy`:
 * another daemon has it; `error TEXT`) on stdout, silences its stdio and
 * serves (the socket and its lock: server/daemon_socket.ts). A front that
 * the finder started and waits for (self_command.ts FINDER_PID_VAR) becomes
 * the daemon itself instead (becomeUserDaemon): no second cold start on a
 * user's first session. A session ends alone (its program, `serve kill ID`,
 * its timeouts); SIGTERM/SIGINT reach every session, SIGHUP is ignored (as
 * mosh-server).
 * It exits once its last session has ended and no front is connected.
 * @module
 */

import type { Connection } from "../protocol/network/connection.ts";
import { encodeKey, generateKey } from "../protocol/crypto/key.ts";
import { writeAll } from "../stdio.ts";
import { buildChildEnv, isUtf8Locale, localeMessage } from "./child_env.ts";
import { parseServeArgs } from "./serve_args.ts";
import { readDetachedTimeout } from "./detached_timeout.ts";
import { registryDir } from "./registry.ts";
import { closeConn, readLine } from "./control_socket.ts";
import { bindSocket, type Bound, closeSocket } from "./daemon_socket.ts";
import type { Registered } from "./registration.ts";
import {
  DAEMON_REQUEST_IDLE_MS,
  DAEMON_REQUEST_MAX_BYTES,
  type DaemonAnswer,
  type DaemonRequest,
  encodeAnswer,
  parseRequest,
} from "./daemon_protocol.ts";
import { oneLine, prepareSilence, silenceStdio } from "./serve.ts";
import { libc, SIGINT, SIGQUIT } from "../libc.ts";
import { readTimeouts, sessionOptions } from "./session_setup.ts";
import { prefetchPolicy } from "./sshd_policy.ts";

/** A daemon nobody has asked for a session within this long after it started exits, ms. */
const FIRST_REQUEST_MS = 10_000;

/** The modules a session needs: the network's loading from the daemon's start, the session code's once the first answer is out. */
interface SessionModules {
  connection: Promise<typeof import("../protocol/network/connection.ts")>;
  registration: Promise<typeof import("./registration.ts")>;
  session: () => Promise<typeof import("./session.ts")>;
}

/** Runs the daemon (`tmosh serve --user-daemon-internal`); resolves to the exit status once it is done. */
export async function runUserDaemon(): Promise<number> {
  const modules = sessionModules();
  let dir: string;
  let bound: Bound | null;
  try {
    dir = registryDir(Deno.env.toObject());
    bound = await bindSocket(dir);
  } catch (err) {
    writeAll(Deno.stdout, `error ${oneLine(err)}\n`);
    return 1;
  }
  if (bound === null) {
    writeAll(Deno.stdout, "busy\n");
    return 0;
  }
  prepareSilence();
  writeAll(Deno.stdout, "ready\n");
  detach();
  const daemon = new UserDaemon(dir, bound, modules);
  return await daemon.run();
}

/**
 * Makes this `serve new` front, which the finder started and waits for, the
 * user's daemon: binds the socket (null when another daemon holds it) and
 * sets up the front's own session. Resolves to its answer, for the front to
 * print, and `serve`, which then lets go of ssh (stdio to /dev/null, a session
 * of its own, the finder signalled to exit) and serves until the last session
 * has ended; after an error answer, `serve` only closes the socket.
 */
export async function becomeUserDaemon(
  request: DaemonRequest,
  options: { dir: string; finderPid: number },
): Promise<{ answer: DaemonAnswer; serve: () => Promise<number> } | null> {
  const modules = sessionModules();
  const bound = await bindSocket(options.dir);
  if (bound === null) return null;
  const daemon = new UserDaemon(options.dir, bound, modules);
  const started = await daemon.startOwn(request);
  return {
    answer: started.answer,
    serve: async () => {
      if (started.answer.ok) letGo(options.finderPid);
      started.run?.();
      return await daemon.run();
    },
  };
}

/** The modules a session needs: the network now (the first answer needs it); the session code (emulator, pty) only after that answer, so its loading does not hold the answer back. */
function sessionModules(): SessionModules {
  const connection = import("../protocol/network/connection.ts");
  const registration = import("./registration.ts");
  for (const p of [connection, registration]) p.catch(() => {});
  let sessionCode: Promise<typeof import("./session.ts")> | undefined;
  const session = () => sessionCode ??= import("./session.ts");
  return { connection, registration, session };
}

/** Stdio to /dev/null and `/` as the working directory: a long-lived process holds none of its starter's pipes, pty or directory. */
function detach(): void {
  silenceStdio();
  try {
    Deno.chdir("/");
  } catch {
    // stays where it was started
  }
}

/**
 * Lets go of ssh once MOSH CONNECT is out, as a daemon started apart would
 * have: detached (nothing holds the pty: ssh's channel can close), a session
 * of its own (the finder, a shell's session leader, sends its process group
 * SIGHUP as it exits), SIGINT and SIGQUIT back to their default (a shell's
 * background job starts with them ignored); then the finder is told to exit.
 */
function letGo(finderPid: number): void {
  detach();
  try {
    const c = libc();
    c.setsid();
    for (const sig of [SIGINT, SIGQUIT]) c.signal(sig, null);
  } catch {
    // no FFI: the server could not run a pty either
  }
  try {
    Deno.kill(finderPid, "SIGUSR1");
  } catch {
    // the finder is gone: nobody waits
  }
}

/** The sessions table, the socket and the exit rule. */
class UserDaemon {
  readonly #dir: string;
  readonly #bound: Bound;
  readonly #modules: SessionModules;
  /** Sessions running, by id. */
  readonly #sessions = new Set<string>();
  /** Fronts connected (a request being read or answered). */
  #fronts = 0;
  /** A front has asked, or FIRST_REQUEST_MS passed: no session left means exit. */
  #armed = false;
  #closed = false;
  readonly #done = Promise.withResolvers<void>();
  /** SIGTERM or SIGINT arrived: sessions not yet running never start. */
  #stopping = false;
  /** Sessions answered whose code is still loading: their registrations' close. */
  #loading = new Map<string, () => void>();

  constructor(dir: string, bound: Bound, modules: SessionModules) {
    this.#dir = dir;
    this.#bound = bound;
    this.#modules = modules;
  }

  /** Sets up the session of this process's own front (becomeUserDaemon), as a front's request. */
  async startOwn(
    request: DaemonRequest,
  ): Promise<{ answer: DaemonAnswer; run?: () => void }> {
    this.#armed = true;
    return await this.#startSession(request);
  }

  /** Serves until the exit rule holds. */
  async run(): Promise<number> {
    const onStop = () => {
      this.#armed = true;
      this.#stopping = true;
      this.#maybeExit(); // running sessions end on the signal themselves
    };
    const ignore = () => {};
    const signals: [Deno.Signal, () => void][] = [
      ["SIGTERM", onStop],
      ["SIGINT", onStop],
      ["SIGHUP", ignore],
    ];
    for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);
    // A bug that escapes one session's guards must not end the others with it.
    const keep = (event: Event) => event.preventDefault();
    globalThis.addEventListener("error", keep);
    globalThis.addEventListener("unhandledrejection", keep);
    // Not setTimeout: the first one costs a process 10-15 ms (Deno 2.9), here
    // between `ready` and the first front's answer.
    const first = AbortSignal.timeout(FIRST_REQUEST_MS);
    const noFront = () => {
      this.#armed = true;
      this.#maybeExit();
    };
    first.addEventListener("abort", noFront);
    void this.#accept();
    this.#maybeExit(); // the own session of a front that became the daemon may have failed
    await this.#done.promise;
    first.removeEventListener("abort", noFront);
    for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
    globalThis.removeEventListener("error", keep);
    globalThis.removeEventListener("unhandledrejection", keep);
    return 0;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#bound.listener) {
        if (this.#closed) {
          closeConn(conn);
          continue;
        }
        this.#fronts++;
        this.#armed = true;
        this.#serveFront(conn).catch(() => {}).finally(() => {
          closeConn(conn);
          this.#fronts--;
          this.#maybeExit();
        });
      }
    } catch {
      // the listener was closed
    }
  }

  /** Reads one request, starts the session, answers. */
  async #serveFront(conn: Deno.Conn): Promise<void> {
    const timer = setTimeout(() => closeConn(conn), DAEMON_REQUEST_IDLE_MS);
    let line: string | null;
    try {
      line = await readLine(conn, DAEMON_REQUEST_MAX_BYTES);
    } finally {
      clearTimeout(timer);
    }
    if (line === null) return;
    const request = parseRequest(line);
    const started = request === null
      ? fail("tmosh: malformed request to the tmosh daemon")
      : await this.#startSession(request);
    try {
      const bytes = new TextEncoder().encode(encodeAnswer(started.answer));
      let off = 0;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    } finally {
      started.run?.(); // a front gone meanwhile: the session waits for a client, as ever
    }
  }

  /** Sets up the session `request` asks for, as `tmosh serve new` would in a process of its own: the answer, and what runs it once the answer is out. */
  async #startSession(
    request: DaemonRequest,
  ): Promise<{ answer: DaemonAnswer; run?: () => void }> {
    const env = request.env;
    const parsed = parseServeArgs(request.args, { env });
    if (parsed.kind !== "run" || parsed.options.attach !== null) {
      return fail("tmosh: the daemon only starts sessions");
    }
    const opts = parsed.options;
    const childEnv = buildChildEnv(env, {
      colors: opts.colors,
      locale: opts.locale,
    });
    if (!isUtf8Locale(childEnv)) {
      return fail(oneLine(localeMessage(env, opts.locale)));
    }
    const session = sessionOptions(opts, {
      env: childEnv,
      size: request.size,
      timeouts: readTimeouts(env),
    });
    session.detachedTimeoutMs =
      readDetachedTimeout(env, opts.detachedTimeout).ms;
    if (request.ownerPid !== null) session.ownerPid = request.ownerPid;
    if (session.cwd === undefined && request.cwd !== null) {
      session.cwd = request.cwd; // no HOME: where the front ran, as before
    }
    const key = generateKey();
    let connection: Connection;
    try {
      const { Connection } = await this.#modules.connection;
      connection = await Connection.listen(key, {
        ip: opts.ip,
        portRange: opts.portRange,
      });
    } catch (err) {
      key.fill(0);
      return fail(oneLine(err));
    }
    let registered: Registered;
    try {
      const { registerServe } = await this.#modules.registration;
      registered = registerServe(connection, { name: opts.name, session });
    } catch (err) {
      key.fill(0);
      await connection.close();
      return fail(oneLine(err));
    }
    const id = registered.id;
    this.#sessions.add(id);
    const answer: DaemonAnswer = {
      ok: true,
      port: connection.port,
      key: encodeKey(key),
      id,
      pid: Deno.pid,
      warnings: connection.warnings.map((w) => w.replaceAll("\n", " ")),
    };
    key.fill(0);
    let closed = false;
    const unregister = () => {
      if (!closed) registered.close();
      closed = true;
    };
    this.#loading.set(id, unregister);
    const run = () =>
      (async () => {
        try {
          // sshd -T runs while the client starts (and a first session's code loads).
          registered.session.forwardPolicy = prefetchPolicy(session.env);
          const { runSession } = await this.#modules.session();
          this.#loading.delete(id);
          if (this.#stopping) {
            // SIGTERM/SIGINT came while the session code loaded: a session
            // that never ran has no listener of its own to end it.
            await connection.close();
            return;
          }
          // Once the start settles: a collection, and the runtime's start-up pages go back.
          import("../protocol/network/idle_collect.ts").then((m) =>
            m.noteWork(m.WORK_BYTES)
          ).catch(() => {});
          await runSession(connection, registered.session);
        } finally {
          unregister();
        }
      })().catch(() => connection.close().catch(() => {})).finally(() => {
        this.#sessions.delete(id);
        // A collection once quiet returns its memory (loaded with the session code).
        import("../protocol/network/idle_collect.ts").then((m) =>
          m.noteWork(m.WORK_BYTES)
        ).catch(() => {});
        this.#maybeExit();
      });
    return { answer, run };
  }

  /** Exits when no session runs and no front is connected (and one has asked, or the wait for one is over). */
  #maybeExit(): void {
    if (this.#closed || !this.#armed) return;
    if (this.#stopping) {
      // A session still loading its code never runs: it does not hold the exit.
      for (const unregister of this.#loading.values()) unregister();
      if (this.#sessions.size > this.#loading.size || this.#fronts > 0) return;
    } else if (this.#sessions.size > 0 || this.#fronts > 0) return;
    this.#closed = true;
    // The socket goes under the start lock, only if it is still ours.
    void closeSocket(this.#dir, this.#bound).finally(() =>
      this.#done.resolve()
    );
  }
}

/** An error answer and nothing to run. */
function fail(error: string): { answer: DaemonAnswer; run?: () => void } {
  return { answer: { ok: false, error } };
}
