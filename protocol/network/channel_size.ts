/**
 * The size of channel datagrams (docs/wire.md §17.8), found in the spirit of
 * DPLPMTUD (RFC 8899): packets start at the base size (the connection's MTU,
 * what every path carries); while the search is on, one packet at a time may
 * be larger (a probe, filled with data), and when it is acknowledged its size
 * becomes the size of every packet. The search climbs a ladder of sizes up to
 * the path's ceiling; after CHANNEL_PROBE_TRIES probes of one step are lost it
 * stops, and starts again after CHANNEL_PROBE_RAISE_MS. Black holes (the path
 * no longer carries what it did): CHANNEL_BLACK_HOLE_LOSSES losses of large
 * packets with no larger-than-base packet sent after them acknowledged (a
 * probe timeout counts as one) bring the size back to the base and restart
 * the search. A new path (new limits,
 * or `reset`) starts over from the base. Pure: time is an argument.
 * @module
 */

import {
  CHANNEL_BLACK_HOLE_LOSSES,
  CHANNEL_PROBE_RAISE_MS,
  CHANNEL_PROBE_STEP_MIN,
  CHANNEL_PROBE_TRIES,
} from "./constants.ts";

/** The confirmed datagram size and the search for a larger one. */
export class DatagramSizer {
  #base = 0;
  #ceiling = 0;
  /** Largest size acknowledged on this path (every packet may have it). */
  #size = 0;
  /** Size the search tries next (0: the search is over). */
  #target = 0;
  /** Packet number of the probe in flight, or -1, and its size. */
  #probe = -1;
  #probeBytes = 0;
  /** The last probe declared lost (a late acknowledgement still counts), or -1, and its size. */
  #lostProbe = -1;
  #lostProbeBytes = 0;
  /** Probes of `#target` lost in a row. */
  #tries = 0;
  /** When a finished search starts again, ms. */
  #raiseAt = Infinity;
  /** Highest packet number of an acknowledged packet larger than the base. */
  #largeAcked = -1;
  /** Large packets lost since one sent after them was acknowledged. */
  #suspect = 0;
  /** Statistics, for tests and benchmarks. */
  readonly stats = { probes: 0, probesLost: 0, blackHoles: 0 };

  /** Size every packet may have, bytes of UDP payload. */
  get size(): number {
    return this.#size;
  }

  /** Size the search tries next, bytes (0: none). */
  get target(): number {
    return this.#target;
  }

  /** Sets the path's base and ceiling, bytes; starts over when they changed. */
  limits(base: number, ceiling: number): void {
    const top = Math.max(base, ceiling);
    if (base === this.#base && top === this.#ceiling) return;
    this.#base = base;
    this.#ceiling = top;
    this.reset();
  }

  /** Starts over from the base size (the path changed). */
  reset(): void {
    this.#size = this.#base;
    this.#largeAcked = -1;
    this.#suspect = 0;
    this.#restart();
  }

  /** The largest packet to build at `now` (a probe's size when one is due and `fits` it), bytes. */
  capacity(now: number, fits: (bytes: number) => boolean): number {
    if (this.#target === 0 && now >= this.#raiseAt) this.#restart();
    if (this.#probe >= 0 || this.#target === 0) return this.#size;
    return fits(this.#target) ? this.#target : this.#size;
  }

  /** A tracked packet numbered `pn` of `bytes` went out. */
  onSent(pn: number, bytes: number): void {
    if (bytes > this.#size) {
      this.#probe = pn;
      this.#probeBytes = bytes;
      this.stats.probes++;
    }
  }

  /** Whether packet `pn` is the probe in flight. */
  isProbe(pn: number): boolean {
    return pn === this.#probe;
  }

  /** Packet `pn` of `bytes` was acknowledged. */
  onAcked(pn: number, bytes: number): void {
    if (bytes > this.#base && pn > this.#largeAcked) {
      this.#largeAcked = pn;
      this.#suspect = 0;
    }
    if (pn !== this.#probe) return;
    this.#probe = -1;
    this.#tries = 0;
    if (bytes > this.#size) this.#size = bytes;
    this.#target = this.#next(this.#size);
  }

  /** Packet `pn` of `bytes` was declared lost at `now`. */
  onLost(pn: number, bytes: number, now: number): void {
    if (pn === this.#probe) return this.#probeLost(now);
    if (bytes > this.#base && pn > this.#largeAcked) this.#suspectLoss();
  }

  /** The probe timeout fired at `now` (nothing acknowledged for a while): the probe is lost, and large packets count one loss. */
  onTimeout(now: number): void {
    if (this.#probe >= 0) this.#probeLost(now);
    if (this.#size > this.#base) this.#suspectLoss();
  }

  /** Packet number of the last probe declared lost, or -1 (see onLateAck). */
  get lostProbe(): number {
    return this.#lostProbe;
  }

  /** The last probe declared lost was acknowledged after all (it was late, or reordered): it counts. */
  onLateAck(): void {
    const bytes = this.#lostProbeBytes;
    this.#lostProbe = -1;
    if (bytes <= this.#size) return;
    this.#size = bytes;
    this.#restart();
  }

  #probeLost(now: number): void {
    this.#lostProbe = this.#probe;
    this.#lostProbeBytes = this.#probeBytes;
    this.#probe = -1;
    this.stats.probesLost++;
    if (++this.#tries >= CHANNEL_PROBE_TRIES) {
      this.#target = 0;
      this.#raiseAt = now + CHANNEL_PROBE_RAISE_MS;
    }
  }

  /** A large packet was lost with no later large one acknowledged: perhaps a black hole. */
  #suspectLoss(): void {
    if (++this.#suspect < CHANNEL_BLACK_HOLE_LOSSES) return;
    this.stats.blackHoles++;
    this.reset();
  }

  /** Begins a search from the confirmed size. */
  #restart(): void {
    this.#probe = -1;
    this.#lostProbe = -1;
    this.#tries = 0;
    this.#raiseAt = Infinity;
    this.#target = this.#next(this.#size);
  }

  /** The step above `size`: the next power of two (at least CHANNEL_PROBE_STEP_MIN), capped at the ceiling; 0 at the top. */
  #next(size: number): number {
    let step = CHANNEL_PROBE_STEP_MIN;
    while (step <= size) step *= 2;
    const next = Math.min(step, this.#ceiling);
    return next > size ? next : 0;
  }
}
