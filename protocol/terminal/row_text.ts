/**
 * A framebuffer row as self-contained text with SGR renditions: what the
 * server logs for a row that scrolled off the top of its screen, for the
 * client to write into the user's own terminal scrollback.
 * @module
 */

import {
  ATTRS_SHIFT,
  CELL_WORDS,
  cellText,
  CODE_MASK,
  DEFAULT_RENDITION,
  makeRendition,
  type Rendition,
  renditionsEqual,
  type Row,
  sgrFor,
  TEXT_FLAG,
  WIDTH_SHIFT,
} from "./framebuffer.ts";

/** A row's text (starting from the default rendition) and the columns it covers. */
export interface RowText {
  /** Printable text with absolute SGRs; ends with `ESC[0m` when it set any rendition. */
  readonly text: string;
  /** Columns covered: the row's width if it wraps, else up to its last visible cell. */
  readonly cols: number;
}

/** The cell's width: 2 for a wide character, 0 for its continuation, else 1. */
function cellWidth(row: Row, x: number): number {
  return (row.cells[x * CELL_WORDS] >>> WIDTH_SHIFT) & 3;
}

/** Whether the cell holds no character. */
function isBlank(row: Row, x: number): boolean {
  return (row.cells[x * CELL_WORDS] & (CODE_MASK | TEXT_FLAG)) === 0;
}

/** Whether the cell shows nothing: blank or a space, no attributes, default background. */
function isInvisible(row: Row, x: number): boolean {
  const i = x * CELL_WORDS, w0 = row.cells[i];
  const content = w0 & (CODE_MASK | TEXT_FLAG);
  return (content === 0 || content === 0x20) &&
    ((w0 >>> ATTRS_SHIFT) & 0x7f) === 0 &&
    row.cells[i + 2] === 0;
}

/**
 * The columns covered: all of a wrapped row (its trailing blanks belong to the
 * logical line), else up to the last cell that shows something.
 */
function coveredColumns(row: Row): number {
  if (row.wrap) return row.width;
  let end = 0;
  for (let x = 0; x < row.width; x++) {
    const width = cellWidth(row, x);
    if (width !== 0 && !isInvisible(row, x)) {
      end = Math.min(row.width, x + width);
    }
  }
  return end;
}

/** The rendition of cell x (blank cells carry only their background). */
function cellRendition(row: Row, x: number): Rendition {
  const i = x * CELL_WORDS;
  return makeRendition(
    (row.cells[i] >>> ATTRS_SHIFT) & 0x7f,
    row.cells[i + 1],
    row.cells[i + 2],
  );
}

/**
 * Renders a row as text with SGR renditions from the default one: blank cells
 * as spaces, wide continuations skipped; on a row that does not wrap, trailing
 * blanks and spaces of default rendition are left out.
 */
export function rowText(row: Row): RowText {
  const cols = coveredColumns(row);
  let text = "", current = DEFAULT_RENDITION, styled = false;
  for (let x = 0; x < cols; x++) {
    if (cellWidth(row, x) === 0) continue;
    const rendition = cellRendition(row, x);
    if (!renditionsEqual(rendition, current)) {
      text += sgrFor(rendition);
      current = rendition;
      styled = true;
    }
    text += isBlank(row, x) ? " " : cellText(row, x);
  }
  return { text: styled ? text + "\x1b[0m" : text, cols };
}
