/**
 * Round-trip-time estimator: SRTT, RTTVAR and the retransmission timeout,
 * updated from timestamp-echo samples as Mosh does (docs/wire.md §3.2).
 * @module
 */

import {
  INITIAL_RTTVAR,
  INITIAL_SRTT,
  MAX_RTO,
  MAX_RTT_SAMPLE,
  MIN_RTO,
} from "./constants.ts";

/** Gain of the SRTT update (RFC 6298 alpha). */
const ALPHA = 1 / 8;
/** Gain of the RTTVAR update (RFC 6298 beta). */
const BETA = 1 / 4;

/** Smoothed RTT, RTT variance and RTO from round-trip samples (all in ms). */
export class RttEstimator {
  #srtt = INITIAL_SRTT;
  #rttvar = INITIAL_RTTVAR;
  #hit = false;

  /** Smoothed round-trip time, ms (1000 before the first sample). */
  get srtt(): number {
    return this.#srtt;
  }

  /** Round-trip time variation, ms (500 before the first sample). */
  get rttvar(): number {
    return this.#rttvar;
  }

  /** Whether at least one sample has been taken. */
  get hasSample(): boolean {
    return this.#hit;
  }

  /** Retransmission timeout: ceil(SRTT + 4·RTTVAR) clamped to [50, 1000] ms. */
  get rto(): number {
    const rto = Math.ceil(this.#srtt + 4 * this.#rttvar);
    return Math.min(MAX_RTO, Math.max(MIN_RTO, rto));
  }

  /** Feeds one sample R (ms); samples ≥ 5000 ms or not finite are ignored. Returns whether it was used. */
  addSample(r: number): boolean {
    if (!Number.isFinite(r) || r < 0 || r >= MAX_RTT_SAMPLE) return false;
    if (!this.#hit) {
      this.#srtt = r;
      this.#rttvar = r / 2;
      this.#hit = true;
    } else {
      // RTTVAR first, using the old SRTT (as RFC 6298 and Mosh do).
      this.#rttvar = (1 - BETA) * this.#rttvar +
        BETA * Math.abs(this.#srtt - r);
      this.#srtt = (1 - ALPHA) * this.#srtt + ALPHA * r;
    }
    return true;
  }
}
