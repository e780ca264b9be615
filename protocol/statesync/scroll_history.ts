/**
 * The server's ring of the most recent scrollback-log records (tmosh's
 * attach, docs/wire.md §15): every record the emulator produced in
 * native-scrollback mode, whichever client is attached, at most
 * SCROLL_HISTORY_RECORDS of them and SCROLL_HISTORY_BYTES; a scrollback clear
 * empties it. A client that attaches later and negotiates `scrollback.v1`
 * gets them as the first records of its log, so its terminal's scrollback
 * holds the recent history above the screen.
 * @module
 */
import { SCROLL_HISTORY_BYTES, SCROLL_HISTORY_RECORDS } from "./constants.ts";
import { type LogRecord, recordBytes } from "./scroll_log.ts";

/** Options of {@linkcode ScrollHistory}. */
export interface ScrollHistoryOptions {
  /** Most records kept; default SCROLL_HISTORY_RECORDS. */
  maxRecords?: number;
  /** Most bytes kept (recordBytes); default SCROLL_HISTORY_BYTES. */
  maxBytes?: number;
}

/** A bounded ring of the newest log records. */
export class ScrollHistory {
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  #records: LogRecord[] = [];
  /** Index of the oldest record kept (the array is compacted lazily). */
  #head = 0;
  #bytes = 0;

  /** An empty ring. */
  constructor(options: ScrollHistoryOptions = {}) {
    this.#maxRecords = options.maxRecords ?? SCROLL_HISTORY_RECORDS;
    this.#maxBytes = options.maxBytes ?? SCROLL_HISTORY_BYTES;
  }

  /** Records kept. */
  get size(): number {
    return this.#records.length - this.#head;
  }

  /** Adds records in order: a clear empties the ring, the oldest go past the bounds. */
  add(records: readonly LogRecord[]): void {
    // Only what follows the last clear, and only the newest that can stay
    // (a flood's batch is mostly older than that).
    let from = Math.max(0, records.length - this.#maxRecords);
    for (let i = records.length - 1; i >= 0; i--) {
      if (records[i].kind === "clear") {
        this.#records = [];
        this.#head = 0;
        this.#bytes = 0;
        from = Math.max(from, i + 1);
        break;
      }
    }
    for (let i = from; i < records.length; i++) {
      this.#records.push(records[i]);
      this.#bytes += recordBytes(records[i]);
    }
    while (
      this.size > this.#maxRecords ||
      (this.size > 0 && this.#bytes > this.#maxBytes)
    ) {
      this.#bytes -= recordBytes(this.#records[this.#head++]);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The records kept, oldest first (a copy). */
  records(): LogRecord[] {
    return this.#records.slice(this.#head);
  }
}
