import assert from "node:assert/strict";
import {
  decodeHostMessage,
  decodeInstruction,
  decodeUserMessage,
  encodeHostMessage,
  encodeInstruction,
  encodeUserMessage,
  type HostEvent,
  type Instruction,
  type UserEvent,
} from "../../protocol/protobufs/messages.ts";
import {
  PROTOCOL_VERSION,
  SHUTDOWN_NUM,
} from "../../protocol/network/constants.ts";
import { fromHex, toHex } from "../../harness/hex.ts";

const te = new TextEncoder();
const EMPTY = new Uint8Array();

function instruction(over: Partial<Instruction>): Instruction {
  return {
    protocolVersion: PROTOCOL_VERSION,
    oldNum: 0n,
    newNum: 0n,
    ackNum: 0n,
    throwawayNum: 0n,
    diff: EMPTY,
    chaff: EMPTY,
    ...over,
  };
}

// ---- docs/wire.md §11 byte strings ----

Deno.test("UserMessage Resize 80x24 matches §11", () => {
  const bytes = encodeUserMessage([{ type: "resize", width: 80, height: 24 }]);
  assert.equal(toHex(bytes), "0a061a0428503018");
  assert.deepEqual(decodeUserMessage(bytes), [
    { type: "resize", width: 80, height: 24 },
  ]);
});

Deno.test("UserMessage keystrokes ls\\r matches §11", () => {
  const bytes = encodeUserMessage([{ type: "keys", keys: te.encode("ls\r") }]);
  assert.equal(toHex(bytes), "0a07120522036c730d");
});

Deno.test("first client Instruction matches §11", () => {
  const diff = encodeUserMessage([{ type: "resize", width: 80, height: 24 }]);
  const bytes = encodeInstruction(instruction({ newNum: 1n, diff }));
  assert.equal(toHex(bytes), "0802100018012000280032080a061a04285030183a00");
});

Deno.test("HostMessage EchoAck 1 + HostBytes hi matches §11", () => {
  const events: HostEvent[] = [
    { type: "echoAck", num: 1n },
    { type: "bytes", bytes: te.encode("hi") },
  ];
  const diff = encodeHostMessage(events);
  assert.equal(toHex(diff), "0a043a0240010a06120422026869");
  assert.deepEqual(decodeHostMessage(diff), events);
  const ins = encodeInstruction(
    instruction({ newNum: 1n, ackNum: 1n, diff }),
  );
  assert.equal(
    toHex(ins),
    "08021000180120012800320e0a043a0240010a061204220268693a00",
  );
});

Deno.test("shutdown Instruction matches §11 (2^64-1 is a 10-byte varint)", () => {
  const bytes = encodeInstruction(
    instruction({
      oldNum: 3n,
      newNum: SHUTDOWN_NUM,
      ackNum: 5n,
      throwawayNum: 3n,
    }),
  );
  assert.equal(toHex(bytes), "0802100318ffffffffffffffffff012005280332003a00");
  const back = decodeInstruction(bytes);
  assert.equal(back?.newNum, 0xffff_ffff_ffff_ffffn);
});

// ---- round trips ----

Deno.test("Instruction round trip keeps every field, including 2^64-1", () => {
  const i = instruction({
    protocolVersion: 2,
    oldNum: 123456789012345n,
    newNum: SHUTDOWN_NUM,
    ackNum: SHUTDOWN_NUM,
    throwawayNum: 7n,
    diff: te.encode("diff bytes"),
    chaff: new Uint8Array([1, 2, 3, 0, 255]),
  });
  assert.deepEqual(decodeInstruction(encodeInstruction(i)), i);
});

Deno.test("Instruction with zero and empty fields still encodes all seven", () => {
  const bytes = encodeInstruction(instruction({ protocolVersion: 0 }));
  assert.equal(toHex(bytes), "080010001800200028003200" + "3a00");
});

Deno.test("UserMessage round trip of mixed events, in order", () => {
  const events: UserEvent[] = [
    { type: "resize", width: 80, height: 24 },
    { type: "keys", keys: te.encode("echo hi\r") },
    { type: "resize", width: 1, height: 1 },
    { type: "keys", keys: new Uint8Array([0, 0x1b, 0xff]) },
    { type: "keys", keys: EMPTY },
  ];
  assert.deepEqual(decodeUserMessage(encodeUserMessage(events)), events);
  assert.deepEqual(decodeUserMessage(encodeUserMessage([])), []);
});

Deno.test("HostMessage round trip of every event kind", () => {
  const events: HostEvent[] = [
    { type: "echoAck", num: SHUTDOWN_NUM - 1n },
    { type: "resize", width: 132, height: 50 },
    { type: "bytes", bytes: te.encode("\x1b[?25l\r\nhello\x1b[?25h") },
    { type: "echoAck", num: 0n },
  ];
  const bytes = encodeHostMessage(events);
  assert.deepEqual(decodeHostMessage(bytes), events);
  // echo_ack 0 and a zero-length body are still present on the wire.
  assert.equal(
    toHex(encodeHostMessage([{ type: "echoAck", num: 0n }])),
    "0a043a024000",
  );
});

// ---- decoding rules ----

Deno.test("missing Instruction fields read as 0/empty, any field order", () => {
  assert.deepEqual(
    decodeInstruction(EMPTY),
    instruction({ protocolVersion: 0 }),
  );
  // new_num=9 before protocol_version=2, diff "x", unknown field 15 skipped.
  const bytes = fromHex("1809 0802 3201 78 7801");
  assert.deepEqual(
    decodeInstruction(bytes),
    instruction({ newNum: 9n, diff: te.encode("x") }),
  );
});

Deno.test("keystroke wins when an instruction carries both", () => {
  // instruction { resize{5:3,6:4}, keystroke{keys "a"} }
  const bytes = fromHex("0a0b 1a04 28033004 1203 220161");
  assert.deepEqual(decodeUserMessage(bytes), [
    { type: "keys", keys: te.encode("a") },
  ]);
});

Deno.test("instructions without a known extension are skipped", () => {
  // instruction {} , instruction { ext 9 varint 1 }, instruction { resize }
  const bytes = fromHex("0a00 0a02 4801 0a06 1a04 28503018");
  assert.deepEqual(decodeUserMessage(bytes), [
    { type: "resize", width: 80, height: 24 },
  ]);
  // HostMessage order is hostbytes, else resize, else echoack.
  const host = fromHex("0a0a 3a024005 1a04 28503018");
  assert.deepEqual(decodeHostMessage(host), [
    { type: "resize", width: 80, height: 24 },
  ]);
});

Deno.test("bad protobuf decodes to null", () => {
  const bad = [
    fromHex("ff"), // field 0-ish / bad tag
    fromHex("0a"), // truncated length
    fromHex("0a05 1203"), // length beyond end
    fromHex("0a03 1201ff"), // extension body is a broken message
    fromHex("0a07 1205 2203 6c73"), // keys truncated
    fromHex("08ffffffffffffffffffff01"), // 11-byte varint
    fromHex("0f"), // wire type 7
  ];
  for (const b of bad) {
    assert.equal(decodeUserMessage(b), null, toHex(b));
    assert.equal(decodeHostMessage(b), null, toHex(b));
  }
  assert.equal(decodeInstruction(fromHex("0a")), null);
  assert.equal(decodeInstruction(fromHex("10")), null);
  assert.equal(decodeInstruction(fromHex("3205 00")), null);
  assert.equal(decodeInstruction(fromHex("08ffffffffffffffffffff01")), null);
});

Deno.test("random garbage never throws", () => {
  let seed = 12345;
  function rnd(): number {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 24;
  }
  for (let n = 0; n < 2000; n++) {
    const b = new Uint8Array(rnd() % 40);
    for (let i = 0; i < b.length; i++) b[i] = rnd();
    decodeInstruction(b);
    decodeUserMessage(b);
    decodeHostMessage(b);
  }
});
