/**
 * Encode/decode of Mosh's protobuf messages (docs/wire.md §5.1–§5.3):
 * the transport Instruction and the two diffs it carries, the client's
 * UserMessage and the server's HostMessage. Built on protobuf-es's wire-format
 * reader and writer; the schema lives in `proto/*.proto`, and the generated
 * code in `tests/data/protobufs/` checks in tests that these bytes are exactly the schema's.
 * (The generated code's reflection runtime would cost the server about 5 MB of
 * memory, so the product encodes these seven small messages directly.)
 * Decoders return null for bytes that are not valid protobuf of the expected
 * shape; they never throw.
 * @module
 */

import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { readFields, skip } from "./wire_fields.ts";
import {
  type LogSlice,
  readScreenMode,
  readScrollSlice,
  writeScreenMode,
  writeScrollSlice,
  X_SCREEN,
  X_SCROLL,
} from "./scroll_messages.ts";
import { readDetached, writeDetached, X_DETACHED } from "./attach_messages.ts";

/** A decoded `TransportBuffers.Instruction` (docs/wire.md §5.1). */
export interface Instruction {
  /** Always PROTOCOL_VERSION (2) from a well-behaved peer. */
  protocolVersion: number;
  /** Sender's state the diff applies to. */
  oldNum: bigint;
  /** Sender's state the diff produces; SHUTDOWN_NUM signals shutdown. */
  newNum: bigint;
  /** Newest peer state received in order; SHUTDOWN_NUM acks shutdown. */
  ackNum: bigint;
  /** The receiver may drop the sender's states numbered below this. */
  throwawayNum: bigint;
  /** Serialized UserMessage or HostMessage; may be empty. */
  diff: Uint8Array;
  /** Random padding, ignored by the receiver. */
  chaff: Uint8Array;
}

/**
 * One client-to-server event (docs/wire.md §5.2); `hello` is tmosh's private
 * extension (docs/wire.md §13), which stock mosh-server skips.
 */
export type UserEvent =
  | { type: "keys"; keys: Uint8Array }
  | { type: "resize"; width: number; height: number }
  | { type: "hello"; capabilities: string[] }
  | { type: "written"; end: number };

/**
 * One server-to-client diff step (docs/wire.md §5.3); `welcome` is tmosh's
 * private extension (docs/wire.md §13), sent only to a client that said hello.
 */
export type HostEvent =
  | { type: "bytes"; bytes: Uint8Array }
  | { type: "resize"; width: number; height: number }
  | { type: "echoAck"; num: bigint }
  | { type: "welcome"; capabilities: string[] }
  | { type: "scroll"; slice: LogSlice }
  | { type: "screen"; alternate: boolean }
  | { type: "detached"; by: string };

// Field numbers (mosh: src/protobufs/*.proto).
/** Instruction fields 1-7 (TransportBuffers.Instruction). */
const F_VERSION = 1, F_OLD = 2, F_NEW = 3, F_ACK = 4, F_THROWAWAY = 5;
const F_DIFF = 6, F_CHAFF = 7;
/** UserMessage/HostMessage: repeated Instruction instruction = 1. */
const F_INSTRUCTION = 1;
/** Extensions of ClientBuffers/HostBuffers.Instruction. */
const X_KEYSTROKE = 2, X_HOSTBYTES = 2, X_RESIZE = 3, X_ECHOACK = 7;
/** Keystroke.keys = 4, HostBytes.hoststring = 4. */
const F_KEYS = 4;
/** ResizeMessage.width = 5, height = 6. */
const F_WIDTH = 5, F_HEIGHT = 6;
/** EchoAck.echo_ack_num = 8. */
const F_ECHO_ACK_NUM = 8;

/**
 * tmosh's private extension numbers on ClientBuffers.Instruction and
 * HostBuffers.Instruction: [EXT_FIRST, EXT_LAST] (docs/wire.md §13;
 * protocol/protobufs/tmoshext.proto). Mosh uses 2, 3 and 7, and forks with
 * agent forwarding use 8. A diff toward a stock peer never holds one.
 */
export const EXT_FIRST = 4000, EXT_LAST = 4099;
/** TmoshExt.hello (user) and TmoshExt.welcome (host), both 4000. */
const X_HELLO = 4000, X_WELCOME = 4000;
/** Hello.capability = 1, Welcome.capability = 1 (repeated string). */
const F_CAPABILITY = 1;
/** TmoshExt.written (user, 4001): how far the client wrote the scrollback log (docs/wire.md §14.2). */
const X_WRITTEN = 4001;
/** LogWritten.end = 1 (uint64). */
const F_WRITTEN_END = 1;

/** Largest value of a uint64 field, 2^64-1 (protobuf: uint64). */
export const U64_MAX = 0xffffffffffffffffn;

/**
 * Serializes an Instruction with all seven fields present, in field order, as
 * stock Mosh does. Throws if a number is out of its protobuf range.
 */
export function encodeInstruction(i: Instruction): Uint8Array {
  if (
    !Number.isInteger(i.protocolVersion) || i.protocolVersion < 0 ||
    i.protocolVersion > 0xffffffff
  ) {
    throw new RangeError(`tmosh: protocol version ${i.protocolVersion}`);
  }
  const w = new BinaryWriter();
  w.tag(F_VERSION, WireType.Varint).uint32(i.protocolVersion);
  w.tag(F_OLD, WireType.Varint).uint64(u64(i.oldNum));
  w.tag(F_NEW, WireType.Varint).uint64(u64(i.newNum));
  w.tag(F_ACK, WireType.Varint).uint64(u64(i.ackNum));
  w.tag(F_THROWAWAY, WireType.Varint).uint64(u64(i.throwawayNum));
  w.tag(F_DIFF, WireType.LengthDelimited).bytes(i.diff);
  w.tag(F_CHAFF, WireType.LengthDelimited).bytes(i.chaff);
  return w.finish();
}

/** Parses an Instruction; missing fields read as 0 or empty; null if invalid. */
export function decodeInstruction(bytes: Uint8Array): Instruction | null {
  const out: Instruction = {
    protocolVersion: 0,
    oldNum: 0n,
    newNum: 0n,
    ackNum: 0n,
    throwawayNum: 0n,
    diff: new Uint8Array(0),
    chaff: new Uint8Array(0),
  };
  const ok = readFields(bytes, (r, field, type) => {
    if (field === F_VERSION) {
      if (type !== WireType.Varint) return skip(r, type, field);
      out.protocolVersion = r.uint32();
    } else if (field >= F_OLD && field <= F_THROWAWAY) {
      if (type !== WireType.Varint) return skip(r, type, field);
      const n = BigInt(r.uint64());
      if (field === F_OLD) out.oldNum = n;
      else if (field === F_NEW) out.newNum = n;
      else if (field === F_ACK) out.ackNum = n;
      else out.throwawayNum = n;
    } else if (field === F_DIFF || field === F_CHAFF) {
      if (type !== WireType.LengthDelimited) return skip(r, type, field);
      if (field === F_DIFF) out.diff = r.bytes();
      else out.chaff = r.bytes();
    } else {
      return skip(r, type, field);
    }
    return true;
  });
  return ok ? out : null;
}

/** Serializes user events as a UserMessage, one Instruction per event. */
export function encodeUserMessage(events: UserEvent[]): Uint8Array {
  const w = new BinaryWriter();
  for (const ev of events) {
    w.tag(F_INSTRUCTION, WireType.LengthDelimited).fork();
    if (ev.type === "keys") {
      w.tag(X_KEYSTROKE, WireType.LengthDelimited).fork();
      w.tag(F_KEYS, WireType.LengthDelimited).bytes(ev.keys).join();
    } else if (ev.type === "resize") {
      writeResize(w, ev.width, ev.height);
    } else if (ev.type === "hello") {
      writeCapabilities(w, X_HELLO, ev.capabilities);
    } else {
      w.tag(X_WRITTEN, WireType.LengthDelimited).fork();
      w.tag(F_WRITTEN_END, WireType.Varint).uint64(ev.end).join();
    }
    w.join();
  }
  return w.finish();
}

/**
 * Parses a UserMessage into events (per instruction: keystroke, else resize,
 * else hello, else written; instructions with none are skipped); null if the bytes are invalid.
 */
export function decodeUserMessage(bytes: Uint8Array): UserEvent[] | null {
  const out: UserEvent[] = [];
  const ok = readInstructions(bytes, (ins) => {
    const found: {
      keys?: Uint8Array;
      resize?: Size;
      hello?: string[];
      written?: number;
    } = {};
    const fine = readFields(ins, (r, field, type) => {
      if (field === X_KEYSTROKE) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        const k = readBytesField(r.bytes(), F_KEYS);
        if (k === null) return false;
        found.keys = k.value ?? found.keys ?? new Uint8Array(0);
      } else if (field === X_RESIZE) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        const rs = readResize(r.bytes(), found.resize);
        if (rs === null) return false;
        found.resize = rs;
      } else if (field === X_HELLO) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        const caps = readCapabilities(r.bytes(), found.hello);
        if (caps === null) return false;
        found.hello = caps;
      } else if (field === X_WRITTEN) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        const written = readWritten(r.bytes(), found.written);
        if (written === null) return false;
        found.written = written;
      } else {
        return skip(r, type, field);
      }
      return true;
    });
    if (!fine) return false;
    if (found.keys) out.push({ type: "keys", keys: found.keys });
    else if (found.resize) out.push({ type: "resize", ...found.resize });
    else if (found.hello) {
      out.push({ type: "hello", capabilities: found.hello });
    } else if (found.written !== undefined) {
      out.push({ type: "written", end: found.written });
    }
    return true;
  });
  return ok ? out : null;
}

/** Serializes host events as a HostMessage, one Instruction per event. */
export function encodeHostMessage(events: HostEvent[]): Uint8Array {
  const w = new BinaryWriter();
  for (const ev of events) {
    w.tag(F_INSTRUCTION, WireType.LengthDelimited).fork();
    if (ev.type === "bytes") {
      w.tag(X_HOSTBYTES, WireType.LengthDelimited).fork();
      w.tag(F_KEYS, WireType.LengthDelimited).bytes(ev.bytes).join();
    } else if (ev.type === "resize") {
      writeResize(w, ev.width, ev.height);
    } else if (ev.type === "echoAck") {
      w.tag(X_ECHOACK, WireType.LengthDelimited).fork();
      w.tag(F_ECHO_ACK_NUM, WireType.Varint).uint64(u64(ev.num)).join();
    } else if (ev.type === "welcome") {
      writeCapabilities(w, X_WELCOME, ev.capabilities);
    } else if (ev.type === "scroll") {
      writeScrollSlice(w, ev.slice);
    } else if (ev.type === "screen") {
      writeScreenMode(w, ev.alternate);
    } else {
      writeDetached(w, ev.by);
    }
    w.join();
  }
  return w.finish();
}

/**
 * Parses a HostMessage into events, in order (per instruction: hostbytes, else
 * resize, else echoack, else welcome, else scroll, else screen, else detached; others skipped); null if the bytes are invalid.
 * Log records numbered below `scrollFrom` are left out of a scroll slice (readScrollSlice).
 */
export function decodeHostMessage(
  bytes: Uint8Array,
  options: { scrollFrom?: number } = {},
): HostEvent[] | null {
  const out: HostEvent[] = [];
  const ok = readInstructions(bytes, (ins) => {
    const found: {
      bytes?: Uint8Array;
      resize?: Size;
      echoAck?: bigint;
      welcome?: string[];
      scroll?: LogSlice;
      alternate?: boolean;
      detached?: string;
    } = {};
    const fine = readFields(ins, (r, field, type) => {
      if (field === X_HOSTBYTES) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        const b = readBytesField(r.bytes(), F_KEYS);
        if (b === null) return false;
        found.bytes = b.value ?? found.bytes ?? new Uint8Array(0);
      } else if (field === X_RESIZE) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        const rs = readResize(r.bytes(), found.resize);
        if (rs === null) return false;
        found.resize = rs;
      } else if (field === X_ECHOACK) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        let num = found.echoAck ?? 0n;
        const inner = readFields(r.bytes(), (r2, f2, t2) => {
          if (f2 !== F_ECHO_ACK_NUM) return skip(r2, t2, f2);
          if (t2 !== WireType.Varint) return skip(r2, t2, f2);
          num = BigInt(r2.uint64());
          return true;
        });
        if (!inner) return false;
        found.echoAck = num;
      } else if (field === X_WELCOME) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        const caps = readCapabilities(r.bytes(), found.welcome);
        if (caps === null) return false;
        found.welcome = caps;
      } else if (field === X_SCROLL || field === X_SCREEN) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        if (field === X_SCROLL) {
          const slice = readScrollSlice(r.bytes(), options.scrollFrom);
          if (slice === null) return false;
          found.scroll = slice;
        } else {
          const alternate = readScreenMode(r.bytes());
          if (alternate === null) return false;
          found.alternate = alternate;
        }
      } else if (field === X_DETACHED) {
        if (type !== WireType.LengthDelimited) return skip(r, type, field);
        const by = readDetached(r.bytes());
        if (by === null) return false;
        found.detached = by;
      } else {
        return skip(r, type, field);
      }
      return true;
    });
    if (!fine) return false;
    if (found.bytes) out.push({ type: "bytes", bytes: found.bytes });
    else if (found.resize) out.push({ type: "resize", ...found.resize });
    else if (found.echoAck !== undefined) {
      out.push({ type: "echoAck", num: found.echoAck });
    } else if (found.welcome) {
      out.push({ type: "welcome", capabilities: found.welcome });
    } else if (found.scroll) {
      out.push({ type: "scroll", slice: found.scroll });
    } else if (found.alternate !== undefined) {
      out.push({ type: "screen", alternate: found.alternate });
    } else if (found.detached !== undefined) {
      out.push({ type: "detached", by: found.detached });
    }
    return true;
  });
  return ok ? out : null;
}

/** Writes a ResizeMessage extension (field 3) with both dimensions. */
function writeResize(w: BinaryWriter, width: number, height: number): void {
  w.tag(X_RESIZE, WireType.LengthDelimited).fork();
  w.tag(F_WIDTH, WireType.Varint).int32(width);
  w.tag(F_HEIGHT, WireType.Varint).int32(height).join();
}

/** Writes a Hello or Welcome extension `field` listing `capabilities`. */
function writeCapabilities(
  w: BinaryWriter,
  field: number,
  capabilities: readonly string[],
): void {
  w.tag(field, WireType.LengthDelimited).fork();
  for (const c of capabilities) {
    w.tag(F_CAPABILITY, WireType.LengthDelimited).string(c);
  }
  w.join();
}

/**
 * Reads a Hello or Welcome, appending to `prev` as protobuf merges repeated
 * occurrences; null if invalid. Names are decoded leniently (bad UTF-8
 * becomes U+FFFD); callers keep only the names they know.
 */
function readCapabilities(
  bytes: Uint8Array,
  prev: string[] | undefined,
): string[] | null {
  const caps = prev ? [...prev] : [];
  const ok = readFields(bytes, (r, field, type) => {
    if (field !== F_CAPABILITY || type !== WireType.LengthDelimited) {
      return skip(r, type, field);
    }
    caps.push(r.string());
    return true;
  });
  return ok ? caps : null;
}

/** Reads a LogWritten's end, merging onto `prev` as protobuf merges; above 2^53 clamped; null if invalid. */
function readWritten(
  bytes: Uint8Array,
  prev: number | undefined,
): number | null {
  let end = prev ?? 0;
  const ok = readFields(bytes, (r, field, type) => {
    if (field !== F_WRITTEN_END || type !== WireType.Varint) {
      return skip(r, type, field);
    }
    end = Math.min(Number.MAX_SAFE_INTEGER, Number(r.uint64()));
    return true;
  });
  return ok ? end : null;
}

/** A terminal size in cells. */
interface Size {
  width: number;
  height: number;
}

/** Reads a ResizeMessage, merging into `prev` as protobuf merges repeated occurrences; null if invalid. */
function readResize(bytes: Uint8Array, prev: Size | undefined): Size | null {
  const rs = { width: prev?.width ?? 0, height: prev?.height ?? 0 };
  const ok = readFields(bytes, (r, field, type) => {
    if (field === F_WIDTH || field === F_HEIGHT) {
      if (type !== WireType.Varint) return skip(r, type, field);
      if (field === F_WIDTH) rs.width = r.int32();
      else rs.height = r.int32();
    } else {
      return skip(r, type, field);
    }
    return true;
  });
  return ok ? rs : null;
}

/** Reads a message whose only known field is bytes `field`; value null when absent; null if invalid. */
function readBytesField(
  bytes: Uint8Array,
  field: number,
): { value: Uint8Array | null } | null {
  let value: Uint8Array | null = null;
  const ok = readFields(bytes, (r, f, type) => {
    if (f !== field) return skip(r, type, f);
    if (type !== WireType.LengthDelimited) return skip(r, type, f);
    value = r.bytes();
    return true;
  });
  return ok ? { value } : null;
}

/** Calls `each` with the bytes of every `instruction` (field 1) of a User/HostMessage; false if invalid. */
function readInstructions(
  bytes: Uint8Array,
  each: (instruction: Uint8Array) => boolean,
): boolean {
  return readFields(bytes, (r, field, type) => {
    if (field !== F_INSTRUCTION) return skip(r, type, field);
    if (type !== WireType.LengthDelimited) return skip(r, type, field);
    return each(r.bytes());
  });
}

/** Checks a uint64 value. */
function u64(n: bigint): bigint {
  if (n < 0n || n > U64_MAX) {
    throw new RangeError(`tmosh: ${n} is not a uint64`);
  }
  return n;
}
