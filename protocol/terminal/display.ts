/**
 * The display diff (mosh: terminaldisplay.cc, Display::new_frame): the escape
 * sequences that turn a terminal showing `last` into one showing `next`.
 *
 * Output is limited to mosh's display subset (text, BEL, CR, LF, BS, CUP,
 * DECSTBM, EL, ED 2, ECH, absolute SGR, DECSET/DECRST of 5, 25, 9,
 * 1000-1003, 1004, 1005, 1006, 1015, 2004, OSC 0/1/2/52), in mosh's order.
 * It differs from mosh only where mosh's own output is inexact:
 * - blank cells are always erased (ECH/EL), never overwritten with spaces,
 *   so a client ends with "" rather than " " (a wrapped row whose next row
 *   starts blank gets its wrap from a space that is then erased);
 * - BS is never used while the tracked column is past the last column
 *   (mosh 1.4's "off by one" quirk), CUP is used instead;
 * - no CR LF after a row's last cell: the next move does it when needed;
 * - a full repaint skips cells that ED 2 already left blank.
 * With `nativeScrollback` (a client drawing on the user's normal screen) the
 * output leaves that subset for EL 2 and DL, so no row reaches the terminal's
 * own scrollback: rows are erased one by one instead of ED 2, and scrolls are
 * delete-lines at the top instead of LF at the bottom.
 * @module
 */

import { isClipboardWrite } from "./emulator_modes.ts";
import {
  ATTRS_SHIFT,
  blankRow,
  CELL_WORDS,
  cellsEqualAt,
  cellText,
  CODE_MASK,
  DEFAULT_RENDITION,
  type Framebuffer,
  makeRendition,
  type Rendition,
  renditionsEqual,
  type Row,
  rowsEqual,
  sgrFor,
  TEXT_FLAG,
  WIDTH_SHIFT,
} from "./framebuffer.ts";

/** Options for `newFrame`. */
export interface NewFrameOptions {
  /** False when the terminal's state is unknown: repaint everything. */
  initialized: boolean;
  /**
   * Whether the terminal erases with the current background (terminfo `bce`;
   * default true, as mosh's server assumes). When false, coloured blanks are
   * written as spaces, as mosh does for such real terminals (e.g. GNU screen).
   */
  bce?: boolean;
  /** Whether the terminal shows window titles (default true; mosh decides by TERM). */
  titles?: boolean;
  /**
   * The terminal is on its normal screen and its scrollback is written from the
   * server's log: nothing may push rows into it (no ED 2, no LF scrolling).
   */
  nativeScrollback?: boolean;
}

/** The escape sequences being built plus the tracked terminal state (mosh: FrameState). */
class Frame {
  out = "";
  /** Tracked cursor; -1 = unknown; x >= width means "after the last column". */
  x = 0;
  y = 0;
  visible: boolean;
  rendition: Rendition;
  readonly width: number;

  readonly bce: boolean;

  constructor(
    width: number,
    visible: boolean,
    rendition: Rendition,
    bce: boolean,
  ) {
    this.width = width;
    this.bce = bce;
    this.visible = visible;
    this.rendition = rendition;
  }

  silentMove(y: number, x: number): void {
    if (this.x === x && this.y === y) return;
    if (this.visible) {
      this.out += "\x1b[?25l";
      this.visible = false;
    }
    this.move(y, x);
  }

  move(y: number, x: number): void {
    const lx = this.x, ly = this.y;
    this.x = x;
    this.y = y;
    if (lx !== -1 && ly !== -1) {
      const dy = y - ly;
      if (x === 0 && dy >= 0 && dy < 5) {
        if (lx !== 0) this.out += "\r";
        this.out += "\n".repeat(dy);
        return;
      }
      const dx = lx - x;
      if (dy === 0 && dx > 0 && dx < 5 && lx < this.width) {
        this.out += "\b".repeat(dx);
        return;
      }
    }
    this.out += `\x1b[${y + 1};${x + 1}H`;
  }

  setRendition(r: Rendition, force = false): void {
    if (force || !renditionsEqual(this.rendition, r)) {
      this.out += sgrFor(r);
      this.rendition = r;
    }
  }

  /** Switch to cell x's rendition without building objects when it is already current. */
  setCellRendition(row: Row, x: number): void {
    const i = x * CELL_WORDS, r = this.rendition;
    const attrs = (row.cells[i] >>> ATTRS_SHIFT) & 0x7f,
      fg = row.cells[i + 1],
      bg = row.cells[i + 2];
    if (r.attrs !== attrs || r.fg !== fg || r.bg !== bg) {
      this.setRendition(makeRendition(attrs, fg, bg));
    }
  }
}

const ASCII = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));

/** Cell x's content, without allocating for ASCII. */
function text(row: Row, x: number): string {
  const w0 = row.cells[x * CELL_WORDS];
  return (w0 & (TEXT_FLAG | (CODE_MASK & ~0x7f))) === 0
    ? ASCII[w0 & 0x7f]
    : cellText(row, x);
}

function isEmpty(row: Row, x: number): boolean {
  return (row.cells[x * CELL_WORDS] & (CODE_MASK | TEXT_FLAG)) === 0;
}

function cellWidth(row: Row, x: number): number {
  return ((row.cells[x * CELL_WORDS] >>> WIDTH_SHIFT) & 3) || 1;
}

function eraseChars(
  f: Frame,
  y: number,
  x: number,
  count: number,
  bg: number,
): void {
  f.silentMove(y, x);
  f.setRendition(makeRendition(0, 0, bg));
  if (!f.bce && bg !== 0) {
    f.out += " ".repeat(count);
    f.x += count;
  } else {
    f.out += count === 1 ? "\x1b[X" : `\x1b[${count}X`;
  }
}

/** Draw row y over `old`; returns true when the next row must start with its cell 0 (wrap). */
function putRow(
  f: Frame,
  next: Framebuffer,
  y: number,
  old: Row,
  wrapIn: boolean,
): boolean {
  const row = next.rows[y], W = next.width;
  let fx = 0, wroteLast = false;
  if (wrapIn) {
    // The terminal's own wrap carries the cursor here and marks the row above.
    f.setCellRendition(row, 0);
    if (isEmpty(row, 0)) {
      f.out += f.bce ? " \b\x1b[X" : " ";
      if (!f.bce) f.x = 1;
      fx = 1;
    } else {
      f.out += text(row, 0);
      fx = cellWidth(row, 0);
      f.x += fx;
      wroteLast = fx >= W;
    }
  }
  const wrapThis = row.wrap;
  if (rowsEqual(row, old)) {
    // A wide cell 0 that fills the row rewrote the last cell and so cleared the wrap flag.
    if (!(wroteLast && wrapThis && y < next.height - 1)) return false;
    f.x = 0;
    f.y = y + 1;
    return true;
  }
  let clearStart = 0, clearCount = 0, clearBg = 0;
  while (fx < W) {
    const cw = cellWidth(row, fx);
    const changed = !cellsEqualAt(row, old, fx) ||
      (fx + cw >= W && row.wrap !== old.wrap);
    if (clearCount === 0 && !changed) {
      fx += cw;
      continue;
    }
    const empty = isEmpty(row, fx);
    const bg = row.cells[fx * CELL_WORDS + 2];
    if (empty && (clearCount === 0 || bg === clearBg)) {
      if (clearCount === 0) {
        clearStart = fx;
        clearBg = bg;
      }
      clearCount++;
      fx++;
      continue;
    }
    if (clearCount) {
      eraseChars(f, y, clearStart, clearCount, clearBg);
      clearCount = 0;
      if (empty) {
        clearStart = fx;
        clearBg = bg;
        clearCount = 1;
        fx++;
        continue;
      }
      if (!changed) {
        fx += cw;
        continue;
      }
    }
    if (wrapThis && fx + cw >= W) f.x = f.y = -1; // force an explicit position
    f.silentMove(y, fx);
    f.setCellRendition(row, fx);
    f.out += text(row, fx);
    fx += cw;
    f.x += cw;
    if (fx >= W) wroteLast = true;
  }
  if (clearCount) {
    // A wrapped row ending in blanks (never produced by the emulator) is written with spaces.
    if (wrapThis) f.x = f.y = -1;
    f.silentMove(y, clearStart);
    f.setRendition(makeRendition(0, 0, clearBg));
    if (!wrapThis && (f.bce || clearBg === 0)) {
      f.out += "\x1b[K";
    } else {
      f.out += " ".repeat(clearCount);
      f.x = W;
      wroteLast = true;
    }
  }
  if (!(wroteLast && wrapThis && y < next.height - 1)) return false;
  f.x = 0;
  f.y = y + 1;
  return true;
}

/** Find mosh's scroll: returns [lines scrolled, region height] or undefined. */
function findScroll(
  next: Framebuffer,
  old: Row[],
): [number, number] | undefined {
  const H = next.height, first = next.rows[0];
  for (let r = 0; r < H; r++) {
    if (!rowsEqual(first, old[r])) continue;
    if (r === 0) return undefined;
    let h = 1;
    while (r + h < H && rowsEqual(next.rows[h], old[r + h])) h++;
    return [r, h];
  }
  return undefined;
}

/** Erases every row one by one (ED 2 would push them into some terminals' scrollback). */
function eraseRows(height: number): string {
  return "\x1b[H\x1b[2K" + "\n\x1b[2K".repeat(height - 1);
}

/**
 * Scrolls rows 0..bottom (default: the whole screen) up by `count` with delete
 * lines at the top, which no terminal saves to its scrollback (LF at the
 * bottom of a region starting at row 0 does, in xterm and tmux).
 */
function deleteLines(f: Frame, count: number, bottom?: number): void {
  if (bottom !== undefined) {
    f.out += `\x1b[1;${bottom + 1}r`;
    f.x = f.y = -1;
  }
  f.silentMove(0, 0);
  f.out += count === 1 ? "\x1b[M" : `\x1b[${count}M`;
  if (bottom !== undefined) {
    f.out += "\x1b[r";
    f.x = f.y = -1;
  }
}

function modeSwitch(on: number, off: number, none: string): string {
  if (on === 0) return none;
  return (off !== 0 ? `\x1b[?${off}l` : "") + `\x1b[?${on}h`;
}

/** Escape sequences that make a terminal showing `last` show `next` (mosh: Display::new_frame). */
export function newFrame(
  last: Framebuffer,
  next: Framebuffer,
  options: NewFrameOptions,
): string {
  let initialized = options.initialized;
  const W = next.width, H = next.height;
  let out = "";
  if (next.bellCount !== last.bellCount) out += "\x07";
  if (
    next.titleInitialized && (options.titles ?? true) &&
    (!initialized || next.iconName !== last.iconName ||
      next.title !== last.title)
  ) {
    out += next.iconName === next.title
      ? `\x1b]0;${next.title}\x07`
      : `\x1b]1;${next.iconName}\x07\x1b]2;${next.title}\x07`;
  }
  if (
    next.clipboard !== last.clipboard && isClipboardWrite(next.clipboard)
  ) {
    out += `\x1b]52;c;${next.clipboard}\x07`;
  }
  if (!initialized || next.reverseVideo !== last.reverseVideo) {
    out += next.reverseVideo ? "\x1b[?5h" : "\x1b[?5l";
  }
  let old: Row[];
  let f: Frame;
  if (
    !initialized || W !== last.width || H !== last.height ||
    last.rows.length !== H
  ) {
    out += options.nativeScrollback
      ? `\x1b[r\x1b[0m${eraseRows(H)}\x1b[H`
      : "\x1b[r\x1b[0m\x1b[H\x1b[2J";
    initialized = false;
    f = new Frame(W, false, DEFAULT_RENDITION, options.bce ?? true);
    out += "\x1b[?25l";
    old = new Array<Row>(H).fill(blankRow(W, 0)); // what ED 2 left behind
  } else {
    f = new Frame(W, last.cursorVisible, last.rendition, options.bce ?? true);
    f.y = last.cursorRow;
    f.x = last.cursorPendingWrap ? W : last.cursorCol;
    old = last.rows.slice();
  }
  f.out = out;
  let frameY = 0;
  const scroll = initialized ? findScroll(next, old) : undefined;
  if (scroll) {
    const [r, h] = scroll, bottom = r + h - 1;
    f.setRendition(DEFAULT_RENDITION, true);
    if (options.nativeScrollback) {
      deleteLines(f, r, bottom === H - 1 ? undefined : bottom);
    } else if (r + h === H && f.y === H - 1) {
      f.out += "\r" + "\n".repeat(r);
      f.x = 0;
    } else {
      f.out += `\x1b[1;${bottom + 1}r`;
      f.x = f.y = -1;
      f.silentMove(bottom, 0);
      f.out += "\n".repeat(r) + "\x1b[r";
      f.x = f.y = -1;
    }
    const blank = blankRow(W, 0);
    for (let i = 0; i <= bottom; i++) {
      old[i] = i + r <= bottom ? old[i + r] : blank;
    }
    frameY = h;
  }
  let wrap = false;
  for (let y = frameY; y < H; y++) wrap = putRow(f, next, y, old[y], wrap);
  if (!initialized || f.y !== next.cursorRow || f.x !== next.cursorCol) {
    f.move(next.cursorRow, next.cursorCol);
  }
  if (!initialized || f.visible !== next.cursorVisible) {
    f.out += next.cursorVisible ? "\x1b[?25h" : "\x1b[?25l";
  }
  f.setRendition(next.rendition, !initialized);
  if (!initialized || next.bracketedPaste !== last.bracketedPaste) {
    f.out += next.bracketedPaste ? "\x1b[?2004h" : "\x1b[?2004l";
  }
  if (!initialized || next.mouseReporting !== last.mouseReporting) {
    f.out += modeSwitch(
      next.mouseReporting,
      last.mouseReporting,
      "\x1b[?1003l\x1b[?1002l\x1b[?1001l\x1b[?1000l",
    );
  }
  if (!initialized || next.focusEvents !== last.focusEvents) {
    f.out += next.focusEvents ? "\x1b[?1004h" : "\x1b[?1004l";
  }
  if (!initialized || next.mouseEncoding !== last.mouseEncoding) {
    f.out += modeSwitch(
      next.mouseEncoding,
      last.mouseEncoding,
      "\x1b[?1015l\x1b[?1006l\x1b[?1005l",
    );
  }
  return f.out;
}
