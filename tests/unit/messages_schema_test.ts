/**
 * The hand-driven wire codec in protocol/messages.ts against the code that
 * protoc-gen-es generates from the .proto schema: byte-identical encodings
 * and identical decodings for random messages, both ways.
 */
import assert from "node:assert/strict";
import {
  type LogRecord,
  type LogSlice,
  readScrollSlice,
  readSliceFully,
  readSliceQuickly,
} from "../../protocol/protobufs/scroll_messages.ts";
import {
  create,
  fromBinary,
  getExtension,
  hasExtension,
  setExtension,
  toBinary,
} from "@bufbuild/protobuf";
import { InstructionSchema } from "../data/protobufs/transportinstruction_pb.ts";
import * as client from "../data/protobufs/userinput_pb.ts";
import * as host from "../data/protobufs/hostinput_pb.ts";
import * as ext from "../data/protobufs/tmoshext_pb.ts";
import {
  decodeHostMessage,
  decodeInstruction,
  decodeUserMessage,
  encodeHostMessage,
  encodeInstruction,
  encodeUserMessage,
  EXT_FIRST,
  EXT_LAST,
  type HostEvent,
  U64_MAX,
  type UserEvent,
} from "../../protocol/protobufs/messages.ts";
import { mulberry32 } from "../../harness/prng.ts";

function randomBytes(rand: () => number, max: number): Uint8Array {
  const out = new Uint8Array(Math.floor(rand() * max));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

function randomU64(rand: () => number): bigint {
  const pick = rand();
  if (pick < 0.1) return U64_MAX;
  if (pick < 0.5) return BigInt(Math.floor(rand() * 1000));
  return (BigInt(Math.floor(rand() * 2 ** 32)) << 32n) |
    BigInt(Math.floor(rand() * 2 ** 32));
}

function randomCapabilities(rand: () => number): string[] {
  const names = ["ext.v1", "scrollback.v1", "attach.v1", "chan.v1", "", "é"];
  const out: string[] = [];
  for (let k = Math.floor(rand() * 4); k > 0; k--) {
    out.push(names[Math.floor(rand() * names.length)]);
  }
  return out;
}

/** An address as a detached notice carries it (IPv4, IPv6, or odd text). */
function randomAddress(rand: () => number): string {
  const pick = rand();
  const port = Math.floor(rand() * 65536);
  if (pick < 0.4) return `10.0.${Math.floor(rand() * 256)}.1:${port}`;
  if (pick < 0.8) return `[2001:db8::${port.toString(16)}]:${port}`;
  return pick < 0.9 ? "" : "é:1";
}

function randomSlice(rand: () => number): LogSlice {
  const records: LogRecord[] = [];
  for (let k = Math.floor(rand() * 6); k > 0; k--) {
    const pick = rand();
    records.push(
      pick < 0.7
        ? {
          kind: "line",
          text: String.fromCodePoint(
            ...Array.from(
              { length: Math.floor(rand() * 20) },
              () => 0x20 + Math.floor(rand() * 0x3000),
            ),
          ).replace(/[\ud800-\udfff]/g, "x"),
          cols: Math.floor(rand() * 300),
          wrap: rand() < 0.3,
        }
        : pick < 0.8
        ? { kind: "clear" }
        : pick < 0.9
        ? randomBlock(rand)
        : { kind: "gap", lines: Math.floor(rand() * 1e9) },
    );
  }
  return { first: Math.floor(rand() * 2 ** 40), records };
}

/** A block record of 1-5 plain lines (printable ASCII, CR LF between them). */
function randomBlock(rand: () => number): LogRecord {
  const lines = 1 + Math.floor(rand() * 5);
  const text = Array.from(
    { length: lines },
    () =>
      String.fromCharCode(
        ...Array.from(
          { length: Math.floor(rand() * 30) },
          () => 0x20 + Math.floor(rand() * 0x5f),
        ),
      ),
  ).join("\r\n");
  return { kind: "block", bytes: new TextEncoder().encode(text), lines };
}

/** A slice as a plain object (a received one keeps its records encoded, decoded when read). */
function plain(slice: LogSlice | null | undefined) {
  return slice && { first: slice.first, records: [...slice.records] };
}

/** Host events with their scroll slices as plain objects. */
function plainEvents(events: HostEvent[] | null) {
  return events?.map((ev) =>
    ev.type === "scroll" ? { ...ev, slice: plain(ev.slice) } : ev
  );
}

/** The generated schema's ScrollSlice for `slice`. */
function generatedSlice(slice: LogSlice) {
  return create(ext.ScrollSliceSchema, {
    first: BigInt(slice.first),
    record: slice.records.map((r) =>
      create(
        ext.LogLineSchema,
        r.kind === "line"
          ? {
            text: new TextEncoder().encode(r.text),
            cols: r.cols,
            ...(r.wrap ? { wrap: true } : {}),
          }
          : r.kind === "clear"
          ? { clear: true }
          : r.kind === "block"
          ? { block: r.bytes }
          : { gap: BigInt(r.lines) },
      )
    ),
  });
}

function randomInt32(rand: () => number): number {
  return rand() < 0.2
    ? Math.floor(rand() * 2 ** 32) - 2 ** 31
    : Math.floor(rand() * 500);
}

function generatedUser(events: UserEvent[]): Uint8Array {
  const msg = create(client.UserMessageSchema);
  for (const ev of events) {
    const ins = create(client.InstructionSchema);
    if (ev.type === "keys") {
      setExtension(
        ins,
        client.keystroke,
        create(client.KeystrokeSchema, { keys: ev.keys }),
      );
    } else if (ev.type === "resize") {
      setExtension(
        ins,
        client.resize,
        create(client.ResizeMessageSchema, {
          width: ev.width,
          height: ev.height,
        }),
      );
    } else if (ev.type === "hello") {
      setExtension(
        ins,
        ext.hello,
        create(ext.HelloSchema, { capability: ev.capabilities }),
      );
    } else {
      setExtension(
        ins,
        ext.written,
        create(ext.LogWrittenSchema, { end: BigInt(ev.end) }),
      );
    }
    msg.instruction.push(ins);
  }
  return toBinary(client.UserMessageSchema, msg);
}

function generatedHost(events: HostEvent[]): Uint8Array {
  const msg = create(host.HostMessageSchema);
  for (const ev of events) {
    const ins = create(host.InstructionSchema);
    if (ev.type === "bytes") {
      setExtension(
        ins,
        host.hostbytes,
        create(host.HostBytesSchema, { hoststring: ev.bytes }),
      );
    } else if (ev.type === "resize") {
      setExtension(
        ins,
        host.resize,
        create(host.ResizeMessageSchema, {
          width: ev.width,
          height: ev.height,
        }),
      );
    } else if (ev.type === "echoAck") {
      setExtension(
        ins,
        host.echoack,
        create(host.EchoAckSchema, { echoAckNum: ev.num }),
      );
    } else if (ev.type === "welcome") {
      setExtension(
        ins,
        ext.welcome,
        create(ext.WelcomeSchema, { capability: ev.capabilities }),
      );
    } else if (ev.type === "scroll") {
      setExtension(
        ins,
        ext.scroll,
        generatedSlice(ev.slice),
      );
    } else if (ev.type === "screen") {
      setExtension(
        ins,
        ext.screen,
        create(ext.ScreenModeSchema, { alternate: ev.alternate }),
      );
    } else {
      setExtension(
        ins,
        ext.detached,
        create(ext.DetachedSchema, { by: ev.by }),
      );
    }
    msg.instruction.push(ins);
  }
  return toBinary(host.HostMessageSchema, msg);
}

Deno.test("Instruction: same bytes as the generated code, and decodes what it encodes", () => {
  const rand = mulberry32(7);
  for (let n = 0; n < 2000; n++) {
    const i = {
      protocolVersion: rand() < 0.9 ? 2 : Math.floor(rand() * 2 ** 32),
      oldNum: randomU64(rand),
      newNum: randomU64(rand),
      ackNum: randomU64(rand),
      throwawayNum: randomU64(rand),
      diff: randomBytes(rand, 300),
      chaff: randomBytes(rand, 17),
    };
    const ours = encodeInstruction(i);
    const theirs = toBinary(InstructionSchema, create(InstructionSchema, i));
    assert.deepEqual(ours, theirs, `seed 7 case ${n}`);
    const back = fromBinary(InstructionSchema, ours);
    assert.equal(back.oldNum, i.oldNum);
    assert.deepEqual(decodeInstruction(theirs), i);
  }
});

Deno.test("UserMessage: same bytes as the generated code, both directions", () => {
  const rand = mulberry32(11);
  for (let n = 0; n < 2000; n++) {
    const events: UserEvent[] = [];
    for (let k = Math.floor(rand() * 5); k > 0; k--) {
      const pick = rand();
      events.push(
        pick < 0.6
          ? { type: "keys", keys: randomBytes(rand, 40) }
          : pick < 0.85
          ? {
            type: "resize",
            width: randomInt32(rand),
            height: randomInt32(rand),
          }
          : pick < 0.93
          ? { type: "hello", capabilities: randomCapabilities(rand) }
          : { type: "written", end: Math.floor(rand() * 2 ** 40) },
      );
    }
    const ours = encodeUserMessage(events);
    assert.deepEqual(ours, generatedUser(events), `seed 11 case ${n}`);
    assert.deepEqual(decodeUserMessage(ours), events);
    const parsed = fromBinary(client.UserMessageSchema, ours);
    assert.equal(parsed.instruction.length, events.length);
    for (let k = 0; k < events.length; k++) {
      assert.equal(
        hasExtension(parsed.instruction[k], client.keystroke),
        events[k].type === "keys",
      );
    }
  }
});

Deno.test("HostMessage: same bytes as the generated code, both directions", () => {
  const rand = mulberry32(13);
  for (let n = 0; n < 2000; n++) {
    const events: HostEvent[] = [];
    for (let k = Math.floor(rand() * 5); k > 0; k--) {
      const pick = rand();
      events.push(
        pick < 0.5
          ? { type: "bytes", bytes: randomBytes(rand, 200) }
          : pick < 0.7
          ? {
            type: "resize",
            width: randomInt32(rand),
            height: randomInt32(rand),
          }
          : pick < 0.8
          ? { type: "echoAck", num: randomU64(rand) }
          : pick < 0.85
          ? { type: "welcome", capabilities: randomCapabilities(rand) }
          : pick < 0.93
          ? { type: "scroll", slice: randomSlice(rand) }
          : pick < 0.96
          ? { type: "screen", alternate: rand() < 0.5 }
          : { type: "detached", by: randomAddress(rand) },
      );
    }
    const ours = encodeHostMessage(events);
    assert.deepEqual(ours, generatedHost(events), `seed 13 case ${n}`);
    assert.deepEqual(plainEvents(decodeHostMessage(ours)), events);
    const parsed = fromBinary(host.HostMessageSchema, ours);
    for (let k = 0; k < events.length; k++) {
      const ev = events[k];
      if (ev.type === "echoAck") {
        assert.equal(
          getExtension(parsed.instruction[k], host.echoack).echoAckNum,
          ev.num,
        );
      }
    }
  }
});

Deno.test("tmosh extensions: numbers in the private range, parsed by the stock schema as unknown extensions", () => {
  assert.ok(ext.hello.number >= EXT_FIRST && ext.hello.number <= EXT_LAST);
  assert.ok(
    ext.welcome.number >= EXT_FIRST && ext.welcome.number <= EXT_LAST,
  );
  // Every extension tmosh declares (the whole tmoshext.proto) is in the range.
  for (const x of ext.file_tmoshext.extensions) {
    assert.ok(x.number >= EXT_FIRST && x.number <= EXT_LAST, x.name);
  }
  // Stock mosh's own schema (userinput.proto, hostinput.proto) parses both and
  // sees neither a keystroke nor a resize nor an echo ack: it skips them.
  const user = encodeUserMessage([
    { type: "hello", capabilities: ["ext.v1", "scrollback.v1"] },
    { type: "keys", keys: new Uint8Array([0x61]) },
  ]);
  const u = fromBinary(client.UserMessageSchema, user);
  assert.equal(u.instruction.length, 2);
  assert.equal(hasExtension(u.instruction[0], client.keystroke), false);
  assert.equal(hasExtension(u.instruction[0], client.resize), false);
  assert.deepEqual(
    getExtension(u.instruction[0], ext.hello).capability,
    ["ext.v1", "scrollback.v1"],
  );
  const hostMsg = encodeHostMessage([
    { type: "welcome", capabilities: [] },
    { type: "echoAck", num: 5n },
  ]);
  const h = fromBinary(host.HostMessageSchema, hostMsg);
  assert.equal(hasExtension(h.instruction[0], host.hostbytes), false);
  assert.equal(hasExtension(h.instruction[0], host.echoack), false);
  assert.equal(hasExtension(h.instruction[0], ext.welcome), true);
  assert.deepEqual(decodeHostMessage(hostMsg), [
    { type: "welcome", capabilities: [] },
    { type: "echoAck", num: 5n },
  ]);
});

Deno.test("detached notice (4003): same bytes as the generated Detached, a stock parser skips it", () => {
  assert.equal(ext.detached.number, 4003);
  const msg = encodeHostMessage([
    { type: "echoAck", num: 9n },
    { type: "detached", by: "192.0.2.7:60123" },
  ]);
  assert.deepEqual(
    msg,
    generatedHost([
      { type: "echoAck", num: 9n },
      { type: "detached", by: "192.0.2.7:60123" },
    ]),
  );
  const h = fromBinary(host.HostMessageSchema, msg);
  assert.equal(hasExtension(h.instruction[1], host.hostbytes), false);
  assert.equal(hasExtension(h.instruction[1], host.resize), false);
  assert.equal(hasExtension(h.instruction[1], host.echoack), false);
  assert.equal(
    getExtension(h.instruction[1], ext.detached).by,
    "192.0.2.7:60123",
  );
  assert.deepEqual(decodeHostMessage(msg), [
    { type: "echoAck", num: 9n },
    { type: "detached", by: "192.0.2.7:60123" },
  ]);
});

Deno.test("ScrollSlice: the quick reader agrees with the full one on every input it accepts (random slices, mutated bytes)", () => {
  const rand = mulberry32(29);
  let quick = 0, mutants = 0;
  for (let n = 0; n < 3000; n++) {
    const slice = randomSlice(rand);
    const generated = toBinary(ext.ScrollSliceSchema, generatedSlice(slice));
    assert.deepEqual(plain(readSliceQuickly(generated)), slice, `case ${n}`);
    assert.deepEqual(readSliceFully(generated), slice, `case ${n}`);
    // Records below `from` (held already) are left out, not decoded.
    const from = slice.first - 1 +
      Math.floor(rand() * (slice.records.length + 3));
    const skip = Math.min(
      Math.max(0, from - slice.first),
      slice.records.length,
    );
    const tail = {
      first: slice.first + skip,
      records: slice.records.slice(skip),
    };
    assert.deepEqual(
      plain(readSliceQuickly(generated, from)),
      tail,
      `case ${n}`,
    );
    assert.deepEqual(readSliceFully(generated, from), tail, `case ${n}`);
    for (let m = 0; m < 8; m++) {
      const bytes = generated.slice();
      for (let k = 1 + Math.floor(rand() * 3); k > 0 && bytes.length; k--) {
        bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      }
      const cut = rand() < 0.3
        ? bytes.subarray(0, Math.floor(rand() * bytes.length))
        : bytes;
      const fast = readSliceQuickly(cut);
      const full = readSliceFully(cut);
      mutants++;
      if (fast === undefined) continue;
      quick++;
      assert.deepEqual(plain(fast), full, `case ${n} mutant ${m}`);
      assert.deepEqual(plain(readScrollSlice(cut)), full);
      const fastFrom = readSliceQuickly(cut, from);
      if (fastFrom !== undefined) {
        assert.deepEqual(
          plain(fastFrom),
          readSliceFully(cut, from),
          `from ${from}`,
        );
      }
    }
  }
  assert.ok(quick > mutants / 4, `${quick} of ${mutants} mutants read quickly`);
});
