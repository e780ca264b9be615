/**
 * A timer for loops that re-arm often (a frame drawn on every heartbeat, a
 * record looked at on every tick). Under Deno a cleared timer still wakes the
 * process at the time it was set for, so clearing and setting a timer each
 * time costs one idle wake-up per re-arm. This one keeps its pending timer
 * when the new due time is later: when that timer comes early it re-arms
 * itself for the rest, without calling back (docs/architecture.md §12).
 * @module
 */

/** Longest timer delay, ms (setTimeout fires at once beyond 2^31 - 1). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@linkcode LazyTimer}. */
export interface LazyTimerOptions {
  /** The clock, ms (default performance.now). */
  now?: () => number;
  /** The pending timer does not keep the process alive (Deno.unrefTimer). */
  unref?: boolean;
}

/** One callback, due at most once at the time last asked for; see the module doc. */
export class LazyTimer {
  readonly #fire: () => void;
  readonly #now: () => number;
  readonly #unref: boolean;
  /** When the callback is due (Infinity: not wanted). */
  #due = Infinity;
  /** The pending setTimeout, and when it comes. */
  #handle: ReturnType<typeof setTimeout> | null = null;
  #armedAt = Infinity;

  constructor(fire: () => void, options: LazyTimerOptions = {}) {
    this.#fire = fire;
    this.#now = options.now ?? (() => performance.now());
    this.#unref = options.unref ?? false;
  }

  /** Whether the callback is due at some time. */
  get pending(): boolean {
    return this.#due !== Infinity;
  }

  /** Calls back `ms` from now (replacing the previous due time); Infinity or NaN: never. */
  after(ms: number): void {
    if (!(ms < Infinity)) {
      this.#due = Infinity; // the pending timer, if any, comes and goes quietly
      return;
    }
    const now = this.#now();
    this.#due = now + Math.max(0, ms);
    if (this.#handle !== null && this.#armedAt <= this.#due + 0.5) return;
    this.#arm(now);
  }

  /** Calls back at the latest `ms` from now: an earlier due time is kept. */
  within(ms: number): void {
    if (!(ms < Infinity)) return;
    if (this.#due <= this.#now() + Math.max(0, ms)) return;
    this.after(ms);
  }

  /** Calls back no more, and lets the process exit: the pending timer is cleared. */
  cancel(): void {
    this.#due = Infinity;
    if (this.#handle !== null) clearTimeout(this.#handle);
    this.#handle = null;
    this.#armedAt = Infinity;
  }

  #arm(now: number): void {
    if (this.#handle !== null) clearTimeout(this.#handle);
    const delay = Math.min(Math.ceil(this.#due - now), MAX_TIMER_MS);
    this.#armedAt = now + delay;
    this.#handle = setTimeout(() => this.#expired(), Math.max(0, delay));
    if (this.#unref) Deno.unrefTimer(this.#handle as unknown as number);
  }

  #expired(): void {
    this.#handle = null;
    this.#armedAt = Infinity;
    if (this.#due === Infinity) return;
    const now = this.#now();
    if (now + 0.5 < this.#due) return this.#arm(now); // came early: the rest
    this.#due = Infinity;
    this.#fire();
  }
}
