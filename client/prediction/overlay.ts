/**
 * The pieces a prediction is made of (mosh: terminaloverlay.h,
 * ConditionalOverlay, ConditionalOverlayCell, ConditionalCursorMove,
 * ConditionalOverlayRow): predicted cells and cursor moves, how each is
 * judged against the server's framebuffer, and how shown ones are drawn.
 * @module
 */

import {
  ATTR_UNDERLINE,
  type Cell,
  cellAt,
  cellIsBlank,
  DEFAULT_RENDITION,
  type Framebuffer,
  makeRendition,
  renditionsEqual,
  type Row,
  rowCell,
  rowCells,
  rowFromCells,
} from "../../protocol/terminal/framebuffer.ts";

/** Outcome of judging one prediction (mosh: Validity). */
export type Validity =
  | "pending"
  | "correct"
  | "correctNoCredit"
  | "incorrect"
  | "inactive";

/** Most original contents one slot remembers (tmosh bound; mosh keeps all). */
const ORIGINALS_MAX = 64;

/** A blank cell with the default rendition (mosh: Cell(0)). */
export const BLANK_CELL: Cell = Object.freeze({
  text: "",
  width: 1,
  rendition: DEFAULT_RENDITION,
});

/** One predicted cell: the slot of a row at one column (mosh: ConditionalOverlayCell). */
export class OverlayCell {
  /** Column of the slot. */
  readonly col: number;
  /** The slot holds a prediction at all. */
  active = false;
  /** Judged once the server's echo ack reaches this client state number. */
  expirationFrame = 0;
  /** Shown only once the confirmed epoch reaches this. */
  tentativeUntilEpoch: number;
  /** When the prediction was made, ms. */
  predictionTime = Infinity;
  /** What the slot is predicted to show. */
  replacement: Cell = BLANK_CELL;
  /** The content is unknown (shifted off or in from the row's end). */
  unknown = false;
  /** Contents that earn no credit when they turn out right. */
  originals: Cell[] = [];
  /** Screen context of the epoch that made it (first-key policy), if any. */
  context: string | undefined = undefined;

  constructor(col: number, tentativeUntilEpoch: number) {
    this.col = col;
    this.tentativeUntilEpoch = tentativeUntilEpoch;
  }

  /** Whether the slot is still waiting for its epoch to be confirmed. */
  tentative(confirmedEpoch: number): boolean {
    return this.tentativeUntilEpoch > confirmedEpoch;
  }

  /** Drop the prediction and its history. */
  reset(): void {
    this.unknown = false;
    this.originals = [];
    this.context = undefined;
    this.expirationFrame = this.tentativeUntilEpoch = Infinity;
    this.active = false;
  }

  /** Drop the prediction, remembering its content as an original. */
  resetWithOrig(): void {
    if (!this.active || this.unknown) {
      this.reset();
      return;
    }
    this.addOriginal(this.replacement);
    this.expirationFrame = this.tentativeUntilEpoch = Infinity;
    this.active = false;
  }

  /** Remember `cell` as content that earns no credit. */
  addOriginal(cell: Cell): void {
    if (this.originals.length >= ORIGINALS_MAX) this.originals.shift();
    this.originals.push(cell);
  }

  /** Make the slot a fresh prediction of `epoch`, judged at `frame`. */
  arm(epoch: number, frame: number, now: number): void {
    this.active = true;
    this.tentativeUntilEpoch = epoch;
    this.expirationFrame = frame;
    this.predictionTime = now;
  }
}

/** A predicted cursor position (mosh: ConditionalCursorMove). */
export class CursorMove {
  /** Predicted row. */
  row: number;
  /** Predicted column. */
  col: number;
  /** Judged once the server's echo ack reaches this client state number. */
  expirationFrame: number;
  /** Shown only once the confirmed epoch reaches this. */
  readonly tentativeUntilEpoch: number;

  constructor(at: { row: number; col: number; frame: number; epoch: number }) {
    this.row = at.row;
    this.col = at.col;
    this.expirationFrame = at.frame;
    this.tentativeUntilEpoch = at.epoch;
  }

  /** Whether the move is still waiting for its epoch to be confirmed. */
  tentative(confirmedEpoch: number): boolean {
    return this.tentativeUntilEpoch > confirmedEpoch;
  }
}

/** The predicted slots of one screen row (mosh: ConditionalOverlayRow). */
export interface OverlayRow {
  /** Row index on the screen. */
  readonly rowNum: number;
  /** One slot per column. */
  readonly cells: OverlayCell[];
}

/** A row of fresh inactive slots for `width` columns. */
export function makeOverlayRow(
  rowNum: number,
  options: { width: number; epoch: number },
): OverlayRow {
  const cells: OverlayCell[] = [];
  for (let x = 0; x < options.width; x++) {
    cells.push(new OverlayCell(x, options.epoch));
  }
  return { rowNum, cells };
}

/** Whether two cells hold the same text, where all blanks are alike (mosh: contents_match). */
export function contentsMatch(a: Cell, b: Cell): boolean {
  return (cellIsBlank(a) && cellIsBlank(b)) || a.text === b.text;
}

/** Whether two cells would be stored identically (blank cells keep only the background). */
export function cellsEqual(a: Cell, b: Cell): boolean {
  if (a.text !== b.text || a.width !== b.width) return false;
  if (a.text === "") return a.rendition.bg === b.rendition.bg;
  return renditionsEqual(a.rendition, b.rendition);
}

/** Judge a cell prediction on `row` against the server's frame (mosh: ConditionalOverlayCell::get_validity). */
export function cellValidity(
  cell: OverlayCell,
  fb: Framebuffer,
  options: { row: number; lateAck: number },
): Validity {
  if (!cell.active) return "inactive";
  if (options.row >= fb.height || cell.col >= fb.width) return "incorrect";
  if (options.lateAck < cell.expirationFrame) return "pending";
  if (cell.unknown || cellIsBlank(cell.replacement)) return "correctNoCredit";
  const current = cellAt(fb, options.row, cell.col);
  if (!contentsMatch(current, cell.replacement)) return "incorrect";
  for (const orig of cell.originals) {
    if (contentsMatch(orig, cell.replacement)) return "correctNoCredit";
  }
  return "correct";
}

/** Judge a cursor prediction against the server's frame (mosh: ConditionalCursorMove::get_validity). */
export function cursorValidity(
  move: CursorMove,
  fb: Framebuffer,
  options: { lateAck: number },
): Validity {
  if (move.row >= fb.height || move.col >= fb.width) return "incorrect";
  if (options.lateAck < move.expirationFrame) return "pending";
  return fb.cursorRow === move.row && fb.cursorCol === move.col
    ? "correct"
    : "incorrect";
}

function underlined(cell: Cell): Cell {
  const r = cell.rendition;
  return {
    // A blank stored as "" loses its attributes: draw a space instead.
    text: cell.text === "" ? " " : cell.text,
    width: cell.width === 0 ? 1 : cell.width,
    rendition: makeRendition(r.attrs | ATTR_UNDERLINE, r.fg, r.bg),
  };
}

/** Break wide pairs that the overlay split, as a terminal would: orphans become blanks. */
function mendWidePairs(cells: Cell[]): void {
  const last = cells.length - 1;
  for (let x = 0; x <= last; x++) {
    const c = cells[x];
    const orphanTail = c.width === 0 && (x === 0 || cells[x - 1].width !== 2);
    const orphanHead = c.width === 2 &&
      (x === last || cells[x + 1].width !== 0);
    if (orphanTail || orphanHead) {
      cells[x] = {
        text: " ",
        width: 1,
        rendition: makeRendition(0, 0, c.rendition.bg),
      };
    }
  }
}

/**
 * Draw the shown slots of `overlay` onto `row` (mosh: ConditionalOverlayRow::apply):
 * the row itself when nothing changes, otherwise a new row.
 */
export function applyOverlayRow(
  row: Row,
  overlay: OverlayRow,
  options: { confirmedEpoch: number; flag: boolean },
): Row {
  let cells: Cell[] | undefined;
  const width = row.width;
  for (const slot of overlay.cells) {
    if (!slot.active || slot.col >= width) continue;
    if (slot.tentative(options.confirmedEpoch)) continue;
    const real = cells ? cells[slot.col] : rowCell(row, slot.col);
    let flag = options.flag;
    if (cellIsBlank(slot.replacement) && cellIsBlank(real)) flag = false;
    if (slot.unknown) {
      if (flag && slot.col !== width - 1) {
        cells ??= rowCells(row);
        cells[slot.col] = underlined(real);
      }
      continue;
    }
    if (!cellsEqual(real, slot.replacement)) {
      cells ??= rowCells(row);
      cells[slot.col] = flag ? underlined(slot.replacement) : slot.replacement;
    }
  }
  if (cells === undefined) return row;
  mendWidePairs(cells);
  return rowFromCells(cells, row.wrap);
}
