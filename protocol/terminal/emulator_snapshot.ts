/**
 * Conversion between xterm.js buffer lines and immutable framebuffer rows:
 * snapshotting lines into normalized `Row`s (with a cache that shares
 * unchanged rows), writing rows back into lines, and rendition conversion.
 * @module
 */

import {
  ATTR_BLINK,
  ATTR_BOLD,
  ATTR_FAINT,
  ATTR_INVERSE,
  ATTR_INVISIBLE,
  ATTR_ITALIC,
  ATTR_UNDERLINE,
  ATTRS_SHIFT,
  blankRow,
  CELL_WORDS,
  CODE_MASK,
  COLOR_PALETTE,
  COLOR_RGB,
  type Framebuffer,
  makeRendition,
  type Rendition,
  type Row,
  TEXT_FLAG,
  WIDTH_SHIFT,
} from "./framebuffer.ts";
import {
  WRAP_BIT,
  X_BG_DIM as BG_DIM,
  X_BG_ITALIC as BG_ITALIC,
  X_CM_MASK as CM_MASK,
  X_CM_P16 as CM_P16,
  X_CM_P256 as CM_P256,
  X_CM_RGB as CM_RGB,
  X_CODEPOINT,
  X_COLOR_BITS as COLOR_BITS,
  X_COMBINED,
  X_CONTENT,
  X_FG_BLINK as FG_BLINK,
  X_FG_BOLD as FG_BOLD,
  X_FG_INVERSE as FG_INVERSE,
  X_FG_INVISIBLE as FG_INVISIBLE,
  X_FG_UNDERLINE as FG_UNDERLINE,
  X_NARROW,
  type XAttr,
  type XBuffer,
  type XLine,
} from "./xterm_internals.ts";

function colorFromX(v: number): number {
  const mode = v & CM_MASK;
  if (mode === 0) return 0;
  return mode === CM_RGB
    ? COLOR_RGB | (v & COLOR_BITS)
    : COLOR_PALETTE | (v & 0xff);
}

function colorToX(c: number): number {
  if (c & COLOR_RGB) return CM_RGB | (c & COLOR_BITS);
  if (c & COLOR_PALETTE) {
    return ((c & 0xff) < 16 ? CM_P16 : CM_P256) | (c & 0xff);
  }
  return 0;
}

function attrsFromX(fg: number, bg: number): number {
  return (fg & FG_BOLD ? ATTR_BOLD : 0) | (bg & BG_DIM ? ATTR_FAINT : 0) |
    (bg & BG_ITALIC ? ATTR_ITALIC : 0) |
    (fg & FG_UNDERLINE ? ATTR_UNDERLINE : 0) |
    (fg & FG_BLINK ? ATTR_BLINK : 0) | (fg & FG_INVERSE ? ATTR_INVERSE : 0) |
    (fg & FG_INVISIBLE ? ATTR_INVISIBLE : 0);
}

/** The framebuffer rendition of an xterm attribute. */
export function renditionFromX(a: XAttr): Rendition {
  return makeRendition(
    attrsFromX(a.fg, a.bg),
    colorFromX(a.fg),
    colorFromX(a.bg),
  );
}

/** The xterm attribute of a framebuffer rendition. */
export function renditionToX(r: Rendition): XAttr {
  const a = r.attrs;
  const fg = colorToX(r.fg) | (a & ATTR_BOLD ? FG_BOLD : 0) |
    (a & ATTR_UNDERLINE ? FG_UNDERLINE : 0) |
    (a & ATTR_BLINK ? FG_BLINK : 0) | (a & ATTR_INVERSE ? FG_INVERSE : 0) |
    (a & ATTR_INVISIBLE ? FG_INVISIBLE : 0);
  const bg = colorToX(r.bg) | (a & ATTR_ITALIC ? BG_ITALIC : 0) |
    (a & ATTR_FAINT ? BG_DIM : 0);
  return { fg: fg >>> 0, bg: bg >>> 0, extended: undefined };
}

/** Convert one xterm line into an immutable, normalized row (into `cells`, zeroed, when given). */
function rowFromLine(
  line: XLine,
  cols: number,
  options: { isBottom: boolean; cells?: Uint32Array },
): Row {
  const d = line._data, isBottom = options.isBottom;
  const cells = options.cells ?? new Uint32Array(cols * CELL_WORDS);
  let texts: (string | undefined)[] | undefined;
  for (let x = 0, i = 0; x < cols; x++, i += 3) {
    const content = d[i], fg = d[i + 1], bg = d[i + 2];
    let width = (content >>> 22) & 3;
    let empty = (content & X_CONTENT) === 0;
    if (width === 2 && (x + 1 >= cols || ((d[i + 3] >>> 22) & 3) !== 0)) {
      empty = true;
    }
    if (width === 0) {
      // After a wide character: its continuation (whatever mosh keeps hidden there is not shown).
      empty = true;
      if (x === 0 || ((d[i - 3] >>> 22) & 3) !== 2) width = 1;
    }
    if (empty) {
      // A continuation carries its wide cell's background, as a diff recreates it.
      cells[i] = (width === 0 ? 0 : 1) << WIDTH_SHIFT;
      cells[i + 2] = colorFromX(width === 0 ? d[i - 1] : bg);
      continue;
    }
    let w0 = (width << WIDTH_SHIFT) | (attrsFromX(fg, bg) << ATTRS_SHIFT);
    if (content & X_COMBINED) {
      texts ??= new Array<string | undefined>(cols);
      texts[x] = line._combined[x] ?? "";
      w0 |= TEXT_FLAG;
    } else {
      w0 |= content & CODE_MASK;
    }
    cells[i] = w0;
    cells[i + 1] = colorFromX(fg);
    cells[i + 2] = colorFromX(bg);
  }
  const last = (cols - 1) * CELL_WORDS;
  // mosh keeps the flag until the last cell itself is reset, even once that
  // cell is blank; a diff can only convey it by writing a space there, so a
  // blank last cell of a wrapped row is held as a space (what any client holds).
  const wrap = !isBottom && (d[last + 2] & WRAP_BIT) !== 0;
  if (wrap && (cells[last] & (CODE_MASK | TEXT_FLAG)) === 0) {
    const w = cells[last] >>> WIDTH_SHIFT & 3;
    if (w !== 0) cells[last] = 0x20 | (1 << WIDTH_SHIFT);
  }
  return { width: cols, wrap, cells, texts };
}

/** Make an xterm line hold exactly `row` (up to `cols` cells), wrap flag included. */
export function loadRow(
  line: XLine,
  row: Row,
  options: { cols: number },
): void {
  const { cols } = options, d = line._data;
  line._combined = {};
  line._extendedAttrs = {};
  line.isWrapped = false;
  const n = Math.min(cols, row.width);
  for (let x = 0, i = 0; x < n; x++, i += 3) {
    const w0 = row.cells[i];
    const a = renditionToX(
      makeRendition(
        (w0 >>> ATTRS_SHIFT) & 0x7f,
        row.cells[i + 1],
        row.cells[i + 2],
      ),
    );
    d[i] = (w0 & TEXT_FLAG ? X_COMBINED : w0 & CODE_MASK) |
      ((w0 >>> WIDTH_SHIFT) & 3) << 22;
    d[i + 1] = a.fg;
    d[i + 2] = a.bg;
    if (w0 & TEXT_FLAG) line._combined[x] = row.texts![x]!;
  }
  if (row.wrap && n === cols) {
    d[(cols - 1) * 3 + 2] = (d[(cols - 1) * 3 + 2] | WRAP_BIT) >>> 0;
  }
}

/**
 * A line of only narrow characters in the default rendition (no colour,
 * attribute or combining mark) as row_text.ts renders its row: blank cells
 * as spaces, trailing ones left out unless the row wraps; undefined for any
 * other line. The quick way for the rows a flood scrolls off.
 */
export function plainLineText(
  line: XLine | undefined,
  cols: number,
): { kind: "line"; text: string; cols: number; wrap: boolean } | undefined {
  if (line === undefined || line.length < cols) return undefined;
  const d = line._data;
  let end = 0, astral = false;
  for (let x = 0, i = 0; x < cols; x++, i += 3) {
    const content = d[i];
    if (
      d[i + 1] !== 0 || (d[i + 2] & ~WRAP_BIT) !== 0 ||
      (content & ~X_CODEPOINT) !== X_NARROW
    ) return undefined;
    const cp = content & X_CODEPOINT;
    if (cp !== 0 && cp !== 0x20) {
      end = x + 1;
      if (cp > 0xffff) astral = true;
    }
  }
  const wrap = (d[(cols - 1) * 3 + 2] & WRAP_BIT) !== 0;
  const n = wrap ? cols : end;
  // One string from the code points (a concatenation per cell is slower).
  const codes = new Array<number>(n);
  for (let x = 0; x < n; x++) {
    const cp = d[x * 3] & X_CODEPOINT;
    codes[x] = cp === 0 ? 0x20 : cp;
  }
  const text = astral
    ? String.fromCodePoint.apply(null, codes)
    : String.fromCharCode.apply(null, codes);
  return { kind: "line", text, cols: n, wrap };
}

interface CachedRow {
  raw: Uint32Array;
  combined: Record<number, string>;
  row: Row;
  isBottom: boolean;
}

function sameRaw(c: CachedRow, line: XLine, cols: number): boolean {
  const a = c.raw, d = line._data;
  for (let i = cols * 3 - 1; i >= 0; i--) {
    if (a[i] !== d[i]) return false;
  }
  for (let x = 0; x < cols; x++) {
    if ((d[x * 3] & X_COMBINED) && line._combined[x] !== c.combined[x]) {
      return false;
    }
  }
  return true;
}

/** Snapshots an xterm buffer's screen as rows, reusing the rows of unchanged lines. */
export class RowSnapshotter {
  #cache = new WeakMap<XLine, CachedRow>();

  /** The screen's rows; `prev.rows` itself when every row is unchanged from `prev`. */
  rows(
    buf: XBuffer,
    options: { cols: number; rows: number; prev: Framebuffer | undefined },
  ): readonly Row[] {
    const { cols, rows: rowsN, prev } = options;
    const rows: Row[] = new Array(rowsN);
    let same = prev !== undefined && prev.width === cols &&
      prev.height === rowsN;
    for (let y = 0; y < rowsN; y++) {
      const line = buf.lines.get(buf.ybase + y);
      const isBottom = y === rowsN - 1;
      if (line === undefined || line.length < cols) {
        rows[y] = blankRow(cols); // cannot happen without reflow; never throw here
        same = false;
        continue;
      }
      let row = this.#cached(line, cols, isBottom);
      if (row === undefined) {
        row = rowFromLine(line, cols, { isBottom });
        this.#cache.set(line, {
          raw: line._data.slice(0, cols * 3),
          combined: { ...line._combined },
          row,
          isBottom,
        });
      }
      rows[y] = row;
      if (same && prev!.rows[y] !== row) same = false;
    }
    return same ? prev!.rows : rows;
  }

  /**
   * The row of a line that is not the screen's bottom row (one leaving the
   * top, for the scroll records): the cached row when the line is unchanged
   * since the last snapshot, else a fresh conversion (not cached) whose
   * cells come from `alloc` (zeroed words) when given.
   */
  row(
    line: XLine | undefined,
    options: { cols: number; alloc?: (words: number) => Uint32Array },
  ): Row {
    const { cols, alloc } = options;
    if (line === undefined || line.length < cols) return blankRow(cols);
    return this.#cached(line, cols, false) ??
      rowFromLine(line, cols, {
        isBottom: false,
        cells: alloc?.(cols * CELL_WORDS),
      });
  }

  #cached(line: XLine, cols: number, isBottom: boolean): Row | undefined {
    const c = this.#cache.get(line);
    return c && c.isBottom === isBottom && c.row.width === cols &&
        sameRaw(c, line, cols)
      ? c.row
      : undefined;
  }
}
