/**
 * SGR as Mosh 1.4 applies it to the current rendition (mosh:
 * terminalfunctions.cc CSI_SGR, terminalframebuffer.cc Renditions::set_rendition),
 * on xterm.js's attribute words.
 * @module
 */

import { param } from "./emulator_functions.ts";
import {
  X_BG_ITALIC as BG_ITALIC,
  X_CM_MASK as CM_MASK,
  X_CM_P16 as CM_P16,
  X_CM_P256 as CM_P256,
  X_CM_RGB as CM_RGB,
  X_COLOR_BITS as COLOR_BITS,
  X_FG_BLINK as BLINK,
  X_FG_BOLD as BOLD,
  X_FG_INVERSE as INVERSE,
  X_FG_INVISIBLE as INVISIBLE,
  X_FG_UNDERLINE as UNDERLINE,
  type XAttr,
  type XParams,
} from "./xterm_internals.ts";

/** SGR code -> [is a background-word flag, bit]; codes below 9 set, the others clear. */
const SGR_FLAGS: Record<number, [boolean, number]> = {
  1: [false, BOLD],
  22: [false, BOLD],
  3: [true, BG_ITALIC],
  23: [true, BG_ITALIC],
  4: [false, UNDERLINE],
  24: [false, UNDERLINE],
  5: [false, BLINK],
  25: [false, BLINK],
  7: [false, INVERSE],
  27: [false, INVERSE],
  8: [false, INVISIBLE],
  28: [false, INVISIBLE],
};

/** xterm's colour bits for palette colour `n`. */
function paletteBits(n: number): number {
  return (n < 16 ? CM_P16 : CM_P256) | n;
}

/**
 * SGR exactly as mosh 1.4 applies it to the current attribute: attributes
 * bold, italic, underline, blink, inverse and invisible (set by 1/3/4/5/7/8,
 * cleared by 22/23/24/25/27/28; everything else, faint included, ignored);
 * 30-37, 90-97, 39 and their backgrounds; `38;5;n` / `48;5;n` only with the
 * index present (n > 255 ignored); `38;2;r;g;b` only with all three present
 * (components masked into 24 bits as mosh packs them); a shorter 38/48 form
 * is read parameter by parameter.
 */
export function applySgr(p: XParams, attr: XAttr): void {
  const n = Math.max(p.length, 1);
  const setColor = (bg: boolean, bits: number) => {
    if (bg) attr.bg = ((attr.bg & ~(CM_MASK | COLOR_BITS)) | bits) >>> 0;
    else attr.fg = ((attr.fg & ~(CM_MASK | COLOR_BITS)) | bits) >>> 0;
  };
  for (let i = 0; i < n; i++) {
    const v = param(p, i, 0);
    if ((v === 38 || v === 48) && n - i >= 3 && param(p, i + 1, -1) === 5) {
      const idx = param(p, i + 2, 0);
      if (idx <= 255) setColor(v === 48, paletteBits(idx));
      i += 2;
      continue;
    }
    if ((v === 38 || v === 48) && n - i >= 5 && param(p, i + 1, -1) === 2) {
      const r = param(p, i + 2, 0), g = param(p, i + 3, 0);
      const b = param(p, i + 4, 0);
      setColor(v === 48, CM_RGB | (((r << 16) | (g << 8) | b) & COLOR_BITS));
      i += 4;
      continue;
    }
    if (v === 0) {
      attr.fg = 0;
      attr.bg = 0;
    } else if (v === 39) setColor(false, 0);
    else if (v === 49) setColor(true, 0);
    else if (v >= 30 && v <= 37) setColor(false, paletteBits(v - 30));
    else if (v >= 40 && v <= 47) setColor(true, paletteBits(v - 40));
    else if (v >= 90 && v <= 97) setColor(false, paletteBits(v - 82));
    else if (v >= 100 && v <= 107) setColor(true, paletteBits(v - 92));
    else {
      const flag = SGR_FLAGS[v];
      if (flag === undefined) continue;
      const [isBg, bit] = flag, on = v < 9;
      if (isBg) attr.bg = (on ? attr.bg | bit : attr.bg & ~bit) >>> 0;
      else attr.fg = (on ? attr.fg | bit : attr.fg & ~bit) >>> 0;
    }
  }
}
