/**
 * The receiving half of the State Synchronization Protocol: holds the peer's
 * states by number and applies each incoming diff to the state it names
 * (docs/wire.md §7; mosh: src/network/networktransport-impl.h (recv,
 * process_throwaway_until, get_remote_diff)).
 *
 * Hostile instructions are dropped, never thrown: a malformed diff changes
 * nothing, and throwaway_num can never remove the state a diff applies to or
 * the newest state (stricter than stock Mosh, which aborts instead).
 *
 * Besides mosh's count limit, what is held is bounded by bytes (states that
 * implement byteSize(), i.e. screens): past RECEIVED_STATES_BYTES_MAX the
 * oldest held states are dropped first, except the oldest one (the state the
 * sender names as its throwaway floor, which it falls back on while our acks
 * do not reach it) and the newest (what we show and ack). A diff from a
 * dropped state is then refused as "missing-base" and the sender resends from
 * a newer one once our ack arrives, so a hostile peer cannot make us hold more
 * than the budget plus two states.
 * @module
 */

import {
  PROTOCOL_VERSION,
  RECEIVED_STATES_BYTES_MAX,
  RECEIVED_STATES_MAX,
  RECEIVER_QUENCH,
} from "./constants.ts";
import type { Instruction } from "../protobufs/messages.ts";
import type { SyncState } from "./sync_state.ts";
import type { TransportSender } from "./transport_sender.ts";

/** Why an instruction was not accepted. */
export type DropReason =
  | "version"
  | "duplicate"
  | "missing-base"
  | "malformed"
  | "quench";

/** What receive() did with one instruction. */
export interface ReceiveResult {
  /** Whether a new state was stored. */
  accepted: boolean;
  /** Whether the state became the newest, so ackNum (and lastHeard) changed. */
  ackNumChanged: boolean;
  /** Whether the new newest state came with a non-empty diff (the ack should be hurried). */
  dataAck: boolean;
  /** Why it was dropped, when not accepted. */
  reason?: DropReason;
}

/** One held peer state. */
interface HeldState<T> {
  time: number;
  num: bigint;
  state: T;
  /** The state's byteSize() when stored, bytes. */
  bytes: number;
}

/** Keeps the peer's recent states and applies their diffs (mosh: Transport's receiving side). */
export class TransportReceiver<T extends SyncState<T>> {
  /** In increasing num order; never empty. */
  #held: HeldState<T>[];
  /** Sum of the held states' `bytes`. */
  #heldBytes: number;
  #quenchUntil = 0;
  #ackNum = 0n;
  #lastHeard = 0;
  #lastRead: T;

  /** Starts holding `initial` as the peer's state 0, received at `now`. */
  constructor(initial: T, now: number) {
    const bytes = initial.byteSize?.() ?? 0;
    this.#held = [{ time: now, num: 0n, state: initial, bytes }];
    this.#heldBytes = bytes;
    this.#lastRead = initial;
  }

  /** The peer's newest state (what the application shows or reads). */
  get latest(): T {
    return this.#held[this.#held.length - 1].state;
  }

  /** Number of the peer's newest state. */
  get latestNum(): bigint {
    return this.#held[this.#held.length - 1].num;
  }

  /** Arrival time of the peer's newest state, ms. */
  get latestTime(): number {
    return this.#held[this.#held.length - 1].time;
  }

  /** Newest peer state received in order: the ack_num we send. */
  get ackNum(): bigint {
    return this.#ackNum;
  }

  /** Time a new newest state last arrived, ms (0 if never). */
  get lastHeard(): number {
    return this.#lastHeard;
  }

  /** Number of states held. */
  get heldCount(): number {
    return this.#held.length;
  }

  /** Bytes held, by the states' byteSize() estimates. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Numbers of the states held, oldest first (for tests and diagnostics). */
  heldNums(): bigint[] {
    return this.#held.map((h) => h.num);
  }

  /** Stores the state an instruction describes, or drops it (mosh: Transport::recv after ack processing). */
  receive(instr: Instruction, now: number): ReceiveResult {
    if (instr.protocolVersion !== PROTOCOL_VERSION) return drop("version");
    const held = this.#held;
    if (held.some((h) => h.num === instr.newNum)) return drop("duplicate");
    const base = held.find((h) => h.num === instr.oldNum);
    if (base === undefined) return drop("missing-base");

    let state = base.state;
    if (instr.diff.length > 0) {
      const applied = state.applyDiff(instr.diff);
      if (applied === null) return drop("malformed");
      state = applied;
    }

    this.#throwAwayBelow(instr.throwawayNum, base);

    if (this.#held.length > RECEIVED_STATES_MAX) {
      if (now < this.#quenchUntil) return drop("quench");
      this.#quenchUntil = now + RECEIVER_QUENCH;
    }

    const bytes = state.byteSize?.() ?? 0;
    const entry = { time: now, num: instr.newNum, state, bytes };
    this.#heldBytes += bytes;
    const later = this.#held.findIndex((h) => h.num > entry.num);
    if (later >= 0) {
      this.#held.splice(later, 0, entry);
      this.#trimToBudget();
      return { accepted: true, ackNumChanged: false, dataAck: false };
    }
    this.#held.push(entry);
    this.#trimToBudget();
    this.#ackNum = entry.num;
    this.#lastHeard = now;
    return {
      accepted: true,
      ackNumChanged: true,
      dataAck: instr.diff.length > 0,
    };
  }

  /**
   * Returns the state last returned as `latest` (initially state 0) and the
   * newest state, marks the newest as read, and drops the oldest held state's
   * prefix from every held state (mosh: get_remote_diff; docs/wire.md §7.3). For UserStream
   * use `takeNewEvents` from user_stream.ts.
   */
  takeLatest(): { lastRead: T; latest: T } {
    const lastRead = this.#lastRead;
    const latest = this.latest;
    const oldest = this.#held[0].state;
    for (let i = this.#held.length - 1; i >= 0; i--) {
      const h = this.#held[i];
      if (h.state.subtract) h.state = h.state.subtract(oldest);
    }
    this.#lastRead = this.latest;
    return { lastRead, latest };
  }

  /** Drops held states numbered below `num`, but never `keep` nor the newest (mosh: process_throwaway_until). */
  #throwAwayBelow(num: bigint, keep: HeldState<T>): void {
    const newest = this.#held[this.#held.length - 1];
    if (this.#held[0].num >= num) return;
    this.#held = this.#held.filter((h) => {
      const kept = h.num >= num || h === keep || h === newest;
      if (!kept) this.#heldBytes -= h.bytes;
      return kept;
    });
  }

  /** Drops the oldest held states but the first and the newest while over the byte budget. */
  #trimToBudget(): void {
    const held = this.#held;
    let drop = 0;
    while (
      this.#heldBytes > RECEIVED_STATES_BYTES_MAX && drop < held.length - 2
    ) {
      this.#heldBytes -= held[1 + drop].bytes;
      drop++;
    }
    if (drop > 0) held.splice(1, drop);
  }
}

/**
 * Feeds one decoded instruction to both halves of a transport: acks go to the
 * sender, the state to the receiver, and the receiver's news back to the sender
 * (mosh: Transport::recv).
 */
export function deliverInstruction<
  L extends SyncState<L>,
  R extends SyncState<R>,
>(
  instr: Instruction,
  now: number,
  parts: { sender: TransportSender<L>; receiver: TransportReceiver<R> },
): ReceiveResult {
  if (instr.protocolVersion !== PROTOCOL_VERSION) return drop("version");
  parts.sender.processAcknowledgmentThrough(instr.ackNum);
  const result = parts.receiver.receive(instr, now);
  // A state we hold, sent again with data: our ack of it was probably lost,
  // so ack again soon instead of at the next heartbeat (tmosh; mosh waits).
  if (result.reason === "duplicate" && instr.diff.length > 0) {
    parts.sender.setDataAck();
  }
  if (result.ackNumChanged) {
    parts.sender.setAckNum(parts.receiver.ackNum);
    parts.sender.remoteHeard(now);
    if (result.dataAck) parts.sender.setDataAck();
  }
  return result;
}

/** A "not accepted" result. */
function drop(reason: DropReason): ReceiveResult {
  return { accepted: false, ackNumChanged: false, dataAck: false, reason };
}
