import assert from "node:assert/strict";
import {
  takeNewEvents,
  UserStream,
} from "../../protocol/statesync/user_stream.ts";
import { TransportReceiver } from "../../protocol/network/transport_receiver.ts";
import {
  decodeUserMessage,
  encodeUserMessage,
  type Instruction,
  type UserEvent,
} from "../../protocol/protobufs/messages.ts";
import { PROTOCOL_VERSION } from "../../protocol/network/constants.ts";
import { MAX_TERMINAL_DIMENSION } from "../../protocol/statesync/constants.ts";

const te = new TextEncoder();

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function keys(s: string): UserEvent {
  return { type: "keys", keys: te.encode(s) };
}

Deno.test("first client state Resize(80,24) diffs to the bytes stock mosh sends", () => {
  const s = new UserStream().pushResize(80, 24);
  assert.equal(hex(s.diffFrom(new UserStream())), "0a 06 1a 04 28 50 30 18");
});

Deno.test("equal states diff to empty bytes", () => {
  const a = new UserStream().pushKeys(te.encode("ab"));
  assert.equal(a.diffFrom(a).length, 0);
  assert.equal(new UserStream().diffFrom(new UserStream()).length, 0);
});

Deno.test("diff merges consecutive keystrokes and keeps resizes separate, in order", () => {
  const base = new UserStream().pushKeys(te.encode("x"));
  const s = base.pushKeys(te.encode("a")).pushKeys(te.encode("b"))
    .pushResize(100, 30).pushResize(101, 31).pushKeys(te.encode("c"));
  assert.deepEqual(decodeUserMessage(s.diffFrom(base)), [
    keys("ab"),
    { type: "resize", width: 100, height: 30 },
    { type: "resize", width: 101, height: 31 },
    keys("c"),
  ]);
});

Deno.test("applyDiff appends events and leaves the original unchanged", () => {
  const old = new UserStream().pushKeys(te.encode("hi"));
  const target = old.pushKeys(new Uint8Array([0xe2, 0x82])).pushResize(7, 8)
    .pushKeys(new Uint8Array([0xac]));
  const applied = old.applyDiff(target.diffFrom(old));
  assert.ok(applied);
  assert.ok(applied.equals(target));
  assert.equal(old.length, 2);
  assert.deepEqual(applied.events(), [
    { type: "keys", keys: new Uint8Array([0x68, 0x69, 0xe2, 0x82]) },
    { type: "resize", width: 7, height: 8 },
    { type: "keys", keys: new Uint8Array([0xac]) },
  ]);
});

Deno.test("a scrollback-log report (scrollflow.v1) travels as an event, in order, and counts for equality", () => {
  const old = new UserStream().pushKeys(te.encode("a"));
  const target = old.pushWritten(120).pushKeys(te.encode("b"))
    .pushWritten(130);
  const applied = old.applyDiff(target.diffFrom(old));
  assert.ok(applied);
  assert.ok(applied.equals(target));
  assert.deepEqual(applied.eventsSince(old), [
    { type: "written", end: 120 },
    { type: "keys", keys: te.encode("b") },
    { type: "written", end: 130 },
  ]);
  assert.equal(
    old.pushWritten(120).equals(old.pushWritten(121)),
    false,
  );
  // Once acknowledged it is gone from later diffs, like any event.
  assert.deepEqual(target.subtract(target).events(), []);
});

Deno.test("applyDiff returns null for a malformed UserMessage", () => {
  const s = new UserStream().pushKeys(te.encode("a"));
  assert.equal(s.applyDiff(new Uint8Array([0xff, 0xff, 0xff])), null);
  assert.equal(s.applyDiff(new Uint8Array([0x0a, 0x05, 0x12])), null);
  assert.equal(s.length, 1);
});

Deno.test("pushing onto an older state branches without touching newer states", () => {
  const a = new UserStream().pushKeys(te.encode("ab"));
  const b = a.pushKeys(te.encode("c"));
  const c = a.pushKeys(te.encode("X"));
  assert.deepEqual(b.events(), [keys("abc")]);
  assert.deepEqual(c.events(), [keys("abX")]);
  assert.ok(!b.equals(c));
  assert.deepEqual(a.events(), [keys("ab")]);
  // same events built separately are equal
  const d = new UserStream().pushKeys(te.encode("a")).pushKeys(te.encode("bc"));
  assert.ok(d.equals(b));
});

Deno.test("subtract drops an acknowledged prefix; diffs stay correct after it", () => {
  const acked = new UserStream().pushKeys(te.encode("abc"));
  const cur = acked.pushKeys(te.encode("de"));
  const r = cur.subtract(acked);
  assert.equal(r.length, 2);
  assert.equal(r.start, 3);
  assert.equal(r.end, 5);
  assert.deepEqual(r.events(), [keys("de")]);
  const ackedR = acked.subtract(acked);
  assert.equal(ackedR.length, 0);
  assert.deepEqual(decodeUserMessage(r.diffFrom(ackedR)), [keys("de")]);
  assert.deepEqual(decodeUserMessage(r.diffFrom(acked)), [keys("de")]);
  // subtracting a shorter or equal prefix again is a no-op
  assert.equal(r.subtract(acked), r);
  assert.ok(r.equals(cur.subtract(acked)));
  assert.ok(!r.equals(cur));
});

Deno.test("sending side clamps resize dimensions to [1, MAX_TERMINAL_DIMENSION]", () => {
  const s = new UserStream().pushResize(0, -3).pushResize(1e9, NaN)
    .pushResize(80.7, 24);
  assert.deepEqual(s.events(), [
    { type: "resize", width: 1, height: 1 },
    { type: "resize", width: MAX_TERMINAL_DIMENSION, height: 1 },
    { type: "resize", width: 80, height: 24 },
  ]);
});

Deno.test("receiving side ignores resizes with 0, negative or absurd sizes", () => {
  const diff = encodeUserMessage([
    { type: "resize", width: 0, height: 24 },
    { type: "resize", width: 80, height: 0 },
    { type: "resize", width: -5, height: 24 },
    { type: "resize", width: MAX_TERMINAL_DIMENSION + 1, height: 24 },
    keys("ok"),
    { type: "resize", width: MAX_TERMINAL_DIMENSION, height: 1 },
  ]);
  const s = new UserStream().applyDiff(diff);
  assert.ok(s);
  assert.deepEqual(s.events(), [
    keys("ok"),
    { type: "resize", width: MAX_TERMINAL_DIMENSION, height: 1 },
  ]);
});

Deno.test("long streams: 200k single-key pushes with rationalize + diff stay linear", () => {
  const t0 = performance.now();
  let acked = new UserStream();
  let cur = acked;
  let delivered = 0;
  for (let i = 0; i < 200_000; i++) {
    cur = cur.pushKeys(new Uint8Array([i & 0xff]));
    if (i % 10 === 9) {
      // what the sender does: diff the unacked window, then the peer acks it
      const d = decodeUserMessage(cur.diffFrom(acked));
      assert.ok(d && d[0].type === "keys");
      delivered += d[0].keys.length;
      acked = cur;
      cur = cur.subtract(acked);
    }
  }
  const ms = performance.now() - t0;
  assert.equal(delivered, 200_000);
  assert.equal(cur.end, 200_000);
  assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms; expected linear time`);
});

Deno.test("compaction after a long acknowledged prefix keeps content and old views", () => {
  let cur = new UserStream();
  let early = cur;
  for (let i = 0; i < 20_000; i++) {
    cur = cur.pushKeys(new Uint8Array([i % 251]));
    if (i === 100) early = cur;
    if (i % 1000 === 999) cur = cur.subtract(cur); // the peer acked everything
  }
  assert.equal(cur.length, 0);
  assert.equal(cur.end, 20_000);
  cur = cur.pushKeys(te.encode("q"));
  assert.deepEqual(cur.events(), [keys("q")]);
  // a view taken long before still reads its own events, and can branch
  const ev = early.events();
  assert.equal(ev.length, 1);
  assert.ok(ev[0].type === "keys");
  assert.deepEqual(
    Array.from(ev[0].keys),
    Array.from({ length: 101 }, (_, i) => i % 251),
  );
  const branch = early.pushKeys(te.encode("Z"));
  assert.equal(branch.length, 102);
  assert.equal(early.length, 101);
});

Deno.test("takeNewEvents yields each received event exactly once, in order", () => {
  const recv = new TransportReceiver(new UserStream(), 0);
  let sender = new UserStream();
  const states: UserStream[] = [sender];
  const got: UserEvent[] = [];
  function instr(oldNum: number, newNum: number): Instruction {
    return {
      protocolVersion: PROTOCOL_VERSION,
      oldNum: BigInt(oldNum),
      newNum: BigInt(newNum),
      ackNum: 0n,
      throwawayNum: BigInt(Math.max(0, oldNum)),
      diff: states[newNum].diffFrom(states[oldNum]),
      chaff: new Uint8Array(),
    };
  }
  sender = sender.pushResize(80, 24);
  states.push(sender);
  assert.ok(recv.receive(instr(0, 1), 1).accepted);
  got.push(...takeNewEvents(recv));
  assert.deepEqual(takeNewEvents(recv), []);
  sender = sender.pushKeys(te.encode("ls"));
  states.push(sender);
  sender = sender.pushKeys(te.encode("\r"));
  states.push(sender);
  // state 3 arrives first, based on 1 (prospective resend); then the stale 2
  assert.ok(recv.receive(instr(1, 3), 2).accepted);
  got.push(...takeNewEvents(recv));
  assert.ok(recv.receive(instr(1, 2), 3).accepted);
  got.push(...takeNewEvents(recv));
  assert.deepEqual(got, [
    { type: "resize", width: 80, height: 24 },
    keys("ls\r"),
  ]);
});
