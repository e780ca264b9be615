/**
 * One SSP endpoint: a TransportSender for our state and a TransportReceiver for
 * the peer's, joined to a Connection through instruction encoding and
 * fragments, with one timer that fires exactly when the sender is due
 * (mosh: network::Transport).
 * @module
 */
import type { Connection } from "./connection.ts";
import { FragmentAssembly, Fragmenter } from "./fragment.ts";
import { decodeInstruction, encodeInstruction } from "../protobufs/messages.ts";
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
}

/** A synchronized pair of states over one connection (mosh: Transport<MyState, RemoteState>). */
export class Transport<L extends SyncState<L>, R extends SyncState<R>> {
  /** Sends our state. */
  readonly sender: TransportSender<L>;
  /** Holds the peer's states. */
  readonly receiver: TransportReceiver<R>;
  readonly #connection: Connection;
  readonly #now: () => number;
  readonly #fragmenter = new Fragmenter();
  readonly #assembly = new FragmentAssembly();
  #onRemote: (() => void)[] = [];
  #onTick: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  #closed = false;
  #instructionsDropped = 0;

  /** Joins a sender and a receiver to `connection`; starts listening at once. */
  constructor(connection: Connection, options: TransportOptions<L, R>) {
    this.#connection = connection;
    this.#now = options.now ?? (() => performance.now());
    const now = this.#now();
    this.sender = new TransportSender(options.initialLocal, now, {
      sendMinDelay: options.sendMinDelay,
      rtt: connection,
    });
    this.receiver = new TransportReceiver(options.initialRemote, now);
    connection.onPayload((payload) => this.#receive(payload));
  }

  /** The connection underneath. */
  get connection(): Connection {
    return this.#connection;
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

  /** Whether the peer has asked to shut down (our ack number is 2^64-1). */
  get counterpartyShutdown(): boolean {
    return this.receiver.ackNum === 0xffffffffffffffffn;
  }

  /** Sends whatever is due now and re-arms the timer. */
  tick(): void {
    if (this.#closed) return;
    const now = this.#now();
    this.sender.hasRemote = this.#connection.hasRemote;
    const instr = this.sender.tick(now);
    if (instr) {
      const bytes = encodeInstruction(instr);
      const mtu = this.#connection.mtu;
      for (const fragment of this.#fragmenter.makeFragments(bytes, mtu)) {
        this.#connection.send(fragment);
      }
    }
    for (const h of this.#onTick) h();
    this.schedule();
  }

  /** Milliseconds until the sender is next due (Infinity when never). */
  waitTime(): number {
    this.sender.hasRemote = this.#connection.hasRemote;
    return this.sender.waitTime(this.#now());
  }

  /** Re-arms the timer for the sender's next due time. */
  schedule(): void {
    if (this.#closed) return;
    const wait = this.waitTime();
    const at = this.#now() + wait;
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
      this.tick();
    }, Math.max(0, Math.ceil(wait)));
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
    if (this.#closed) return;
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
      for (const h of this.#onRemote) h();
    }
    this.schedule();
  }
}
