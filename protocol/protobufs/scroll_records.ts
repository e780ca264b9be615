/**
 * Scrollback log records kept as they travel (docs/wire.md §14.2): the
 * record fields of a ScrollSlice, checked once when received and then read in
 * place. A flood brings a million records a second; decoding each into an
 * object and a string cost the client more than writing them to its terminal,
 * so the client keeps the bytes and copies the text of plain rows straight
 * into its output (client/scrollback.ts).
 * @module
 */
import type { LogRecord, LogSlice } from "./scroll_messages.ts";

/** Tags of a ScrollSlice's fields: (field << 3) | wire type (first = 1, record = 2). */
export const TAG_FIRST = 1 << 3, TAG_RECORD = (2 << 3) | 2;
/** Tags of a LogLine's fields (text = 1, cols = 2, wrap = 3, clear = 4, gap = 5). */
export const TAG_TEXT = (1 << 3) | 2, TAG_COLS = 2 << 3, TAG_WRAP = 3 << 3;
/** Tags of a LogLine's clear, gap and block fields (block = 6, `scrollblock.v1`). */
export const TAG_CLEAR = 4 << 3, TAG_GAP = 5 << 3, TAG_BLOCK = (6 << 3) | 2;

/** RecordFields.kind of a line, a clear, a gap and a block of plain lines. */
export const LINE = 0, CLEAR = 1, GAP = 2, BLOCK = 3;

/** Where the varint varintAt read last ends. */
let varintEnd = 0;

/** The varint of at most `max` bytes at `pos` (its end in varintEnd), or -1 if longer, unfinished or past the end. */
function varintAt(b: Uint8Array, pos: number, max: number): number {
  let value = 0, scale = 1;
  for (let i = 0; i < max && pos + i < b.length; i++) {
    const byte = b[pos + i];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      varintEnd = pos + i + 1;
      return value;
    }
    scale *= 0x80;
  }
  return -1;
}

/**
 * Lines of a block's bytes `b[start..end)`, or -1 unless they are lines of
 * printable ASCII with CR LF between them (the client writes them to the
 * terminal as they are: nothing else may reach it).
 */
function linesIn(b: Uint8Array, start: number, end: number): number {
  let lines = 1;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c >= 0x20 && c <= 0x7e) continue;
    if (c !== 0x0d || i + 1 >= end || b[i + 1] !== 0x0a) return -1;
    i++;
    lines++;
  }
  return lines;
}

/** Lines of a block's bytes, or -1 unless they are printable ASCII lines with CR LF between them. */
export function blockLineCount(bytes: Uint8Array): number {
  return linesIn(bytes, 0, bytes.length);
}

/**
 * Whether the record body `b[pos..end)` holds only the fields tmosh writes,
 * well formed (short varints, texts inside the body, a block of plain lines
 * when the record is one).
 */
function plainFields(b: Uint8Array, pos: number, end: number): boolean {
  let gap = false, clear = false, block = -1, blockEnd = 0;
  while (pos < end) {
    const t = b[pos++];
    const v = varintAt(b, pos, 5);
    if (v < 0 || varintEnd > end) return false;
    pos = varintEnd;
    if (t === TAG_TEXT || t === TAG_BLOCK) {
      if (pos + v > end) return false;
      if (t === TAG_BLOCK) {
        block = pos;
        blockEnd = pos + v;
      }
      pos += v;
    } else if (t === TAG_COLS) {
      if (v > 0xffffffff) return false;
    } else if (t === TAG_GAP) {
      gap = true;
    } else if (t === TAG_CLEAR) {
      clear = v !== 0;
    } else if (t !== TAG_WRAP) {
      return false;
    }
  }
  return gap || clear || block < 0 || linesIn(b, block, blockEnd) >= 0;
}

/**
 * The fields of one record read in place: bytes[textStart..textEnd) is a
 * line's UTF-8 text, or a block's lines (CR LF between them). One object is
 * reused record after record (no allocation per record).
 */
export class RecordFields {
  kind = LINE;
  bytes: Uint8Array = new Uint8Array(0);
  textStart = 0;
  textEnd = 0;
  cols = 0;
  wrap = false;
  /** A gap's or a block's line count. */
  lines = 0;

  /**
   * Reads the record at `pos` of checked record fields (as readSliceQuickly
   * accepts them): a gap, else a clear, else a block, else a line (the last
   * of a repeated field counts). Returns where the next record starts.
   */
  readAt(b: Uint8Array, pos: number): number {
    const len = varintAt(b, pos + 1, 5);
    let p = varintEnd;
    const end = p + len;
    let textStart = p, textEnd = p, cols = 0, wrap = false, clear = false;
    let gap = -1, blockStart = -1, blockEnd = 0;
    while (p < end) {
      const t = b[p];
      const v = varintAt(b, p + 1, 5);
      p = varintEnd;
      if (t === TAG_TEXT) {
        textStart = p;
        p += v;
        textEnd = p;
      } else if (t === TAG_BLOCK) {
        blockStart = p;
        p += v;
        blockEnd = p;
      } else if (t === TAG_COLS) cols = v;
      else if (t === TAG_WRAP) wrap = v !== 0;
      else if (t === TAG_CLEAR) clear = v !== 0;
      else gap = v;
    }
    this.bytes = b;
    this.cols = cols;
    this.wrap = wrap;
    if (gap < 0 && !clear && blockStart >= 0) {
      this.kind = BLOCK;
      this.textStart = blockStart;
      this.textEnd = blockEnd;
      this.lines = linesIn(b, blockStart, blockEnd);
      return end;
    }
    this.kind = gap >= 0 ? GAP : clear ? CLEAR : LINE;
    this.textStart = textStart;
    this.textEnd = textEnd;
    this.lines = gap;
    return end;
  }
}

/** Where the record `n` records after the one at `from` (default 0) starts, in checked record fields. */
export function skipRecords(
  b: Uint8Array,
  n: number,
  options: { from?: number } = {},
): number {
  let pos = options.from ?? 0;
  for (let i = 0; i < n; i++) {
    const len = varintAt(b, pos + 1, 5);
    pos = varintEnd + len;
  }
  return pos;
}

const decoder = new TextDecoder();

/** The records of checked record fields, as objects (tests, and the rare reader that wants them). */
export function decodeRecords(body: Uint8Array): LogRecord[] {
  const records: LogRecord[] = [];
  const f = new RecordFields();
  for (let pos = 0; pos < body.length;) {
    pos = f.readAt(body, pos);
    if (f.kind === GAP) records.push({ kind: "gap", lines: f.lines });
    else if (f.kind === CLEAR) records.push({ kind: "clear" });
    else if (f.kind === BLOCK) {
      const bytes = body.subarray(f.textStart, f.textEnd);
      records.push({ kind: "block", bytes, lines: f.lines });
    } else {
      const text = decoder.decode(body.subarray(f.textStart, f.textEnd));
      records.push({ kind: "line", text, cols: f.cols, wrap: f.wrap });
    }
  }
  return records;
}

/** A received slice: `count` records numbered from `first`, kept as their checked record fields. */
export class EncodedSlice implements LogSlice {
  readonly first: number;
  readonly count: number;
  /** The record fields, as they travel (TAG_RECORD, length, LogLine each). */
  readonly body: Uint8Array;
  #records: LogRecord[] | undefined;

  /** `count` records numbered from `first`, in `body`. */
  constructor(first: number, count: number, body: Uint8Array) {
    this.first = first;
    this.count = count;
    this.body = body;
  }

  /** The records decoded (only when asked). */
  get records(): readonly LogRecord[] {
    return this.#records ??= decodeRecords(this.body);
  }

  /** The encoding, written again as it is. */
  get encoded(): readonly Uint8Array[] {
    return [this.body];
  }
}

/**
 * Reads a slice written the usual way (the fields tmosh writes, canonical
 * varints of at most 7 bytes), its records kept encoded, those numbered
 * below `from` left out (the receiver holds them); undefined for anything
 * else (unknown fields, long varints, malformed input), which
 * readSliceFully then judges.
 */
export function readSliceQuickly(
  b: Uint8Array,
  from = 0,
): EncodedSlice | undefined {
  let first = 0, pos = 0, count = 0, skipped = 0, keep = 0;
  while (pos < b.length) {
    const tag = b[pos];
    if (tag === TAG_FIRST) {
      if (skipped > 0 || count > 0) return undefined; // not tmosh's order
      const v = varintAt(b, pos + 1, 7);
      if (v < 0) return undefined;
      first = v;
      pos = varintEnd;
      continue;
    }
    if (tag !== TAG_RECORD) return undefined;
    const len = varintAt(b, pos + 1, 5);
    if (len < 0 || varintEnd + len > b.length) return undefined;
    const end = varintEnd + len;
    if (!plainFields(b, varintEnd, end)) return undefined;
    if (count === 0 && first + skipped < from) skipped++;
    else if (count++ === 0) keep = pos;
    pos = end;
  }
  return new EncodedSlice(
    first + skipped,
    count,
    count > 0 ? b.slice(keep, pos) : new Uint8Array(0),
  );
}
