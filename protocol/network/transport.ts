/**
 * One SSP endpoint: a TransportSender for our state and a TransportReceiver for
 * the peer's, joined to a Connection through instruction encoding and
 * fragments, with one timer that fires exactly when the sender is due
 * (mosh: network::Transport).
 * @module
 */
import type { Connection } from "./connection.ts";
import type { ErrorGuard } from "./guard.ts";
import { FragmentAssembly, Fragmenter } from "./fragment.ts";
import { decodeInstruction, encodeInstruction } from "../protobufs/messages.ts";
import {
  HEARTBEAT_ALIGN_MIN_MS,
  HEARTBEAT_GRID_MS,
  SHUTDOWN_NUM,
} from "./constants.ts";
import type { SyncState } from "./sync_state.ts";
import { deliverInstruction, TransportReceiver } from "./transport_receiver.ts";
import { TransportSender } from "./transport_sender.ts";

/** Options of a Transport. */
export interface TransportOptions<L, R> {
  /** Our state 0, known to both sides. */
  initialLocal: L;
  /** The peer's state 0, known to both sides. */
  initialRemote: R;
  /** Collection delay before sending a change, ms (server 8, client 1). */
  sendMinDelay: number;
  /** Monotonic clock in ms; default performance.now(). */
  now?: () => number;
  /** Catches exceptions of the timer and the handlers (default: the connection's guard). */
  guard?: ErrorGuard;
}

/**
 * Why an SSP session is over: our shutdown was acknowledged, we acknowledged
 * the peer's, or ours was never acknowledged (mosh: the exit checks of
 * stmclient.cc main_loop and mosh-server.cc serve).
 */
export type SessionEnd = "acknowledged" | "counterparty" | "timeout";

/** What a session loop sees of its transport: questions and commands, not the sender, receiver and connection inside. */
export interface SessionTransport<L, R> {
  /** The state we are sending. */
  readonly currentState: L;
  /** Sets the state we want the peer to have and schedules sending it; not after startShutdown(). */
  setCurrentState(state: L): void;
  /** The newest state received from the peer. */
  readonly remoteState: R;
  /** The number of the newest state received from the peer. */
  readonly remoteStateNum: bigint;
  /** When the newest peer state arrived, ms on the transport's clock. */
  readonly remoteStateTime: number;
  /** The peer state last taken and the newest one, marking the newest as taken. */
  takeLatest(): { lastRead: R; latest: R };
  /** The number of the newest state we sent. */
  readonly lastSentNum: bigint;
  /** The newest of our states the peer acknowledged. */
  readonly ackedNum: bigint;
  /** The state we sent most recently. */
  readonly lastSentState: L;
  /** Diffs sent from an older state than the newest sent one (after losses), so far. */
  readonly retransmits: number;
  /** The newest of our states the peer acknowledged. */
  readonly ackedState: L;
  /** The states sent since the acknowledged one, oldest first. */
  readonly unackedStates: readonly L[];
  /** When the newest acknowledged send left, ms (mosh: get_sent_state_acked_timestamp). */
  readonly lastAckedSendTime: number;
  /** The current send interval, ms (mosh: send_interval). */
  readonly sendIntervalMs: number;
  /** Whether the peer's address is known. */
  readonly hasRemote: boolean;
  /** The last send error since the previous call, or null when sends work. */
  takeSendError(): string | null;
  /** Acknowledges the peer's newest state at the next tick instead of after the ack delay. */
  ackNow(): void;
  /** Starts the shutdown handshake (mosh: start_shutdown). */
  startShutdown(): void;
  /** Whether our shutdown handshake has begun. */
  readonly shuttingDown: boolean;
  /** Whether the peer has asked to shut down. */
  readonly counterpartyShutdown: boolean;
  /** Why the session is over, or null while it runs. */
  sessionEnd(): SessionEnd | null;
  /** Calls `handler` whenever a newer peer state has arrived. */
  onRemoteState(handler: () => void): void;
  /** Calls `handler` after every transport tick. */
  onTick(handler: () => void): void;
  /** Calls `handler` just before a retransmission goes out, with the time and the retransmission timeout, ms (it may replace the state with a smaller one). */
  onResend(handler: (clock: ResendClock) => void): void;
  /** Calls `handler` each time the sender is due, just before it computes what to send, after any resend handler (it may replace the state with a fresher one). */
  onBeforeSend(handler: () => void): void;
  /** Whether the current state differs from the one sent last: a send follows within the send interval, and any newer state set before it goes out with it. */
  readonly changePending: boolean;
  /** Re-arms the timer for the sender's next due time. */
  schedule(): void;
  /** Milliseconds until the sender is next due (Infinity when never). */
  waitTime(): number;
  /** Stops the timer and closes the connection. */
  close(): Promise<void>;
  /** Sends from now on through `connection` and receives nothing more (the farewell to a replaced client, docs/wire.md §15). */
  moveTo(connection: Connection): void;
}

/** When a retransmission is due: the transport's time and retransmission timeout, ms. */
export interface ResendClock {
  now: number;
  rto: number;
}

/** A synchronized pair of states over one connection (mosh: Transport<MyState, RemoteState>). */
export class Transport<L extends SyncState<L>, R extends SyncState<R>>
  implements SessionTransport<L, R> {
  /** Sends our state (its parts are for tests and diagnostics; session loops use SessionTransport). */
  readonly sender: TransportSender<L>;
  /** Holds the peer's states (for tests and diagnostics). */
  readonly receiver: TransportReceiver<R>;
  #connection: Connection;
  readonly #now: () => number;
  readonly #guard: ErrorGuard;
  readonly #fragmenter = new Fragmenter();
  readonly #assembly = new FragmentAssembly();
  #onRemote: (() => void)[] = [];
  #onTick: (() => void)[] = [];
  #onResend: ((clock: ResendClock) => void)[] = [];
  #onBeforeSend: (() => void)[] = [];
  /** Runs the resend handlers, then the before-send ones (the sender calls it once due). */
  readonly #beforeSend = (resend: boolean) => {
    if (resend && this.#onResend.length > 0) {
      const clock = { now: this.#now(), rto: this.#connection.rto };
      for (const h of this.#onResend) {
        this.#guard.run("a transport resend handler", () => h(clock));
      }
    }
    for (const h of this.#onBeforeSend) {
      this.#guard.run("a transport before-send handler", h);
    }
  };
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  #closed = false;
  /** Moved to a send-only connection: payloads of the one it left are no longer ours. */
  #moved = false;
  #instructionsDropped = 0;

  /** Joins a sender and a receiver to `connection`; starts listening at once. */
  constructor(connection: Connection, options: TransportOptions<L, R>) {
    this.#connection = connection;
    this.#now = options.now ?? (() => performance.now());
    this.#guard = options.guard ?? connection.guard;
    const now = this.#now();
    this.sender = new TransportSender(options.initialLocal, now, {
      sendMinDelay: options.sendMinDelay,
      rtt: connection,
    });
    this.receiver = new TransportReceiver(options.initialRemote, now);
    // The connection's guard is the boundary of this consumer (its receive loop).
    connection.onPayload((payload) => this.#receive(payload));
  }

  /** The connection underneath (for tests and diagnostics). */
  get connection(): Connection {
    return this.#connection;
  }

  /** The state we are sending. */
  get currentState(): L {
    return this.sender.currentState;
  }

  /** The newest state received from the peer. */
  get remoteState(): R {
    return this.receiver.latest;
  }

  /** The number of the newest state received from the peer. */
  get remoteStateNum(): bigint {
    return this.receiver.latestNum;
  }

  /** When the newest peer state arrived, ms on the transport's clock. */
  get remoteStateTime(): number {
    return this.receiver.latestTime;
  }

  /** The peer state last taken and the newest one, marking the newest as taken. */
  takeLatest(): { lastRead: R; latest: R } {
    return this.receiver.takeLatest();
  }

  /** The number of the newest state we sent. */
  get lastSentNum(): bigint {
    return this.sender.lastSentNum;
  }

  /** The newest of our states the peer acknowledged. */
  get ackedNum(): bigint {
    return this.sender.ackedNum;
  }

  get lastSentState(): L {
    return this.sender.lastSentState;
  }

  get retransmits(): number {
    return this.sender.retransmits;
  }

  get ackedState(): L {
    return this.sender.ackedState;
  }

  /** The states sent since the acknowledged one, oldest first. */
  get unackedStates(): readonly L[] {
    return this.sender.unackedStates;
  }

  /** When the newest acknowledged send left, ms. */
  get lastAckedSendTime(): number {
    return this.sender.lastAckedSendTime;
  }

  /** The current send interval, ms. */
  get sendIntervalMs(): number {
    return this.sender.sendIntervalMs;
  }

  /** Whether the peer's address is known. */
  get hasRemote(): boolean {
    return this.#connection.hasRemote;
  }

  /** The last send error since the previous call, or null when sends work. */
  takeSendError(): string | null {
    const err = this.#connection.sendError;
    if (err !== null) this.#connection.clearSendError();
    return err;
  }

  /** Acknowledges the peer's newest state at the next tick instead of after the ack delay. */
  ackNow(): void {
    this.sender.ackNow(this.#now());
    this.schedule();
  }

  /** Whether our shutdown handshake has begun. */
  get shuttingDown(): boolean {
    return this.sender.shutdownInProgress;
  }

  /** Why the session is over, or null while it runs. */
  sessionEnd(): SessionEnd | null {
    const s = this.sender;
    if (s.shutdownInProgress && s.shutdownAcknowledged) return "acknowledged";
    if (s.counterpartyShutdownAckSent) return "counterparty";
    if (s.shutdownInProgress && s.shutdownAckTimedOut(this.#now())) {
      return "timeout";
    }
    return null;
  }

  /** Authentic datagrams whose instruction was malformed or rejected, for tests. */
  get instructionsDropped(): number {
    return this.#instructionsDropped;
  }

  /** Calls `handler` whenever a newer peer state has arrived. */
  onRemoteState(handler: () => void): void {
    this.#onRemote.push(handler);
  }

  /** Calls `handler` after every transport tick (sends or timer checks). */
  onTick(handler: () => void): void {
    this.#onTick.push(handler);
  }

  /** Calls `handler` just before a retransmission goes out (it may replace the state with a smaller one). */
  onResend(handler: (clock: ResendClock) => void): void {
    this.#onResend.push(handler);
  }

  /** Calls `handler` each time the sender is due, before it computes what to send (it may replace the state with a fresher one). */
  onBeforeSend(handler: () => void): void {
    this.#onBeforeSend.push(handler);
  }

  /** Whether the current state differs from the one sent last (a send follows within the send interval). */
  get changePending(): boolean {
    return this.sender.changePending;
  }

  /** Sets the state we want the peer to have and schedules sending it. */
  setCurrentState(state: L): void {
    this.sender.setCurrentState(state);
    this.schedule();
  }

  /** Starts the shutdown handshake (mosh: start_shutdown). */
  startShutdown(): void {
    if (!this.sender.shutdownInProgress) {
      this.sender.startShutdown(this.#now());
    }
    this.schedule();
  }

  /** Whether the peer has asked to shut down (our ack number is SHUTDOWN_NUM). */
  get counterpartyShutdown(): boolean {
    return this.receiver.ackNum === SHUTDOWN_NUM;
  }

  /** Sends whatever is due now and re-arms the timer. */
  tick(): void {
    if (this.#closed) return;
    try {
      const now = this.#now();
      this.sender.hasRemote = this.#connection.hasRemote;
      const hooks = this.#onResend.length + this.#onBeforeSend.length;
      const instr = this.sender.tick(
        now,
        hooks === 0 ? undefined : this.#beforeSend,
      );
      if (instr) {
        const bytes = encodeInstruction(instr);
        const mtu = this.#connection.mtu;
        for (const fragment of this.#fragmenter.makeFragments(bytes, mtu)) {
          this.#connection.send(fragment);
        }
      }
      for (const h of this.#onTick) {
        this.#guard.run("a transport tick handler", h);
      }
    } finally {
      // Re-armed even when the tick threw, so the session keeps sending.
      this.schedule();
    }
  }

  /** Milliseconds until the sender is next due (Infinity when never). */
  waitTime(): number {
    this.sender.hasRemote = this.#connection.hasRemote;
    return this.sender.waitTime(this.#now());
  }

  /** Re-arms the timer for the sender's next due time (a heartbeat: on the grid, HEARTBEAT_GRID_MS). */
  schedule(): void {
    if (this.#closed) return;
    const now = this.#now();
    let wait = this.waitTime();
    let onGrid = false;
    if (wait >= HEARTBEAT_ALIGN_MIN_MS && Number.isFinite(wait)) {
      wait = Math.floor((now + wait) / HEARTBEAT_GRID_MS) * HEARTBEAT_GRID_MS -
        now;
      onGrid = true;
    }
    const at = now + wait;
    if (this.#timer !== null) {
      if (at >= this.#timerAt - 0.5) return;
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (!Number.isFinite(wait)) {
      this.#timerAt = Infinity;
      return;
    }
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#guard.run("the transport timer", () => {
        // The grid step before the heartbeat: it goes now, not on a wake of
        // its own (unless a send since has put it further off).
        if (onGrid && this.waitTime() <= HEARTBEAT_GRID_MS) {
          this.sender.ackNow(this.#now());
        }
        this.tick();
      });
    }, Math.max(0, Math.ceil(wait)));
  }

  /** Sends from now on through `connection` and receives nothing more (the farewell to a replaced client, docs/wire.md §15). */
  moveTo(connection: Connection): void {
    this.#connection = connection;
    this.sender.rtt = connection;
    this.#moved = true;
    this.schedule();
  }

  /** Stops the timer and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#connection.close();
  }

  /** Handles one authentic datagram payload: reassemble, decode, deliver. */
  #receive(payload: Uint8Array): void {
    if (this.#closed || this.#moved) return;
    const bytes = this.#assembly.add(payload);
    if (bytes === null) {
      this.schedule();
      return;
    }
    const instr = decodeInstruction(bytes);
    if (instr === null) {
      this.#instructionsDropped++;
      return;
    }
    const now = this.#now();
    const result = deliverInstruction(instr, now, {
      sender: this.sender,
      receiver: this.receiver,
    });
    if (!result.accepted) this.#instructionsDropped++;
    this.#connection.setLastRoundtripSuccess(this.sender.lastAckedSendTime);
    if (result.ackNumChanged) {
      for (const h of this.#onRemote) {
        this.#guard.run("a remote-state handler", h);
      }
    }
    this.schedule();
  }
}
