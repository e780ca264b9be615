/**
 * A real alternate screen for tmosh's native-scrollback mode
 * (docs/emulation.md §15; stock mosh-server has none): DECSET/DECRST 1049,
 * 1047 and 47 as xterm treats them, on xterm.js's own normal and alternate
 * buffers. The normal screen's content is kept while the alternate one is
 * shown; each screen has its own DECSC slot and scroll region (xterm.js's
 * per-buffer region), the cursor position is shared.
 * @module
 */

import type { MoshFunctions, SavedCursor } from "./emulator_functions.ts";
import type { XBuffer, XHandler } from "./xterm_internals.ts";

/** xterm.js's BufferSet switches (InputHandler.setModePrivate uses them). */
interface XBufferSet {
  normal: XBuffer;
  alt: XBuffer;
  activateAltBuffer(fill: unknown): void;
  activateNormalBuffer(): void;
}

/** Switches between the normal and the alternate screen of one emulator. */
export class AltScreen {
  #ih: XHandler;
  #f: MoshFunctions;
  /** The DECSC slot of the screen not shown (undefined: the default). */
  #otherSaved: SavedCursor | undefined;

  /** Switch the screens of `ih`'s buffers, with mosh's functions `f` (cursor slots, erasing). */
  constructor(ih: XHandler, f: MoshFunctions) {
    this.#ih = ih;
    this.#f = f;
  }

  get #buffers(): XBufferSet {
    return this.#ih._bufferService.buffers as unknown as XBufferSet;
  }

  /** Whether the alternate screen is shown. */
  get active(): boolean {
    return this.#ih._activeBuffer === this.#buffers.alt;
  }

  /**
   * DECSET (`on`) or DECRST of mode `m`; other modes are ignored. As xterm:
   * 1049 set saves the cursor, shows the alternate screen and clears it,
   * reset shows the normal screen and restores the cursor; 1047 reset
   * clears the alternate screen before leaving it; 47 only switches.
   */
  mode(m: number, on: boolean): void {
    if (m !== 47 && m !== 1047 && m !== 1049) return;
    if (on) {
      if (m === 1049) this.#f.saveCursor();
      this.#show(true);
      if (m === 1049) {
        for (let y = 0; y < this.#ih._bufferService.rows; y++) {
          this.#f.clearRow(y);
        }
      }
    } else {
      this.#show(false, { clear: m !== 47 });
      if (m === 1049) this.#f.restoreCursor();
    }
  }

  /** After RIS or a load (xterm.js made new buffers, the normal one shown): forget the other DECSC slot. */
  reset(): void {
    this.#otherSaved = undefined;
  }

  /** Show the alternate (`alt`) or normal screen; leaving the alternate one keeps its content unless `clear`. */
  #show(alt: boolean, options: { clear?: boolean } = {}): void {
    if (alt === this.active) return;
    const set = this.#buffers;
    if (alt) {
      // Fills the alternate buffer with blank rows of the current background if it is empty.
      set.activateAltBuffer(this.#ih._eraseAttrData());
    } else {
      // xterm.js always empties the alternate buffer when leaving it; 47 keeps it.
      const a = set.alt, { lines, ybase, scrollTop, scrollBottom } = a;
      set.activateNormalBuffer();
      if (!options.clear) {
        Object.assign(a, { lines, ybase, scrollTop, scrollBottom });
      }
    }
    this.#otherSaved = this.#f.swapSaved(this.#otherSaved);
    this.#f.follow();
  }
}
