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

/** The texts of the logical lines and gaps, with `null` for each scrollback clear. */
function logicalLines(records: readonly LogRecord[]): (string | null)[] {
  const lines: (string | null)[] = [];
  let joining = false;
  for (const record of records) {
    if (record.kind === "line") {
      if (joining) lines[lines.length - 1] += record.text;
      else lines.push(record.text);
      joining = record.wrap;
      continue;
    }
    lines.push(record.kind === "clear" ? null : gapText(record.lines));
    joining = false;
  }
  return lines;
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
  for (const text of logicalLines(records)) {
    if (text === null) {
      push();
      out += "\x1b[3J";
      continue;
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
