/**
 * Immutable terminal snapshots shared by client and server: the model that
 * `newFrame` diffs and that the emulator produces (mosh: terminalframebuffer.h).
 *
 * Encodings (all numbers fit in an unsigned 32-bit word):
 * - colour: `0` default; `COLOR_PALETTE | n` palette entry n (0-255, the 16
 *   ANSI colours are palette 0-15); `COLOR_RGB | 0xRRGGBB` true colour.
 * - rendition attributes: a bit set of `ATTR_*`.
 * - row cells: a Uint32Array of `CELL_WORDS` (3) words per column:
 *   word 0 = code point (bits 0-20; 0 = blank) | `TEXT_FLAG` (bit 21: the
 *   content is the multi-code-point string `texts[x]`) | width << 22
 *   (1 normal, 2 first half of a wide character, 0 its continuation cell)
 *   | attributes << 24; word 1 = foreground; word 2 = background.
 *
 * Blank cells always carry background-only renditions (mosh's BCE reset),
 * and a combining mark that mosh would store as a "fallback" cell is stored
 * as NBSP + mark, which is exactly what a stock client holds after the diff.
 * Rows are immutable and shared between snapshots, so most comparisons are
 * identity checks.
 * @module
 */

/** Rendition attribute: bold (SGR 1). */
export const ATTR_BOLD = 1;
/** Rendition attribute: faint (SGR 2; stock mosh ignores it). */
export const ATTR_FAINT = 2;
/** Rendition attribute: italic (SGR 3). */
export const ATTR_ITALIC = 4;
/** Rendition attribute: underline (SGR 4). */
export const ATTR_UNDERLINE = 8;
/** Rendition attribute: blink (SGR 5). */
export const ATTR_BLINK = 16;
/** Rendition attribute: inverse (SGR 7). */
export const ATTR_INVERSE = 32;
/** Rendition attribute: invisible (SGR 8). */
export const ATTR_INVISIBLE = 64;

/** Colour value meaning the terminal's default colour. */
export const COLOR_DEFAULT = 0;
/** Colour tag for palette entries: `COLOR_PALETTE | index`. */
export const COLOR_PALETTE = 0x1000000;
/** Colour tag for true colour: `COLOR_RGB | 0xRRGGBB`. */
export const COLOR_RGB = 0x2000000;

/** Words per cell in `Row.cells`. */
export const CELL_WORDS = 3;
/** Word-0 mask of the code point. */
export const CODE_MASK = 0x1fffff;
/** Word-0 flag: the cell's content is `Row.texts[x]`. */
export const TEXT_FLAG = 0x200000;
/** Word-0 shift of the cell width (0, 1 or 2). */
export const WIDTH_SHIFT = 22;
/** Word-0 shift of the attribute bits. */
export const ATTRS_SHIFT = 24;

/** Graphic rendition: attribute bits plus foreground and background colours. */
export interface Rendition {
  readonly attrs: number;
  readonly fg: number;
  readonly bg: number;
}

/** One decoded cell: content ("" = blank), width (0 = wide continuation), rendition. */
export interface Cell {
  readonly text: string;
  readonly width: 0 | 1 | 2;
  readonly rendition: Rendition;
}

/** One immutable screen row; `wrap` means it soft-wrapped into the next row. */
export interface Row {
  readonly width: number;
  readonly wrap: boolean;
  readonly cells: Uint32Array;
  readonly texts: ReadonlyArray<string | undefined> | undefined;
}

/** An immutable terminal snapshot (mosh: Framebuffer + DrawState). */
export interface Framebuffer {
  readonly width: number;
  readonly height: number;
  readonly rows: readonly Row[];
  readonly cursorRow: number;
  readonly cursorCol: number;
  readonly cursorVisible: boolean;
  /** The last column was written and the next character wraps first (not compared). */
  readonly cursorPendingWrap: boolean;
  readonly rendition: Rendition;
  readonly title: string;
  readonly iconName: string;
  readonly titleInitialized: boolean;
  readonly clipboard: string;
  readonly bellCount: number;
  readonly reverseVideo: boolean;
  readonly bracketedPaste: boolean;
  /** Mouse reporting mode: 0, 9, 1000, 1001, 1002 or 1003. */
  readonly mouseReporting: number;
  readonly focusEvents: boolean;
  /** Mouse encoding: 0, 1005, 1006 or 1015. */
  readonly mouseEncoding: number;
  readonly altScroll: boolean;
  readonly appCursorKeys: boolean;
  readonly appKeypad: boolean;
}

/** The default rendition (SGR 0). */
export const DEFAULT_RENDITION: Rendition = Object.freeze({
  attrs: 0,
  fg: 0,
  bg: 0,
});

/** Palette colour value for index 0-255. */
export function paletteColor(index: number): number {
  return COLOR_PALETTE | (index & 0xff);
}

/** True-colour value for r, g, b in 0-255. */
export function rgbColor(r: number, g: number, b: number): number {
  return COLOR_RGB | ((r & 0xff) << 16) | ((g & 0xff) << 8) | (b & 0xff);
}

/** Whether two renditions are equal. */
export function renditionsEqual(a: Rendition, b: Rendition): boolean {
  return a === b || (a.attrs === b.attrs && a.fg === b.fg && a.bg === b.bg);
}

function colorSgr(color: number, base: number): string {
  if (color & COLOR_RGB) {
    return `;${base + 8};2;${(color >> 16) & 0xff};${(color >> 8) & 0xff};${
      color & 0xff
    }`;
  }
  if (color & COLOR_PALETTE) {
    const n = color & 0xff;
    return n < 8 ? `;${base + n}` : `;${base + 8};5;${n}`;
  }
  return "";
}

/** Absolute SGR for a rendition in mosh's form (`ESC[0;1;...m`; faint as `;2`). */
export function sgrFor(r: Rendition): string {
  const a = r.attrs;
  let s = "\x1b[0";
  if (a & ATTR_BOLD) s += ";1";
  if (a & ATTR_FAINT) s += ";2";
  if (a & ATTR_ITALIC) s += ";3";
  if (a & ATTR_UNDERLINE) s += ";4";
  if (a & ATTR_BLINK) s += ";5";
  if (a & ATTR_INVERSE) s += ";7";
  if (a & ATTR_INVISIBLE) s += ";8";
  return s + colorSgr(r.fg, 30) + colorSgr(r.bg, 40) + "m";
}

const renditionCache = new Map<string, Rendition>();

/** A shared frozen rendition object for the given fields. */
export function makeRendition(
  attrs: number,
  fg: number,
  bg: number,
): Rendition {
  if (attrs === 0 && fg === 0 && bg === 0) return DEFAULT_RENDITION;
  const key = `${attrs},${fg},${bg}`;
  let r = renditionCache.get(key);
  if (r === undefined) {
    r = Object.freeze({ attrs, fg, bg });
    if (renditionCache.size > 4096) renditionCache.clear();
    renditionCache.set(key, r);
  }
  return r;
}

/** A row of `width` blank cells with background `bg` (mosh: Row(width, bg)). */
export function blankRow(width: number, bg = 0): Row {
  const cells = new Uint32Array(width * CELL_WORDS);
  const w0 = 1 << WIDTH_SHIFT;
  for (let i = 0; i < cells.length; i += CELL_WORDS) {
    cells[i] = w0;
    cells[i + 2] = bg;
  }
  return { width, wrap: false, cells, texts: undefined };
}

/** A blank framebuffer of the given size, all modes at their defaults. */
export function blankFramebuffer(width: number, height: number): Framebuffer {
  const w = Math.max(1, Math.floor(width) || 1);
  const h = Math.max(1, Math.floor(height) || 1);
  const row = blankRow(w);
  return {
    width: w,
    height: h,
    rows: new Array<Row>(h).fill(row),
    cursorRow: 0,
    cursorCol: 0,
    cursorVisible: true,
    cursorPendingWrap: false,
    rendition: DEFAULT_RENDITION,
    title: "",
    iconName: "",
    titleInitialized: false,
    clipboard: "",
    bellCount: 0,
    reverseVideo: false,
    bracketedPaste: false,
    mouseReporting: 0,
    focusEvents: false,
    mouseEncoding: 0,
    altScroll: false,
    appCursorKeys: false,
    appKeypad: false,
  };
}

/** Whether cell x of two equally wide rows is identical (content and rendition). */
export function cellsEqualAt(a: Row, b: Row, x: number): boolean {
  const i = x * CELL_WORDS;
  const ac = a.cells, bc = b.cells;
  const w0 = ac[i];
  if (w0 !== bc[i] || ac[i + 1] !== bc[i + 1] || ac[i + 2] !== bc[i + 2]) {
    return false;
  }
  return (w0 & TEXT_FLAG) === 0 || a.texts![x] === b.texts![x];
}

/** Whether two rows are identical (cells, texts, wrap flag). */
export function rowsEqual(a: Row, b: Row): boolean {
  if (a === b) return true;
  if (a.wrap !== b.wrap || a.width !== b.width) return false;
  const ac = a.cells, bc = b.cells;
  for (let i = ac.length - 1; i >= 0; i--) {
    if (ac[i] !== bc[i]) return false;
  }
  const at = a.texts, bt = b.texts;
  if (at === bt) return true;
  for (let x = 0; x < a.width; x++) {
    if ((ac[x * CELL_WORDS] & TEXT_FLAG) && at?.[x] !== bt?.[x]) return false;
  }
  return true;
}

/** Mosh's framebuffer equality: rows, title, clipboard, bell count and the displayed state. */
export function framebuffersEqual(a: Framebuffer, b: Framebuffer): boolean {
  if (a === b) return true;
  if (
    a.width !== b.width || a.height !== b.height ||
    a.cursorRow !== b.cursorRow ||
    a.cursorCol !== b.cursorCol || a.cursorVisible !== b.cursorVisible ||
    a.reverseVideo !== b.reverseVideo ||
    !renditionsEqual(a.rendition, b.rendition) ||
    a.bracketedPaste !== b.bracketedPaste ||
    a.mouseReporting !== b.mouseReporting ||
    a.focusEvents !== b.focusEvents || a.altScroll !== b.altScroll ||
    a.mouseEncoding !== b.mouseEncoding || a.bellCount !== b.bellCount ||
    a.title !== b.title || a.clipboard !== b.clipboard
  ) {
    return false;
  }
  const ar = a.rows, br = b.rows;
  if (ar === br) return true;
  for (let y = 0; y < ar.length; y++) {
    if (!rowsEqual(ar[y], br[y])) return false;
  }
  return true;
}

/** The content string of cell x ("" when blank or a wide continuation). */
export function cellText(row: Row, x: number): string {
  const w0 = row.cells[x * CELL_WORDS];
  if (w0 & TEXT_FLAG) return row.texts![x]!;
  const cp = w0 & CODE_MASK;
  return cp === 0 ? "" : String.fromCodePoint(cp);
}

/** Decode cell x of a row. */
export function rowCell(row: Row, x: number): Cell {
  const i = x * CELL_WORDS;
  const w0 = row.cells[i];
  return {
    text: cellText(row, x),
    width: ((w0 >>> WIDTH_SHIFT) & 3) as 0 | 1 | 2,
    rendition: makeRendition(
      (w0 >>> ATTRS_SHIFT) & 0x7f,
      row.cells[i + 1],
      row.cells[i + 2],
    ),
  };
}

/** Decode every cell of a row. */
export function rowCells(row: Row): Cell[] {
  const out: Cell[] = [];
  for (let x = 0; x < row.width; x++) out.push(rowCell(row, x));
  return out;
}

/** Decode the cell at (y, x) of a framebuffer. */
export function cellAt(fb: Framebuffer, y: number, x: number): Cell {
  return rowCell(fb.rows[y], x);
}

/** Whether a cell looks blank for prediction purposes: empty, " " or NBSP. */
export function cellIsBlank(cell: Cell): boolean {
  return cell.text === "" || cell.text === " " || cell.text === "\u00a0";
}

function encodeCell(
  cells: Uint32Array,
  x: number,
  cell: Cell,
): string | undefined {
  const i = x * CELL_WORDS;
  const r = cell.rendition;
  const text = cell.text;
  const cp = text === "" ? 0 : text.codePointAt(0)!;
  const single = text === "" || text.length === (cp > 0xffff ? 2 : 1);
  const width = text === "" && cell.width === 2 ? 1 : cell.width;
  const empty = text === "";
  cells[i] = (single ? cp : TEXT_FLAG) | (width << WIDTH_SHIFT) |
    ((empty ? 0 : r.attrs & 0x7f) << ATTRS_SHIFT);
  cells[i + 1] = empty ? 0 : r.fg;
  cells[i + 2] = r.bg;
  return single ? undefined : text;
}

/**
 * Build a row from decoded cells (a wide cell must be followed by a width-0
 * continuation cell). Blank cells keep only their background, as in mosh.
 */
export function rowFromCells(cells: readonly Cell[], wrap = false): Row {
  const data = new Uint32Array(cells.length * CELL_WORDS);
  let texts: (string | undefined)[] | undefined;
  for (let x = 0; x < cells.length; x++) {
    const t = encodeCell(data, x, cells[x]);
    if (t !== undefined) {
      texts ??= new Array<string | undefined>(cells.length);
      texts[x] = t;
    }
  }
  return { width: cells.length, wrap, cells: data, texts };
}

/** A copy of `row` with cell x replaced (the caller keeps wide pairs consistent). */
export function rowWithCell(row: Row, x: number, cell: Cell): Row {
  const data = row.cells.slice();
  let texts = row.texts === undefined ? undefined : row.texts.slice();
  const t = encodeCell(data, x, cell);
  if (t !== undefined) {
    texts ??= new Array<string | undefined>(row.width);
    texts[x] = t;
  } else if (texts !== undefined) {
    texts[x] = undefined;
  }
  return { width: row.width, wrap: row.wrap, cells: data, texts };
}

/** A copy of `row` with its wrap flag set to `wrap`. */
export function rowWithWrap(row: Row, wrap: boolean): Row {
  return row.wrap === wrap ? row : { ...row, wrap };
}

/** A copy of `fb` with row y replaced. */
export function withRow(fb: Framebuffer, y: number, row: Row): Framebuffer {
  const rows = fb.rows.slice();
  rows[y] = row;
  return { ...fb, rows };
}

/**
 * The part of `fb` a terminal of `size` can show: its top `rows` rows and
 * left `cols` columns (a wide character cut in half becomes a blank), cursor
 * clamped; `fb` itself when it fits.
 */
export function clipFramebuffer(
  fb: Framebuffer,
  size: { cols: number; rows: number },
): Framebuffer {
  const w = Math.max(1, Math.min(fb.width, size.cols));
  const h = Math.max(1, Math.min(fb.height, size.rows));
  if (w === fb.width && h === fb.height) return fb;
  const rows = fb.rows.slice(0, h).map((row) => clipRow(row, w));
  return {
    ...fb,
    width: w,
    height: h,
    rows,
    cursorRow: Math.min(fb.cursorRow, h - 1),
    cursorCol: Math.min(fb.cursorCol, w - 1),
    cursorPendingWrap: fb.cursorPendingWrap && fb.cursorCol < w,
  };
}

/** The left `width` columns of `row`. */
function clipRow(row: Row, width: number): Row {
  if (row.width <= width) return row;
  const cells = row.cells.slice(0, width * CELL_WORDS);
  const last = (width - 1) * CELL_WORDS;
  if (((cells[last] >>> WIDTH_SHIFT) & 3) === 2) {
    cells[last] = 1 << WIDTH_SHIFT;
    cells[last + 1] = 0;
  }
  const texts = row.texts?.slice(0, width);
  return { width, wrap: false, cells, texts };
}
