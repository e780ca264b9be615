/**
 * tmosh's scrollback log (capability `scrollback.v1`, docs/wire.md §14): the
 * rows that left the top of the server's normal screen, numbered and synced
 * to the client inside the terminal state, so each reaches the user's own
 * terminal scrollback exactly once.
 *
 * A `ScrollLog` is an immutable view of records [start, end) held in chunks
 * that successive states share. The server appends bounded slices to the
 * state it publishes and trims what the client has acknowledged; a diff
 * carries the records from the old state's end to the new one's, so lines
 * survive loss, reordering and skipped states and are never repeated.
 * @module
 */
import type { LogRecord, LogSlice } from "../protobufs/scroll_messages.ts";

import { LOG_HELD_BYTES_MAX } from "./constants.ts";

export type { LogRecord, LogSlice };

/** Records of one append, numbered from `first`. */
interface Chunk {
  readonly first: number;
  readonly records: readonly LogRecord[];
  readonly bytes: number;
  /** Approximate bytes the records take on the wire, before compression. */
  readonly wire: number;
}

/** Approximate bytes one record takes in a diff, before compression. */
export function recordWireBytes(r: LogRecord): number {
  return r.kind === "line" ? 8 + r.text.length : 8;
}

/** Approximate bytes of one record. */
export function recordBytes(r: LogRecord): number {
  return r.kind === "line" ? 48 + 2 * r.text.length : 32;
}

/** An immutable numbered window of the scrollback log. */
export class ScrollLog {
  /** Number of the next record (all records below it were produced). */
  readonly end: number;
  readonly #chunks: readonly Chunk[];

  private constructor(end: number, chunks: readonly Chunk[]) {
    this.end = end;
    this.#chunks = chunks;
  }

  /** The empty log, records numbered from 0. */
  static empty(): ScrollLog {
    return new ScrollLog(0, []);
  }

  /** Number of the oldest record held. */
  get start(): number {
    return this.#chunks.length > 0 ? this.#chunks[0].first : this.end;
  }

  /** Approximate bytes held. */
  byteSize(): number {
    let n = 0;
    for (const c of this.#chunks) n += c.bytes;
    return n;
  }

  /** Approximate bytes all records held take in a diff, before compression. */
  wireSize(): number {
    let n = 0;
    for (const c of this.#chunks) n += c.wire;
    return n;
  }

  /** The log with `records` appended. */
  append(records: readonly LogRecord[]): ScrollLog {
    if (records.length === 0) return this;
    let bytes = 0, wire = 0;
    for (const r of records) {
      bytes += recordBytes(r);
      wire += recordWireBytes(r);
    }
    const chunk = { first: this.end, records, bytes, wire };
    return new ScrollLog(this.end + records.length, [...this.#chunks, chunk]);
  }

  /**
   * The log after a received slice: records below `end` are skipped (already
   * held), a hole before the slice becomes a gap record, and chunks wholly
   * below `floor` (already written out) are dropped.
   */
  receive(slice: LogSlice, floor: number): ScrollLog {
    let records = slice.records;
    let first = slice.first;
    if (first < this.end) {
      records = records.slice(this.end - first);
      first = this.end;
    }
    let log = this.trimBelow(floor);
    if (first > log.end) {
      log = log.append([{ kind: "gap", lines: first - log.end }]);
    }
    return log.append(records).#bounded();
  }

  /**
   * The log without its oldest chunks while it holds more than
   * LOG_HELD_BYTES_MAX (a server sending faster than the terminal is
   * written): the reader finds them missing and writes a gap instead.
   */
  #bounded(): ScrollLog {
    let chunks = this.#chunks;
    let bytes = this.byteSize();
    let drop = 0;
    while (bytes > LOG_HELD_BYTES_MAX && drop < chunks.length - 1) {
      bytes -= chunks[drop].bytes;
      drop++;
    }
    if (drop === 0) return this;
    chunks = chunks.slice(drop);
    return new ScrollLog(this.end, chunks);
  }

  /** The log without the chunks wholly below record `num`. */
  trimBelow(num: number): ScrollLog {
    const chunks = this.#chunks;
    let i = 0;
    while (
      i < chunks.length && chunks[i].first + chunks[i].records.length <= num
    ) i++;
    return i === 0 ? this : new ScrollLog(this.end, chunks.slice(i));
  }

  /**
   * Records from number `from` to the end; the slice starts at `start` when
   * `from` is older (the receiver turns the hole into a gap record).
   */
  since(from: number): LogSlice {
    const first = Math.max(from, this.start);
    const records: LogRecord[] = [];
    for (const c of this.#chunks) {
      if (c.first + c.records.length <= first) continue;
      for (let i = Math.max(0, first - c.first); i < c.records.length; i++) {
        records.push(c.records[i]);
      }
    }
    return { first, records };
  }
}
