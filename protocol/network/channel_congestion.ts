/**
 * Congestion control of the channel layer (docs/wire.md §17.6): a window of
 * bytes in flight, shared by every channel of a connection. Slow start (left
 * when the window first shrinks, or at the first loss towards a peer on this
 * host), then additive growth; the window
 * shrinks once per round trip when the round's
 * loss fraction is high (halved) or when queueing delay builds (by 15%), and
 * collapses after persistent loss (an outage). Isolated random losses alone
 * do not shrink it, so a lossy radio link keeps its throughput while a full
 * queue still pushes back. Pure: time is an argument.
 * @module
 */

import {
  CWND_INITIAL,
  CWND_MAX,
  CWND_MIN,
  DELAY_BACKOFF_FRACTION,
  DELAY_BACKOFF_MS,
  LOSS_BACKOFF_RATE,
} from "./constants.ts";

/** Window factor after a round with heavy loss. */
const LOSS_BETA = 0.5;
/** Window factor when queueing delay builds. */
const DELAY_BETA = 0.85;
/** Additive growth per round trip in congestion avoidance, fraction of the window. */
const AVOIDANCE_GROWTH = 0.125;
/** The window holds at least this many datagrams of the current size. */
const MIN_DATAGRAMS = 4;
/** Minimum-RTT samples older than this are forgotten, ms. */
const MIN_RTT_WINDOW_MS = 10_000;

/** The connection-wide congestion window and bytes in flight. */
export class CongestionControl {
  #cwnd = CWND_INITIAL;
  #ssthresh = CWND_MAX;
  #inFlight = 0;
  #minRtt = Infinity;
  #minRttAt = 0;
  #srtt = 0;
  /** Packets sent before this time belong to a round already judged. */
  #roundStart = 0;
  #roundAcked = 0;
  #roundLost = 0;
  /** Losses of packets sent before this time do not shrink the window again. */
  #recoveryStart = -Infinity;
  /** Size of the datagrams sent, bytes (the window never shrinks below a few of them). */
  #datagram = 0;
  /** The path's cap on the window, bytes. */
  #max = CWND_MAX;

  /** Bytes the window allows, bytes. */
  get window(): number {
    return this.#cwnd;
  }

  /** Bytes sent and neither acknowledged nor lost. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Smallest RTT seen recently, ms (Infinity before any sample). */
  get minRtt(): number {
    return this.#minRtt;
  }

  /** Whether `bytes` more may be sent now (one packet always may, when none is in flight). */
  canSend(bytes: number): boolean {
    return this.#inFlight === 0 || this.#inFlight + bytes <= this.#cwnd;
  }

  /**
   * The path's datagram size (the window stays at least MIN_DATAGRAMS of
   * them) and cap on the window (at most CWND_MAX), bytes.
   */
  setPath(datagram: number, max: number): void {
    this.#datagram = datagram;
    this.#max = Math.min(CWND_MAX, max);
    this.#cwnd = Math.min(Math.max(this.#cwnd, this.#floor()), this.#max);
  }

  /** Counts a sent packet. */
  onSent(bytes: number): void {
    this.#inFlight += bytes;
  }

  /** An RTT sample `rtt` (ms) at `now`, smoothed as RFC 6298. */
  onRtt(rtt: number, now: number): void {
    if (rtt <= this.#minRtt || now - this.#minRttAt > MIN_RTT_WINDOW_MS) {
      this.#minRtt = rtt;
      this.#minRttAt = now;
    }
    this.#srtt = this.#srtt === 0 ? rtt : 0.875 * this.#srtt + 0.125 * rtt;
  }

  /** A packet of `bytes` sent at `sentAt` was acknowledged at `now`. */
  onAcked(bytes: number, context: { sentAt: number; now: number }): void {
    this.#inFlight = Math.max(0, this.#inFlight - bytes);
    this.#roundAcked++;
    this.#endRound(context.sentAt, context.now);
    if (context.sentAt < this.#recoveryStart) return;
    if (this.#queueing()) {
      this.#shrink(DELAY_BETA, context.now);
      return;
    }
    const grow = this.#cwnd < this.#ssthresh ? bytes : bytes * AVOIDANCE_GROWTH;
    this.#cwnd = Math.min(this.#max, this.#cwnd + grow);
  }

  /** A packet of `bytes` sent at `sentAt` was declared lost at `now`. */
  onLost(bytes: number, context: { sentAt: number; now: number }): void {
    this.#inFlight = Math.max(0, this.#inFlight - bytes);
    this.#roundLost++;
    this.#endRound(context.sentAt, context.now);
    // On a path to a peer elsewhere an isolated loss does not end slow
    // start (a lossy radio link would leave it within its first round
    // trips): a round with heavy loss or a building queue does (#shrink).
    // Towards a peer on this host (a capped path) nothing is lost at
    // random: a loss is a full socket buffer, and slow start ends there.
    if (
      this.#max < CWND_MAX && this.#cwnd < this.#ssthresh &&
      context.sentAt >= this.#recoveryStart
    ) {
      this.#ssthresh = this.#cwnd;
      this.#recoveryStart = context.now;
    }
  }

  /** Nothing was acknowledged for several probe timeouts (an outage): start again from the initial window. */
  onPersistentLoss(now: number): void {
    this.#ssthresh = Math.max(this.#floor(), this.#cwnd / 2);
    this.#cwnd = Math.max(CWND_INITIAL, this.#floor());
    this.#recoveryStart = now;
  }

  /** Forgets a packet in flight without judging it (a channel reset). */
  onDiscarded(bytes: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - bytes);
  }

  /** The smallest window, bytes. */
  #floor(): number {
    return Math.min(
      Math.max(CWND_MIN, MIN_DATAGRAMS * this.#datagram),
      this.#max,
    );
  }

  /** The smoothed RTT stands well above the minimum: a queue is building. */
  #queueing(): boolean {
    if (!Number.isFinite(this.#minRtt) || this.#srtt === 0) return false;
    return this.#srtt >
      this.#minRtt * (1 + DELAY_BACKOFF_FRACTION) + DELAY_BACKOFF_MS;
  }

  /** Judges the round trip that `sentAt` closes: heavy loss halves the window. */
  #endRound(sentAt: number, now: number): void {
    if (sentAt < this.#roundStart) return;
    const total = this.#roundAcked + this.#roundLost;
    if (total > 0 && this.#roundLost / total > LOSS_BACKOFF_RATE) {
      this.#shrink(LOSS_BETA, now);
    }
    this.#roundStart = now;
    this.#roundAcked = 0;
    this.#roundLost = 0;
  }

  #shrink(beta: number, now: number): void {
    if (now - this.#recoveryStart < Math.max(this.#srtt, 1)) return;
    this.#cwnd = Math.max(this.#floor(), this.#cwnd * beta);
    this.#ssthresh = this.#cwnd;
    this.#recoveryStart = now;
  }
}
