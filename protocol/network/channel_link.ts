/**
 * The channel layer's loop on a session's connection (docs/wire.md §17):
 * received channel datagrams go to the multiplexer, its packets go out in
 * bursts of CHANNEL_BURST per turn of the event loop (so keystrokes and
 * screen updates, sent by the SSP transport on the same connection, never
 * wait behind a bulk transfer), and one timer serves its acks, loss
 * detection and probes. Datagrams grow beyond the connection's MTU as the
 * path allows (docs/wire.md §17.8), up to a ceiling set by the peer's
 * address (channel_path.ts); a new address restarts that search. Nothing is sent or accepted before `enable()`: the
 * peer accepted chan.v1.
 * @module
 */

import type { Connection, RemoteAddr } from "./connection.ts";
import { type PathLimits, pathLimits } from "./channel_path.ts";
import { ErrorGuard } from "./guard.ts";
import { ChannelMux, type MuxEvents } from "./channel_mux.ts";
import { BULK_SOCKET_BUFFER, CHANNEL_BURST } from "./constants.ts";

/** Options of a {@linkcode ChannelLink}. */
export interface ChannelLinkOptions {
  /** Client channels are even, server channels odd. */
  role: "client" | "server";
  /** The multiplexer's events. */
  events: Partial<MuxEvents>;
  /** Monotonic clock, ms (default performance.now). */
  now?: () => number;
  /** Where exceptions of callbacks are caught (default: the connection's). */
  guard?: ErrorGuard;
}

/** A multiplexer driven on a connection; see the module doc. */
export class ChannelLink {
  /** The channels (open, write, accept, ...); call kick() after using it. */
  readonly mux: ChannelMux;
  readonly #connection: Connection;
  readonly #now: () => number;
  readonly #guard: ErrorGuard;
  #enabled = false;
  #closed = false;
  #queued = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  /** The peer address the ceiling was computed for. */
  #remote: RemoteAddr | null = null;
  #limits: PathLimits = { ceiling: 0, window: 0 };
  /** The receive buffer our sockets got, bytes (0: the default). */
  #receiveBuffer = 0;

  /** Takes the connection's channel datagrams from now on (dropped until enable()). */
  constructor(connection: Connection, options: ChannelLinkOptions) {
    this.#connection = connection;
    this.#now = options.now ?? (() => performance.now());
    this.#guard = options.guard ?? connection.guard;
    this.mux = new ChannelMux({ role: options.role, events: options.events });
    connection.onChannelPayload((payload) => {
      if (!this.#enabled || this.#closed) return;
      this.mux.receive(payload, this.#now());
      this.kick();
    });
  }

  /** Whether the peer accepted chan.v1 and channels run. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Starts the channel layer (the peer accepted chan.v1). */
  enable(): void {
    if (this.#closed) return;
    if (!this.#enabled) {
      this.#receiveBuffer = this.#connection.growReceiveBuffers(
        BULK_SOCKET_BUFFER,
      );
      this.#remote = null; // the limits depend on the buffer
    }
    this.#enabled = true;
    this.kick();
  }

  /** Sends what is due once the current task is done. */
  kick(): void {
    if (this.#queued || !this.#enabled || this.#closed) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.#guard.run("the channel sender", () => this.#flush());
    });
  }

  /** Stops sending and receiving (channels should be reset first). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #flush(): void {
    if (this.#closed) return;
    const now = this.#now();
    const mux = this.mux;
    if (now >= mux.nextWake()) mux.onTimer(now);
    const path = this.#path();
    let sent = 0;
    // Never more than a burst waits in the socket's queue, so a keystroke's
    // datagram (sent by the transport) waits behind at most CHANNEL_BURST.
    while (
      sent < CHANNEL_BURST && this.#connection.sendBacklog < CHANNEL_BURST
    ) {
      const packet = mux.nextPacket(now, this.#connection.mtu, path);
      if (packet === null) break;
      this.#connection.send(packet);
      sent++;
    }
    if (sent === CHANNEL_BURST) {
      // More is due: yield to the rest of the event loop first.
      this.#arm(0);
      return;
    }
    if (this.#connection.sendBacklog >= CHANNEL_BURST) {
      this.#arm(1); // the socket catches up first
      return;
    }
    this.#arm(mux.nextWake() - now);
  }

  /** The limits of the path to the peer; a new peer address (a roam) restarts the size search. */
  #path(): Partial<PathLimits> {
    const remote = this.#connection.remoteAddr;
    if (remote === null) return {};
    if (remote !== this.#remote) {
      if (this.#remote !== null) this.mux.pathChanged();
      this.#remote = remote;
      this.#limits = pathLimits(
        remote.hostname,
        this.#connection.pathOverhead,
        { receiveBuffer: this.#receiveBuffer },
      );
    }
    return this.#limits;
  }

  #arm(wait: number): void {
    if (!Number.isFinite(wait)) return;
    const at = this.#now() + Math.max(0, wait);
    if (this.#timer !== null) {
      if (at >= this.#timerAt - 0.5) return;
      clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#guard.run("the channel timer", () => this.#flush());
    }, Math.max(0, Math.ceil(wait)));
  }
}
