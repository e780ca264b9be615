/**
 * Mosh 1.4's control functions on an xterm.js buffer, replacing xterm's
 * where the two disagree (mosh: terminalfunctions.cc, terminalframebuffer.cc):
 * - only mosh's functions act; any other CSI, ESC or C0/C1 control (CNL,
 *   CPL, REP, CSI s/u, charsets, SO/SI, LNM, alternate screens...) is ignored,
 *   and so is every CSI sequence holding a colon;
 * - cursor moves clamp to the screen, or to the scrolling region in origin
 *   mode, whether or not the cursor was inside the region; IL/DL always
 *   return to column 0; tabs, DECSC/DECRC (cursor, rendition, autowrap,
 *   origin), DECSTBM, DECSTR and SGR are mosh's;
 * - cells are mosh's: erasing, inserting and deleting act on single cells
 *   with the current background and never touch the other half of a wide
 *   character. The cell after a wide character is hidden (a stock client
 *   never draws it): it is stored as xterm's width-0 continuation but keeps
 *   its own content and background, and shows again when the wide character
 *   goes away (see `normalizeLine`);
 * - the wrap flag is a flag of the row's last cell and moves with it;
 * - the combining-mark target is a screen position, set by each print and
 *   each explicit cursor move (not by scrolling or editing).
 * @module
 */

import type { XAttr, XHandler, XLine, XParams } from "./xterm_internals.ts";
import { WRAP_BIT, X_BG_HAS_EXTENDED, X_COMBINED } from "./xterm_internals.ts";

/** xterm content word: width bits. */
const WIDTH_MASK = 0xc00000;
/**
 * Foreground bit (xterm's strikethrough, which mosh lacks and SGR here never
 * sets) marking a hidden cell that is itself a wide character.
 */
const HIDDEN_WIDE = 0x80000000;
/** Largest parameter mosh accepts; larger ones count as absent. */
const PARAM_MAX = 65535;

/** Mosh's value of parameter `i`, or `def` when absent, 0 or out of range. */
export function param(p: XParams, i: number, def: number): number {
  const v = p[i];
  if (typeof v !== "number" || v < 1 || v > PARAM_MAX) return def;
  return v;
}

/** The xterm cell width of cell x (0, 1 or 2). */
function width(line: XLine, x: number): number {
  return (line._data[x * 3] >>> 22) & 3;
}

function setWidth(line: XLine, x: number, w: number): void {
  const d = line._data;
  d[x * 3] = ((d[x * 3] & ~WIDTH_MASK) | (w << 22)) >>> 0;
}

/** xterm's cell data as getNullCell returns it. */
interface XCell {
  content: number;
  fg: number;
  bg: number;
}

/** xterm's CircularList, as #shiftLines uses it. */
interface RecyclableLines {
  length: number;
  readonly isFull: boolean;
  get(i: number): XLine | undefined;
  splice(start: number, del: number, ...items: XLine[]): void;
  recycle(): XLine;
}

/** The cells of the last blank row blankLine made, copied into the next. */
let blankTemplate = new Uint32Array(0);

/**
 * Makes `line` a blank row of `cell` (what xterm's getBlankLine makes, in
 * place): a line that scrolled out is reused for the one scrolling in.
 */
function blankLine(line: XLine, options: { cell: XCell; cols: number }): void {
  const { cell, cols } = options;
  if (
    line.length !== cols || (cell.content & X_COMBINED) !== 0 ||
    (cell.bg & X_BG_HAS_EXTENDED) !== 0
  ) {
    if (line.length !== cols) line.resize(cols, cell);
    (line as unknown as { fill(c: XCell): void }).fill(cell);
    line.isWrapped = false;
    return;
  }
  const { content, fg, bg } = cell;
  let t = blankTemplate;
  if (t.length !== cols * 3 || t[0] !== content || t[1] !== fg || t[2] !== bg) {
    t = blankTemplate = new Uint32Array(cols * 3);
    for (let i = 0; i < t.length; i += 3) {
      t[i] = content;
      t[i + 1] = fg;
      t[i + 2] = bg;
    }
  }
  line._data.set(t); // one copy of a blank row of this cell
  // New objects only when the old ones hold something (a flood's rows do not).
  if (!isEmpty(line._combined)) line._combined = {};
  if (!isEmpty(line._extendedAttrs)) line._extendedAttrs = {};
  line.isWrapped = false;
}

/** Whether `o` has no own enumerable key. */
function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/**
 * Restore the invariant "a cell is a width-0 continuation exactly when the
 * cell before it is wide" after mosh-style cell edits: a cell newly after a
 * wide character is hidden (content kept), a continuation whose wide
 * character went away shows again as a narrow cell. A wide character in the
 * last column (mosh allows one without autowrap) is left alone. With
 * `edited` (the cells an edit changed), the walk starts at `edited.from` and
 * stops at the first cell past `edited.to` it leaves alone: the row held the
 * invariant before the edit, so the rest still does.
 */
export function normalizeLine(
  line: XLine,
  cols: number,
  edited: { from: number; to: number } = { from: 0, to: cols - 1 },
): void {
  const d = line._data;
  for (let x = Math.max(0, edited.from); x < cols; x++) {
    const prevWide = x > 0 && width(line, x - 1) === 2;
    const w = width(line, x);
    if (prevWide && w !== 0) {
      if (w === 2) d[x * 3 + 1] = (d[x * 3 + 1] | HIDDEN_WIDE) >>> 0;
      setWidth(line, x, 0);
    } else if (!prevWide && w === 0) {
      const wide = (d[x * 3 + 1] & HIDDEN_WIDE) !== 0;
      d[x * 3 + 1] = (d[x * 3 + 1] & ~HIDDEN_WIDE) >>> 0;
      setWidth(line, x, wide ? 2 : 1);
    } else if (x > edited.to) {
      // Unchanged past the edit: the rest of the row still holds the invariant.
      break;
    }
  }
}

/** Whether any row of `lines` holds a wide character in its last column. */
export function wideInLastColumn(lines: XLine[], cols: number): boolean {
  return lines.some((l) => width(l, cols - 1) === 2);
}

/** Mosh's cell reset: blank, narrow, background-only rendition, no wrap flag. */
export function resetCell(line: XLine, x: number, erase: XAttr): void {
  const d = line._data, i = x * 3;
  d[i] = 1 << 22;
  d[i + 1] = erase.fg;
  d[i + 2] = erase.bg & ~WRAP_BIT;
  delete line._combined[x];
}

/** What DECSC saves (mosh: SavedCursor): cursor, rendition words, autowrap, origin mode. */
export interface SavedCursor {
  x: number;
  y: number;
  fg: number;
  bg: number;
  autowrap: boolean;
  origin: boolean;
}

/** Mosh's cursor, tab stops, saved cursor and combining target over xterm's buffer. */
export class MoshFunctions {
  #ih: XHandler;
  #tabs: boolean[] = [];
  #saved: SavedCursor = {
    x: 0,
    y: 0,
    fg: 0,
    bg: 0,
    autowrap: true,
    origin: false,
  };
  /** The combining-mark target (mosh: combining_char_row/col). */
  targetY = 0;
  targetX = 0;
  /**
   * Mosh's pending wrap away from the last column: CBT at a pending wrap
   * moves left and keeps it, so the next print still wraps (mosh: HT_n).
   */
  wrapHeld = false;
  /** Called with n before the region scrolls up n rows (SU, LF at the bottom...), its rows still in place. */
  onScrollUp: ((n: number) => void) | undefined;

  constructor(ih: XHandler) {
    this.#ih = ih;
    this.resetTabs();
  }

  get #cols(): number {
    return this.#ih._bufferService.cols;
  }

  get #rows(): number {
    return this.#ih._bufferService.rows;
  }

  /** Mosh's cursor column (a pending wrap sits on the last column). */
  col(): number {
    return Math.min(this.#ih._activeBuffer.x, this.#cols - 1);
  }

  line(y: number): XLine {
    const buf = this.#ih._activeBuffer;
    return buf.lines.get(buf.ybase + y)!;
  }

  /** Forget everything a reset forgets: default tab stops, saved cursor, target at the cursor. */
  reset(): void {
    this.resetTabs();
    this.clearSaved();
    this.targetY = 0;
    this.targetX = 0;
    this.wrapHeld = false;
  }

  resetTabs(): void {
    this.#tabs = Array.from({ length: this.#cols }, (_, i) => i % 8 === 0);
  }

  /** After a resize: tab stops for new columns are the defaults. */
  resizeTabs(): void {
    const cols = this.#cols;
    const t = this.#tabs.slice(0, cols);
    for (let i = t.length; i < cols; i++) t.push(i % 8 === 0);
    this.#tabs = t;
    this.follow();
  }

  clearSaved(): void {
    this.#saved = { x: 0, y: 0, fg: 0, bg: 0, autowrap: true, origin: false };
  }

  /** Install `slot` (the default when undefined) as the DECSC slot; returns the previous one. */
  swapSaved(slot: SavedCursor | undefined): SavedCursor {
    const prev = this.#saved;
    if (slot === undefined) this.clearSaved();
    else this.#saved = slot;
    return prev;
  }

  /** The combining target becomes the cursor's cell (mosh: new_grapheme). */
  follow(): void {
    this.targetY = this.#ih._activeBuffer.y;
    this.targetX = this.col();
  }

  #top(): number {
    const buf = this.#ih._activeBuffer;
    return this.#ih._coreService.decPrivateModes.origin ? buf.scrollTop : 0;
  }

  #bottom(): number {
    const buf = this.#ih._activeBuffer;
    return this.#ih._coreService.decPrivateModes.origin
      ? buf.scrollBottom
      : this.#rows - 1;
  }

  /** Clamp the cursor's row to mosh's borders (mosh snaps after every move, printing included). */
  snapRow(): void {
    const buf = this.#ih._activeBuffer;
    buf.y = this.#snapped(buf.y);
  }

  /** Whether the cursor's row is within mosh's borders (snapRow leaves it). */
  get rowInBorders(): boolean {
    const y = this.#ih._activeBuffer.y;
    return this.#snapped(y) === y;
  }

  #snapped(y: number): number {
    return Math.max(this.#top(), Math.min(this.#bottom(), y));
  }

  /** Put the cursor at (y, x) clamped to mosh's borders; clears a pending wrap. */
  #place(y: number, x: number): void {
    const buf = this.#ih._activeBuffer;
    buf.y = Math.max(this.#top(), Math.min(this.#bottom(), y));
    buf.x = Math.max(0, Math.min(this.#cols - 1, x));
    this.wrapHeld = false;
    this.follow();
  }

  /** mosh: move_row. */
  moveRow(n: number, relative: boolean): void {
    const buf = this.#ih._activeBuffer;
    this.#place(relative ? buf.y + n : n + this.#top(), this.col());
  }

  /** mosh: move_col (explicit). */
  moveCol(n: number, relative: boolean): void {
    const buf = this.#ih._activeBuffer;
    this.#place(buf.y, relative ? this.col() + n : n);
  }

  /** mosh: insert_line / delete_line at `row` (rows of the current background). */
  #shiftLines(row: number, count: number, insert: boolean): void {
    const ih = this.#ih, buf = ih._activeBuffer;
    const top = buf.scrollTop, bottom = buf.scrollBottom;
    if (row < top || row > bottom + (insert ? 1 : 0)) return;
    const n = Math.min(count, bottom + 1 - row);
    if (n <= 0) return;
    const lines = buf.lines as unknown as RecyclableLines;
    const cell = (buf as unknown as { getNullCell(a: XAttr): XCell })
      .getNullCell(ih._eraseAttrData());
    const cols = ih._bufferService.cols;
    if (
      !insert && row === 0 && buf.ybase === 0 &&
      bottom + 1 === lines.length && lines.isFull
    ) {
      // The whole screen scrolls up (the flood's case): rotate the ring and
      // blank the line that went round, instead of moving every line.
      for (let k = 0; k < n; k++) blankLine(lines.recycle(), { cell, cols });
      return;
    }
    // The lines taken out come back blanked: no allocation per scroll.
    const at = buf.ybase + (insert ? bottom + 1 - n : row);
    const reused: XLine[] = [];
    for (let k = 0; k < n; k++) reused.push(lines.get(at + k)!);
    for (const line of reused) blankLine(line, { cell, cols });
    lines.splice(at, n);
    lines.splice(buf.ybase + (insert ? row : bottom + 1 - n), 0, ...reused);
  }

  /** mosh: Framebuffer::scroll (positive: up, deleting at the region's top). */
  scroll(n: number): void {
    const top = this.#ih._activeBuffer.scrollTop;
    if (n > 0) this.onScrollUp?.(n);
    this.#shiftLines(top, Math.abs(n), n < 0);
  }

  /** mosh: move_rows_autoscroll. */
  moveRowsAutoscroll(rows: number): void {
    const buf = this.#ih._activeBuffer;
    const y = buf.y, top = buf.scrollTop, bottom = buf.scrollBottom;
    if (y >= top && y <= bottom) {
      if (y + rows > bottom) {
        const n = y + rows - bottom;
        this.scroll(n);
        this.moveRow(-n, true);
      } else if (y + rows < top) {
        const n = y + rows - top;
        this.scroll(n);
        this.moveRow(-n, true);
      }
    }
    this.moveRow(rows, true);
  }

  /** mosh: HT_n (count > 0 forwards, < 0 backwards); keeps a pending wrap, wherever it lands. */
  tab(count: number): void {
    const buf = this.#ih._activeBuffer, cols = this.#cols;
    const pending = buf.x >= cols || this.wrapHeld;
    const col = this.col();
    let to = -1;
    if (count >= 0) {
      for (let i = col + 1; i < cols; i++) {
        if (this.#tabs[i] && --count === 0) {
          to = i;
          break;
        }
      }
      if (to === -1) to = cols - 1;
    } else {
      to = 0;
      for (let i = col - 1; i > 0; i--) {
        if (this.#tabs[i] && ++count === 0) {
          to = i;
          break;
        }
      }
    }
    this.moveCol(to, false);
    if (pending && to === cols - 1) buf.x = cols;
    else this.wrapHeld = pending;
  }

  setTab(): void {
    this.#tabs[this.col()] = true;
  }

  clearTabs(p: XParams): void {
    const v = param(p, 0, 0);
    if (v === 0) this.#tabs[this.col()] = false;
    else if (v === 3) this.#tabs.fill(false);
  }

  /** Reset cells [from, to] of row y (mosh: clearline). */
  clear(y: number, from: number, to: number): void {
    const line = this.line(y), erase = this.#ih._eraseAttrData();
    for (let x = from; x <= to; x++) resetCell(line, x, erase);
    normalizeLine(line, this.#cols);
  }

  clearRow(y: number): void {
    this.clear(y, 0, this.#cols - 1);
  }

  eraseLine(p: XParams): void {
    const y = this.#ih._activeBuffer.y, cols = this.#cols;
    const v = param(p, 0, 0);
    if (v === 0) this.clear(y, this.col(), cols - 1);
    else if (v === 1) this.clear(y, 0, this.col());
    else if (v === 2) this.clearRow(y);
  }

  eraseDisplay(p: XParams): void {
    const y = this.#ih._activeBuffer.y, rows = this.#rows;
    const v = param(p, 0, 0);
    if (v === 0) {
      this.clear(y, this.col(), this.#cols - 1);
      for (let r = y + 1; r < rows; r++) this.clearRow(r);
    } else if (v === 1) {
      for (let r = 0; r < y; r++) this.clearRow(r);
      this.clear(y, 0, this.col());
    } else if (v === 2) {
      for (let r = 0; r < rows; r++) this.clearRow(r);
    }
  }

  eraseChars(p: XParams): void {
    const col = this.col();
    this.clear(
      this.#ih._activeBuffer.y,
      col,
      Math.min(col + param(p, 0, 1) - 1, this.#cols - 1),
    );
  }

  /** mosh: insert_cell (n times) at the cursor. */
  insertCells(n: number): void {
    const cols = this.#cols, line = this.line(this.#ih._activeBuffer.y);
    const col = this.col(), k = Math.min(n, cols - col);
    const d = line._data, erase = this.#ih._eraseAttrData();
    d.copyWithin((col + k) * 3, col * 3, (cols - k) * 3);
    const combined = { ...line._combined };
    for (const key of Object.keys(line._combined)) {
      delete line._combined[Number(key)];
    }
    for (const [key, v] of Object.entries(combined)) {
      const x = Number(key);
      if (x < col) line._combined[x] = v;
      else if (x + k < cols) line._combined[x + k] = v;
    }
    for (let x = col; x < col + k; x++) resetCell(line, x, erase);
    normalizeLine(line, cols);
  }

  /** mosh: delete_cell (n times) at the cursor. */
  deleteCells(n: number): void {
    const cols = this.#cols, line = this.line(this.#ih._activeBuffer.y);
    const col = this.col(), k = Math.min(n, cols - col);
    const d = line._data, erase = this.#ih._eraseAttrData();
    d.copyWithin(col * 3, (col + k) * 3, cols * 3);
    const combined = { ...line._combined };
    for (const key of Object.keys(line._combined)) {
      delete line._combined[Number(key)];
    }
    for (const [key, v] of Object.entries(combined)) {
      const x = Number(key);
      if (x < col) line._combined[x] = v;
      else if (x >= col + k) line._combined[x - k] = v;
    }
    for (let x = cols - k; x < cols; x++) resetCell(line, x, erase);
    normalizeLine(line, cols);
  }

  insertLines(p: XParams): void {
    this.#shiftLines(this.#ih._activeBuffer.y, param(p, 0, 1), true);
    this.moveCol(0, false);
  }

  deleteLines(p: XParams): void {
    this.#shiftLines(this.#ih._activeBuffer.y, param(p, 0, 1), false);
    this.moveCol(0, false);
  }

  /** DECSTBM; invalid regions are ignored. */
  setRegion(p: XParams): void {
    const rows = this.#rows;
    const top = param(p, 0, 1), bottom = param(p, 1, rows);
    if (bottom <= top || top > rows) return;
    const buf = this.#ih._activeBuffer;
    buf.scrollTop = Math.max(0, top - 1);
    buf.scrollBottom = Math.min(rows - 1, bottom - 1);
    this.moveRow(0, false);
    this.moveCol(0, false);
  }

  saveCursor(): void {
    const ih = this.#ih, buf = ih._activeBuffer;
    const dec = ih._coreService.decPrivateModes;
    this.#saved = {
      x: this.col(),
      y: buf.y,
      fg: ih._curAttrData.fg,
      bg: ih._curAttrData.bg,
      autowrap: dec.wraparound,
      origin: dec.origin,
    };
  }

  restoreCursor(): void {
    const ih = this.#ih, buf = ih._activeBuffer, s = this.#saved;
    const dec = ih._coreService.decPrivateModes;
    ih._curAttrData.fg = s.fg;
    ih._curAttrData.bg = s.bg;
    dec.wraparound = s.autowrap;
    dec.origin = s.origin;
    buf.y = s.y;
    buf.x = s.x;
    this.#place(buf.y, buf.x);
  }

  /** DECSTR: modes, region, rendition and saved cursor (the cursor stays). */
  softReset(): void {
    const ih = this.#ih, buf = ih._activeBuffer;
    const dec = ih._coreService.decPrivateModes;
    ih._coreService.modes.insertMode = false;
    dec.origin = false;
    dec.applicationCursorKeys = false;
    buf.scrollTop = 0;
    buf.scrollBottom = this.#rows - 1;
    ih._curAttrData.fg = 0;
    ih._curAttrData.bg = 0;
    this.clearSaved();
  }

  /** DECALN: every cell an "E" with the current background only; nothing else moves. */
  alignment(): void {
    const erase = this.#ih._eraseAttrData(), cols = this.#cols;
    for (let y = 0; y < this.#rows; y++) {
      const line = this.line(y);
      for (let x = 0; x < cols; x++) {
        resetCell(line, x, erase);
        line._data[x * 3] = (0x45 | (1 << 22)) >>> 0;
      }
    }
  }
}
