/**
 * The terminal state mosh tracks outside the cells, kept as mosh 1.4 does:
 * DEC private modes (mouse, encodings, focus, alternate scroll, bracketed
 * paste, cursor visibility, DECCKM, reverse video), titles and icon name,
 * the OSC 52 clipboard, the bell count, and what RIS and DECSTR reset.
 * @module
 */

import type { Framebuffer } from "./framebuffer.ts";
import type { XParams } from "./xterm_internals.ts";

/** Longest OSC string mosh keeps, code points (mosh: MAXIMUM_CLIPBOARD_SIZE); also the emulator's cap on OSC and DCS input. */
export const OSC_MAX = 16384;
/** Longest title OSC string mosh keeps, code points (terminalfunctions.cc). */
const TITLE_OSC_MAX = 256;

/**
 * Whether an OSC 52 payload (after `c;`) is a clipboard write: base64 text
 * only. A query (`?`, which a local terminal answers with its clipboard) or
 * anything else a terminal might read as one (`?` after other characters, a
 * further `;`) is not, so it is never kept nor forwarded (stricter than
 * mosh, which forwards `?`).
 */
export function isClipboardWrite(data: string): boolean {
  return /^[A-Za-z0-9+/=]*$/.test(data);
}

/** Mosh's modes, titles, clipboard and bell count, updated by control functions. */
export class TerminalModes {
  /** Bells rung so far. */
  bellCount = 0;
  /** Window title. */
  title = "";
  /** Icon name. */
  iconName = "";
  /** Whether any title OSC has been seen. */
  titleInitialized = false;
  /** Last OSC 52 clipboard contents. */
  clipboard = "";
  /** DECSCNM (?5). */
  reverseVideo = false;
  /** DECTCEM (?25). */
  cursorVisible = true;
  /** Bracketed paste (?2004). */
  bracketedPaste = false;
  /** Mouse reporting mode: 0, 9 or 1000-1003. */
  mouseReporting = 0;
  /** Mouse encoding mode: 0, 1005, 1006 or 1015. */
  mouseEncoding = 0;
  /** Focus events (?1004). */
  focusEvents = false;
  /** Alternate scroll (?1007). */
  altScroll = false;
  /** Application cursor keys (DECCKM, ?1). */
  appCursorKeys = false;

  /** Apply DECSET (`on`) or DECRST to the modes mosh tracks. */
  decMode(p: XParams, on: boolean): void {
    for (const m of p) {
      if (typeof m !== "number") continue;
      if (m === 9 || (m >= 1000 && m <= 1003)) {
        this.mouseReporting = on ? m : 0;
      } else if (m === 1005 || m === 1006 || m === 1015) {
        this.mouseEncoding = on ? m : 0;
      } else if (m === 1) this.appCursorKeys = on;
      else if (m === 5) this.reverseVideo = on;
      else if (m === 25) this.cursorVisible = on;
      else if (m === 1004) this.focusEvents = on;
      else if (m === 1007) this.altScroll = on;
      else if (m === 2004) this.bracketedPaste = on;
    }
  }

  /** DECSTR (soft reset): cursor shown, normal cursor keys. */
  softReset(): void {
    this.cursorVisible = true;
    this.appCursorKeys = false;
  }

  /** RIS (full reset): clear the title, clipboard and every tracked mode. */
  reset(): void {
    this.title = "";
    this.clipboard = "";
    this.reverseVideo = false;
    this.cursorVisible = true;
    this.bracketedPaste = false;
    this.mouseReporting = 0;
    this.mouseEncoding = 0;
    this.focusEvents = false;
    this.altScroll = false;
    this.appCursorKeys = false;
  }

  /** OSC 0/1/2 (`id`), or -1 for a bare `;title`: set title and/or icon name. */
  osc(id: number, data: string): void {
    const offset = id === -1 ? 1 : 2;
    const title = Array.from(data).slice(0, TITLE_OSC_MAX - offset).join("");
    this.titleInitialized = true;
    if (id !== 2) this.iconName = title;
    if (id !== 1) this.title = title;
  }

  /** OSC 52: keep a `c;` clipboard write (cut as mosh cuts it); queries are dropped. */
  osc52(data: string): void {
    if (data.startsWith("c;") && isClipboardWrite(data.slice(2))) {
      const cps = Array.from(data);
      this.clipboard = cps.length > OSC_MAX - 3
        ? cps.slice(2, OSC_MAX - 3).join("")
        : data.slice(2);
    }
  }

  /** Take every tracked value from a framebuffer. */
  load(fb: Framebuffer): void {
    this.title = fb.title;
    this.iconName = fb.iconName;
    this.titleInitialized = fb.titleInitialized;
    this.clipboard = fb.clipboard;
    this.bellCount = fb.bellCount;
    this.reverseVideo = fb.reverseVideo;
    this.cursorVisible = fb.cursorVisible;
    this.bracketedPaste = fb.bracketedPaste;
    this.mouseReporting = fb.mouseReporting;
    this.mouseEncoding = fb.mouseEncoding;
    this.focusEvents = fb.focusEvents;
    this.altScroll = fb.altScroll;
    this.appCursorKeys = fb.appCursorKeys;
  }
}
