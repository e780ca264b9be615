/**
 * Flow control of the scrollback log (docs/wire.md §14.6): while a client
 * that keeps acknowledging has many log records waiting, the session stops
 * reading the program's output, so a flood reaches the user's scrollback
 * whole (the program waits, as over ssh) instead of collapsing into gaps.
 * Reading resumes when the backlog drains, when acknowledgements stall (a
 * dead link or a detached session never blocks the program), and at once on
 * an interrupt key, which also collapses what waits: Ctrl-C brings the prompt
 * back as fast as in Mosh.
 * @module
 */

/** Records waiting for the log at which reading pauses (tmosh). */
export const LOG_PAUSE_RECORDS = 40_000;
/** Bytes of records waiting for the log at which reading pauses (tmosh; half of LOG_PENDING_BYTES_MAX). */
export const LOG_PAUSE_BYTES = 2 * 1024 * 1024;
/** Without an advance of the acknowledged log end for this long, reading resumes, ms (tmosh). */
export const LOG_ACK_STALL_MS = 3000;

/** The keys that interrupt a program (default VINTR, VQUIT, VSUSP: Ctrl-C, Ctrl-\, Ctrl-Z). */
const INTERRUPT_KEYS = [0x03, 0x1c, 0x1a];

/** What waits for the log, as the flow sees it. */
export interface LogBacklogSize {
  /** Records waiting to enter the log. */
  records: number;
  /** Approximate bytes of those records. */
  bytes: number;
}

/** Decides when the program's output is held back for the scrollback log. */
export class LogFlow {
  #ackedEnd = 0;
  #ackAt = -Infinity;
  #paused = false;

  /** Whether reading is held now. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Notes the log end the client acknowledged at `now` (ms). */
  acked(end: number, now: number): void {
    if (end > this.#ackedEnd) {
      this.#ackedEnd = end;
      this.#ackAt = now;
    }
  }

  /**
   * Whether reading should be held at `now` (ms): pauses at the thresholds
   * while acknowledgements advance, resumes below half of them or when they
   * stall.
   */
  update(waiting: LogBacklogSize, now: number): boolean {
    const live = now - this.#ackAt < LOG_ACK_STALL_MS;
    if (!live) {
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
    return this.#paused
      ? Math.max(0, this.#ackAt + LOG_ACK_STALL_MS - now)
      : Infinity;
  }

  /** Stops holding (an interrupt, the program's end, a new client). */
  release(): void {
    this.#paused = false;
  }
}

/** Whether keystrokes hold an interrupt key (Ctrl-C, Ctrl-\, Ctrl-Z). */
export function hasInterrupt(keys: Uint8Array): boolean {
  return keys.some((b) => INTERRUPT_KEYS.includes(b));
}
