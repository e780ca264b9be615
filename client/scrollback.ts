/**
 * Writing the server's scrollback log (protocol/statesync/scroll_log.ts) into
 * the user's own terminal scrollback. The terminal must be on its normal
 * screen: records are painted from the top row down and then scrolled off the
 * top with LF at the bottom of a full-screen scroll region, the one way every
 * terminal saves rows (never `CSI S` or ED 2, which some terminals do not save,
 * or save with the screen's other rows).
 *
 * Records of one logical line (each `wrap` line with the line after it) are
 * written as one run of text, so the terminal's own autowrap splits them at its
 * width and marks its rows soft-wrapped (reflowed when the widths differ).
 *
 * Records are read in place (received_log.ts) into one reused byte buffer: a
 * row of plain ASCII text, most rows of a flood, is copied as it came.
 * @module
 */

import type { LogRecord } from "../protocol/statesync/scroll_log.ts";
import {
  type LogCursor,
  ReceivedLog,
  recordWire,
} from "../protocol/statesync/received_log.ts";
import { BLOCK, CLEAR, LINE } from "../protocol/protobufs/scroll_records.ts";
import {
  ATTR_FAINT,
  makeRendition,
  sgrFor,
} from "../protocol/terminal/framebuffer.ts";
import { wcwidth } from "../protocol/terminal/wcwidth.ts";

/** The terminal's size in character cells. */
export interface TerminalSize {
  readonly cols: number;
  readonly rows: number;
}

/** The line standing for a gap record: dim, on its own line. */
function gapText(lines: number): string {
  return `${
    sgrFor(makeRendition(ATTR_FAINT, 0, 0))
  }[tmosh: ${lines} lines not delivered]\x1b[0m`;
}

/** Rows the text takes on a terminal `cols` wide from column 0, and the column it ends at. */
function textLayout(
  text: string,
  cols: number,
): { rows: number; col: number } {
  let printable = true;
  for (let i = 0; i < text.length && printable; i++) {
    const c = text.charCodeAt(i);
    printable = c >= 0x20 && c < 0x7f;
  }
  if (printable) {
    // One column a character (most rows of a flood).
    const n = Math.max(1, Math.ceil(text.length / cols));
    return { rows: n, col: text.length - (n - 1) * cols };
  }
  let rows = 1, col = 0;
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i)!;
    if (cp === 0x1b && text[i + 1] === "[") {
      // A CSI sequence (the text holds SGRs only): skip to its final byte.
      i += 2;
      while (i < text.length && !/[\x40-\x7e]/.test(text[i])) i++;
      i++;
      continue;
    }
    i += cp > 0xffff ? 2 : 1;
    const width = wcwidth(cp);
    if (width <= 0) continue;
    if (col + width > cols) {
      rows++;
      col = 0;
    }
    col += width;
  }
  return { rows, col };
}

/** CUP to column 1 of 0-based row y. */
function rowStart(y: number): string {
  return `\x1b[${y + 1}H`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A growable buffer of terminal output, reused frame after frame. */
export class OutBuffer {
  buf: Uint8Array;
  length = 0;

  /** An empty buffer of `size` bytes to begin with. */
  constructor(size = 64 * 1024) {
    this.buf = new Uint8Array(size);
  }

  /** Forgets what the buffer holds (its memory is kept). */
  clear(): void {
    this.length = 0;
  }

  /** What the buffer holds (a view, valid until it is written again). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  #room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(2 * this.buf.length, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  /** Appends a string of ASCII characters (control sequences). */
  ascii(s: string): void {
    this.#room(s.length);
    const b = this.buf;
    let at = this.length;
    for (let i = 0; i < s.length; i++) b[at++] = s.charCodeAt(i);
    this.length = at;
  }

  /** Appends any text, as UTF-8. */
  text(s: string): void {
    this.#room(3 * s.length);
    this.length += encoder.encodeInto(s, this.buf.subarray(this.length))
      .written;
  }

  /** Appends `b[start..end)`. */
  bytes(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.#room(n);
    if (n > 32) {
      this.buf.set(b.subarray(start, end), this.length);
    } else {
      const out = this.buf;
      for (let i = 0, at = this.length; i < n; i++) out[at + i] = b[start + i];
    }
    this.length += n;
  }
}

/** Paints logical lines into `out` and scrolls them off (the writer's state between lines). */
class Painter {
  /** Rows painted since the last push; the painted rows are always the top ones. */
  painted = 0;
  readonly #out: OutBuffer;
  readonly #cols: number;
  readonly #height: number;

  constructor(out: OutBuffer, size: TerminalSize) {
    this.#out = out;
    this.#cols = Math.max(1, size.cols);
    this.#height = Math.max(1, size.rows);
  }

  /** Scrolls the painted rows off the top (LF at the bottom row). */
  push(): void {
    if (this.painted === 0) return;
    this.#out.ascii(
      rowStart(this.#height - 1) +
        "\n".repeat(Math.min(this.painted, this.#height)),
    );
    this.painted = 0;
  }

  /** The logical line whose UTF-8 text is `b[start..end)`: copied as it is when printable ASCII. */
  line(b: Uint8Array, start: number, end: number): void {
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c < 0x20 || c >= 0x7f) {
        this.text(decoder.decode(b.subarray(start, end)));
        return;
      }
    }
    // One column a character (most rows of a flood).
    const cols = this.#cols, out = this.#out, n = end - start;
    const rows = Math.max(1, Math.ceil(n / cols));
    if (this.painted >= this.#height) {
      // As in text(): no escape in the text, nothing to erase.
      out.ascii("\r\n");
      out.bytes(b, start, end);
    } else {
      this.#clearRows(rows);
      out.bytes(b, start, end);
      if (n - (rows - 1) * cols < cols) out.ascii("\x1b[K");
    }
    this.painted += rows;
  }

  /**
   * A block's `count` plain lines `b[start..end)`, CR LF between them: painted
   * line by line until the screen is full, then written as they came (as over
   * ssh), each narrower than the server's screen.
   */
  block(b: Uint8Array, start: number, end: number, count: number): void {
    for (;;) {
      if (this.painted >= this.#height) {
        this.#out.ascii("\r\n");
        this.#out.bytes(b, start, end);
        this.painted += count;
        return;
      }
      let cr = start;
      while (cr < end && b[cr] !== 0x0d) cr++;
      this.line(b, start, cr);
      if (cr === end) return;
      start = cr + 2;
      count--;
    }
  }

  /** A logical line or gap of any text. */
  text(text: string): void {
    const out = this.#out, cols = this.#cols;
    const layout = textLayout(text, cols);
    if (this.painted >= this.#height) {
      // The screen is full and the cursor on its bottom row (the rendition
      // the default): the row LF scrolls in is blank, so a flood costs what
      // it costs over ssh. A styled text's last row may have been scrolled
      // in by autowrap in its colours (bce): erase the rest.
      out.ascii("\r\n");
      out.text(text);
      if (layout.rows > 1 && layout.col < cols && text.includes("\x1b")) {
        out.ascii("\x1b[K");
      }
    } else {
      this.#clearRows(layout.rows);
      out.text(text);
      // A row scrolled in at the bottom may be erased in the text's colours (bce).
      if (layout.col < cols) out.ascii("\x1b[K");
    }
    this.painted += layout.rows;
  }

  /** Erases the rows a text of `rows` rows is painted on, the cursor left at its first. */
  #clearRows(rows: number): void {
    const start = this.painted;
    const last = Math.min(start + rows - 1, this.#height - 1);
    let s = "";
    for (let y = start + 1; y <= last; y++) s += rowStart(y) + "\x1b[2K";
    this.#out.ascii(s + rowStart(start) + "\x1b[2K");
  }
}

/** Reused for the text of a logical line made of several records. */
const joined = new OutBuffer(4096);

/** What writeScrollback wrote. */
export interface Written {
  /** Number of the first record not written. */
  end: number;
  /** Records wait past the limit: write again soon. */
  more: boolean;
}

/**
 * Appends to `out` the bytes that push the records `cursor` reads into the
 * terminal's scrollback, in order and once each: about `limit` bytes of them
 * (recordWire; at least one record), more waiting then. A logical line still
 * going on where they stop is left for the next call, unless it alone fills
 * the limit, or, at the log's end, it has more than `hold` rows (0: the
 * session's last frame writes it): written now, its soft wrap into the rest
 * would be lost. Nothing is appended when nothing is written. The screen is
 * left holding junk with the cursor hidden: the caller repaints the whole
 * frame right after (before ending synchronized output itself when
 * `endSync` is false).
 */
export function writeScrollback(
  out: OutBuffer,
  cursor: LogCursor,
  options: {
    size: TerminalSize;
    limit: number;
    hold: number;
    endSync?: boolean;
  },
): Written {
  const from = cursor.num, start = out.length;
  out.ascii("\x1b[?2026h\x1b[?25l\x1b[r\x1b[?7h\x1b[0m");
  const painter = new Painter(out, options.size);
  const r = cursor.record;
  // Rows of a logical line (each soft-wrapped into the next) are joined, and
  // painted once it ends.
  let joining = 0;
  /** Where the last finished line, clear or gap ends. */
  let lineEnd = from;
  let wire = 0, more = false;
  joined.clear();
  for (;;) {
    if (wire >= options.limit) {
      more = cursor.more;
      break;
    }
    if (!cursor.next()) break;
    wire += recordWire(r);
    if (r.kind === LINE) {
      if (joining === 0 && !r.wrap) {
        painter.line(r.bytes, r.textStart, r.textEnd);
        lineEnd = cursor.num;
        continue;
      }
      joined.bytes(r.bytes, r.textStart, r.textEnd);
      joining++;
      if (!r.wrap) {
        painter.line(joined.buf, 0, joined.length);
        joined.clear();
        joining = 0;
        lineEnd = cursor.num;
      }
      continue;
    }
    if (joining > 0) {
      painter.line(joined.buf, 0, joined.length);
      joined.clear();
      joining = 0;
    }
    if (r.kind === BLOCK) {
      painter.block(r.bytes, r.textStart, r.textEnd, r.lines);
    } else if (r.kind === CLEAR) {
      painter.push();
      out.ascii("\x1b[3J");
    } else {
      painter.text(gapText(r.lines));
    }
    lineEnd = cursor.num;
  }
  let end = cursor.num;
  if (joining > 0) {
    const wait = more ? lineEnd > from : joining <= options.hold;
    if (wait) end = lineEnd;
    else painter.line(joined.buf, 0, joined.length);
    joined.clear();
  }
  if (end === from) {
    out.length = start;
    return { end, more };
  }
  painter.push();
  if (options.endSync !== false) out.ascii("\x1b[?2026l");
  return { end, more };
}

/**
 * The bytes that push `records` into the terminal's scrollback, as
 * writeScrollback writes them, as a string (tests; the session writes bytes).
 */
export function scrollbackBytes(
  records: readonly LogRecord[],
  size: TerminalSize,
  options: { endSync?: boolean } = {},
): string {
  if (records.length === 0) return "";
  const log = ReceivedLog.empty().receive({ first: 0, records }, 0);
  const out = new OutBuffer();
  writeScrollback(out, log.cursor(0), {
    size,
    limit: Infinity,
    hold: 0,
    endSync: options.endSync,
  });
  return decoder.decode(out.view());
}
