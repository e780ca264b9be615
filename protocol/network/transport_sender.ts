/**
 * The sending half of the State Synchronization Protocol: decides when to send
 * which Instruction so the peer converges on our current state
 * (docs/wire.md §6.2–§6.6; mosh: src/network/transportsender*.h).
 *
 * Pure logic: time is passed in (`now`, ms), and `tick` returns the
 * Instruction to send (the caller encodes, fragments and sends it).
 * @module
 */

import {
  ACK_DELAY,
  ACK_INTERVAL,
  ACTIVE_RETRY_TIMEOUT,
  CHAFF_MAX,
  INITIAL_SRTT,
  MAX_RTO,
  PROTOCOL_VERSION,
  SEND_INTERVAL_MAX,
  SEND_INTERVAL_MIN,
  SEND_MINDELAY_SERVER,
  SENT_STATES_MAX,
  SHUTDOWN_NUM,
  SHUTDOWN_RETRIES,
  SHUTDOWN_TIMEOUT,
} from "./constants.ts";
import type { Instruction } from "../protobufs/messages.ts";
import type { SyncState } from "./sync_state.ts";

/** Round-trip figures the sender reads on every timer computation (e.g. an RttEstimator). */
export interface RttInfo {
  /** Smoothed round-trip time, ms. */
  readonly srtt: number;
  /** Retransmission timeout, ms (mosh: Connection::timeout). */
  readonly rto: number;
}

/** Options of a TransportSender. */
export interface TransportSenderOptions {
  /** Collection delay before sending a change, ms (mosh: SEND_MINDELAY); default 8 (server), client uses 1. */
  sendMinDelay?: number;
  /** Round-trip source; default SRTT 1000, RTO 1000 (no sample yet). */
  rtt?: RttInfo;
  /** Fills a buffer with random bytes, for chaff; default crypto.getRandomValues. */
  randomFill?: (buf: Uint8Array) => void;
}

/** One entry of sent_states: a state we sent (or know the peer has). */
interface SentState<T> {
  time: number;
  num: bigint;
  state: T;
}

/** Largest state number, for wrap-around like mosh's uint64 arithmetic. */
const U64_MASK = SHUTDOWN_NUM;
/** Prospective resend: a longer diff is still preferred under this size, bytes. */
const RESEND_SIZE_LIMIT = 1000;
/** Prospective resend: ... if it is at most this much longer, bytes. */
const RESEND_EXTRA_LIMIT = 100;
/** Sent-state pruning removes the element this far from the end. */
const SENT_STATES_PRUNE_FROM_END = 16;

/** Sends a state of type T to the peer as a series of diffs (mosh: TransportSender). */
export class TransportSender<T extends SyncState<T>> {
  /** Whether the peer's address is known; with false, nothing is sent and waitTime is Infinity. */
  hasRemote = false;
  /** Round-trip figures used for the send interval and retransmissions. */
  rtt: RttInfo;
  /** Collection delay before sending a change, ms. */
  sendMinDelay: number;

  #current: T;
  /** First: acknowledged by the peer; last: sent most recently. Never empty. */
  #sent: SentState<T>[];
  #assumed: SentState<T>;
  #nextAckTime: number;
  #nextSendTime: number;
  /** Time of the first change not yet sent, or null. */
  #mindelayClock: number | null = null;
  #retransmits = 0;
  #ackNum = 0n;
  #pendingDataAck = false;
  #lastHeard = 0;
  #lastAckSent: bigint | null = null;
  #shutdownStart: number | null = null;
  #shutdownTries = 0;
  #randomFill: (buf: Uint8Array) => void;

  /** Starts with `initial` as state 0, known to both sides, at time `now`. */
  constructor(initial: T, now: number, options: TransportSenderOptions = {}) {
    this.#current = initial;
    this.#sent = [{ time: now, num: 0n, state: initial }];
    this.#assumed = this.#sent[0];
    this.#nextAckTime = now;
    this.#nextSendTime = now;
    this.sendMinDelay = options.sendMinDelay ?? SEND_MINDELAY_SERVER;
    this.rtt = options.rtt ?? { srtt: INITIAL_SRTT, rto: MAX_RTO };
    this.#randomFill = options.randomFill ??
      ((buf) => void crypto.getRandomValues(buf));
  }

  /** The state we want the peer to have (rationalized: its acknowledged prefix may be gone). */
  get currentState(): T {
    return this.#current;
  }

  /** Replaces the state we want the peer to have; throws once shutdown started. */
  setCurrentState(state: T): void {
    if (this.#shutdownStart !== null) {
      throw new Error(
        "tmosh: state changed after shutdown started; stop updating the sender once startShutdown() is called",
      );
    }
    this.#current = state;
  }

  /** Sets the newest peer state received in order, echoed as ack_num. */
  setAckNum(num: bigint): void {
    this.#ackNum = num;
  }

  /** The ack_num we send. */
  get ackNum(): bigint {
    return this.#ackNum;
  }

  /** Hurries the next ack: new data arrived from the peer (mosh: set_data_ack). */
  setDataAck(): void {
    this.#pendingDataAck = true;
  }

  /**
   * Sends the next ack at once (tmosh only): used by the client on first
   * contact, so the server gets a timestamp echo, hence an RTT sample and a
   * short send interval, before it draws the first prompt.
   */
  ackNow(now: number): void {
    if (this.#nextAckTime > now) this.#nextAckTime = now;
  }

  /** Records that a new in-order state arrived from the peer at `now` (mosh: remote_heard). */
  remoteHeard(now: number): void {
    this.#lastHeard = now;
  }

  /** Time a new in-order state last arrived from the peer, ms (0 if never). */
  get lastHeard(): number {
    return this.#lastHeard;
  }

  /** Drops sent states older than `num` if we still hold state `num` (mosh: process_acknowledgment_through). */
  processAcknowledgmentThrough(num: bigint): void {
    const i = this.#sent.findIndex((s) => s.num === num);
    if (i <= 0) return;
    // Nums only grow along the list, so the states below `num` are a prefix of it.
    this.#sent = this.#sent.filter((s) => s.num >= num);
    if (!this.#sent.includes(this.#assumed)) this.#assumed = this.#sent[0];
  }

  /** Send interval: ceil(SRTT/2) clamped to [20, 250] ms (mosh: send_interval). */
  get sendIntervalMs(): number {
    const interval = Math.ceil(this.rtt.srtt / 2);
    return Math.min(SEND_INTERVAL_MAX, Math.max(SEND_INTERVAL_MIN, interval));
  }

  /** Whether the current state differs from the one sent last (a send is then due within the send interval). */
  get changePending(): boolean {
    const last = this.#sent[this.#sent.length - 1].state;
    return this.#current !== last && !this.#current.equals(last);
  }

  /** Number of the state we sent most recently. */
  get lastSentNum(): bigint {
    return this.#sent[this.#sent.length - 1].num;
  }

  /** Diffs sent from an older state than the newest sent one (after losses), so far. */
  get retransmits(): number {
    return this.#retransmits;
  }

  /** The state we sent most recently. */
  get lastSentState(): T {
    return this.#sent[this.#sent.length - 1].state;
  }

  /** The states sent since the acknowledged one, oldest first: those a diff may start from besides it. */
  get unackedStates(): T[] {
    const states: T[] = [];
    for (let i = 1; i < this.#sent.length; i++) {
      states.push(this.#sent[i].state);
    }
    return states;
  }

  /** The newest of our states the peer has acknowledged. */
  get ackedState(): T {
    return this.#sent[0].state;
  }

  /** Number of the state the peer has acknowledged. */
  get ackedNum(): bigint {
    return this.#sent[0].num;
  }

  /** Numbers of the sent states held, acknowledged first (for tests and diagnostics). */
  sentStateNums(): bigint[] {
    return this.#sent.map((s) => s.num);
  }

  /** Number of the state the peer is assumed to have (as of the last tick/waitTime). */
  get assumedReceiverNum(): bigint {
    return this.#assumed.num;
  }

  /** Send time of the acknowledged state, ms: the last proven round trip (mosh: get_sent_state_acked_timestamp). */
  get lastAckedSendTime(): number {
    return this.#sent[0].time;
  }

  /** Begins the shutdown handshake at `now`; the state must not change afterwards. */
  startShutdown(now: number): void {
    if (this.#shutdownStart === null) this.#shutdownStart = now;
  }

  /** Whether startShutdown() was called. */
  get shutdownInProgress(): boolean {
    return this.#shutdownStart !== null;
  }

  /** Whether the peer acknowledged our shutdown state (2^64−1). */
  get shutdownAcknowledged(): boolean {
    return this.#sent[0].num === SHUTDOWN_NUM;
  }

  /** Whether we have sent an instruction acknowledging the peer's shutdown. */
  get counterpartyShutdownAckSent(): boolean {
    return this.#lastAckSent === SHUTDOWN_NUM;
  }

  /** Whether our shutdown should be abandoned: 16 sends, or 10 s since it started. */
  shutdownAckTimedOut(now: number): boolean {
    if (this.#shutdownStart === null) return false;
    return this.#shutdownTries >= SHUTDOWN_RETRIES ||
      now - this.#shutdownStart >= SHUTDOWN_TIMEOUT;
  }

  /** Milliseconds until tick() may have something to send; Infinity without a remote. */
  waitTime(now: number): number {
    this.calculateTimers(now);
    if (!this.hasRemote) return Infinity;
    return Math.max(0, Math.min(this.#nextAckTime, this.#nextSendTime) - now);
  }

  /**
   * Whether tick(now) will send a diff from an older state than the newest
   * sent one because a sent state went unacknowledged past RTO + ACK_DELAY
   * (a retransmission; the state may still be replaced before it).
   */
  resendDue(now: number): boolean {
    this.calculateTimers(now);
    return this.hasRemote && this.#due(now) && this.#timedOut();
  }

  /**
   * The Instruction to send at `now`, or null if nothing is due (mosh:
   * tick); once due, `beforeSend` runs first, told whether it is a
   * retransmission (see resendDue), and may replace the current state.
   */
  tick(
    now: number,
    beforeSend?: (resend: boolean) => void,
  ): Instruction | null {
    this.calculateTimers(now);
    if (!this.hasRemote || !this.#due(now)) return null;
    if (beforeSend !== undefined) {
      beforeSend(this.#timedOut());
      this.calculateTimers(now); // the state may be new
      if (!this.#due(now)) return null;
    }

    let diff = this.#current.diffFrom(this.#assumed.state);
    const acked = this.#sent[0];
    // A sent state went unacknowledged past RTO + ACK_DELAY (a loss, or a
    // stalled peer); a prospective resend below is a choice, not a loss.
    const timedOut = this.#timedOut();
    if (this.#assumed !== acked) {
      // Prospective resend: prefer a diff from the state the peer surely has
      // (not computed when surely too long to be preferred: a long log).
      const preferred = (size: number) =>
        size <= diff.length ||
        (size < RESEND_SIZE_LIMIT && size - diff.length < RESEND_EXTRA_LIMIT);
      if (preferred(this.#current.diffSizeAtLeast?.(acked.state) ?? 0)) {
        const resend = this.#current.diffFrom(acked.state);
        if (preferred(resend.length)) {
          this.#assumed = acked;
          diff = resend;
        }
      }
    }

    let out: Instruction | null = null;
    if (diff.length === 0) {
      if (now >= this.#nextAckTime) {
        out = this.#sendEmptyAck(now);
        this.#mindelayClock = null;
      }
      if (now >= this.#nextSendTime) {
        this.#nextSendTime = Infinity;
        this.#mindelayClock = null;
      }
    } else if (now >= this.#nextSendTime || now >= this.#nextAckTime) {
      if (timedOut) this.#retransmits++;
      out = this.#sendDiff(diff, now);
      this.#mindelayClock = null;
    }
    return out;
  }

  /** Whether a timer is due at `now` (as of the last calculateTimers). */
  #due(now: number): boolean {
    return now >= this.#nextAckTime || now >= this.#nextSendTime;
  }

  /** Whether a state sent after the assumed one went unacknowledged past RTO + ACK_DELAY (as of the last calculateTimers). */
  #timedOut(): boolean {
    return this.#assumed !== this.#sent[this.#sent.length - 1];
  }

  /** Recomputes the assumed receiver state, rationalizes, and sets both timers (mosh: calculate_timers). */
  calculateTimers(now: number): void {
    const sent = this.#sent;
    const first = sent[0];
    const last = sent[sent.length - 1];
    const interval = this.sendIntervalMs;
    const retransmitAfter = this.rtt.rto + ACK_DELAY;

    // 1. Assume the peer has every state sent within RTO+100 ms, up to the first older one.
    this.#assumed = first;
    for (
      let i = 1;
      i < sent.length && now - sent[i].time < retransmitAfter;
      i++
    ) {
      this.#assumed = sent[i];
    }

    // 2. Rationalize: drop the acknowledged prefix from every state (UserStream only).
    const known = first.state;
    if (this.#current.subtract) {
      this.#current = this.#current.subtract(known);
      for (let i = sent.length - 1; i >= 0; i--) {
        sent[i].state = sent[i].state.subtract!(known);
      }
    }

    // 3. Delayed ack for new data from the peer.
    if (this.#pendingDataAck && this.#nextAckTime > now + ACK_DELAY) {
      this.#nextAckTime = now + ACK_DELAY;
    }

    // 4. When to send data: new state, fast retransmit, slow retransmit, or never.
    const peerActive = this.#lastHeard + ACTIVE_RETRY_TIMEOUT > now;
    if (!this.#current.equals(last.state)) {
      this.#mindelayClock ??= now;
      this.#nextSendTime = Math.max(
        this.#mindelayClock + this.sendMinDelay,
        last.time + interval,
      );
    } else if (!this.#current.equals(this.#assumed.state) && peerActive) {
      this.#nextSendTime = last.time + interval;
      if (this.#mindelayClock !== null) {
        this.#nextSendTime = Math.max(
          this.#nextSendTime,
          this.#mindelayClock + this.sendMinDelay,
        );
      }
    } else if (!this.#current.equals(first.state) && peerActive) {
      this.#nextSendTime = last.time + retransmitAfter;
    } else {
      this.#nextSendTime = Infinity;
    }

    // 5. Hurry the shutdown handshake, ours or the peer's.
    if (this.#shutdownStart !== null || this.#ackNum === SHUTDOWN_NUM) {
      this.#nextAckTime = last.time + interval;
    }
  }

  /** Sends the current state as a diff from the assumed one (mosh: send_to_receiver). */
  #sendDiff(diff: Uint8Array, now: number): Instruction {
    const last = this.#sent[this.#sent.length - 1];
    let newNum = this.#current.equals(last.state)
      ? last.num
      : (last.num + 1n) & U64_MASK;
    if (this.#shutdownStart !== null) newNum = SHUTDOWN_NUM;
    const oldNum = this.#assumed.num;
    if (newNum === last.num) {
      last.time = now;
    } else {
      this.#addSentState({ time: now, num: newNum, state: this.#current });
    }
    const out = this.#instruction(oldNum, newNum, diff);
    this.#assumed = this.#sent[this.#sent.length - 1];
    this.#nextAckTime = now + ACK_INTERVAL;
    this.#nextSendTime = Infinity;
    return out;
  }

  /** Sends an empty diff under a fresh state number, to carry our ack (mosh: send_empty_ack). */
  #sendEmptyAck(now: number): Instruction {
    const last = this.#sent[this.#sent.length - 1];
    const newNum = this.#shutdownStart !== null
      ? SHUTDOWN_NUM
      : (last.num + 1n) & U64_MASK;
    const oldNum = this.#assumed.num;
    this.#addSentState({ time: now, num: newNum, state: this.#current });
    if (!this.#sent.includes(this.#assumed)) this.#assumed = this.#sent[0];
    this.#nextAckTime = now + ACK_INTERVAL;
    this.#nextSendTime = Infinity;
    return this.#instruction(oldNum, newNum, new Uint8Array(0));
  }

  /** Appends a sent state, pruning from the middle past the queue limit (mosh: add_sent_state). */
  #addSentState(entry: SentState<T>): void {
    this.#sent.push(entry);
    if (this.#sent.length > SENT_STATES_MAX) {
      this.#sent.splice(this.#sent.length - SENT_STATES_PRUNE_FROM_END, 1);
    }
  }

  /** Builds the outgoing Instruction and does per-send bookkeeping (mosh: send_in_fragments). */
  #instruction(oldNum: bigint, newNum: bigint, diff: Uint8Array): Instruction {
    if (newNum === SHUTDOWN_NUM) this.#shutdownTries++;
    this.#pendingDataAck = false;
    this.#lastAckSent = this.#ackNum;
    return {
      protocolVersion: PROTOCOL_VERSION,
      oldNum,
      newNum,
      ackNum: this.#ackNum,
      throwawayNum: this.#sent[0].num,
      diff,
      chaff: this.#makeChaff(),
    };
  }

  /** 0–16 random bytes hiding the instruction's length (mosh: make_chaff). */
  #makeChaff(): Uint8Array {
    const len = new Uint8Array(1);
    this.#randomFill(len);
    const chaff = new Uint8Array(len[0] % (CHAFF_MAX + 1));
    if (chaff.length > 0) this.#randomFill(chaff);
    return chaff;
  }
}
