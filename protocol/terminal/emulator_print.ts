/**
 * Mosh's printing rules applied to an xterm.js buffer, replacing xterm's
 * own `print`: glibc widths, unprintables dropped, mosh's autowrap and wrap
 * flag, wide characters at the margin, and combining marks attached to
 * mosh's target cell (NBSP + mark on an empty cell, at most 32 bytes a cell).
 * @module
 */

import { CELL_WORDS, WIDTH_SHIFT } from "./framebuffer.ts";
import { cpWidth } from "./wcwidth.ts";
import {
  WRAP_BIT,
  type XBuffer,
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
  #lastLine: XLine | undefined;
  #lastX = 0;
  #afterX = -1;
  #afterY = -1;
  #afterBuffer: XBuffer | undefined;

  /** Print through the given xterm InputHandler's buffers and state. */
  constructor(ih: XHandler) {
    this.#ih = ih;
  }

  /** Forget the last printed cell (after a reset, resize or load), so no mark combines with it. */
  forget(): void {
    this.#lastLine = undefined;
  }

  /** Blank cell `x` of `line` with the current erase attribute. */
  erase(line: XLine, x: number): void {
    line.setCellFromCodepoint(x, 0, 1, this.#ih._eraseAttrData());
  }

  #line(): XLine {
    const buf = this.#ih._activeBuffer;
    return buf.lines.get(buf.ybase + buf.y)!;
  }

  /** Move down one line as mosh's autowrap does, scrolling the region at its bottom. */
  #lineDown(): void {
    const ih = this.#ih, buf = ih._activeBuffer;
    if (buf.y === buf.scrollBottom) {
      ih._bufferService.scroll(ih._eraseAttrData());
    } else if (buf.y < ih._bufferService.rows - 1) buf.y++;
  }

  /** Print code points `data[start..end)` (xterm's InputHandler.print signature). */
  print(data: Uint32Array, start: number, end: number): void {
    const ih = this.#ih, buf = ih._activeBuffer, cols = ih._bufferService.cols;
    const autowrap = ih._coreService.decPrivateModes.wraparound;
    const charset = ih._charsetService.charset;
    let line = this.#line();
    for (let i = start; i < end; i++) {
      let code = data[i];
      if (code < 127 && charset) {
        const ch = charset[String.fromCharCode(code)];
        if (ch) code = ch.charCodeAt(0);
      }
      const width = code <= 0xff ? 1 : cpWidth(code);
      if (width === 3) continue; // unprintable: mosh drops it
      if (width === 0) {
        this.#combine(code, line);
        continue;
      }
      if (buf.x >= cols) {
        if (autowrap) {
          const li = (cols - 1) * CELL_WORDS + 2;
          line._data[li] = (line._data[li] | WRAP_BIT) >>> 0;
          buf.x = 0;
          this.#lineDown();
          line = this.#line();
        } else {
          buf.x = cols - 1;
        }
      } else if (autowrap && width === 2 && buf.x === cols - 1) {
        // mosh resets the last cell; if it is a wide character's second half, it stays one.
        const half = line.getWidth(cols - 1) === 0 &&
          line.getWidth(cols - 2) === 2;
        line.setCellFromCodepoint(
          cols - 1,
          0,
          half ? 0 : 1,
          ih._eraseAttrData(),
        );
        buf.x = 0;
        this.#lineDown();
        line = this.#line();
      }
      const x = buf.x;
      if (width === 2 && x === cols - 1) continue; // no room and no autowrap: dropped
      if (ih._coreService.modes.insertMode) {
        line.insertCells(x, width, buf.getNullCell(ih._eraseAttrData()));
      }
      if (x > 0 && line.getWidth(x) === 0 && line.getWidth(x - 1) === 2) {
        this.erase(line, x - 1);
      }
      if (width === 1 && line.getWidth(x) === 2 && x + 1 < cols) {
        this.erase(line, x + 1);
      }
      if (width === 2 && line.getWidth(x + 1) === 2 && x + 2 < cols) {
        this.erase(line, x + 2);
      }
      line.setCellFromCodepoint(x, code, width, ih._curAttrData);
      if (width === 2) {
        line.setCellFromCodepoint(x + 1, 0, 0, ih._eraseAttrData());
      }
      buf.x = x + width;
      this.#lastLine = line;
      this.#lastX = x;
      this.#afterX = buf.x;
      this.#afterY = buf.y;
      this.#afterBuffer = buf;
    }
  }

  /** Attach a width-0 character to mosh's combining target cell. */
  #combine(code: number, line: XLine): void {
    const buf = this.#ih._activeBuffer, cols = this.#ih._bufferService.cols;
    // mosh's target is the cell last printed unless the cursor moved since.
    const moved = this.#lastLine !== line || buf !== this.#afterBuffer ||
      buf.x !== this.#afterX || buf.y !== this.#afterY;
    const target = line, tx = moved ? Math.min(buf.x, cols - 1) : this.#lastX;
    if (!target.hasContent(tx)) {
      if (
        tx > 0 && target.getWidth(tx) === 0 && target.getWidth(tx - 1) === 2
      ) {
        this.erase(target, tx - 1);
      }
      target._data[tx * CELL_WORDS] = 0xa0 | (1 << WIDTH_SHIFT);
      target.addCodepointToCell(tx, code, 0);
      this.#lastLine = line;
      this.#lastX = Math.min(buf.x, cols - 1);
      buf.x = Math.min(buf.x + 1, cols);
      this.#afterX = buf.x;
      this.#afterY = buf.y;
      this.#afterBuffer = buf;
      return;
    }
    if (utf8Length(target.getString(tx)) < CELL_MAX_BYTES) {
      target.addCodepointToCell(tx, code, 0);
    }
  }
}
