/**
 * The scroll records of tmosh's native-scrollback mode (docs/emulation.md
 * §15): every row that leaves the top of the normal screen while the scroll
 * region's top is row 1 (LF, IND, NEL, autowrap, SU; at most the region's
 * height per scroll), and a clear for E3. Held in order until taken; past
 * SCROLL_RECORDS_MAX the oldest collapse into one gap record at the front.
 * @module
 */

import { plainLineText, type RowSnapshotter } from "./emulator_snapshot.ts";
import { SCROLL_RECORDS_MAX, type ScrollRecord } from "./scroll_record.ts";
import type { XHandler } from "./xterm_internals.ts";

const CLEAR: ScrollRecord = Object.freeze({ kind: "clear" });
/**
 * Recorded rows take their cells from shared slabs of this many rows: one
 * allocation instead of one per row keeps a flood fast (a row kept longer
 * than its neighbours keeps its whole slab alive).
 */
const SLAB_ROWS = 16;
/** Records handed to a sink at a time. */
const SINK_BATCH = 1024;

/** Records what leaves the top of one emulator's normal screen, bounded between takes. */
export class ScrollRecorder {
  #ih: XHandler;
  #rows: RowSnapshotter;
  /** Pending records from index #head on (the ones before it were dropped or taken). */
  #records: (ScrollRecord | undefined)[] = [];
  #head = 0;
  /** Rows dropped by the cap since the last take (after the last dropped clear). */
  #dropped = 0;
  /** Whether the cap dropped a clear since the last take. */
  #droppedClear = false;
  #slab = new Uint32Array(0);
  #slabUsed = 0;
  #alloc = (words: number): Uint32Array => {
    if (this.#slabUsed + words > this.#slab.length) {
      this.#slab = new Uint32Array(words * SLAB_ROWS);
      this.#slabUsed = 0;
    }
    const start = this.#slabUsed;
    this.#slabUsed += words;
    return this.#slab.subarray(start, start + words);
  };

  /** Receives batches of records as they accumulate, instead of the cap dropping them. */
  #sink: ((records: ScrollRecord[]) => void) | undefined;
  /** Plain rows are recorded as text (false: every row as a Row, for comparing the two). */
  #plain: boolean;

  /**
   * Record from `ih`'s normal buffer, converting rows with `rows` (the
   * emulator's snapshotter); with `sink`, every SINK_BATCH records are
   * handed to it as they accumulate; `plainText: false` records every row
   * as a Row (default: plain rows as text).
   */
  constructor(
    ih: XHandler,
    rows: RowSnapshotter,
    options: {
      sink?: (records: ScrollRecord[]) => void;
      plainText?: boolean;
    } = {},
  ) {
    this.#ih = ih;
    this.#rows = rows;
    this.#sink = options.sink;
    this.#plain = options.plainText ?? true;
  }

  /** The active region is about to scroll up `n` rows: record them if they leave the normal screen's top. */
  scrolling(n: number): void {
    const ih = this.#ih, buf = ih._activeBuffer;
    if (buf !== ih._bufferService.buffers.normal || buf.scrollTop !== 0) return;
    const options = { cols: ih._bufferService.cols, alloc: this.#alloc };
    const count = Math.min(n, buf.scrollBottom + 1);
    for (let y = 0; y < count; y++) {
      const line = buf.lines.get(buf.ybase + y);
      const plain = this.#plain ? plainLineText(line, options.cols) : undefined;
      if (plain !== undefined) {
        this.#push(plain);
        continue;
      }
      this.#push({ kind: "row", row: this.#rows.row(line, options) });
    }
  }

  /** `lines` plain lines left the screen without being parsed (emulator_plain_run.ts): `bytes` are their text, CR LF between them. */
  block(bytes: Uint8Array, lines: number): void {
    this.#push({ kind: "block", bytes, lines });
  }

  /** E3 (`CSI 3 J`): the scrollback is to be cleared. */
  clear(): void {
    this.#push(CLEAR);
  }

  /** The records since the last take, oldest first (a clear and a gap for what the cap dropped lead). */
  take(): ScrollRecord[] {
    const lead: ScrollRecord[] = [];
    if (this.#droppedClear) lead.push(CLEAR);
    if (this.#dropped > 0) lead.push({ kind: "gap", lines: this.#dropped });
    // Slots below the head are emptied; from it on every slot holds a record.
    const rest =
      (this.#head === 0
        ? this.#records
        : this.#records.slice(this.#head)) as ScrollRecord[];
    const out = lead.length === 0 ? rest : [...lead, ...rest];
    this.#records = [];
    this.#head = 0;
    this.#dropped = 0;
    this.#droppedClear = false;
    return out;
  }

  #push(record: ScrollRecord): void {
    const recs = this.#records;
    recs.push(record);
    if (this.#sink !== undefined && recs.length - this.#head >= SINK_BATCH) {
      this.#sink(this.take());
      return;
    }
    if (recs.length - this.#head <= SCROLL_RECORDS_MAX) return;
    const old = recs[this.#head]!;
    recs[this.#head++] = undefined;
    if (old.kind === "clear") {
      // A clear wipes what came before it, dropped rows included.
      this.#droppedClear = true;
      this.#dropped = 0;
    } else this.#dropped += old.kind === "block" ? old.lines : 1;
    if (this.#head >= SCROLL_RECORDS_MAX) {
      this.#records = recs.slice(this.#head);
      this.#head = 0;
    }
  }
}
