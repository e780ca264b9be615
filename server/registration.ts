/**
 * A running session's entry in the registry (server/registry.ts): its
 * record, kept current, and its control socket (server/control_socket.ts).
 * The client's state is looked at once a second (or, `driven`, whenever the
 * session wakes anyway: no timer of its own, docs/architecture.md §12.1) and
 * the record rewritten only when it changed (a client first heard, gone
 * silent, roamed, or the window resized), at most once a second, so a busy
 * session does not write on every packet; the socket's `status` is always
 * current. Closing removes record and socket;
 * so does the process's `unload` event, as a backstop.
 * @module
 */

import type { Connection, RemoteAddr } from "../protocol/network/connection.ts";
import type { SessionOptions } from "./session.ts";
import { TMOSH_VERSION } from "../version.ts";
import { type ControlServer, listenControl } from "./control_socket.ts";
import { type AttachGrant, prepareAttach } from "./attach.ts";
import { formatAddr } from "./epoch.ts";
import { startTime } from "./owner.ts";
import { LazyTimer } from "../protocol/network/lazy_timer.ts";
import { SERVER_ASSOCIATION_TIMEOUT } from "../protocol/network/constants.ts";
import {
  ensurePrivateDir,
  fallbackSocketDir,
  newSessionId,
  readRecords,
  reason,
  recordExists,
  registryDir,
  removeSession,
  type SessionRecord,
  socketPath,
  writeRecord,
} from "./registry.ts";

/** A session whose client was heard from within this long is attached, ms (a client sends at least every 3000 ms, mosh: ACK_INTERVAL). */
export const DETACHED_AFTER_MS = 10_000;
/** How often the client's state is looked at, ms: a change reaches the record within this, and records are written at most this often. */
const STATUS_POLL_MS = 1000;
/**
 * A driven registration's own look after this much silence of an attached
 * client, ms: the session wakes for heartbeats until it drops the client's
 * address (mosh: SERVER_ASSOCIATION_TIMEOUT), so its pokes notice
 * DETACHED_AFTER_MS first; this only backs them up.
 */
const SILENCE_BACKSTOP_MS = SERVER_ASSOCIATION_TIMEOUT;
/** A newer last-contact time alone is written at most this often, ms (the socket's status is always current). */
const LAST_HEARD_WRITE_MS = 30_000;

/** What the registration reads of the client (a server Connection has both). */
export interface ClientProbe {
  /** Clock time (ms) of the newest datagram from the client, or null. */
  readonly lastHeard: number | null;
  /** The client's address, or null before first contact. */
  readonly remoteAddr: RemoteAddr | null;
}

/** Options of {@linkcode registerSession}. */
export interface RegisterOptions {
  /** The registry directory (server/registry.ts registryDir). */
  dir: string;
  /** The session's UDP port. */
  port: number;
  /** The session's name, or null. */
  name: string | null;
  /** The program the session runs. */
  command: string[];
  /** Initial window width, columns. */
  cols: number;
  /** Initial window height, rows. */
  rows: number;
  /** Where the client's last contact and address come from. */
  client: ClientProbe;
  /** The clock of `client.lastHeard`, ms (default performance.now). */
  now?: () => number;
  /** Receives a line when the record cannot be written; default none. */
  log?: (line: string) => void;
  /** The control socket's `attach` (docs/wire.md §15); absent: the session refuses it. */
  attach?: () => AttachGrant;
  /** The owner calls poke() whenever it wakes (each session tick), so nothing polls once a second: only a change, or a client going quiet, sets a timer. */
  driven?: boolean;
  /** A driven registration's own look after this much silence of an attached client, ms (default SERVER_ASSOCIATION_TIMEOUT; tests shorten it). */
  silenceBackstopMs?: number;
}

/** A registered session. */
export interface Registration {
  /** The session id. */
  readonly id: string;
  /** Aborted when the control socket asks the session to end. */
  readonly stop: AbortSignal;
  /** The record as it stands now. */
  current(): SessionRecord;
  /** Notes a new window size (written with the next look). */
  resize(cols: number, rows: number): void;
  /** Looks at the client now and rewrites the record if it changed (another client attached). */
  refresh(): void;
  /** The owner is awake anyway (`driven`): a change is written now, or once the last write is STATUS_POLL_MS old. */
  poke(): void;
  /** Stops listening, removes the record and the socket (idempotent). */
  close(): void;
}

/** Registers this process's session: checks the directory, prunes stale records, listens, writes the record; throws a one-line error when it cannot. */
export function registerSession(options: RegisterOptions): Registration {
  const { dir, client } = options;
  const now = options.now ?? (() => performance.now());
  ensurePrivateDir(dir);
  readRecords(dir); // removes the records of sessions that are gone
  let id = newSessionId();
  while (recordExists(dir, id)) id = newSessionId();
  const socket = socketPath(dir, id);
  if (socket !== `${dir}/${id}.sock`) ensurePrivateDir(fallbackSocketDir());
  removeSession(dir, id); // a dead socket of the same id, however unlikely
  const created = new Date().toISOString();
  const pidStart = startTime(Deno.pid);
  let cols = options.cols;
  let rows = options.rows;
  const current = (): SessionRecord => {
    const heard = client.lastHeard;
    const t = now();
    return {
      id,
      name: options.name,
      pid: Deno.pid,
      pidStart,
      port: options.port,
      socket,
      created,
      lastHeard: heard === null
        ? null
        : new Date(Date.now() - (t - heard)).toISOString(),
      attached: heard !== null && t - heard < DETACHED_AFTER_MS,
      client: formatAddr(client.remoteAddr),
      command: options.command,
      cols,
      rows,
      version: TMOSH_VERSION,
    };
  };
  const controller = new AbortController();
  let server: ControlServer;
  try {
    server = listenControl(socket, {
      status: current,
      kill: () => controller.abort(),
      attach: options.attach,
    });
  } catch (err) {
    throw new Error(
      `tmosh: cannot listen on ${socket}: ${
        reason(err)
      }; check that its directory is yours and writable, or set XDG_STATE_HOME`,
    );
  }
  let written = current();
  let writtenHeard = client.lastHeard;
  try {
    writeRecord(dir, written);
  } catch (err) {
    server.close();
    removeSession(dir, id);
    throw new Error(
      `tmosh: cannot write the session record in ${dir}: ${
        reason(err)
      }; check that it is writable, or set XDG_STATE_HOME`,
    );
  }
  let failed = false;
  let wroteAt = -Infinity;
  // Whether current() differs from the record written in what is kept
  // current; asked on every wake of the session, so it builds no record.
  const changed = (): boolean => {
    const heard = client.lastHeard;
    const attached = heard !== null && now() - heard < DETACHED_AFTER_MS;
    return attached !== written.attached || cols !== written.cols ||
      rows !== written.rows ||
      formatAddr(client.remoteAddr) !== written.client ||
      (heard !== null &&
        (writtenHeard === null || heard - writtenHeard >= LAST_HEARD_WRITE_MS));
  };
  const look = () => {
    if (!changed()) return;
    const next = current();
    const heard = client.lastHeard;
    wroteAt = now();
    try {
      writeRecord(dir, next);
      written = next;
      writtenHeard = heard;
      failed = false;
    } catch (err) {
      if (!failed) {
        options.log?.(
          `tmosh: cannot update the session record: ${reason(err)}`,
        );
      }
      failed = true;
    }
  };
  // Driven: a deferred write, and a backstop look at SILENCE_BACKSTOP_MS of
  // an attached client's silence. The session's heartbeat wakes (pokes)
  // notice DETACHED_AFTER_MS of silence within ACK_INTERVAL; a timer at
  // DETACHED_AFTER_MS would come early on every one of them, and each early
  // timer wakes an idle process twice or three times (docs/architecture.md §12.1).
  const backstop = options.silenceBackstopMs ?? SILENCE_BACKSTOP_MS;
  const later = new LazyTimer(() => lookDriven(), { now, unref: true });
  const lookDriven = () => {
    look();
    const heard = client.lastHeard;
    // Still attached past the backstop (the write failed): again in a second, not at once.
    later.after(
      written.attached && heard !== null
        ? Math.max(heard + backstop - now(), STATUS_POLL_MS)
        : Infinity,
    );
  };
  const poke = () => {
    if (closed || !changed()) return;
    const wait = wroteAt + STATUS_POLL_MS - now();
    if (wait <= 0) lookDriven();
    else later.after(wait);
  };
  const timer = options.driven ? undefined : setInterval(look, STATUS_POLL_MS);
  if (timer !== undefined) Deno.unrefTimer(timer);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    later.cancel();
    globalThis.removeEventListener("unload", close);
    server.close();
    removeSession(dir, id);
  };
  globalThis.addEventListener("unload", close);
  if (options.driven) lookDriven(); // arms the silence timer if attached
  return {
    id,
    stop: controller.signal,
    current,
    resize(c, r) {
      cols = c;
      rows = r;
    },
    refresh: () => options.driven ? lookDriven() : look(),
    poke,
    close,
  };
}

/** A `tmosh serve` session's registration and its options wired to it. */
export interface Registered {
  /** The session id. */
  readonly id: string;
  /** The session's options plus the registration's resize notes and stop request. */
  readonly session: SessionOptions;
  /** Ends the registration (record and socket removed). */
  close(): void;
}

/** Registers a `tmosh serve` session listening on `connection` in the registry of this process's environment; throws a one-line error. */
export function registerServe(
  connection: Connection,
  options: { name: string | null; session: SessionOptions },
): Registered {
  const { session } = options;
  const registration = registerSession({
    dir: registryDir(Deno.env.toObject()),
    port: connection.port,
    name: options.name,
    command: session.command,
    cols: session.width,
    rows: session.height,
    client: connection,
    log: session.log,
    attach: () => prepareAttach(connection),
    driven: true,
  });
  return {
    id: registration.id,
    session: {
      ...session,
      onResize: (cols, rows) => registration.resize(cols, rows),
      onAttach: () => registration.refresh(),
      onWake: () => registration.poke(),
      stop: registration.stop,
    },
    close: registration.close,
  };
}
