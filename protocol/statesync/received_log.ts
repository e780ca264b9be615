/**
 * The client's copy of the scrollback log (docs/wire.md §14.2): the records
 * received and not yet written to the terminal, numbered as on the server,
 * kept as the record fields they travelled as (EncodedSlice) and read in
 * place with a LogCursor. The server's log (scroll_log.ts) holds records as
 * objects; on the client that cost an object and a string per row of a
 * flood, and most of its time in collections.
 * @module
 */
import {
  BLOCK,
  EncodedSlice,
  GAP,
  LINE,
  RecordFields,
  skipRecords,
} from "../protobufs/scroll_records.ts";
import {
  encodeLogRecords,
  type LogRecord,
  type LogSlice,
} from "../protobufs/scroll_messages.ts";
import type { ScrollLog } from "./scroll_log.ts";
import { LOG_HELD_BYTES_MAX } from "./constants.ts";

/** Records of one received slice. */
interface Chunk {
  readonly first: number;
  readonly count: number;
  readonly body: Uint8Array;
  /** The last record position looked up (index, offset): reads resume there. */
  seen?: { index: number; offset: number };
  /** Records dropped unwritten just before this chunk (#bounded): from which number, and the lines they held. */
  readonly dropped?: { from: number; lines: number };
}

/** Bytes a chunk takes besides its records' encoding. */
const CHUNK_OVERHEAD = 96;

/** Where record `index` of `c` starts in its body. */
function offsetOf(c: Chunk, index: number): number {
  if (index <= 0) return 0;
  if (index >= c.count) return c.body.length;
  const seen = c.seen;
  const offset = seen !== undefined && seen.index <= index
    ? skipRecords(c.body, index - seen.index, { from: seen.offset })
    : skipRecords(c.body, index);
  c.seen = { index, offset };
  return offset;
}

/** The records and size of any slice: a received one as it came, others encoded. */
function encodedOf(slice: LogSlice): { count: number; body: Uint8Array } {
  if (slice instanceof EncodedSlice) return slice;
  return {
    count: slice.records.length,
    body: encodeLogRecords(slice.records),
  };
}

/**
 * Reads records in order from a number on, across chunks, without
 * allocating: the fields of the record read last are its own (RecordFields).
 * A hole in the numbering (records dropped or never received) reads as one
 * gap record standing for its lines.
 */
export class LogCursor {
  /** The current record, after next() returned true. */
  readonly record: RecordFields = new RecordFields();
  /** Number of the record next() reads next. */
  num: number;
  readonly #chunks: readonly Chunk[];
  #chunk = 0;
  #pos = 0;

  /** A cursor at record `from` of `chunks`. */
  constructor(chunks: readonly Chunk[], from: number) {
    this.#chunks = chunks;
    this.num = from;
    let i = 0;
    while (i < chunks.length && chunks[i].first + chunks[i].count <= from) i++;
    this.#chunk = i;
    if (i < chunks.length) {
      this.#pos = offsetOf(chunks[i], from - chunks[i].first);
    }
  }

  /** Whether next() would read a record. */
  get more(): boolean {
    return this.#chunk < this.#chunks.length;
  }

  /** Reads the next record; false after the last one. */
  next(): boolean {
    const c = this.#chunks[this.#chunk];
    if (c === undefined) return false;
    if (this.num < c.first) {
      const r = this.record;
      r.kind = GAP;
      // Records dropped unwritten count as the lines they held; records
      // never received, as one line each.
      const d = c.dropped;
      r.lines = d !== undefined && d.from >= this.num
        ? d.from - this.num + d.lines
        : c.first - this.num;
      r.wrap = false;
      this.num = c.first;
      return true;
    }
    this.#pos = this.record.readAt(c.body, this.#pos);
    this.num++;
    if (this.#pos >= c.body.length) {
      this.#chunk++;
      this.#pos = 0;
    }
    return true;
  }
}

/** An immutable numbered window [start, end) of received log records. */
export class ReceivedLog {
  /** Number of the next record (all records below it were produced). */
  readonly end: number;
  readonly #chunks: readonly Chunk[];

  private constructor(end: number, chunks: readonly Chunk[]) {
    this.end = end;
    this.#chunks = chunks;
  }

  /** An empty log, its records numbered from `end`. */
  static empty(end = 0): ReceivedLog {
    return new ReceivedLog(end, []);
  }

  /** The same records as `log` (a ScrollLog is encoded). */
  static of(log: ScrollLog | ReceivedLog): ReceivedLog {
    if (log instanceof ReceivedLog) return log;
    return ReceivedLog.empty(log.start).receive(log.since(log.start), 0);
  }

  /** Number of the oldest record held. */
  get start(): number {
    return this.#chunks.length > 0 ? this.#chunks[0].first : this.end;
  }

  /** Approximate bytes held. */
  byteSize(): number {
    let n = 0;
    for (const c of this.#chunks) n += CHUNK_OVERHEAD + c.body.length;
    return n;
  }

  /**
   * The log after a received slice: records below `end` are skipped (already
   * held), a hole before the slice is left for readers to see as a gap, and
   * chunks wholly below `floor` (already written out) are dropped.
   */
  receive(slice: LogSlice, floor: number): ReceivedLog {
    const log = this.trimBelow(floor);
    // Every record below the floor is written: an empty log may start there.
    const end = Math.max(log.end, floor);
    let { count, body } = encodedOf(slice);
    let first = slice.first;
    if (first < end) {
      const skip = Math.min(end - first, count);
      body = body.subarray(skipRecords(body, skip));
      count -= skip;
      first += skip;
    }
    if (count === 0) return end === log.end ? log : ReceivedLog.empty(end);
    const chunks = [...log.#chunks, { first, count, body }];
    return new ReceivedLog(first + count, chunks).#bounded(floor);
  }

  /**
   * The log without its oldest chunks while it holds more than
   * LOG_HELD_BYTES_MAX (a server sending faster than the terminal is
   * written, without scrollflow.v1): the reader finds them missing and
   * writes a gap for the lines they held from `floor` (the written end) on.
   */
  #bounded(floor: number): ReceivedLog {
    let bytes = this.byteSize();
    let drop = 0;
    const chunks = this.#chunks;
    while (bytes > LOG_HELD_BYTES_MAX && drop < chunks.length - 1) {
      bytes -= CHUNK_OVERHEAD + chunks[drop].body.length;
      drop++;
    }
    if (drop === 0) return this;
    const next = chunks[drop];
    // The lines of the dropped records not yet written, read as the writer
    // would have read them (a hole between them as its gap).
    let from = Math.max(floor, chunks[0].first), lines = 0;
    const cursor = new LogCursor(chunks.slice(0, drop), from);
    const r = cursor.record;
    while (cursor.num < next.first && cursor.next()) {
      if (r.kind === LINE) lines++;
      else if (r.kind === BLOCK || r.kind === GAP) lines += r.lines;
    }
    lines += next.first - cursor.num; // never received: a line each
    const earlier = chunks[0].dropped;
    if (earlier !== undefined && earlier.from >= floor) {
      // An earlier hole just before the first chunk joins this one.
      lines += earlier.lines;
      from = earlier.from;
    }
    const kept: Chunk = { ...next, dropped: { from, lines } };
    return new ReceivedLog(this.end, [kept, ...chunks.slice(drop + 1)]);
  }

  /** The log without the chunks wholly below record `num`. */
  trimBelow(num: number): ReceivedLog {
    const chunks = this.#chunks;
    let i = 0;
    while (i < chunks.length && chunks[i].first + chunks[i].count <= num) i++;
    return i === 0 ? this : new ReceivedLog(this.end, chunks.slice(i));
  }

  /** A cursor reading the records from number `from` on (a gap first for those no longer held). */
  cursor(from: number): LogCursor {
    return new LogCursor(this.#chunks, from);
  }

  /**
   * Records from number `from` (or `start` when older) on, up to about
   * `maxWire` bytes of them (at least one record), decoded: `complete` when
   * they reach the end. A hole reads as a gap record.
   */
  recordsFrom(
    from: number,
    maxWire: number,
  ): { first: number; records: LogRecord[]; complete: boolean } {
    const first = Math.max(from, this.start);
    const cursor = this.cursor(first);
    const r = cursor.record;
    const records: LogRecord[] = [];
    const decoder = new TextDecoder();
    let wire = 0;
    while (cursor.num < this.end) {
      if (wire >= maxWire) return { first, records, complete: false };
      if (!cursor.next()) break;
      wire += recordWire(r);
      if (r.kind === LINE) {
        const text = decoder.decode(r.bytes.subarray(r.textStart, r.textEnd));
        records.push({ kind: "line", text, cols: r.cols, wrap: r.wrap });
      } else if (r.kind === BLOCK) {
        const bytes = r.bytes.slice(r.textStart, r.textEnd);
        records.push({ kind: "block", bytes, lines: r.lines });
      } else {
        records.push(
          r.kind === GAP ? { kind: "gap", lines: r.lines } : { kind: "clear" },
        );
      }
    }
    return { first, records, complete: true };
  }

  /** Records from number `from` (or `start` when older) to the end, decoded. */
  since(from: number): LogSlice {
    const { first, records } = this.recordsFrom(from, Infinity);
    return { first, records };
  }

  /** Bytes of the records from number `from` on, encoded (whole chunks only). */
  encodedSizeSince(from: number): number {
    let n = 0;
    for (const c of this.#chunks) if (c.first >= from) n += c.body.length;
    return n;
  }
}

/**
 * Approximate bytes a record takes in a diff, before compression, as
 * scroll_log.ts counts them (a block weighs what its lines would as lines).
 */
export function recordWire(r: RecordFields): number {
  if (r.kind === BLOCK) return 8 * r.lines + r.textEnd - r.textStart;
  return r.kind === LINE ? 8 + r.textEnd - r.textStart : 8;
}
