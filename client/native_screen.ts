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

/** What to write before a frame, and whether the frame must be a full repaint. */
export interface Prelude {
  out: string;
  repaint: boolean;
}

/** Tracks the terminal's screen and what of the log it already holds. */
export class NativeScreen {
  readonly #offered: readonly string[];
  #on = false;
  /** Log records below this number are in the terminal's scrollback. */
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

  /** Records below this number are written (the client states' log floor). */
  get written(): number {
    return this.#written;
  }

  /**
   * What to write before drawing `remote`: on the first state answering
   * `scrollback.v1`, leaving our alternate screen (via `leaveAlternate`) and
   * pushing the window's old content into the scrollback; then new log
   * records and the screen mode.
   */
  prelude(
    remote: CompleteTerminal,
    options: { size: TerminalSize; leaveAlternate: () => void },
  ): Prelude {
    let out = "";
    let repaint = false;
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
      const slice = remote.scroll.since(this.#written);
      const records: LogRecord[] = slice.first > this.#written
        ? [
          { kind: "gap", lines: slice.first - this.#written },
          ...slice.records,
        ]
        : [...slice.records];
      // Records belong to the normal screen's scrollback: visit it if needed.
      if (this.#alternate) out += ALT_SCREEN_OFF;
      out += scrollbackBytes(records, options.size, { endSync: false });
      if (this.#alternate) out += ALT_SCREEN_ON;
      this.#written = remote.scroll.end;
      repaint = true;
    }
    if (remote.alternate !== this.#alternate) {
      out += remote.alternate ? ALT_SCREEN_ON : ALT_SCREEN_OFF;
      this.#alternate = remote.alternate;
      repaint = true;
    }
    return { out, repaint };
  }

  /** What gives the terminal its normal screen back (exit, suspend); the mirror resumes with the next prelude. */
  release(): string {
    if (!this.#alternate) return "";
    this.#alternate = false;
    return ALT_SCREEN_OFF;
  }
}
