/**
 * The client's side of native scrollback (docs/wire.md §14.3): once a tmosh
 * server answers `scrollback.v1`, the session draws on the terminal's normal
 * screen, writes the server's log records into the terminal's own
 * scrollback before each frame, and mirrors the server's alternate screen
 * with the terminal's. Until then it does nothing (mosh-client behaviour).
 * @module
 */
import type { CompleteTerminal } from "../protocol/statesync/complete_terminal.ts";
import type { LogRecord } from "../protocol/statesync/scroll_log.ts";
import {
  negotiatedCapabilities,
  SCROLLBACK_CAPABILITY,
} from "../protocol/statesync/capabilities.ts";
import { scrollbackBytes, type TerminalSize } from "./scrollback.ts";

/** The terminal's alternate screen, entered with a saved cursor and left (xterm 1049). */
export const ALT_SCREEN_ON = "\x1b[?1049h", ALT_SCREEN_OFF = "\x1b[?1049l";

/**
 * Most rows of an unfinished logical line held back until its end scrolls
 * off too; a longer line is written in parts, each ending its own line.
 */
export const HELD_WRAPPED_ROWS_MAX = 1000;

/**
 * Most bytes of log text written before one frame: the rest waits for the
 * next frame, which follows at once (Prelude.more), so the session reads its
 * socket in between and a flood never overflows the socket's buffer while the
 * terminal takes a long write.
 */
export const FRAME_LOG_BYTES_MAX = 256 * 1024;

/**
 * How many of `records` (one frame's share, more waiting) end at a logical
 * line's end: the ones of a line going on past them wait for the next frame,
 * unless that line alone fills the share.
 */
function frameShare(records: readonly LogRecord[]): number {
  let cut = records.length;
  while (
    cut > 0 && records[cut - 1].kind === "line" &&
    (records[cut - 1] as { wrap: boolean }).wrap
  ) cut--;
  return cut > 0 ? cut : records.length;
}

/**
 * How many records at the end of `records` are rows of a logical line that
 * goes on past them (each soft-wrapped into the next), unless there are more
 * than HELD_WRAPPED_ROWS_MAX.
 */
function unfinishedLine(records: readonly LogRecord[]): number {
  let n = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r.kind !== "line" || !r.wrap) break;
    if (++n > HELD_WRAPPED_ROWS_MAX) return 0;
  }
  return n;
}

/** What to write before a frame, and whether the frame must be a full repaint. */
export interface Prelude {
  out: string;
  repaint: boolean;
  /** Log records wait beyond this frame's share: draw again soon. */
  more?: boolean;
}

/** Tracks the terminal's screen and what of the log it already holds. */
export class NativeScreen {
  readonly #offered: readonly string[];
  #on = false;
  /**
   * Log records below this number are in the terminal's scrollback (the rows
   * of an unfinished logical line at the log's end are not, yet).
   */
  #written = 0;
  /** The terminal shows its alternate screen, mirroring the server's. */
  #alternate = false;

  /** Native scrollback once the server answers, if `offered` lists it. */
  constructor(offered: readonly string[]) {
    this.#offered = offered;
  }

  /** Whether the session draws on the normal screen with native scrollback. */
  get on(): boolean {
    return this.#on;
  }

  /** Whether the terminal shows its alternate screen (mirroring the server's). */
  get alternate(): boolean {
    return this.#alternate;
  }

  /** Records below this number are written (the client states' log floor). */
  get written(): number {
    return this.#written;
  }

  /**
   * What to write before drawing `remote`: on the first state answering
   * `scrollback.v1`, leaving our alternate screen (via `leaveAlternate`) and
   * pushing the window's old content into the scrollback; then new log
   * records (rows of a logical line still going on at the log's end wait for
   * its rest, unless `flush`) and the screen mode.
   */
  prelude(
    remote: CompleteTerminal,
    options: {
      size: TerminalSize;
      leaveAlternate: () => void;
      /** Write an unfinished logical line too (the session's last frame). */
      flush?: boolean;
    },
  ): Prelude {
    let out = "";
    let repaint = false;
    let more = false;
    if (!this.#on) {
      const caps = negotiatedCapabilities(remote.capabilities, this.#offered);
      if (!caps?.has(SCROLLBACK_CAPABILITY)) return { out, repaint };
      this.#on = true;
      repaint = true;
      options.leaveAlternate();
      const rows = options.size.rows;
      out += `\x1b[r\x1b[${rows};1H` + "\n".repeat(rows);
    }
    if (remote.scroll.end > this.#written) {
      // Only this frame's share is read out of the log (a flood's slice
      // holds many frames' worth).
      const limit = options.flush ? Infinity : FRAME_LOG_BYTES_MAX;
      const slice = remote.scroll.recordsFrom(this.#written, limit);
      let ready = slice.records;
      if (slice.complete) {
        // A logical line whose last rows are still on the server's screen
        // waits for them: written now, its soft wrap into the next batch
        // would be lost.
        const held = options.flush ? 0 : unfinishedLine(ready);
        if (held > 0) ready = ready.slice(0, ready.length - held);
      } else {
        more = true;
        const share = frameShare(ready);
        if (share < ready.length) ready = ready.slice(0, share);
      }
      const records: LogRecord[] = slice.first > this.#written
        ? [{ kind: "gap", lines: slice.first - this.#written }, ...ready]
        : ready;
      if (records.length > 0) {
        // Records belong to the normal screen's scrollback: visit it if needed.
        if (this.#alternate) out += ALT_SCREEN_OFF;
        out += scrollbackBytes(records, options.size, { endSync: false });
        if (this.#alternate) out += ALT_SCREEN_ON;
        repaint = true;
      }
      this.#written = slice.first + ready.length;
    }
    if (remote.alternate !== this.#alternate) {
      out += remote.alternate ? ALT_SCREEN_ON : ALT_SCREEN_OFF;
      this.#alternate = remote.alternate;
      repaint = true;
    }
    return more ? { out, repaint, more } : { out, repaint };
  }

  /** What gives the terminal its normal screen back (exit, suspend); the mirror resumes with the next prelude. */
  release(): string {
    if (!this.#alternate) return "";
    this.#alternate = false;
    return ALT_SCREEN_OFF;
  }
}
