/**
 * A session's control socket (docs/architecture.md §8.3): a Unix stream
 * socket, mode 0600 in a 0700 directory, so only its user reaches it. Each
 * request is one line of JSON with an `op`, each answer one line of JSON:
 * `{"op":"status"}` → `{"ok":true,"session":RECORD}`, `{"op":"kill"}` →
 * `{"ok":true}` and the session ends as on SIGTERM, `{"op":"attach"}` →
 * `{"ok":true,"port":P,"key":K}` with a fresh key for another client
 * (docs/wire.md §15; the key is in this answer only), anything else →
 * `{"ok":false,"error":"tmosh: ..."}`.
 * @module
 */

import { FILE_MODE, reason, type SessionRecord } from "./registry.ts";
import type { AttachGrant } from "./attach.ts";

/** Longest request or answer line, bytes. */
const MAX_LINE = 64 * 1024;
/** A connection that sends no complete request this long is closed, ms. */
const CONTROL_IDLE_MS = 10_000;
/** Connections served at once; more are closed at once. */
const MAX_CONNECTIONS = 16;
/** How long a client waits for an answer by default, ms. */
const REQUEST_TIMEOUT_MS = 2_000;

/** What the session does for the control socket's operations. */
export interface ControlHandlers {
  /** The session's current record. */
  status(): SessionRecord;
  /** Ends the session as SIGTERM does (called once the answer is written). */
  kill(): void;
  /** Prepares a fresh key for another client; throws a one-line error when it cannot (absent: attach unsupported). */
  attach?(): AttachGrant;
}

/** A request on the control socket. */
export interface ControlRequest {
  /** `status`, `kill` or `attach`. */
  op: string;
}

/** An answer on the control socket. */
export type ControlReply =
  | { ok: true; session?: SessionRecord; port?: number; key?: string }
  | { ok: false; error: string };

/** A listening control socket. */
export interface ControlServer {
  /** Stops listening and closes open connections (the socket file is the caller's to remove). */
  close(): void;
}

const encoder = new TextEncoder();

/** Listens on the Unix socket `path` (which must not exist), mode 0600. */
export function listenPrivate(path: string): Deno.UnixListener {
  const listener = Deno.listen({ transport: "unix", path });
  try {
    Deno.chmodSync(path, FILE_MODE);
  } catch (err) {
    listener.close();
    throw err;
  }
  return listener;
}

/** Listens on `path` (which must not exist), mode 0600, answering with `handlers`. */
export function listenControl(
  path: string,
  handlers: ControlHandlers,
): ControlServer {
  const listener = listenPrivate(path);
  listener.unref(); // the session, not the socket, keeps the process alive
  const conns = new Set<Deno.Conn>();
  let closed = false;
  (async () => {
    try {
      for await (const conn of listener) {
        if (closed || conns.size >= MAX_CONNECTIONS) {
          closeConn(conn);
          continue;
        }
        conns.add(conn);
        serveConnection(conn, handlers).catch(() => {}).finally(() => {
          conns.delete(conn);
          closeConn(conn);
        });
      }
    } catch {
      // the listener was closed
    }
  })();
  return {
    close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // already closed
      }
      for (const conn of conns) closeConn(conn);
    },
  };
}

/** Sends one request to the socket at `path` and resolves to its answer; throws when it cannot (one-line message). */
export async function requestControl(
  path: string,
  request: ControlRequest,
  options: { timeoutMs?: number } = {},
): Promise<ControlReply> {
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (err) {
    throw new Error(
      `tmosh: cannot reach the session's control socket ${path}: ${
        reason(err)
      }`,
    );
  }
  const timer = setTimeout(() => closeConn(conn), timeoutMs);
  try {
    await writeLine(conn, request);
    const line = await readLine(conn);
    if (line === null) {
      throw new Error(
        `tmosh: the session closed its control socket ${path} without answering (within ${timeoutMs} ms)`,
      );
    }
    const reply = parseReply(line);
    if (reply === null) {
      throw new Error(`tmosh: malformed answer on the control socket ${path}`);
    }
    return reply;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("tmosh: ")) throw err;
    throw new Error(
      `tmosh: the session did not answer on ${path} (within ${timeoutMs} ms)`,
    );
  } finally {
    clearTimeout(timer);
    closeConn(conn);
  }
}

/** Answers the requests of one connection until it ends, misbehaves, idles or asks for kill. */
async function serveConnection(
  conn: Deno.Conn,
  handlers: ControlHandlers,
): Promise<void> {
  let timer = setTimeout(() => closeConn(conn), CONTROL_IDLE_MS);
  try {
    while (true) {
      const line = await readLine(conn);
      if (line === null) return;
      clearTimeout(timer);
      timer = setTimeout(() => closeConn(conn), CONTROL_IDLE_MS);
      const { reply, after, hangUp } = answer(line, handlers);
      await writeLine(conn, reply);
      after?.();
      if (after !== undefined || hangUp === true) return;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The answer to one request line, and what to do once it is written. */
function answer(
  line: string,
  handlers: ControlHandlers,
): { reply: ControlReply; after?: () => void; hangUp?: boolean } {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    request = null;
  }
  const op = typeof request === "object" && request !== null
    ? (request as Record<string, unknown>).op
    : undefined;
  if (typeof op !== "string") {
    return {
      reply: {
        ok: false,
        error: 'tmosh: send one JSON object with an "op" per line',
      },
      hangUp: true,
    };
  }
  switch (op) {
    case "status":
      return { reply: { ok: true, session: handlers.status() } };
    case "kill":
      return { reply: { ok: true }, after: () => handlers.kill() };
    case "attach": {
      if (handlers.attach === undefined) {
        return {
          reply: {
            ok: false,
            error:
              "tmosh: this session does not support attach; start a new session",
          },
        };
      }
      try {
        const { port, key } = handlers.attach();
        return { reply: { ok: true, port, key } };
      } catch (err) {
        const text = reason(err).replaceAll("\n", " ");
        return {
          reply: {
            ok: false,
            error: text.startsWith("tmosh: ") ? text : `tmosh: ${text}`,
          },
        };
      }
    }
    default:
      return {
        reply: {
          ok: false,
          error: `tmosh: unknown op ${
            JSON.stringify(op.slice(0, 40))
          }; expected status, kill or attach`,
        },
      };
  }
}

/** An answer from its line, or null when malformed. */
function parseReply(line: string): ControlReply | null {
  try {
    const v = JSON.parse(line);
    if (typeof v !== "object" || v === null) return null;
    if (v.ok === true) return v as ControlReply;
    if (v.ok === false && typeof v.error === "string") return v as ControlReply;
  } catch {
    // fall through
  }
  return null;
}

/** Reads bytes up to a newline (one JSON line); null at EOF before one, throws past `maxBytes`. */
export async function readLine(
  conn: Deno.Conn,
  maxBytes: number = MAX_LINE,
): Promise<string | null> {
  let pending = lineBuffers.get(conn) ?? new Uint8Array(0);
  const buf = new Uint8Array(4096);
  try {
    while (true) {
      const nl = pending.indexOf(0x0a);
      if (nl >= 0) {
        const line = new TextDecoder().decode(pending.subarray(0, nl));
        pending = pending.slice(nl + 1);
        return line;
      }
      if (pending.length > maxBytes) {
        throw new Error("tmosh: control line too long");
      }
      const n = await conn.read(buf);
      if (n === null) return null;
      const joined = new Uint8Array(pending.length + n);
      joined.set(pending);
      joined.set(buf.subarray(0, n), pending.length);
      pending = joined;
    }
  } finally {
    lineBuffers.set(conn, pending);
  }
}

/** Bytes received after the last complete line, per connection. */
const lineBuffers = new WeakMap<Deno.Conn, Uint8Array>();

/** Writes `value` as one JSON line. */
export async function writeLine(
  conn: Deno.Conn,
  value: unknown,
): Promise<void> {
  const bytes = encoder.encode(`${JSON.stringify(value)}\n`);
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Closes `conn`, ignoring a second close. */
export function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
