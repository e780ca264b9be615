import assert from "node:assert/strict";
import {
  deliverInstruction,
  TransportReceiver,
} from "../../protocol/network/transport_receiver.ts";
import { TransportSender } from "../../protocol/network/transport_sender.ts";
import { UserStream } from "../../protocol/statesync/user_stream.ts";
import type { Instruction } from "../../protocol/protobufs/messages.ts";
import {
  PROTOCOL_VERSION,
  RECEIVED_STATES_MAX,
  RECEIVER_QUENCH,
  SHUTDOWN_NUM,
} from "../../protocol/network/constants.ts";

const te = new TextEncoder();
const td = new TextDecoder();

/** The sender's states: state n = "k0k1…" (n keystrokes). */
function senderState(n: number): UserStream {
  let s = new UserStream();
  for (let i = 0; i < n; i++) {
    s = s.pushKeys(te.encode(String.fromCharCode(97 + (i % 26))));
  }
  return s;
}

/** An instruction taking the peer from state `from` to state `to`. */
function instr(
  from: number,
  to: number,
  extra: Partial<Instruction> = {},
): Instruction {
  return {
    protocolVersion: PROTOCOL_VERSION,
    oldNum: BigInt(from),
    newNum: BigInt(to),
    ackNum: 0n,
    throwawayNum: 0n,
    chaff: new Uint8Array(3),
    ...extra,
    diff: extra.diff ?? senderState(to).diffFrom(senderState(from)),
  };
}

/** The keys held in a state, as text. */
function text(s: UserStream): string {
  return s.events().map((e) => e.type === "keys" ? td.decode(e.keys) : "|R|")
    .join("");
}

Deno.test("starts with state 0 and accepts in-order states", () => {
  const r = new TransportReceiver(new UserStream(), 5);
  assert.equal(r.latestNum, 0n);
  assert.equal(r.ackNum, 0n);
  assert.equal(r.lastHeard, 0);
  const res = r.receive(instr(0, 1), 10);
  assert.deepEqual(res, { accepted: true, ackNumChanged: true, dataAck: true });
  assert.equal(r.latestNum, 1n);
  assert.equal(r.ackNum, 1n);
  assert.equal(r.lastHeard, 10);
  assert.equal(text(r.latest), "a");
  const empty = r.receive(instr(1, 2, { diff: new Uint8Array() }), 20); // an empty ack
  assert.deepEqual(empty, {
    accepted: true,
    ackNumChanged: true,
    dataAck: false,
  });
  assert.equal(text(r.latest), "a");
  assert.equal(r.receive(instr(2, 3), 30).accepted, true);
  assert.equal(text(r.latest), "ac");
  assert.deepEqual(r.heldNums(), [0n, 1n, 2n, 3n]);
});

Deno.test("wrong protocol version is dropped", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  const res = r.receive(instr(0, 1, { protocolVersion: 3 }), 1);
  assert.equal(res.accepted, false);
  assert.equal(res.reason, "version");
  assert.equal(r.heldCount, 1);
});

Deno.test("duplicates are dropped without changing anything", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  r.receive(instr(0, 2), 1);
  const dup = r.receive(instr(0, 2), 50);
  assert.equal(dup.reason, "duplicate");
  assert.equal(r.lastHeard, 1);
  // a forged "state 2" from another base is also a duplicate
  assert.equal(r.receive(instr(1, 2), 60).reason, "duplicate");
  assert.equal(text(r.latest), "ab");
});

Deno.test("reordering: an older state is inserted in place without changing the ack", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  assert.ok(r.receive(instr(0, 3), 10).ackNumChanged);
  const late = r.receive(instr(0, 2), 20);
  assert.deepEqual(late, {
    accepted: true,
    ackNumChanged: false,
    dataAck: false,
  });
  assert.deepEqual(r.heldNums(), [0n, 2n, 3n]);
  assert.equal(r.ackNum, 3n);
  assert.equal(r.lastHeard, 10);
  assert.equal(text(r.latest), "abc");
  // the late state can serve as a base
  assert.ok(r.receive(instr(2, 4), 30).accepted);
  assert.equal(text(r.latest), "abcd");
});

Deno.test("missing base: a diff from an unknown or discarded state is dropped", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  assert.equal(r.receive(instr(1, 2), 1).reason, "missing-base");
  r.receive(instr(0, 1), 2);
  r.receive(instr(1, 2, { throwawayNum: 1n }), 3);
  assert.deepEqual(r.heldNums(), [1n, 2n]);
  assert.equal(r.receive(instr(0, 3), 4).reason, "missing-base");
  assert.equal(r.latestNum, 2n);
});

Deno.test("throwaway drops older states but keeps the base and the newest", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  for (let n = 1; n <= 5; n++) r.receive(instr(n - 1, n), n);
  r.receive(instr(3, 6, { throwawayNum: 3n }), 10);
  assert.deepEqual(r.heldNums(), [3n, 4n, 5n, 6n]);
  assert.equal(text(r.latest), "abcdef");
});

Deno.test("hostile throwaway beyond latest cannot empty the receiver", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  for (let n = 1; n <= 4; n++) r.receive(instr(n - 1, n), n);
  // stock mosh would drop every state here and abort
  const res = r.receive(instr(2, 7, { throwawayNum: SHUTDOWN_NUM }), 10);
  assert.ok(res.accepted);
  assert.deepEqual(r.heldNums(), [2n, 4n, 7n]);
  assert.equal(text(r.latest), "abcdefg");
  // and again, based on the newest
  r.receive(instr(7, 8, { throwawayNum: 100n }), 11);
  assert.deepEqual(r.heldNums(), [7n, 8n]);
  assert.equal(text(r.latest), "abcdefgh");
  // an out-of-order state with a huge throwaway keeps base and newest
  r.receive(instr(7, 5, { throwawayNum: 1000n }), 12);
  assert.deepEqual(r.heldNums(), [5n, 7n, 8n]);
  assert.equal(text(r.latest), "abcdefgh");
});

Deno.test("malformed diff is dropped and changes nothing (not even throwaway)", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  for (let n = 1; n <= 3; n++) r.receive(instr(n - 1, n), n);
  const bad = instr(3, 4, {
    throwawayNum: 3n,
    diff: new Uint8Array([0x0a, 0x7f, 0x01]),
  });
  const res = r.receive(bad, 10);
  assert.equal(res.reason, "malformed");
  assert.deepEqual(r.heldNums(), [0n, 1n, 2n, 3n]);
  assert.equal(r.lastHeard, 3);
  assert.ok(r.receive(instr(3, 4), 11).accepted);
});

Deno.test("quench: past 1024 held states, one more per 15 s", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  // a sender that never lets us throw anything away
  for (let n = 1; n <= RECEIVED_STATES_MAX; n++) {
    assert.ok(r.receive(instr(0, n, { diff: new Uint8Array() }), 1).accepted);
  }
  assert.equal(r.heldCount, RECEIVED_STATES_MAX + 1);
  const base = { diff: new Uint8Array() };
  assert.ok(r.receive(instr(0, 2000, base), 100).accepted); // first overflow arms the timer
  const quenched = r.receive(instr(0, 2001, base), 101);
  assert.equal(quenched.reason, "quench");
  assert.equal(
    r.receive(instr(0, 2002, base), 100 + RECEIVER_QUENCH - 1).reason,
    "quench",
  );
  assert.ok(r.receive(instr(0, 2003, base), 100 + RECEIVER_QUENCH).accepted);
  assert.equal(r.heldCount, RECEIVED_STATES_MAX + 3);
  // a throwaway from the sender relieves it
  assert.ok(
    r.receive(
      instr(0, 2004, { ...base, throwawayNum: 2003n }),
      100 + RECEIVER_QUENCH + 1,
    ).accepted,
  );
  assert.deepEqual(r.heldNums(), [0n, 2003n, 2004n]);
});

Deno.test("takeLatest subtracts the oldest held prefix and tracks the last read", () => {
  const r = new TransportReceiver(new UserStream(), 0);
  r.receive(instr(0, 2), 1);
  r.receive(instr(2, 3, { throwawayNum: 2n }), 2);
  const { lastRead, latest } = r.takeLatest();
  assert.equal(lastRead.end, 0);
  assert.equal(text(latest), "abc");
  assert.equal(text(r.latest), "c"); // "ab" (state 2) dropped from all
  assert.equal(r.takeLatest().lastRead.end, 3);
});

Deno.test("deliverInstruction feeds acks to the sender and news back to it", () => {
  const sender = new TransportSender(new UserStream(), 0, { sendMinDelay: 1 });
  sender.hasRemote = true;
  sender.tick(0); // our state 1
  const receiver = new TransportReceiver(new UserStream(), 0);
  const res = deliverInstruction(instr(0, 1, { ackNum: 1n }), 40, {
    sender,
    receiver,
  });
  assert.ok(res.ackNumChanged);
  assert.equal(sender.ackedNum, 1n);
  assert.equal(sender.ackNum, 1n);
  assert.equal(sender.lastHeard, 40);
  assert.equal(sender.waitTime(40), 100); // data ack hurried
  // a duplicate still carries an ack, but does not move ackNum
  sender.tick(140);
  deliverInstruction(instr(0, 1, { ackNum: 2n }), 150, { sender, receiver });
  assert.equal(sender.ackedNum, 2n);
  assert.equal(sender.lastHeard, 40);
  // version mismatch: nothing at all
  deliverInstruction(instr(1, 2, { ackNum: 9n, protocolVersion: 1 }), 160, {
    sender,
    receiver,
  });
  assert.equal(receiver.latestNum, 1n);
});
