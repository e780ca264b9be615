/**
 * Flow control of the scrollback log (docs/wire.md §14.2): while a client
 * that keeps up has many log records waiting, the session stops reading the
 * program's output, so a flood reaches the user's scrollback whole (the
 * program waits a moment, as over ssh) instead of collapsing into gaps.
 * "Keeps up" means its acknowledgements (the end its terminal took, for a
 * client that reports it: scrollflow.v1) would drain what waits within
 * LOG_DRAIN_MAX_MS at their recent rate: on a slow link the program never
 * waits for the network (Mosh's promise) and the oldest lines collapse as
 * before. Reading resumes when the backlog drains, when acknowledgements
 * stall (a dead link or a detached session never blocks the program), and at
 * once on an interrupt key, which also collapses what waits: Ctrl-C brings
 * the prompt back as fast as in Mosh.
 * @module
 */

/** Records waiting for the log at which reading pauses (tmosh). */
export const LOG_PAUSE_RECORDS = 10_000;
/** Bytes of records waiting for the log at which reading pauses (tmosh; an eighth of LOG_PENDING_BYTES_MAX: a fast producer meets it long before the cap). */
export const LOG_PAUSE_BYTES = 512 * 1024;
/** Without an advance of the acknowledged log end for this long, reading resumes, ms (tmosh). */
export const LOG_ACK_STALL_MS = 3000;
/** Longest the acknowledgements may take to drain what waits for reading to pause, ms (tmosh); past twice this, a pause ends. */
export const LOG_DRAIN_MAX_MS = 3000;
/** The acknowledgement rate is measured over this much recent time, ms (tmosh). */
export const LOG_RATE_WINDOW_MS = 1000;

/** The keys that interrupt a program (default VINTR, VQUIT, VSUSP: Ctrl-C, Ctrl-\, Ctrl-Z). */
const INTERRUPT_KEYS = [0x03, 0x1c, 0x1a];
/** Shortest span of acknowledgements a rate is taken from, ms. */
const RATE_SPAN_MIN_MS = 50;

/** What waits for the log, as the flow sees it. */
export interface LogBacklogSize {
  /** Records waiting to enter the log. */
  records: number;
  /** Approximate bytes of those records. */
  bytes: number;
}

/** Decides when the program's output is held back for the scrollback log. */
export class LogFlow {
  /** Recent advances of the acknowledged log end: time (ms) and end. */
  #acks: { at: number; end: number }[] = [];
  #paused = false;

  /** Whether reading is held now. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Notes the log end the client acknowledged at `now` (ms). */
  acked(end: number, now: number): void {
    const last = this.#acks.at(-1);
    if (last !== undefined && end <= last.end) return;
    // After a quiet spell (no advance within the rate window) the rate is
    // measured from this advance on: counting the idle time before a flood
    // would make a fast client look slow and the flood collapse.
    if (last !== undefined && now - last.at > LOG_RATE_WINDOW_MS) {
      this.#acks = [];
    }
    this.#acks.push({ at: now, end });
    while (
      this.#acks.length > 2 && now - this.#acks[1].at > LOG_RATE_WINDOW_MS
    ) this.#acks.shift();
  }

  /**
   * Whether reading should be held at `now` (ms): pauses at the thresholds
   * while the acknowledgements would drain what waits within
   * LOG_DRAIN_MAX_MS, resumes below half of them, when they stall, or when
   * draining would take twice that.
   */
  update(waiting: LogBacklogSize, now: number): boolean {
    const drain = this.#drainMs(waiting.records, now);
    if (drain > LOG_DRAIN_MAX_MS * (this.#paused ? 2 : 1)) {
      this.#paused = false;
    } else if (this.#paused) {
      this.#paused = waiting.records > LOG_PAUSE_RECORDS / 2 ||
        waiting.bytes > LOG_PAUSE_BYTES / 2;
    } else {
      this.#paused = waiting.records >= LOG_PAUSE_RECORDS ||
        waiting.bytes >= LOG_PAUSE_BYTES;
    }
    return this.#paused;
  }

  /** Milliseconds until the stall rule may resume reading (Infinity when not paused). */
  waitTime(now: number): number {
    const last = this.#acks.at(-1);
    return this.#paused && last !== undefined
      ? Math.max(0, last.at + LOG_ACK_STALL_MS - now)
      : Infinity;
  }

  /** Stops holding (an interrupt, the program's end, a new client). */
  release(): void {
    this.#paused = false;
  }

  /** How long the acknowledgements would take to drain `records` at their recent rate, ms (Infinity when stalled or unknown). */
  #drainMs(records: number, now: number): number {
    const acks = this.#acks;
    const last = acks.at(-1);
    if (last === undefined || now - last.at >= LOG_ACK_STALL_MS) {
      return Infinity;
    }
    const first = acks[0];
    const span = last.at - first.at;
    if (span < RATE_SPAN_MIN_MS) return Infinity;
    const perMs = (last.end - first.end) / span;
    return records / perMs;
  }
}

/** Whether keystrokes hold an interrupt key (Ctrl-C, Ctrl-\, Ctrl-Z). */
export function hasInterrupt(keys: Uint8Array): boolean {
  return keys.some((b) => INTERRUPT_KEYS.includes(b));
}
