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
 * default rendition (`text` as row_text.ts renders it, `cols` covered; most
 * rows of a flood: the shape of the scrollback log's line record, so it
 * enters the log as it is); an explicit scrollback clear (E3, `CSI 3 J`), or `lines`
 * rows dropped by the cap.
 */
export type ScrollRecord =
  | { readonly kind: "row"; readonly row: Row }
  | {
    readonly kind: "line";
    readonly text: string;
    readonly cols: number;
    readonly wrap: boolean;
  }
  | { readonly kind: "clear" }
  | { readonly kind: "gap"; readonly lines: number };
