/**
 * The upload's progress line for `tmosh connect`'s self-install: shown once
 * an upload has taken a second, redrawn in place on a terminal (bytes, rate,
 * time left), and ended with one summary line. Pure: time comes in as an
 * argument, text goes out through a callback.
 * @module
 */

/** An upload shorter than this shows no progress, ms. */
export const PROGRESS_AFTER_MS = 1000;

/** Least time between two redraws of the progress line, ms. */
export const PROGRESS_EVERY_MS = 200;

/** Megabytes (10^6 bytes) with one decimal. */
export function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** The progress text: `tmosh: uploading 12.3 of 42.5 MB (29%), 10.2 MB/s, 3 s left`. */
export function progressText(
  sent: number,
  total: number,
  elapsedMs: number,
): string {
  const rate = elapsedMs > 0 ? sent / (elapsedMs / 1000) : 0;
  const percent = total > 0 ? Math.floor((sent * 100) / total) : 100;
  const left = rate > 0 ? Math.ceil((total - sent) / rate) : null;
  return `tmosh: uploading ${megabytes(sent)} of ${
    megabytes(total)
  } MB (${percent}%), ${megabytes(rate)} MB/s, ${
    left === null ? "?" : left
  } s left`;
}

/** The summary: `tmosh: uploaded 42.5 MB in 4.2 s (10.1 MB/s)`. */
export function summaryText(sent: number, elapsedMs: number): string {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  return `tmosh: uploaded ${megabytes(sent)} MB in ${seconds.toFixed(1)} s (${
    megabytes(sent / seconds)
  } MB/s)`;
}

/** Decides when the progress line is drawn, and how it ends. */
export class UploadProgress {
  readonly #total: number;
  readonly #start: number;
  readonly #terminal: boolean;
  readonly #write: (text: string) => void;
  #last = -Infinity;
  #shown = false;

  /** `terminal`: redraw in place (`\r`, erase line); otherwise only the summary is written. */
  constructor(
    total: number,
    options: { now: number; terminal: boolean; write: (text: string) => void },
  ) {
    this.#total = total;
    this.#start = options.now;
    this.#terminal = options.terminal;
    this.#write = options.write;
  }

  /** Reports `sent` bytes so far at time `now` (ms). */
  update(sent: number, now: number): void {
    const elapsed = now - this.#start;
    if (elapsed < PROGRESS_AFTER_MS || now - this.#last < PROGRESS_EVERY_MS) {
      return;
    }
    this.#last = now;
    this.#shown = true;
    if (this.#terminal) {
      this.#write(`\r${progressText(sent, this.#total, elapsed)}\x1b[K`);
    }
  }

  /** Ends the line: the summary when progress was due, after a failure just the line break. */
  finish(sent: number, now: number, options: { ok: boolean }): void {
    const elapsed = now - this.#start;
    if (!this.#shown && elapsed < PROGRESS_AFTER_MS) return;
    if (!options.ok) {
      if (this.#terminal && this.#shown) this.#write("\r\x1b[K");
      return;
    }
    const text = summaryText(sent, elapsed);
    this.#write(this.#terminal ? `\r${text}\x1b[K\n` : `${text}\n`);
  }
}
