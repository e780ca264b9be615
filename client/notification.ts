/**
 * The notification bar drawn on row 0 over the server's picture: messages,
 * network errors and the "Last contact N seconds ago." count-up
 * (docs/architecture.md §4; mosh: terminaloverlay.cc NotificationEngine).
 * @module
 */

import { ACK_INTERVAL } from "../protocol/network/constants.ts";
import {
  ATTR_BOLD,
  type Cell,
  type Framebuffer,
  makeRendition,
  paletteColor,
  type Row,
  rowFromCells,
  withRow,
} from "../protocol/terminal/framebuffer.ts";

/** The server counts as late after this long without a new state, ms (mosh: server_late, 6500). */
export const SERVER_LATE_MS = 6500;
/** Our side counts as late after this long since the send time of our newest acked state, ms (mosh: reply_late, 10000). */
export const REPLY_LATE_MS = 10000;
/** Lifetime of an ordinary message, ms (mosh: set_notification_string, 1000). */
export const MESSAGE_LIFETIME_MS = 1000;
/** Lifetime of a network-error message, ms (mosh: set_network_error, ACK_INTERVAL + 100). */
export const NETWORK_ERROR_LIFETIME_MS = ACK_INTERVAL + 100;
/** A network error lasts at most this long once sends succeed again, ms (mosh: clear_network_error, 1000). */
export const NETWORK_ERROR_CLEAR_MS = 1000;
/** Count-up redraw interval, ms (mosh: NotificationEngine::wait_time, 1000). */
export const COUNTUP_INTERVAL_MS = 1000;
/** After this long without contact the count-up redraws every ACK_INTERVAL, ms (mosh: wait_time, 60000). */
export const COUNTUP_SLOW_AFTER_MS = 60000;

/** Longest bar text in code points (mosh formats it into a wchar_t[128]). */
const MAX_TEXT = 127;
/** Longest content of one cell in UTF-16 units (a bound for combining marks). */
const MAX_CELL_TEXT = 32;

const BAR_RENDITION = makeRendition(0, paletteColor(7), paletteColor(4));
const TEXT_RENDITION = makeRendition(
  ATTR_BOLD,
  paletteColor(7),
  paletteColor(4),
);
const BAR_CELL: Cell = Object.freeze({
  text: " ",
  width: 1,
  rendition: BAR_RENDITION,
});

/** Options of `NotificationEngine`. */
export interface NotificationOptions {
  /** Name of the escape key in the quit hint, e.g. "Ctrl-^"; "" shows no hint (escapes disabled). */
  escapeKeyString: string;
  /** Product name that starts every bar text (default "tmosh"). */
  prefix?: string;
  /** Start of the timers (mosh starts them at construction); default: the first time given to any method. */
  now?: number;
}

/** State of the notification bar: what to show on row 0 and when to redraw. */
export class NotificationEngine {
  readonly #hint: string;
  readonly #prefix: string;
  #lastHeard: number | null;
  #lastAcked: number | null;
  #message = "";
  #isNetworkError = false;
  #expiration = Infinity;
  #showQuitKeystroke = true;

  /** Creates an engine with no message; timers start at `options.now` (else at the first time given). */
  constructor(options: NotificationOptions) {
    this.#hint = options.escapeKeyString === ""
      ? ""
      : ` [To quit: ${options.escapeKeyString} .]`;
    this.#prefix = options.prefix ?? "tmosh";
    this.#lastHeard = options.now ?? null;
    this.#lastAcked = options.now ?? null;
  }

  /** The current message ("" when none; may have expired but not yet been cleared by apply). */
  get message(): string {
    return this.#message;
  }

  /** Records when the newest server state arrived. */
  serverHeard(now: number): void {
    this.#lastHeard = now;
    this.#lastAcked ??= now;
  }

  /** Records the send time of our newest state the server has acknowledged. */
  serverAcked(now: number): void {
    this.#lastAcked = now;
    this.#lastHeard ??= now;
  }

  /** Shows `message` for 1 s, `lifetimeMs`, or until replaced when permanent; "" clears the bar's message. */
  setNotification(
    message: string,
    options: {
      permanent?: boolean;
      showQuitKeystroke?: boolean;
      lifetimeMs?: number;
    },
    now: number,
  ): void {
    this.#start(now);
    this.#message = message;
    this.#expiration = options.permanent
      ? Infinity
      : now + (options.lifetimeMs ?? MESSAGE_LIFETIME_MS);
    this.#isNetworkError = false;
    this.#showQuitKeystroke = options.showQuitKeystroke ?? true;
  }

  /** Shows a network error (e.g. a failed send) for 3.1 s. */
  setNetworkError(message: string, now: number): void {
    this.#start(now);
    this.#message = [...message].slice(0, MAX_TEXT).join("");
    this.#isNetworkError = true;
    this.#expiration = now + NETWORK_ERROR_LIFETIME_MS;
  }

  /** Sends succeed again: a shown network error lasts at most 1 s more. */
  clearNetworkError(now: number): void {
    this.#start(now);
    if (this.#isNetworkError) {
      this.#expiration = Math.min(
        this.#expiration,
        now + NETWORK_ERROR_CLEAR_MS,
      );
    }
  }

  /** Expires old messages and returns `fb` with the bar drawn on row 0 (`fb` itself when nothing shows). */
  apply(fb: Framebuffer, now: number): Framebuffer {
    this.#start(now);
    if (now >= this.#expiration) this.#message = "";
    const late = this.#serverLate(now) || this.#replyLate(now);
    if ((this.#message === "" && !late) || fb.width <= 0 || fb.height <= 0) {
      return fb;
    }
    const row = drawBar(this.#text(now, late), fb.width, fb.rows[0].wrap);
    const out = withRow(fb, 0, row);
    return fb.cursorRow === 0 ? { ...out, cursorVisible: false } : out;
  }

  /** Milliseconds until the bar may change: a message expires, the count-up appears or ticks. */
  waitTime(now: number): number {
    this.#start(now);
    let next = Infinity;
    const untilExpiry = this.#expiration - now;
    if (untilExpiry >= 0) next = untilExpiry;
    const sinceHeard = now - this.#lastHeard!;
    if (this.#serverLate(now) || this.#replyLate(now)) {
      const interval = sinceHeard > COUNTUP_SLOW_AFTER_MS
        ? ACK_INTERVAL
        : COUNTUP_INTERVAL_MS;
      next = Math.min(next, interval);
    } else {
      // tmosh only: also wake when the count-up is due to appear (mosh waits for a network wakeup).
      const sinceAcked = now - this.#lastAcked!;
      next = Math.min(
        next,
        SERVER_LATE_MS - sinceHeard + 1,
        REPLY_LATE_MS - sinceAcked + 1,
      );
    }
    return Math.max(0, next);
  }

  #start(now: number): void {
    this.#lastHeard ??= now;
    this.#lastAcked ??= now;
  }

  #serverLate(now: number): boolean {
    return now - this.#lastHeard! > SERVER_LATE_MS;
  }

  #replyLate(now: number): boolean {
    return now - this.#lastAcked! > REPLY_LATE_MS;
  }

  #text(now: number, late: boolean): string {
    let elapsed = now - this.#lastHeard!;
    let explanation = "contact";
    if (this.#replyLate(now) && !this.#serverLate(now)) {
      elapsed = now - this.#lastAcked!;
      explanation = "reply";
    }
    const seconds = Math.max(0, Math.trunc(elapsed / 1000));
    const hint = this.#showQuitKeystroke ? this.#hint : "";
    const p = this.#prefix;
    let text: string;
    if (this.#message === "") {
      text = `${p}: Last ${explanation} ${
        formatDuration(seconds, "seconds")
      } ago.${hint}`;
    } else if (!late) {
      text = `${p}: ${this.#message}${hint}`;
    } else {
      text = `${p}: ${this.#message} (${
        formatDuration(seconds, "s")
      } without ${explanation}.)${hint}`;
    }
    const nul = text.indexOf("\0");
    return nul < 0 ? text : text.slice(0, nul);
  }
}

/** Mosh's human-readable duration: "N <unit>" below a minute, "M:SS" below an hour, else "H:MM:SS". */
export function formatDuration(seconds: number, unit: string): string {
  const two = (n: number) => String(n).padStart(2, "0");
  if (seconds < 60) return `${seconds} ${unit}`;
  if (seconds < 3600) return `${Math.trunc(seconds / 60)}:${two(seconds % 60)}`;
  return `${Math.trunc(seconds / 3600)}:${two(Math.trunc(seconds / 60) % 60)}:${
    two(seconds % 60)
  }`;
}

/** Row 0 with the bar: every cell a white-on-blue space, the text bold white on blue. */
function drawBar(text: string, width: number, wrap: boolean): Row {
  const cells: Cell[] = new Array<Cell>(width).fill(BAR_CELL);
  let col = 0;
  let last = 0; // the cell a combining mark joins (mosh: combining_cell)
  let count = 0;
  for (const ch of text) {
    if (col >= width || ++count > MAX_TEXT) break;
    const w = barCharWidth(ch.codePointAt(0)!);
    if (w > 0) {
      if (col + w > width) break;
      cells[col] = { text: ch, width: w as 1 | 2, rendition: TEXT_RENDITION };
      if (w === 2) {
        cells[col + 1] = { text: "", width: 0, rendition: TEXT_RENDITION };
      }
      last = col;
      col += w;
    } else if (
      w === 0 && cells[last].text.length + ch.length <= MAX_CELL_TEXT
    ) {
      cells[last] = { ...cells[last], text: cells[last].text + ch };
    }
  }
  return rowFromCells(cells, wrap);
}

/** A simple wcwidth for bar text: -1 control, 0 combining, 2 East Asian wide, else 1. */
function barCharWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return -1;
  if (cp < 0x300) return 1;
  if (/^[\p{Mn}\p{Me}\u200b-\u200f]$/u.test(String.fromCodePoint(cp))) return 0;
  const wide = (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd);
  return wide ? 2 : 1;
}
