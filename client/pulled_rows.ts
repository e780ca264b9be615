/**
 * Rows a terminal pulls back from its scrollback onto the screen when its
 * window grows taller (tmux, VTE, kitty and xterm.js do; xterm adds blank rows
 * at the bottom). With native scrollback the client's next frame repaints
 * every row, which would erase them from the user's history. So after such a
 * resize the client asks where the cursor went (DSR 6: it moves down with the
 * rows pulled in above it), holds its frames until the answer, and scrolls
 * that many rows back into the scrollback first (docs/wire.md §14.3).
 * @module
 */

/** Asks the terminal for the cursor position (DSR 6; the answer is `CSI row ; col R`). */
export const CURSOR_QUERY = "\x1b[6n";
/** Longest wait for the terminal's answer before drawing anyway, ms. */
export const PULL_ANSWER_TIMEOUT_MS = 500;

/** A cursor position report: ESC [ row ; col R. */
const CPR = /\x1b\[(\d{1,5});(\d{1,5})R/;

/** What was on the terminal when the window grew. */
interface Query {
  /** The cursor's row (0-based) and the screen's height as last drawn. */
  cursorRow: number;
  rows: number;
  deadline: number;
}

/** The terminal's screen as last drawn: size and cursor row (0-based). */
export interface DrawnScreen {
  rows: number;
  cols: number;
  cursorRow: number;
}

/** Watches for rows a taller window pulled back, through the terminal's cursor report. */
export class PullWatch {
  #query: Query | null = null;

  /**
   * The window is now `size` and was drawn as `drawn`: the query to write
   * (when it grew taller at the same width), else "". A query already
   * waiting stays (its answer covers every resize before it).
   */
  resized(
    drawn: DrawnScreen,
    size: { rows: number; cols: number },
    now: number,
  ): string {
    if (this.#query !== null) return "";
    if (size.rows <= drawn.rows || size.cols !== drawn.cols) return "";
    this.#query = {
      cursorRow: drawn.cursorRow,
      rows: drawn.rows,
      deadline: now + PULL_ANSWER_TIMEOUT_MS,
    };
    return CURSOR_QUERY;
  }

  /** Whether frames wait for the answer at `now` (ms). */
  waiting(now: number): boolean {
    if (this.#query !== null && now >= this.#query.deadline) {
      this.#query = null; // no answer: draw as before
    }
    return this.#query !== null;
  }

  /** Milliseconds until the wait ends without an answer (Infinity when not waiting). */
  waitTime(now: number): number {
    return this.#query === null
      ? Infinity
      : Math.max(0, this.#query.deadline - now);
  }

  /**
   * Takes the answer out of keyboard input: the rest of the input, and how
   * many rows the terminal pulled back (0 when it added blank rows); null
   * when no answer is waited for or none is in `input`.
   */
  take(
    input: Uint8Array,
    size: { rows: number },
  ): { rest: Uint8Array; pulled: number } | null {
    const query = this.#query;
    if (query === null) return null;
    let text = "";
    for (const b of input) text += String.fromCharCode(b);
    const m = CPR.exec(text);
    if (m === null) return null;
    this.#query = null;
    const row = Number(m[1]) - 1;
    const pulled = Math.max(
      0,
      Math.min(row - query.cursorRow, size.rows - query.rows),
    );
    const rest = new Uint8Array(input.length - m[0].length);
    rest.set(input.subarray(0, m.index));
    rest.set(input.subarray(m.index + m[0].length), m.index);
    return { rest, pulled };
  }
}

/** Scrolls the top `n` rows of a `rows`-high screen into the terminal's scrollback (LF at the bottom of the full screen). */
export function pushRowsBack(n: number, rows: number): string {
  return n > 0 ? `\x1b[r\x1b[${rows};1H${"\n".repeat(n)}` : "";
}
