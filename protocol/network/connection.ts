/**
 * The UDP connection layer (docs/wire.md §3): sealed datagrams with
 * timestamps and RTT estimation, server binding and roaming, client port
 * hopping. Hostile datagrams are dropped and counted, never thrown.
 * @module
 */

import { isIP } from "./ip_syntax.ts";
import {
  CHANNEL_RECEIVE_MAX,
  DEFAULT_IPV4_MTU,
  DEFAULT_IPV6_MTU,
  DEFAULT_SEND_MTU,
  EARLY_PAYLOADS_MAX,
  MAX_OLD_SOCKET_AGE,
  MAX_PORTS_OPEN,
  PENDING_KEY_TIMEOUT,
  PORT_HOP_INTERVAL,
  PORT_RANGE_HIGH,
  PORT_RANGE_LOW,
  RECEIVE_MTU,
  SERVER_ASSOCIATION_TIMEOUT,
  SPARE_MIN_BYTES,
  SPARES_MAX,
  TIMESTAMP_ECHO_WINDOW,
  TIMESTAMP_NONE,
  TO_CLIENT,
  TO_SERVER,
} from "./constants.ts";
import {
  type Datagram,
  DatagramCodec,
  timestamp16,
  timestampDiff,
} from "./datagram.ts";
import { ErrorGuard } from "./guard.ts";
import { isChannelPayload } from "./channel_frames.ts";
import { errorText } from "./os_error.ts";
import { PendingKey } from "./pending_key.ts";
import { growReceiveBuffer } from "./socket_buffer.ts";
import { anyAddressFor, bindServerSocket } from "./port_range.ts";
import { RttEstimator } from "./rtt.ts";
import type { DatagramPath } from "./relay_envelope.ts";

/** A peer's UDP address. */
export interface RemoteAddr {
  /** Numeric IP address. */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** Options shared by both roles. */
export interface ConnectionOptions {
  /** Monotonic clock in ms (default: `performance.now()`). */
  now?: () => number;
  /** Receives informational lines such as roaming notices (default: none). */
  log?: (line: string) => void;
  /** Catches exceptions of the receive loop and the payload consumer (default: one logging to `log`). */
  guard?: ErrorGuard;
  /** Wraps every datagram at the socket boundary (a jump-host relay, docs/wire.md §16); default none. */
  path?: DatagramPath;
}

/** Options of {@linkcode Connection.listen}. */
export interface ListenOptions extends ConnectionOptions {
  /** Numeric IP to bind first; on failure any address is used and a warning recorded. */
  ip?: string;
  /** Inclusive port range searched in order (default 60001..60999). */
  portRange?: [number, number];
}

/** Options of {@linkcode Connection.connect}. */
export interface ClientConnectionOptions extends ConnectionOptions {
  /** The server's numeric IP address. */
  ip: string;
  /** The server's UDP port. */
  port: number;
}

interface Socket {
  conn: Deno.DatagramConn;
  closed: boolean;
}

interface Setup {
  server: boolean;
  conn: Deno.DatagramConn;
  /** A send-only connection on another's socket (the farewell of a key switch): no receive loop, close() leaves the socket open. */
  borrowed?: Socket;
  ipv6: boolean;
  remote: RemoteAddr | null;
  warnings: string[];
}

/** Whether a receive failed because its socket was closed. */
function isClosedError(err: unknown): boolean {
  return err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.BadResource;
}

/** Default monotonic clock, ms. */
function monotonicNow(): number {
  return performance.now();
}

/** One side of a Mosh UDP association: a server bound to a port, or a client with a fixed server address. */
export class Connection {
  /** Problems that did not stop the connection, e.g. falling back from a requested IP. */
  readonly warnings: string[];
  readonly #server: boolean;
  #codec: DatagramCodec;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  readonly #guard: ErrorGuard;
  readonly #ipv6: boolean;
  #rtt = new RttEstimator();
  readonly #options: ConnectionOptions;
  readonly #borrowed: boolean;
  /** A key prepared for another client (server; docs/wire.md §15), or null. */
  #pendingKey: PendingKey | null = null;
  #rekeyClosed = false;
  readonly #rekeyHandlers: ((farewell: Connection) => void)[] = [];
  readonly #sockets: Socket[] = [];
  readonly #pending = new Set<Promise<void>>();
  #sendTail: Promise<void> = Promise.resolve();
  #handler: ((payload: Uint8Array) => void) | null = null;
  /** Payloads that came before the first handler, oldest first (EARLY_PAYLOADS_MAX); null once it is registered. */
  #early: Uint8Array[] | null = [];
  #channelHandler: ((payload: Uint8Array) => void) | null = null;
  /** Sends handed to the socket chain and not yet completed. */
  #backlog = 0;
  /** Send buffers of completed large sends, for the next ones. */
  readonly #spares: Uint8Array[] = [];
  #remote: RemoteAddr | null;
  #hasRemote: boolean;
  #mtu: number;
  #sendError: string | null = null;
  #dropped = 0;
  #closed = false;
  #expectedSeq = 0n;
  #savedTimestamp: number | null = null;
  #savedTimestampAt = 0;
  #lastHeard: number | null = null;
  #lastPortChoice: number;
  #lastRoundtripSuccess = -Infinity;
  #localPort = 0;
  /** Receive buffer size asked for new sockets, bytes (0: the default). */
  #receiveBuffer = 0;
  readonly #path: DatagramPath | null;

  private constructor(
    key: Uint8Array | DatagramCodec,
    setup: Setup,
    options: ConnectionOptions,
  ) {
    this.#server = setup.server;
    this.#codec = key instanceof DatagramCodec ? key : new DatagramCodec(key, {
      direction: setup.server ? TO_CLIENT : TO_SERVER,
    });
    this.#options = options;
    this.#path = options.path ?? null;
    this.#borrowed = setup.borrowed !== undefined;
    this.#now = options.now ?? monotonicNow;
    this.#log = options.log ?? (() => {});
    this.#guard = options.guard ?? new ErrorGuard(this.#log);
    this.#ipv6 = setup.ipv6;
    this.#mtu = setup.ipv6 ? DEFAULT_IPV6_MTU : DEFAULT_IPV4_MTU;
    this.#remote = setup.remote;
    this.#hasRemote = setup.remote !== null;
    this.warnings = setup.warnings;
    this.#lastPortChoice = this.#clock();
    if (setup.borrowed !== undefined) {
      this.#sockets.push(setup.borrowed);
      this.#localPort = (setup.conn.addr as Deno.NetAddr).port;
    } else this.#addSocket(setup.conn);
  }

  /** Opens the server side: binds the first free port of the range, trying `ip` before any address. */
  static listen(
    key: Uint8Array,
    options: ListenOptions = {},
  ): Promise<Connection> {
    try {
      const range = options.portRange ?? [PORT_RANGE_LOW, PORT_RANGE_HIGH];
      const bound = bindServerSocket(options.ip, range);
      const setup = {
        server: true,
        conn: bound.conn,
        ipv6: isIP(bound.hostname) === 6,
        remote: null,
        warnings: bound.warnings,
      };
      return Promise.resolve(new Connection(key, setup, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Opens the client side towards the server at `ip`:`port` from a fresh ephemeral port. */
  static connect(
    key: Uint8Array,
    options: ClientConnectionOptions,
  ): Connection {
    const { ip, port } = options;
    if (isIP(ip) === 0) {
      throw new Error(
        `tmosh: bad server address "${ip}": expected a numeric IPv4 or IPv6 address`,
      );
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`tmosh: bad server port ${port}: expected 1..65535`);
    }
    const ipv6 = isIP(ip) === 6;
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: anyAddressFor(ip),
      port: 0,
    });
    const setup = {
      server: false,
      conn,
      ipv6,
      remote: { hostname: ip, port },
      warnings: [],
    };
    return new Connection(key, setup, options);
  }

  /** Where exceptions of this connection's callbacks are caught (a Transport on it shares it). */
  get guard(): ErrorGuard {
    return this.#guard;
  }

  /** Smoothed round-trip time, ms. */
  get srtt(): number {
    return this.#rtt.srtt;
  }

  /** Round-trip time variation, ms. */
  get rttvar(): number {
    return this.#rtt.rttvar;
  }

  /** Retransmission timeout, ms, in [50, 1000]. */
  get rto(): number {
    return this.#rtt.rto;
  }

  /** Largest datagram to send, bytes (1252 IPv4, 1216 IPv6, 500 after EMSGSIZE). */
  get mtu(): number {
    return this.#mtu - (this.#path?.overhead ?? 0);
  }

  /** Bytes the datagram path adds to each datagram (relay envelopes; 0 without). */
  get pathOverhead(): number {
    return this.#path?.overhead ?? 0;
  }

  /** Local UDP port of the socket sends go out through (the last one, after close). */
  get port(): number {
    return this.#localPort;
  }

  /** Where sends go, or null (server before first contact or after detaching). */
  get remoteAddr(): RemoteAddr | null {
    return this.#hasRemote ? this.#remote : null;
  }

  /** Whether sends currently have a destination. */
  get hasRemote(): boolean {
    return this.#hasRemote;
  }

  /** Clock time (ms) of the newest in-order authentic datagram, or null if none yet. */
  get lastHeard(): number | null {
    return this.#lastHeard;
  }

  /** Last send failure (e.g. `sendto: Message too long`), or null. */
  get sendError(): string | null {
    return this.#sendError;
  }

  /** Number of received datagrams dropped as unauthentic, malformed or oversize. */
  get droppedCount(): number {
    return this.#dropped;
  }

  /** Datagrams handed to send() whose send has not completed (the channel layer keeps it short, docs/wire.md §17.6). */
  get sendBacklog(): number {
    return this.#backlog;
  }

  /** Number of sockets open (more than one on a client after port hops). */
  get socketCount(): number {
    return this.#sockets.length;
  }

  /**
   * Asks for kernel receive buffers of `bytes` on this connection's sockets,
   * and on those it opens later (the channel layer, docs/wire.md §17.8);
   * returns the size one of them got, bytes (0: unchanged).
   */
  growReceiveBuffers(bytes: number): number {
    this.#receiveBuffer = bytes;
    let got = 0;
    for (const socket of this.#sockets) {
      got = growReceiveBuffer(socket.conn, bytes);
    }
    return got;
  }

  /** Forgets the recorded send error (after it has been shown). */
  clearSendError(): void {
    this.#sendError = null;
  }

  /** Records the send time (ms) of the newest state the peer acknowledged. */
  setLastRoundtripSuccess(ms: number): void {
    this.#lastRoundtripSuccess = ms;
  }

  /**
   * Prepares a new key for another client (server only; docs/wire.md §15): a
   * datagram that fails under the current key is tried under `key` until
   * PENDING_KEY_TIMEOUT; the first authentic one commits it (see onRekey).
   * Replaces a key prepared earlier; throws once the connection is closed or
   * closeRekey() was called.
   */
  prepareKey(key: Uint8Array): void {
    if (!this.#server) {
      throw new Error(
        "tmosh: only a server connection takes another client's key; call prepareKey on the server",
      );
    }
    if (this.#closed || this.#rekeyClosed) {
      throw new Error(
        "tmosh: the session is ending and takes no new client; start a new session",
      );
    }
    this.#pendingKey = new PendingKey(key, {
      direction: TO_CLIENT,
      expires: this.#clock() + PENDING_KEY_TIMEOUT,
    });
  }

  /** Whether a prepared key waits for its first authentic datagram (false once it expired). */
  get hasPendingKey(): boolean {
    this.#expirePendingKey();
    return this.#pendingKey !== null;
  }

  /** Drops a prepared key and refuses new ones (a session that is ending). */
  closeRekey(): void {
    this.#rekeyClosed = true;
    this.#pendingKey = null;
  }

  /**
   * Calls `handler` when a datagram under the prepared key commits it, before
   * that datagram's payload is delivered: the connection now uses the new key,
   * from sequence number 0, with fresh RTT and timestamp state, and sends to
   * the new client. `farewell` is a send-only connection under the old key
   * towards the old client's last address (its sequence numbers go on).
   */
  onRekey(handler: (farewell: Connection) => void): void {
    this.#rekeyHandlers.push(handler);
  }

  /**
   * Registers the consumer of received payloads (replacing any earlier one).
   * The first one also gets, in a microtask, those that came before it.
   */
  onPayload(handler: (payload: Uint8Array) => void): void {
    this.#handler = handler;
    const early = this.#early;
    this.#early = null;
    if (early === null || early.length === 0) return;
    queueMicrotask(() => {
      for (const payload of early) {
        if (this.#closed) return;
        this.#guard.run(
          "the datagram receive path",
          () => this.#handler?.(payload),
        );
      }
    });
  }

  /**
   * Registers the consumer of channel datagrams (docs/wire.md §17.1),
   * replacing any earlier one: they never reach onPayload's handler, and are
   * dropped while no consumer is registered.
   */
  onChannelPayload(handler: ((payload: Uint8Array) => void) | null): void {
    this.#channelHandler = handler;
  }

  /** Seals `payload` with fresh timestamps and sends it to the remote; failures go to `sendError`. */
  send(payload: Uint8Array): void {
    if (this.#closed || !this.#hasRemote || this.#remote === null) return;
    const now = this.#clock();
    let reply = TIMESTAMP_NONE;
    if (
      this.#savedTimestamp !== null &&
      now - this.#savedTimestampAt < TIMESTAMP_ECHO_WINDOW
    ) {
      reply = (this.#savedTimestamp + (now - this.#savedTimestampAt)) & 0xffff;
      this.#savedTimestamp = null;
    }
    // A large datagram is sealed into a spare buffer, taken back once its
    // send completed (no 64 KiB allocation per channel datagram).
    const spare = payload.length >= SPARE_MIN_BYTES && this.#path === null
      ? this.#spares.pop() ?? new Uint8Array(CHANNEL_RECEIVE_MAX)
      : undefined;
    const sealed = this.#codec.seal({
      timestamp: timestamp16(now),
      timestampReply: reply,
      payload,
    }, { into: spare });
    const bytes = this.#path?.wrap(sealed) ?? sealed;
    // A channel datagram beyond the MTU is a size probe (docs/wire.md §17.8).
    const probe = bytes.length > this.#mtu && isChannelPayload(payload);
    const { hostname, port } = this.#remote;
    const socket = this.#newest();
    // Chained so datagrams leave in sequence order (Deno may reorder
    // concurrent sends on a fresh socket); a socket pruned meanwhile is
    // replaced by the newest one.
    this.#backlog++;
    const sent = this.#sendTail.then(() => {
      const via = socket.closed ? this.#newest() : socket;
      if (via === undefined || via.closed) return bytes.length;
      return via.conn.send(bytes, { transport: "udp", hostname, port });
    }).then(
      (n) => {
        this.#backlog--;
        this.#takeBack(spare);
        if (n !== bytes.length) this.#sendError = "sendto: short send";
      },
      (err) => {
        this.#backlog--;
        this.#takeBack(spare);
        this.#sendFailed(err, probe);
      },
    );
    this.#sendTail = sent;
    this.#track(sent);
    if (this.#server) {
      if (now - (this.#lastHeard ?? -Infinity) > SERVER_ASSOCIATION_TIMEOUT) {
        this.#hasRemote = false;
        this.#log("Server now detached from client.");
      }
    } else if (
      now - this.#lastPortChoice > PORT_HOP_INTERVAL &&
      now - this.#lastRoundtripSuccess > PORT_HOP_INTERVAL
    ) {
      this.#hopPort(now);
    }
  }

  /** Closes every socket; the returned promise settles when all receive loops and sends have ended. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#pendingKey = null;
      const sockets = this.#sockets.splice(0);
      if (!this.#borrowed) this.#closeAfterFarewell(sockets);
    }
    return Promise.allSettled([...this.#pending]).then(() => {});
  }

  /** Closes `sockets`, after the path's farewell (if any) has gone out of the newest one. */
  #closeAfterFarewell(sockets: Socket[]): void {
    const farewell = this.#path?.farewell() ?? [];
    const last = sockets.at(-1);
    const to = this.#hasRemote ? this.#remote : null;
    if (farewell.length === 0 || last === undefined || to === null) {
      for (const socket of sockets) this.#closeSocket(socket);
      return;
    }
    for (const socket of sockets) socket.closed = true; // read loops stop
    const addr = { transport: "udp" as const, ...to };
    this.#track(
      this.#sendTail.then(async () => {
        for (const bytes of farewell) await last.conn.send(bytes, addr);
      }).catch(() => {}).finally(() => {
        for (const socket of sockets) this.#closeSocket(socket);
      }),
    );
  }

  #clock(): number {
    return Math.floor(this.#now());
  }

  #newest(): Socket {
    return this.#sockets[this.#sockets.length - 1];
  }

  /** Keeps a spare send buffer for the next large datagram (at most SPARES_MAX). */
  #takeBack(spare: Uint8Array | undefined): void {
    if (spare !== undefined && this.#spares.length < SPARES_MAX) {
      this.#spares.push(spare);
    }
  }

  #track(promise: Promise<void>): void {
    this.#pending.add(promise);
    const done = () => {
      this.#pending.delete(promise);
    };
    promise.then(done, done);
  }

  #addSocket(conn: Deno.DatagramConn): void {
    const socket = { conn, closed: false };
    this.#localPort = (conn.addr as Deno.NetAddr).port;
    this.#sockets.push(socket);
    if (this.#receiveBuffer > 0) growReceiveBuffer(conn, this.#receiveBuffer);
    this.#track(this.#readLoop(socket));
  }

  #closeSocket(socket: Socket): void {
    socket.closed = true;
    try {
      socket.conn.close();
    } catch {
      // already closed
    }
  }

  #sendFailed(err: unknown, probe: boolean): void {
    if (this.#closed) return;
    const tooLong = (err as { code?: string })?.code === "EMSGSIZE";
    // A size probe that was too long: the channel layer sees it lost, and
    // the MTU stays.
    if (tooLong && probe) return;
    this.#sendError = `sendto: ${errorText(err)}`;
    if (tooLong) {
      this.#mtu = DEFAULT_SEND_MTU;
    }
  }

  #hopPort(now: number): void {
    this.#lastPortChoice = now;
    try {
      this.#addSocket(Deno.listenDatagram({
        transport: "udp",
        hostname: this.#ipv6 ? "::" : "0.0.0.0",
        port: 0,
      }));
    } catch (err) {
      this.#sendError = `socket: ${errorText(err)}`;
    }
    this.#pruneSockets(now);
  }

  #pruneSockets(now: number): void {
    if (this.#sockets.length <= 1) return;
    if (now - this.#lastPortChoice > MAX_OLD_SOCKET_AGE) {
      for (const old of this.#sockets.splice(0, this.#sockets.length - 1)) {
        this.#closeSocket(old);
      }
    }
    const excess = this.#sockets.length - MAX_PORTS_OPEN;
    if (excess > 0) {
      for (const old of this.#sockets.splice(0, excess)) this.#closeSocket(old);
    }
  }

  async #readLoop(socket: Socket): Promise<void> {
    let failures = 0;
    // One buffer per socket: decryption copies out everything that is kept.
    // Room for the largest channel datagram (docs/wire.md §17.8).
    const buffer = new Uint8Array(
      CHANNEL_RECEIVE_MAX + (this.#path?.overhead ?? 0) + 1,
    );
    while (!socket.closed) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await socket.conn.receive(buffer);
      } catch (err) {
        if (socket.closed || isClosedError(err)) return;
        // Unexpected OS error: back off briefly rather than spin.
        failures++;
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(failures, 100))
        );
        continue;
      }
      failures = 0;
      if (socket.closed) return;
      const [bytes, from] = received;
      // The loop boundary: a throwing consumer must not end the loop (or the process).
      this.#guard.run(
        "the datagram receive path",
        () => this.#receive(bytes, from as Deno.NetAddr),
      );
    }
  }

  #receive(received: Uint8Array, from: Deno.NetAddr): void {
    const bytes = this.#path === null ? received : this.#path.unwrap(received);
    let datagram = bytes === null
      ? null
      : this.#open(bytes) ?? this.#openPending(bytes, from);
    // Only a channel datagram may exceed Mosh's RECEIVE_MTU (docs/wire.md §17.8).
    if (
      datagram !== null && bytes!.length > RECEIVE_MTU &&
      !isChannelPayload(datagram.payload)
    ) datagram = null;
    if (datagram === null) {
      this.#dropped++;
      return;
    }
    const now = this.#clock();
    if (datagram.seq >= this.#expectedSeq) {
      this.#expectedSeq = datagram.seq + 1n;
      if (datagram.timestamp !== TIMESTAMP_NONE) {
        this.#savedTimestamp = datagram.timestamp;
        this.#savedTimestampAt = now;
      }
      if (datagram.timestampReply !== TIMESTAMP_NONE) {
        this.#rtt.addSample(
          timestampDiff(timestamp16(now), datagram.timestampReply),
        );
      }
      this.#lastHeard = now;
      if (this.#server) this.#roam(from);
      this.#hasRemote = true;
    }
    if (!this.#server) this.#pruneSockets(now);
    if (isChannelPayload(datagram.payload)) {
      this.#channelHandler?.(datagram.payload);
    } else if (this.#handler !== null) this.#handler(datagram.payload);
    else if (this.#early !== null) {
      // The consumer is still loading (a user daemon's first session).
      this.#early.push(datagram.payload);
      if (this.#early.length > EARLY_PAYLOADS_MAX) this.#early.shift();
    }
  }

  #open(bytes: Uint8Array): Datagram | null {
    if (bytes.length > CHANNEL_RECEIVE_MAX) return null;
    try {
      return this.#codec.open(bytes);
    } catch {
      return null; // hostile input must never escape the receive path
    }
  }

  /** Forgets the prepared key once it has expired. */
  #expirePendingKey(): void {
    if (this.#pendingKey?.expired(this.#clock())) {
      this.#pendingKey = null;
      this.#log("tmosh: the key prepared for another client expired unused.");
    }
  }

  /** Opens `bytes` under the prepared key; an authentic datagram commits it. */
  #openPending(bytes: Uint8Array, from: Deno.NetAddr): Datagram | null {
    this.#expirePendingKey();
    const pending = this.#pendingKey;
    if (pending === null) return null;
    const datagram = pending.open(bytes);
    if (datagram !== null) this.#commitKey(pending, from);
    return datagram;
  }

  /** Switches to the prepared key and the client at `from`; tells the rekey handlers, with the old epoch's farewell connection. */
  #commitKey(pending: PendingKey, from: Deno.NetAddr): void {
    const socket = this.#newest();
    const farewell = new Connection(this.#codec, {
      server: true,
      conn: socket.conn,
      borrowed: socket,
      ipv6: this.#ipv6,
      remote: this.#hasRemote ? this.#remote : null,
      warnings: [],
    }, this.#options);
    farewell.#rtt = this.#rtt;
    farewell.#mtu = this.#mtu;
    farewell.#lastHeard = this.#lastHeard;
    farewell.#rekeyClosed = true;
    this.#pendingKey = null;
    this.#codec = pending.codec;
    this.#rtt = new RttEstimator();
    this.#expectedSeq = 0n;
    this.#savedTimestamp = null;
    this.#sendError = null;
    this.#remote = { hostname: from.hostname, port: from.port };
    this.#hasRemote = true;
    this.#lastHeard = this.#clock();
    this.#log(
      `Server now attached to client at ${from.hostname}:${from.port} (another client, new key)`,
    );
    for (const handler of this.#rekeyHandlers) {
      this.#guard.run("the key switch", () => handler(farewell));
    }
  }

  #roam(from: Deno.NetAddr): void {
    const remote = this.#remote;
    if (
      this.#hasRemote && remote !== null && remote.hostname === from.hostname &&
      remote.port === from.port
    ) return;
    this.#remote = { hostname: from.hostname, port: from.port };
    this.#log(`Server now attached to client at ${from.hostname}:${from.port}`);
  }
}
