/**
 * Mosh's printing rules applied to an xterm.js buffer, replacing xterm's
 * own `print`: glibc widths, unprintables dropped, mosh's autowrap and wrap
 * flag, wide characters at the margin, and combining marks attached to
 * mosh's target cell (NBSP + mark on an empty cell, at most 32 bytes a cell).
 * Printing resets only the cell(s) it writes (a wide character's other half
 * is left alone: see emulator_functions.ts for how hidden halves are kept);
 * there are no character sets (mosh has none).
 * @module
 */

import { CELL_WORDS, WIDTH_SHIFT } from "./framebuffer.ts";
import { cpWidth } from "./wcwidth.ts";
import {
  MoshFunctions,
  normalizeLine,
  resetCell,
} from "./emulator_functions.ts";
import {
  WRAP_BIT,
  X_BG_HAS_EXTENDED,
  X_COMBINED,
  X_NARROW,
  X_WIDTH_SHIFT,
  type XHandler,
  type XLine,
} from "./xterm_internals.ts";

/** Most bytes of content mosh keeps in one cell (mosh: Cell::full). */
const CELL_MAX_BYTES = 32;

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Prints characters into an xterm.js terminal as mosh 1.4 does. */
export class MoshPrinter {
  #ih: XHandler;
  #f: MoshFunctions;

  /** Print through the given xterm InputHandler's buffers and state, with mosh's functions. */
  constructor(ih: XHandler, functions: MoshFunctions) {
    this.#ih = ih;
    this.#f = functions;
  }

  /** After a reset, resize or load: the combining target is the cursor's cell. */
  forget(): void {
    this.#f.follow();
  }

  /** Blank cell `x` of `line` with the current erase attribute. */
  erase(line: XLine, x: number): void {
    line.setCellFromCodepoint(x, 0, 1, this.#ih._eraseAttrData());
  }

  /** Print code points `data[start..end)` (xterm's InputHandler.print signature). */
  print(data: Uint32Array, start: number, end: number): void {
    const ih = this.#ih, buf = ih._activeBuffer, cols = ih._bufferService.cols;
    const f = this.#f;
    for (let i = start; i < end; i++) {
      const code = data[i];
      if (code <= 0xff && buf.x < cols - 1 && !f.wrapHeld) {
        // The usual case, a run of narrow characters that cannot wrap: each
        // replaces a narrow cell, so nothing else on the row changes.
        const j = this.#printNarrowRun(data, i, end);
        if (j > i) {
          i = j - 1;
          continue;
        }
      }
      const width = code <= 0xff ? 1 : cpWidth(code);
      if (width === 3) continue; // unprintable: mosh drops it
      if (width === 0) {
        this.#combine(code);
        continue;
      }
      const autowrap = ih._coreService.decPrivateModes.wraparound;
      if (buf.x >= cols || f.wrapHeld) {
        if (autowrap) {
          const line = f.line(buf.y), li = (cols - 1) * CELL_WORDS + 2;
          line._data[li] = (line._data[li] | WRAP_BIT) >>> 0;
          f.moveCol(0, false);
          f.moveRowsAutoscroll(1);
        } else {
          buf.x = Math.min(buf.x, cols - 1);
        }
      } else if (autowrap && width === 2 && buf.x === cols - 1) {
        // mosh resets the last cell (dropping the row's wrap flag) and wraps.
        const line = f.line(buf.y);
        resetCell(line, cols - 1, ih._eraseAttrData());
        normalizeLine(line, cols);
        f.moveCol(0, false);
        f.moveRowsAutoscroll(1);
      }
      const x = buf.x;
      if (ih._coreService.modes.insertMode) f.insertCells(width);
      const line = f.line(buf.y);
      line.setCellFromCodepoint(x, code, width, ih._curAttrData);
      delete line._combined[x];
      // Without autowrap a wide character may sit in the last column (shown blank).
      if (width === 2 && x + 1 < cols) {
        resetCell(line, x + 1, ih._eraseAttrData());
      }
      normalizeLine(line, cols, { from: x, to: x + width });
      f.targetY = buf.y;
      f.targetX = x;
      buf.x = Math.min(x + width, cols);
      f.wrapHeld = false;
      f.snapRow();
    }
  }

  /**
   * Prints the characters of `data[start..end)` up to the first one that is
   * not Latin-1, would reach the last column, or would replace a wide cell
   * (what print() does with them, without its per-character checks); returns
   * the index of the first one not printed.
   */
  #printNarrowRun(data: Uint32Array, start: number, end: number): number {
    const ih = this.#ih, buf = ih._activeBuffer, f = this.#f;
    const attr = ih._curAttrData, limit = ih._bufferService.cols - 1;
    if (
      ih._coreService.modes.insertMode || (attr.bg & X_BG_HAS_EXTENDED) !== 0
    ) {
      return start;
    }
    const y = buf.y, line = f.line(y), d = line._data;
    const fg = attr.fg, bg = attr.bg;
    let x = buf.x, i = start;
    if (x > 0 && ((d[(x - 1) * 3] >>> X_WIDTH_SHIFT) & 3) === 2) return start;
    // mosh snaps the row after each character: when that moves the cursor
    // (outside the region in origin mode), the run ends after one.
    const stop = f.rowInBorders ? end : start + 1;
    while (i < stop && x < limit) {
      const code = data[i];
      const k = x * 3, old = d[k];
      if (code > 0xff || ((old >>> X_WIDTH_SHIFT) & 3) !== 1) break;
      if ((old & X_COMBINED) !== 0) delete line._combined[x];
      d[k] = (code | X_NARROW) >>> 0;
      d[k + 1] = fg;
      d[k + 2] = bg;
      x++;
      i++;
    }
    if (i > start) {
      f.targetY = buf.y;
      f.targetX = x - 1;
      buf.x = x;
      f.wrapHeld = false;
      f.snapRow();
    }
    return i;
  }

  /** Attach a width-0 character to mosh's combining target cell. */
  #combine(code: number): void {
    const ih = this.#ih, buf = ih._activeBuffer, f = this.#f;
    const cols = ih._bufferService.cols, rows = ih._bufferService.rows;
    const ty = f.targetY, tx = f.targetX;
    if (ty >= rows || tx >= cols) return; // off screen after a resize
    const target = f.line(ty);
    if (!target.hasContent(tx)) {
      // mosh: a mark on an empty cell makes a "fallback" cell (NBSP + mark here) and advances.
      const w = target._data[tx * CELL_WORDS] >>> WIDTH_SHIFT & 3;
      target._data[tx * CELL_WORDS] = 0xa0 | (w << WIDTH_SHIFT);
      target.addCodepointToCell(tx, code, 0);
      f.follow();
      buf.x = Math.min(f.col() + 1, cols);
      f.wrapHeld = false;
      f.snapRow();
      return;
    }
    if (utf8Length(target.getString(tx)) < CELL_MAX_BYTES) {
      target.addCodepointToCell(tx, code, 0);
    }
  }
}
