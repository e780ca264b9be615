/**
 * What the server's emulator records in tmosh's native-scrollback mode
 * (docs/emulation.md §15): the rows that left the top of the normal screen,
 * scrollback clears, and rows lost to the cap between two takes.
 * @module
 */

import type { Row } from "./framebuffer.ts";

/** Most records held between two takes; the oldest beyond it collapse into one gap record. */
export const SCROLL_RECORDS_MAX = 10_000;

/**
 * One record: a row that scrolled off the top (as it was: renditions, wide
 * and combining characters, `wrap` = soft-wrapped into the next row), or
 * such a row already as text when it held only narrow characters of the
 * default rendition (`text` as row_text.ts renders it, `cols` covered: the
 * shape of the scrollback log's line record, so it enters the log as it
 * is); a block of plain lines that skipped the parser (most rows of a
 * flood); an explicit scrollback clear (E3, `CSI 3 J`), or `lines` rows
 * dropped by the cap.
 */
export type ScrollRecord =
  | { readonly kind: "row"; readonly row: Row }
  | {
    readonly kind: "line";
    readonly text: string;
    readonly cols: number;
    readonly wrap: boolean;
  }
  /**
   * Rows that held plain lines (emulator_plain_run.ts): printable ASCII, each
   * narrower than the screen, not wrapped, as the output's bytes, the lines
   * separated by CR LF (none after the last); `lines` of them.
   */
  | {
    readonly kind: "block";
    readonly bytes: Uint8Array;
    readonly lines: number;
  }
  | { readonly kind: "clear" }
  | { readonly kind: "gap"; readonly lines: number };

/** A block's lines as the line records their rows would have given (trailing blanks trimmed). */
export function blockLines(
  block: { readonly bytes: Uint8Array },
): { kind: "line"; text: string; cols: number; wrap: false }[] {
  const b = block.bytes, out = [];
  const text = latin1.decode(b);
  for (let start = 0; start <= b.length;) {
    let end = start;
    while (end < b.length && b[end] !== 0x0d) end++;
    let e = end;
    while (e > start && b[e - 1] === 0x20) e--;
    const t = text.substring(start, e);
    out.push({
      kind: "line" as const,
      text: t,
      cols: t.length,
      wrap: false as const,
    });
    start = end + 2;
  }
  return out;
}

/** One UTF-16 unit per byte (a block holds ASCII only). */
const latin1 = new TextDecoder("latin1");
