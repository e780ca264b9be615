/**
 * The client's side of native scrollback (docs/wire.md §14.3): once a tmosh
 * server answers `scrollback.v1`, the session draws on the terminal's normal
 * screen, writes the server's log records into the terminal's own
 * scrollback before each frame, and mirrors the server's alternate screen
 * with the terminal's. Until then it does nothing (mosh-client behaviour).
 * @module
 */
import type { CompleteTerminal } from "../protocol/statesync/complete_terminal.ts";
import { ReceivedLog } from "../protocol/statesync/received_log.ts";
import {
  negotiatedCapabilities,
  SCROLLBACK_CAPABILITY,
  SCROLLFLOW_CAPABILITY,
} from "../protocol/statesync/capabilities.ts";
import { OutBuffer, type TerminalSize, writeScrollback } from "./scrollback.ts";

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

/** What to write before a frame, and whether the frame must be a full repaint. */
export interface Prelude {
  /** The bytes (a view of the screen's buffer, valid until the next prelude). */
  out: Uint8Array;
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
  /** The server takes reports of the written end (scrollflow.v1, negotiated with scrollback.v1). */
  #reports = false;
  /** The log end last reported to the server, -1: none yet. */
  #reported = -1;
  /** What the last prelude wrote (reused: a flood's frames are large). */
  readonly #out = new OutBuffer();

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
    const out = this.#out;
    out.clear();
    let repaint = false;
    let more = false;
    if (!this.#on) {
      const caps = negotiatedCapabilities(remote.capabilities, this.#offered);
      if (!caps?.has(SCROLLBACK_CAPABILITY)) {
        return { out: out.view(), repaint };
      }
      this.#on = true;
      this.#reports = caps.has(SCROLLFLOW_CAPABILITY);
      repaint = true;
      options.leaveAlternate();
      const rows = options.size.rows;
      out.ascii(`\x1b[r\x1b[${rows};1H` + "\n".repeat(rows));
    }
    if (remote.scroll.end > this.#written) {
      // Records belong to the normal screen's scrollback: visit it if needed.
      const mark = out.length;
      if (this.#alternate) out.ascii(ALT_SCREEN_OFF);
      const body = out.length;
      // Only this frame's share is read out of the log (a flood's slice
      // holds many frames' worth).
      const written = writeScrollback(
        out,
        ReceivedLog.of(remote.scroll).cursor(this.#written),
        {
          size: options.size,
          limit: options.flush ? Infinity : FRAME_LOG_BYTES_MAX,
          hold: options.flush ? 0 : HELD_WRAPPED_ROWS_MAX,
          endSync: false,
        },
      );
      more = written.more;
      if (out.length > body) {
        if (this.#alternate) out.ascii(ALT_SCREEN_ON);
        repaint = true;
      } else {
        out.length = mark;
      }
      this.#written = written.end;
    }
    if (remote.alternate !== this.#alternate) {
      out.ascii(remote.alternate ? ALT_SCREEN_ON : ALT_SCREEN_OFF);
      this.#alternate = remote.alternate;
      repaint = true;
    }
    return more
      ? { out: out.view(), repaint, more }
      : { out: out.view(), repaint };
  }

  /**
   * The report of this client's writing due after a frame (`scrollflow.v1`,
   * docs/wire.md §14.2): how far the log is written, whenever that moved;
   * null when none is due or the server does not take them.
   */
  report(): number | null {
    if (!this.#reports || this.#written === this.#reported) return null;
    this.#reported = this.#written;
    return this.#written;
  }

  /** What gives the terminal its normal screen back (exit, suspend); the mirror resumes with the next prelude. */
  release(): string {
    if (!this.#alternate) return "";
    this.#alternate = false;
    return ALT_SCREEN_OFF;
  }
}
