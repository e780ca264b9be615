/**
 * How one keystroke edits the predicted slots of a row (mosh:
 * PredictionEngine::new_user_byte, newline_carriage_return): typing inserts
 * (or overwrites), backspace pulls the rest of the row left (or blanks one
 * cell), and a CR/LF on the bottom row predicts a blank row.
 * @module
 */

import {
  type Cell,
  cellAt,
  type Framebuffer,
} from "../../protocol/terminal/framebuffer.ts";
import type { OverlayCell, OverlayRow } from "./overlay.ts";

/** Makes a slot part of the current keystroke's prediction (epoch, expiry, time). */
export type ArmSlot = (cell: OverlayCell) => void;

/** Options of `predictErase` and `predictInsert`. */
export interface EditOptions {
  /** Column of the predicted cursor (after moving left, for an erase). */
  col: number;
  /** Overwrite mode (mosh: predict_overwrite). */
  overwrite: boolean;
  /** Arms every slot that changes. */
  arm: ArmSlot;
}

/** Give `cell` the content of `from`: its prediction when active, else the server's cell. */
function copySlot(cell: OverlayCell, from: OverlayCell, real: Cell): void {
  if (from.active && from.unknown) {
    cell.unknown = true;
  } else {
    cell.unknown = false;
    cell.replacement = from.active ? from.replacement : real;
  }
}

/** Start a fresh prediction in `cell`, remembering what it held before. */
function rearm(cell: OverlayCell, original: Cell, arm: ArmSlot): void {
  cell.resetWithOrig();
  arm(cell);
  cell.addOriginal(original);
}

/** Predict a backspace that moved the cursor to `options.col`. */
export function predictErase(
  row: OverlayRow,
  fb: Framebuffer,
  options: EditOptions,
): void {
  const { col, arm } = options;
  const width = fb.width;
  if (options.overwrite) {
    const cell = row.cells[col];
    // Mosh takes the cell under the server's cursor here, not the predicted one.
    const orig = cellAt(fb, fb.cursorRow, Math.min(fb.cursorCol, width - 1));
    rearm(cell, orig, arm);
    cell.replacement = { text: " ", width: 1, rendition: orig.rendition };
    return;
  }
  for (let i = col; i < width; i++) {
    const cell = row.cells[i];
    rearm(cell, cellAt(fb, row.rowNum, i), arm);
    if (i + 2 < width) {
      copySlot(cell, row.cells[i + 1], cellAt(fb, row.rowNum, i + 1));
    } else {
      cell.unknown = true;
    }
  }
}

/** Predict typing `ch` at `options.col`; returns the slot that shows it. */
export function predictInsert(
  row: OverlayRow,
  fb: Framebuffer,
  options: EditOptions & { ch: number },
): OverlayCell {
  const { col, arm } = options;
  const width = fb.width;
  const rightmost = options.overwrite ? col : width - 1;
  for (let i = rightmost; i > col; i--) {
    const cell = row.cells[i];
    rearm(cell, cellAt(fb, row.rowNum, i), arm);
    if (i === width - 1) cell.unknown = true;
    else copySlot(cell, row.cells[i - 1], cellAt(fb, row.rowNum, i - 1));
  }
  const cell = row.cells[col];
  const original = cellAt(fb, row.rowNum, col);
  cell.resetWithOrig();
  arm(cell);
  // Take the renditions of the character to the left.
  let rendition = fb.rendition;
  if (col > 0) {
    const prev = row.cells[col - 1];
    rendition = prev.active && !prev.unknown
      ? prev.replacement.rendition
      : cellAt(fb, row.rowNum, col - 1).rendition;
  }
  cell.replacement = {
    text: String.fromCodePoint(options.ch),
    width: 1,
    rendition,
  };
  cell.addOriginal(original);
  return cell;
}

/** Predict a blank bottom row after a CR/LF there (scrolls are not predicted). */
export function predictBlankRow(row: OverlayRow, arm: ArmSlot): void {
  for (const cell of row.cells) {
    arm(cell);
    const r = cell.replacement.rendition;
    cell.replacement = { text: "", width: 1, rendition: r };
  }
}
