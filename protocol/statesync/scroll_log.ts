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
import {
  encodeLogRecords,
  type LogRecord,
  type LogSlice,
} from "../protobufs/scroll_messages.ts";

export type { LogRecord, LogSlice };

/** Records of one append, numbered from `first`. */
interface Chunk {
  readonly first: number;
  readonly records: readonly LogRecord[];
  readonly bytes: number;
  /** Approximate bytes the records take on the wire, before compression. */
  readonly wire: number;
  /** The records encoded, once a diff carried them (every later diff from an older state copies these). */
  encoded?: Uint8Array;
}

/** Records from `first` on, read from chunks only when asked (a sender only copies their encoding). */
class ChunkSlice implements LogSlice {
  readonly first: number;
  readonly #chunks: readonly Chunk[];
  #records: LogRecord[] | undefined;

  constructor(first: number, chunks: readonly Chunk[]) {
    this.first = first;
    this.#chunks = chunks;
  }

  get records(): readonly LogRecord[] {
    if (this.#records === undefined) {
      const records: LogRecord[] = [];
      for (const c of this.#chunks) {
        for (
          let i = Math.max(0, this.first - c.first);
          i < c.records.length;
          i++
        ) {
          records.push(c.records[i]);
        }
      }
      this.#records = records;
    }
    return this.#records;
  }

  get encoded(): readonly Uint8Array[] {
    return this.#chunks.map((c) => {
      if (this.first <= c.first) {
        return c.encoded ??= encodeLogRecords(c.records);
      }
      return encodeLogRecords(c.records.slice(this.first - c.first));
    });
  }
}

/**
 * Approximate bytes one record takes in a diff, before compression; a block
 * weighs what its lines would as line records (windows, slices and frames
 * then hold as many lines as before blocks: a terminal's work is per line).
 */
export function recordWireBytes(r: LogRecord): number {
  if (r.kind === "block") return 8 * r.lines + r.bytes.length;
  return r.kind === "line" ? 8 + r.text.length : 8;
}

/** Approximate bytes of one record. */
export function recordBytes(r: LogRecord): number {
  if (r.kind === "block") return 64 + r.bytes.length;
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

  /** Approximate bytes the records from number `from` on take in a diff, before compression. */
  wireSizeSince(from: number): number {
    let n = 0;
    for (const c of this.#chunks) {
      if (c.first >= from) {
        n += c.wire;
        continue;
      }
      for (let i = from - c.first; i < c.records.length; i++) {
        n += recordWireBytes(c.records[i]);
      }
    }
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
   * The log without the records from number `end` on (the sender taking
   * back records it sent but the peer did not acknowledge).
   */
  truncate(end: number): ScrollLog {
    if (end >= this.end) return this;
    const chunks: Chunk[] = [];
    for (const c of this.#chunks) {
      if (c.first >= end) break;
      const keep = end - c.first;
      if (keep >= c.records.length) {
        chunks.push(c);
        continue;
      }
      const records = c.records.slice(0, keep);
      let bytes = 0, wire = 0;
      for (const r of records) {
        bytes += recordBytes(r);
        wire += recordWireBytes(r);
      }
      chunks.push({ first: c.first, records, bytes, wire });
    }
    return new ScrollLog(end, chunks);
  }

  /**
   * Bytes of the records from number `from` on, encoded (whole chunks only:
   * a lower bound of what a diff carrying them takes).
   */
  encodedSizeSince(from: number): number {
    let n = 0;
    for (const c of this.#chunks) {
      if (c.first >= from) {
        n += (c.encoded ??= encodeLogRecords(c.records)).length;
      }
    }
    return n;
  }

  /**
   * Records from number `from` (or `start` when older) on, up to about
   * `maxWire` bytes of them (recordWireBytes; at least one record), without
   * copying the rest: `complete` when they reach the end.
   */
  recordsFrom(
    from: number,
    maxWire: number,
  ): { first: number; records: LogRecord[]; complete: boolean } {
    const first = Math.max(from, this.start);
    const records: LogRecord[] = [];
    let wire = 0;
    for (const c of this.#chunks) {
      const rs = c.records;
      for (let i = Math.max(0, first - c.first); i < rs.length; i++) {
        if (wire >= maxWire) return { first, records, complete: false };
        const r = rs[i];
        wire += recordWireBytes(r);
        records.push(r);
      }
    }
    return { first, records, complete: true };
  }

  /**
   * Records from number `from` to the end; the slice starts at `start` when
   * `from` is older (the receiver turns the hole into a gap record).
   */
  since(from: number): LogSlice {
    const first = Math.max(from, this.start);
    return new ChunkSlice(
      first,
      this.#chunks.filter((c) => c.first + c.records.length > first),
    );
  }
}
