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
 * @module
 */

import type { LogRecord } from "../protocol/statesync/scroll_log.ts";
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

/** A block's bytes as text (printable ASCII and CR LF only, readScrollSlice checked). */
const latin1 = new TextDecoder("latin1");

/** Lines of a block record: `count` of them, CR LF between them. */
interface BlockLines {
  text: string;
  count: number;
}

/** The texts of the logical lines and gaps, blocks of plain lines, and `null` for each scrollback clear. */
function logicalLines(
  records: readonly LogRecord[],
): (string | BlockLines | null)[] {
  const lines: (string | BlockLines | null)[] = [];
  let joining = false;
  for (const record of records) {
    if (record.kind === "line") {
      if (joining) lines[lines.length - 1] += record.text;
      else lines.push(record.text);
      joining = record.wrap;
      continue;
    }
    if (record.kind === "block") {
      lines.push({ text: latin1.decode(record.bytes), count: record.lines });
    } else lines.push(record.kind === "clear" ? null : gapText(record.lines));
    joining = false;
  }
  return lines;
}

/** A block's first line and the block of the rest (null when it had one line). */
function firstLine(block: BlockLines): [string, BlockLines | null] {
  const cr = block.text.indexOf("\r");
  if (cr < 0) return [block.text, null];
  return [block.text.slice(0, cr), {
    text: block.text.slice(cr + 2),
    count: block.count - 1,
  }];
}

/** CUP to column 1 of 0-based row y. */
function rowStart(y: number): string {
  return `\x1b[${y + 1}H`;
}

/**
 * The bytes that push `records` into the terminal's scrollback, in order and
 * once each. The screen is left holding junk with the cursor hidden: the
 * caller repaints the whole frame right after (before ending synchronized
 * output itself when `endSync` is false).
 */
export function scrollbackBytes(
  records: readonly LogRecord[],
  size: TerminalSize,
  options: { endSync?: boolean } = {},
): string {
  if (records.length === 0) return "";
  const cols = Math.max(1, size.cols), height = Math.max(1, size.rows);
  let out = "\x1b[?2026h\x1b[?25l\x1b[r\x1b[?7h\x1b[0m";
  // Rows painted since the last push; the painted rows are always the top ones.
  let painted = 0;
  const push = () => {
    if (painted === 0) return;
    out += rowStart(height - 1) + "\n".repeat(Math.min(painted, height));
    painted = 0;
  };
  const lines = logicalLines(records);
  for (let i = 0; i < lines.length; i++) {
    let text = lines[i];
    if (text === null) {
      push();
      out += "\x1b[3J";
      continue;
    }
    if (typeof text !== "string") {
      if (painted >= height) {
        // Plain lines below a full screen: written as they came (as over
        // ssh), each narrower than the server's screen.
        out += "\r\n" + text.text;
        painted += text.count;
        continue;
      }
      // Painted line by line until the screen is full.
      const [head, rest] = firstLine(text);
      if (rest !== null) lines[i--] = rest;
      text = head;
    }
    const layout = textLayout(text, cols);
    if (painted >= height) {
      // The screen is full and the cursor on its bottom row (the rendition
      // the default): the row LF scrolls in is blank, so a flood costs what
      // it costs over ssh. A styled text's last row may have been scrolled
      // in by autowrap in its colours (bce): erase the rest.
      out += "\r\n" + text;
      if (layout.rows > 1 && layout.col < cols && text.includes("\x1b")) {
        out += "\x1b[K";
      }
      painted += layout.rows;
      continue;
    }
    const start = painted;
    const last = Math.min(start + layout.rows - 1, height - 1);
    for (let y = start + 1; y <= last; y++) out += rowStart(y) + "\x1b[2K";
    out += rowStart(start) + "\x1b[2K" + text;
    // A row scrolled in at the bottom may be erased in the text's colours (bce).
    if (layout.col < cols) out += "\x1b[K";
    painted += layout.rows;
  }
  push();
  return options.endSync === false ? out : out + "\x1b[?2026l";
}
