/**
 * The SOCKS side of `-D` (RFC 1928 SOCKS5 without authentication, SOCKS4 and
 * SOCKS4a): CONNECT requests only; the name in the request is sent to the
 * server as is and resolved there (as ssh -D does).
 * @module
 */

/** A parsed CONNECT request: where to, and how to answer the SOCKS client. */
export interface SocksRequest {
  host: string;
  port: number;
  /** Sends the success or failure reply. */
  reply(ok: boolean): Promise<void>;
  /** Bytes the client sent after its request (before our reply). */
  rest: Uint8Array;
}

/** Longest handshake we read, bytes. */
const HANDSHAKE_MAX = 600;

/** Reads exact byte counts from a connection, keeping what came beyond. */
class Reader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  /** Reads one more chunk; false at end of stream or past HANDSHAKE_MAX. */
  async #fill(): Promise<boolean> {
    if (this.#buf.length > HANDSHAKE_MAX) return false;
    const chunk = new Uint8Array(1024);
    const got = await this.conn.read(chunk);
    if (got === null) return false;
    const joined = new Uint8Array(this.#buf.length + got);
    joined.set(this.#buf);
    joined.set(chunk.subarray(0, got), this.#buf.length);
    this.#buf = joined;
    return true;
  }

  /** The next `n` bytes, or null. */
  async take(n: number): Promise<Uint8Array | null> {
    while (this.#buf.length < n) if (!await this.#fill()) return null;
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** The bytes up to the next NUL (dropped), or null. */
  async until0(): Promise<Uint8Array | null> {
    while (this.#buf.indexOf(0) < 0) if (!await this.#fill()) return null;
    const i = this.#buf.indexOf(0);
    const out = this.#buf.slice(0, i);
    this.#buf = this.#buf.slice(i + 1);
    return out;
  }

  /** What was read beyond the handshake. */
  get rest(): Uint8Array {
    return this.#buf;
  }
}

const TEXT = new TextDecoder();

/** Runs the SOCKS handshake on `conn`; null (and the connection answered with a failure) when it is not a CONNECT we can serve. */
export async function socksHandshake(
  conn: Deno.Conn,
): Promise<SocksRequest | null> {
  const r = new Reader(conn);
  const version = await r.take(1);
  if (version === null) return null;
  if (version[0] === 5) return await socks5(conn, r);
  if (version[0] === 4) return await socks4(conn, r);
  return null;
}

async function socks5(
  conn: Deno.Conn,
  r: Reader,
): Promise<SocksRequest | null> {
  const count = await r.take(1);
  const methods = count && await r.take(count[0]);
  if (!methods) return null;
  if (!methods.includes(0)) {
    await conn.write(Uint8Array.of(5, 0xff));
    return null;
  }
  await conn.write(Uint8Array.of(5, 0));
  const head = await r.take(4);
  if (head === null || head[0] !== 5) return null;
  const fail = (code: number) =>
    conn.write(Uint8Array.of(5, code, 0, 1, 0, 0, 0, 0, 0, 0));
  let host: string;
  if (head[3] === 1) {
    const a = await r.take(4);
    if (a === null) return null;
    host = [...a].join(".");
  } else if (head[3] === 3) {
    const len = await r.take(1);
    const name = len && await r.take(len[0]);
    if (!name) return null;
    host = TEXT.decode(name);
  } else if (head[3] === 4) {
    const a = await r.take(16);
    if (a === null) return null;
    const words = [];
    for (let i = 0; i < 16; i += 2) {
      words.push(((a[i] << 8) | a[i + 1]).toString(16));
    }
    host = words.join(":");
  } else {
    await fail(8); // address type not supported
    return null;
  }
  const p = await r.take(2);
  if (p === null) return null;
  if (head[1] !== 1) {
    await fail(7); // command not supported
    return null;
  }
  return {
    host,
    port: (p[0] << 8) | p[1],
    rest: r.rest,
    reply: async (ok) => {
      if (ok) await conn.write(Uint8Array.of(5, 0, 0, 1, 0, 0, 0, 0, 0, 0));
      else await fail(5); // connection refused
    },
  };
}

async function socks4(
  conn: Deno.Conn,
  r: Reader,
): Promise<SocksRequest | null> {
  const head = await r.take(7);
  if (head === null) return null;
  const user = await r.until0();
  if (user === null) return null;
  const port = (head[1] << 8) | head[2];
  let host = [...head.subarray(3, 7)].join(".");
  if (head[3] === 0 && head[4] === 0 && head[5] === 0 && head[6] !== 0) {
    const name = await r.until0(); // SOCKS4a: the name follows
    if (name === null) return null;
    host = TEXT.decode(name);
  }
  const answer = (code: number) =>
    conn.write(Uint8Array.of(0, code, 0, 0, 0, 0, 0, 0));
  if (head[0] !== 1) {
    await answer(0x5b);
    return null;
  }
  return {
    host,
    port,
    rest: r.rest,
    reply: async (ok) => {
      await answer(ok ? 0x5a : 0x5b);
    },
  };
}
