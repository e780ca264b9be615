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

/** One record of the scrollback log as it travels and as the client writes it. */
export type LogRecord =
  /** A row that scrolled off: SGR-rendered text (self-contained, ends with SGR 0), columns it covers, soft-wrapped into the next. */
  | {
    readonly kind: "line";
    readonly text: string;
    readonly cols: number;
    readonly wrap: boolean;
  }
  /** An explicit scrollback clear (E3, `CSI 3 J`). */
  | { readonly kind: "clear" }
  /** This many lines were collapsed because the client fell too far behind. */
  | { readonly kind: "gap"; readonly lines: number };

/** A slice of the log: records numbered `first`, `first + 1`, ... */
export interface LogSlice {
  readonly first: number;
  readonly records: readonly LogRecord[];
}

/** TmoshExt.scroll and TmoshExt.screen on HostBuffers.Instruction. */
export const X_SCROLL = 4001, X_SCREEN = 4002;
/** ScrollSlice.first = 1, ScrollSlice.record = 2. */
const F_FIRST = 1, F_RECORD = 2;
/** LogLine.text = 1, cols = 2, wrap = 3, clear = 4, gap = 5. */
const F_TEXT = 1, F_COLS = 2, F_WRAP = 3, F_CLEAR = 4, F_GAP = 5;
/** ScreenMode.alternate = 1. */
const F_ALTERNATE = 1;
/** Largest record number or gap accepted (2^53 - 1: exact in a JS number). */
const MAX_COUNT = Number.MAX_SAFE_INTEGER;

const decoder = new TextDecoder();

/** Writes a ScrollSlice extension into the instruction `w` is in. */
export function writeScrollSlice(w: BinaryWriter, slice: LogSlice): void {
  w.tag(X_SCROLL, WireType.LengthDelimited).fork();
  w.tag(F_FIRST, WireType.Varint).uint64(slice.first);
  for (const r of slice.records) {
    w.tag(F_RECORD, WireType.LengthDelimited).fork();
    if (r.kind === "line") {
      w.tag(F_TEXT, WireType.LengthDelimited).string(r.text);
      w.tag(F_COLS, WireType.Varint).uint32(r.cols);
      if (r.wrap) w.tag(F_WRAP, WireType.Varint).bool(true);
    } else if (r.kind === "clear") {
      w.tag(F_CLEAR, WireType.Varint).bool(true);
    } else {
      w.tag(F_GAP, WireType.Varint).uint64(r.lines);
    }
    w.join();
  }
  w.join();
}

/** Writes a ScreenMode extension into the instruction `w` is in. */
export function writeScreenMode(w: BinaryWriter, alternate: boolean): void {
  w.tag(X_SCREEN, WireType.LengthDelimited).fork();
  w.tag(F_ALTERNATE, WireType.Varint).bool(alternate).join();
}

/** Reads a ScrollSlice; null if malformed. */
export function readScrollSlice(bytes: Uint8Array): LogSlice | null {
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
  return ok ? { first, records } : null;
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
  let gap = -1;
  const ok = readFields(bytes, (r, field, type) => {
    if (field === F_TEXT && type === WireType.LengthDelimited) text = r.bytes();
    else if (field === F_COLS && type === WireType.Varint) cols = r.uint32();
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
  return { kind: "line", text: decoder.decode(text), cols, wrap };
}
