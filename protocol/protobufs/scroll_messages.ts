/**
 * tmosh's scrollback extensions of HostBuffers.Instruction (docs/wire.md §14;
 * protocol/protobufs/tmoshext.proto): `TmoshExt.scroll` (4001) carries a
 * numbered slice of the scrollback log, `TmoshExt.screen` (4002) says which
 * screen, normal or alternate, the server's terminal shows. Sent only to a
 * client whose hello and the server's welcome both list `scrollback.v1`.
 * @module
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { readFields, skip } from "./wire_fields.ts";
import {
  blockLineCount,
  EncodedSlice,
  readSliceQuickly,
  TAG_BLOCK,
  TAG_CLEAR,
  TAG_COLS,
  TAG_FIRST,
  TAG_GAP,
  TAG_RECORD,
  TAG_TEXT,
  TAG_WRAP,
} from "./scroll_records.ts";

export { EncodedSlice, readSliceQuickly };

/** One record of the scrollback log as it travels and as the client writes it. */
export type LogRecord =
  /** A row that scrolled off: SGR-rendered text (self-contained, ends with SGR 0), columns it covers, soft-wrapped into the next. */
  | {
    readonly kind: "line";
    readonly text: string;
    readonly cols: number;
    readonly wrap: boolean;
  }
  /**
   * Plain lines (printable ASCII, no wrap), as bytes with CR LF between them
   * (`scrollblock.v1`): `lines` rows, each written as it is.
   */
  | {
    readonly kind: "block";
    readonly bytes: Uint8Array;
    readonly lines: number;
  }
  /** An explicit scrollback clear (E3, `CSI 3 J`). */
  | { readonly kind: "clear" }
  /** This many lines were collapsed because the client fell too far behind. */
  | { readonly kind: "gap"; readonly lines: number };

/** A slice of the log: records numbered `first`, `first + 1`, ... */
export interface LogSlice {
  readonly first: number;
  readonly records: readonly LogRecord[];
  /**
   * The same records already encoded (encodeLogRecords, concatenated in
   * order), when the sender holds them so: written as they are.
   */
  readonly encoded?: readonly Uint8Array[];
}

/** TmoshExt.scroll and TmoshExt.screen on HostBuffers.Instruction. */
export const X_SCROLL = 4001, X_SCREEN = 4002;
/** ScrollSlice.first = 1, ScrollSlice.record = 2. */
const F_FIRST = 1, F_RECORD = 2;
/** LogLine.text = 1, cols = 2, wrap = 3, clear = 4, gap = 5, block = 6. */
const F_TEXT = 1, F_COLS = 2, F_WRAP = 3, F_CLEAR = 4, F_GAP = 5, F_BLOCK = 6;
/** ScreenMode.alternate = 1. */
const F_ALTERNATE = 1;
/** Largest record number or gap accepted (2^53 - 1: exact in a JS number). */
const MAX_COUNT = Number.MAX_SAFE_INTEGER;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Writes a ScrollSlice extension into the instruction `w` is in. */
export function writeScrollSlice(w: BinaryWriter, slice: LogSlice): void {
  w.tag(X_SCROLL, WireType.LengthDelimited).bytes(encodeScrollSlice(slice));
}

/** A growable byte buffer for the hand-written encoder. */
class Bytes {
  buf: Uint8Array;
  pos = 0;
  constructor(size = 4096) {
    this.buf = new Uint8Array(size);
  }
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  /** A varint of a non-negative integer below 2^53 (room reserved by the caller). */
  varint(n: number): void {
    const b = this.buf;
    while (n >= 0x80) {
      b[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    b[this.pos++] = n;
  }
}

/** Bytes of the varint of `n` (a non-negative integer below 2^53). */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Longest text whose bytes are copied by hand when ASCII (longer ones go through the encoder). */
const ASCII_PATH_MAX = 256;

/** Whether `text` is short and all ASCII (its UTF-8 is its char codes). */
function isShortAscii(text: string): boolean {
  if (text.length > ASCII_PATH_MAX) return false;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) return false;
  }
  return true;
}

/**
 * Writes a line record; ASCII text is copied by hand, without an encoder
 * call (most rows of a flood).
 */
function writeLine(
  out: Bytes,
  r: { text: string; cols: number; wrap: boolean },
): void {
  const t = r.text;
  const utf8 = isShortAscii(t) ? null : encoder.encode(t);
  const n = utf8 === null ? t.length : utf8.length;
  const body = 1 + varintSize(n) + n + 1 + varintSize(r.cols) +
    (r.wrap ? 2 : 0);
  out.room(body + 6);
  const b = out.buf;
  b[out.pos++] = TAG_RECORD;
  out.varint(body);
  b[out.pos++] = TAG_TEXT;
  out.varint(n);
  if (utf8 !== null) b.set(utf8, out.pos);
  else for (let i = 0; i < n; i++) b[out.pos + i] = t.charCodeAt(i);
  out.pos += n;
  b[out.pos++] = TAG_COLS;
  out.varint(r.cols);
  if (r.wrap) {
    b[out.pos++] = TAG_WRAP;
    b[out.pos++] = 1;
  }
}

/** The ScrollSlice message's bytes, as protobuf writes them (a flood's hot path: no per-field writer calls). */
function encodeScrollSlice(slice: LogSlice): Uint8Array {
  const parts = slice.encoded;
  let size = 11;
  for (const p of parts ?? []) size += p.length;
  const out = new Bytes(size);
  out.varint(TAG_FIRST);
  out.varint(slice.first);
  if (parts === undefined) {
    writeRecords(out, slice.records);
  } else {
    for (const p of parts) {
      out.buf.set(p, out.pos);
      out.pos += p.length;
    }
  }
  return out.buf.subarray(0, out.pos);
}

/** Records as the record fields of a ScrollSlice, for a sender to keep and send again (LogSlice.encoded). */
export function encodeLogRecords(records: readonly LogRecord[]): Uint8Array {
  const out = new Bytes(16 * records.length + 16);
  writeRecords(out, records);
  return out.buf.slice(0, out.pos);
}

/** Writes records as ScrollSlice record fields. */
function writeRecords(out: Bytes, records: readonly LogRecord[]): void {
  for (const r of records) {
    if (r.kind === "line") {
      writeLine(out, r);
    } else if (r.kind === "block") {
      const n = r.bytes.length, body = 1 + varintSize(n) + n;
      out.room(body + 6);
      out.buf[out.pos++] = TAG_RECORD;
      out.varint(body);
      out.buf[out.pos++] = TAG_BLOCK;
      out.varint(n);
      out.buf.set(r.bytes, out.pos);
      out.pos += n;
    } else if (r.kind === "clear") {
      out.room(4);
      out.buf[out.pos++] = TAG_RECORD;
      out.buf[out.pos++] = 2;
      out.buf[out.pos++] = TAG_CLEAR;
      out.buf[out.pos++] = 1;
    } else {
      const body = 1 + varintSize(r.lines);
      out.room(body + 2);
      out.buf[out.pos++] = TAG_RECORD;
      out.varint(body);
      out.buf[out.pos++] = TAG_GAP;
      out.varint(r.lines);
    }
  }
}

/** Writes a ScreenMode extension into the instruction `w` is in. */
export function writeScreenMode(w: BinaryWriter, alternate: boolean): void {
  w.tag(X_SCREEN, WireType.LengthDelimited).fork();
  w.tag(F_ALTERNATE, WireType.Varint).bool(alternate).join();
}

/**
 * Reads a ScrollSlice, its records kept encoded (EncodedSlice); null if
 * malformed. Records numbered below `from` are left out (the receiver holds
 * them: a slice resent from an older state), so the slice returned starts at
 * `from` when it reaches that far.
 */
export function readScrollSlice(
  bytes: Uint8Array,
  from = 0,
): EncodedSlice | null {
  const quick = readSliceQuickly(bytes, from);
  if (quick !== undefined) return quick;
  // Unusual encodings (unknown fields, long varints): read as protobuf does,
  // kept re-encoded the usual way.
  const full = readSliceFully(bytes, from);
  if (full === null) return null;
  return new EncodedSlice(
    full.first,
    full.records.length,
    encodeLogRecords(full.records),
  );
}

/** `slice` without its records numbered below `from`. */
function sliceFrom(slice: LogSlice, from: number): LogSlice {
  const skip = Math.min(Math.max(0, from - slice.first), slice.records.length);
  return skip === 0
    ? slice
    : { first: slice.first + skip, records: slice.records.slice(skip) };
}

/** Reads any ScrollSlice protobuf accepts, from record `from` on as readScrollSlice; null if malformed (the reference readSliceQuickly is tested against). */
export function readSliceFully(
  bytes: Uint8Array,
  from = 0,
): LogSlice | null {
  let first = 0;
  const records: LogRecord[] = [];
  const ok = readFields(bytes, (r, field, type) => {
    if (field === F_FIRST && type === WireType.Varint) {
      const n = Number(r.uint64());
      if (n > MAX_COUNT) return false;
      first = n;
    } else if (field === F_RECORD && type === WireType.LengthDelimited) {
      const rec = readRecord(r.bytes());
      if (rec === null) return false;
      records.push(rec);
    } else {
      return skip(r, type, field);
    }
    return true;
  });
  return ok ? sliceFrom({ first, records }, from) : null;
}

/** Reads a ScreenMode's `alternate`; null if malformed. */
export function readScreenMode(bytes: Uint8Array): boolean | null {
  let alternate = false;
  const ok = readFields(bytes, (r, field, type) => {
    if (field !== F_ALTERNATE || type !== WireType.Varint) {
      return skip(r, type, field);
    }
    alternate = r.bool();
    return true;
  });
  return ok ? alternate : null;
}

/** Reads one LogLine: a gap, else a clear, else a line. */
function readRecord(bytes: Uint8Array): LogRecord | null {
  let text: Uint8Array = new Uint8Array(0), cols = 0, wrap = false;
  let clear = false;
  let gap = -1, block: Uint8Array | undefined;
  const ok = readFields(bytes, (r, field, type) => {
    if (field === F_TEXT && type === WireType.LengthDelimited) text = r.bytes();
    else if (field === F_BLOCK && type === WireType.LengthDelimited) {
      block = r.bytes();
    } else if (field === F_COLS && type === WireType.Varint) cols = r.uint32();
    else if (field === F_WRAP && type === WireType.Varint) wrap = r.bool();
    else if (field === F_CLEAR && type === WireType.Varint) clear = r.bool();
    else if (field === F_GAP && type === WireType.Varint) {
      gap = Math.min(MAX_COUNT, Number(r.uint64()));
    } else return skip(r, type, field);
    return true;
  });
  if (!ok) return null;
  if (gap >= 0) return { kind: "gap", lines: gap };
  if (clear) return { kind: "clear" };
  if (block !== undefined) return blockRecord(block);
  return { kind: "line", text: decoder.decode(text), cols, wrap };
}

/**
 * A block record of `bytes`; null unless they are lines of printable ASCII
 * with CR LF between them (the client writes them to the terminal as they
 * are: nothing else may reach it).
 */
function blockRecord(bytes: Uint8Array): LogRecord | null {
  const lines = blockLineCount(bytes);
  return lines < 0 ? null : { kind: "block", bytes, lines };
}
