import assert from "node:assert/strict";
import { TransportSender } from "../../protocol/network/transport_sender.ts";
import { UserStream } from "../../protocol/statesync/user_stream.ts";
import {
  decodeUserMessage,
  type Instruction,
} from "../../protocol/protobufs/messages.ts";
import {
  ACK_INTERVAL,
  ACTIVE_RETRY_TIMEOUT,
  CHAFF_MAX,
  PROTOCOL_VERSION,
  SHUTDOWN_NUM,
  SHUTDOWN_RETRIES,
} from "../../protocol/network/constants.ts";
import { xorshiftFill } from "../../harness/prng.ts";

const te = new TextEncoder();

/** A sender at t=0 with a known peer; rtt is mutable. */
function setup(opts: { srtt?: number; rto?: number; minDelay?: number } = {}) {
  const rtt = { srtt: opts.srtt ?? 100, rto: opts.rto ?? 200 };
  const s = new TransportSender(new UserStream(), 0, {
    rtt,
    sendMinDelay: opts.minDelay,
    randomFill: xorshiftFill(7),
  });
  s.hasRemote = true;
  return { s, rtt };
}

/** Pushes keys onto the sender's current state. */
function type(s: TransportSender<UserStream>, text: string): void {
  s.setCurrentState(s.currentState.pushKeys(te.encode(text)));
}

/** The keys carried by an instruction's diff. */
function diffKeys(i: Instruction): string {
  const ev = decodeUserMessage(i.diff);
  assert.ok(ev);
  return ev.map((e) =>
    e.type === "keys" ? new TextDecoder().decode(e.keys) : "|R|"
  )
    .join("");
}

/** Ticks every ms from `from` until something is sent (at most 10 s). */
function next(
  s: TransportSender<UserStream>,
  from: number,
  beforeSend?: (resend: boolean) => void,
) {
  for (let t = from; t < from + 10_000; t++) {
    const i = s.tick(t, beforeSend);
    if (i) return { t, i };
  }
  throw new Error("nothing sent");
}

/** Ticks every ms in [from, to] and returns what was sent, with times. */
function run(s: TransportSender<UserStream>, from: number, to: number) {
  const out: { t: number; i: Instruction }[] = [];
  for (let t = from; t <= to; t++) {
    const i = s.tick(t);
    if (i) out.push({ t, i });
  }
  return out;
}

Deno.test("without a remote nothing is sent and waitTime is Infinity", () => {
  const { s } = setup();
  s.hasRemote = false;
  type(s, "a");
  assert.equal(s.waitTime(100), Infinity);
  assert.equal(s.tick(100), null);
  assert.equal(run(s, 0, 5000).length, 0);
});

Deno.test("first tick sends an empty ack (state 1) with all fields right", () => {
  const { s } = setup();
  const i = s.tick(0);
  assert.ok(i);
  assert.equal(i.protocolVersion, PROTOCOL_VERSION);
  assert.equal(i.oldNum, 0n);
  assert.equal(i.newNum, 1n);
  assert.equal(i.ackNum, 0n);
  assert.equal(i.throwawayNum, 0n);
  assert.equal(i.diff.length, 0);
  assert.equal(s.tick(1), null);
  assert.equal(s.lastSentNum, 1n);
});

Deno.test("SEND_MINDELAY: server waits 8 ms after the first change, client 1 ms", () => {
  for (const [minDelay, expect] of [[undefined, 8], [1, 1]] as const) {
    const { s } = setup({ srtt: 40, minDelay }); // interval 20
    s.tick(0);
    s.processAcknowledgmentThrough(1n);
    type(s, "a");
    assert.equal(s.waitTime(1000), expect);
    type(s, "b"); // more input during the collection delay joins the same send
    const sent = run(s, 1000, 1100);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].t, 1000 + expect);
    assert.equal(diffKeys(sent[0].i), "ab");
    assert.equal(sent[0].i.newNum, 2n);
  }
});

Deno.test("send interval is ceil(SRTT/2) clamped to [20, 250] and paces new states", () => {
  const { s, rtt } = setup();
  for (
    const [srtt, want] of [
      [1, 20],
      [39, 20],
      [41, 21],
      [301, 151],
      [499, 250],
      [5000, 250],
    ]
  ) {
    rtt.srtt = srtt;
    assert.equal(s.sendIntervalMs, want);
  }
  rtt.srtt = 301; // interval 151
  s.tick(0);
  s.processAcknowledgmentThrough(1n);
  type(s, "a");
  const first = next(s, 1000);
  assert.equal(first.t, 1008); // last send long ago: only the mindelay applies
  type(s, "b");
  const second = next(s, first.t + 1);
  assert.equal(second.t, first.t + 151);
  rtt.srtt = 10; // interval 20 (clamped up)
  type(s, "c");
  const third = next(s, second.t + 1);
  assert.equal(third.t, second.t + 20);
  rtt.srtt = 2000; // interval 250 (clamped down)
  type(s, "d");
  const fourth = next(s, third.t + 1);
  assert.equal(fourth.t, third.t + 250);
});

Deno.test("delayed ack: new data from the peer is acked within 100 ms", () => {
  const { s } = setup();
  s.tick(0); // empty ack; next ack at 3000
  assert.equal(s.waitTime(1000), 2000);
  s.setAckNum(5n);
  s.setDataAck();
  assert.equal(s.waitTime(1000), 100);
  const sent = run(s, 1000, 1200);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].t, 1100);
  assert.equal(sent[0].i.ackNum, 5n);
  assert.equal(sent[0].i.diff.length, 0);
  assert.equal(s.waitTime(1200), ACK_INTERVAL - 100); // pending ack cleared
});

Deno.test("idle: an empty ack every 3 s, each with a fresh state number", () => {
  const { s } = setup();
  const sent = run(s, 0, 9500);
  assert.deepEqual(sent.map((x) => x.t), [0, 3000, 6000, 9000]);
  assert.deepEqual(sent.map((x) => x.i.newNum), [1n, 2n, 3n, 4n]);
  assert.ok(sent.every((x) => x.i.diff.length === 0));
});

Deno.test("retransmission after RTO+100 ms falls back to the acknowledged base", () => {
  const { s } = setup({ srtt: 100, rto: 200 }); // interval 50, retransmit 300
  s.tick(0);
  s.processAcknowledgmentThrough(1n);
  s.remoteHeard(0);
  type(s, "a");
  const [first] = run(s, 10, 60);
  assert.equal(first.t, 50);
  assert.deepEqual([first.i.oldNum, first.i.newNum], [1n, 2n]);
  // within RTO+100 the peer is assumed to have state 2: nothing to send
  assert.equal(s.waitTime(100), 250);
  assert.equal(s.assumedReceiverNum, 2n);
  const again = run(s, 61, 400);
  assert.equal(again.length, 1);
  assert.equal(again[0].t, 350);
  assert.deepEqual([again[0].i.oldNum, again[0].i.newNum], [1n, 2n]);
  assert.equal(diffKeys(again[0].i), "a");
  assert.equal(s.lastSentNum, 2n); // same state, refreshed time
  // an ack for state 2 stops retransmissions
  s.processAcknowledgmentThrough(2n);
  assert.equal(s.ackedNum, 2n);
  assert.equal(s.lastAckedSendTime, 350);
  const later = run(s, 401, 3000);
  assert.equal(later.length, 0);
});

Deno.test("prospective resend: a slightly longer diff from the acked state is preferred", () => {
  const { s } = setup({ srtt: 100, rto: 900 }); // retransmit after 1000
  s.tick(0);
  s.processAcknowledgmentThrough(1n);
  s.remoteHeard(0);
  type(s, "a");
  const [one] = run(s, 10, 100);
  type(s, "b");
  const [two] = run(s, one.t + 1, 400);
  // diff from assumed state 2 would be "b"; from acked state 1 it is "ab": resend wins
  assert.deepEqual([two.i.oldNum, two.i.newNum], [1n, 3n]);
  assert.equal(diffKeys(two.i), "ab");
});

Deno.test("prospective resend is skipped when the acked diff is 1000+ bytes", () => {
  const { s } = setup({ srtt: 100, rto: 900 });
  s.tick(0);
  s.processAcknowledgmentThrough(1n);
  s.remoteHeard(0);
  type(s, "x".repeat(1200));
  const [one] = run(s, 10, 100);
  assert.equal(one.i.oldNum, 1n);
  type(s, "b");
  const [two] = run(s, one.t + 1, 400);
  assert.deepEqual([two.i.oldNum, two.i.newNum], [2n, 3n]);
  assert.equal(diffKeys(two.i), "b");
});

Deno.test("throwaway_num is always the acknowledged state's number", () => {
  const { s } = setup({ srtt: 40, rto: 900 });
  s.remoteHeard(0);
  const seen: Instruction[] = [];
  for (let k = 0; k < 10; k++) {
    type(s, String(k));
    seen.push(...run(s, k * 100, k * 100 + 99).map((x) => x.i));
    if (k === 4) s.processAcknowledgmentThrough(3n);
  }
  assert.ok(seen.length >= 10);
  for (const i of seen) {
    assert.equal(i.throwawayNum, i.newNum > 5n ? 3n : 0n);
    assert.ok(i.throwawayNum <= i.oldNum);
  }
});

Deno.test("sent-state queue is capped at 32 by dropping the 16th from the end", () => {
  const { s } = setup({ srtt: 40, rto: 100_000 }); // never assume a loss
  s.remoteHeard(0);
  s.tick(0); // state 1 (empty ack)
  for (let n = 2; n <= 40; n++) {
    type(s, "k");
    const sent = run(s, n * 30, n * 30 + 29);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].i.newNum, BigInt(n));
    assert.ok(s.sentStateNums().length <= 32);
  }
  const want = [
    ...Array.from({ length: 17 }, (_, i) => BigInt(i)),
    ...Array.from({ length: 15 }, (_, i) => BigInt(26 + i)),
  ];
  assert.deepEqual(s.sentStateNums(), want);
  s.processAcknowledgmentThrough(20n); // pruned: ignored
  assert.equal(s.ackedNum, 0n);
  s.processAcknowledgmentThrough(30n);
  assert.deepEqual(s.sentStateNums()[0], 30n);
  assert.equal(s.sentStateNums().length, 11);
});

/** A sender (SRTT 100, RTO 200) whose first empty ack the peer acknowledged at time 0, the peer active. */
function ackedSender(): TransportSender<UserStream> {
  const { s } = setup({ srtt: 100, rto: 200 });
  s.tick(0);
  s.processAcknowledgmentThrough(1n);
  s.remoteHeard(0);
  return s;
}

Deno.test("ACTIVE_RETRY_TIMEOUT: a silent peer gets no fast/slow retransmits", () => {
  const s = ackedSender();
  const t0 = ACTIVE_RETRY_TIMEOUT + 1000;
  type(s, "a");
  const sent = run(s, t0, t0 + 2 * ACK_INTERVAL + 10);
  // one send, then only the 3 s ack timer (which carries the diff again)
  assert.deepEqual(sent.map((x) => x.t - sent[0].t), [
    0,
    ACK_INTERVAL,
    2 * ACK_INTERVAL,
  ]);
  // with a recently heard peer, retransmits come every RTO+100
  s.remoteHeard(t0 + 2 * ACK_INTERVAL + 10);
  const t1 = t0 + 2 * ACK_INTERVAL + 11;
  const fast = run(s, t1, t1 + 1000);
  assert.ok(fast.length >= 3, `got ${fast.length}`);
});

Deno.test("chaff is 0..16 random bytes", () => {
  const { s } = setup({ srtt: 40 });
  const lens = new Set<number>();
  let prev = "";
  for (let k = 0; k < 400; k++) {
    type(s, "z");
    for (const { i } of run(s, k * 30, k * 30 + 29)) {
      assert.ok(i.chaff.length <= CHAFF_MAX);
      lens.add(i.chaff.length);
      const h = i.chaff.join(",");
      if (i.chaff.length > 4) assert.notEqual(h, prev);
      prev = h;
    }
  }
  assert.equal(lens.size, CHAFF_MAX + 1);
});

Deno.test("shutdown: sends 2^64-1 until acked; state is frozen", () => {
  const s = ackedSender();
  type(s, "bye");
  s.startShutdown(10);
  assert.ok(s.shutdownInProgress);
  assert.throws(() => type(s, "x"), /tmosh: /);
  const sent = run(s, 10, 400);
  assert.ok(sent.length >= 2);
  assert.ok(sent.every((x) => x.i.newNum === SHUTDOWN_NUM));
  assert.equal(diffKeys(sent[0].i), "bye");
  assert.equal(sent[1].t - sent[0].t, 50); // hurried at the send interval
  assert.ok(!s.shutdownAcknowledged);
  assert.ok(!s.shutdownAckTimedOut(400));
  s.processAcknowledgmentThrough(SHUTDOWN_NUM);
  assert.ok(s.shutdownAcknowledged);
});

Deno.test("shutdown times out after 16 sends or 10 s", () => {
  const { s } = setup({ srtt: 100, rto: 200 });
  s.startShutdown(0);
  let sends = 0;
  let t = 0;
  while (!s.shutdownAckTimedOut(t)) {
    if (s.tick(t)) sends++;
    t++;
  }
  assert.equal(sends, SHUTDOWN_RETRIES);
  assert.ok(t < 10_000);
  const { s: slow } = setup({ srtt: 100, rto: 200 });
  slow.startShutdown(5);
  assert.ok(!slow.shutdownAckTimedOut(10_004));
  assert.ok(slow.shutdownAckTimedOut(10_005));
});

Deno.test("peer's shutdown: ack_num 2^64-1 is sent promptly, then counterpartyShutdownAckSent", () => {
  const { s } = setup({ srtt: 100 });
  s.tick(0);
  assert.ok(!s.counterpartyShutdownAckSent);
  s.setAckNum(SHUTDOWN_NUM);
  s.setDataAck();
  assert.equal(s.waitTime(20), 30); // last send at 0 + interval 50
  const sent = run(s, 20, 100);
  assert.equal(sent[0].t, 50);
  assert.equal(sent[0].i.ackNum, SHUTDOWN_NUM);
  assert.notEqual(sent[0].i.newNum, SHUTDOWN_NUM);
  assert.ok(s.counterpartyShutdownAckSent);
});

Deno.test("retransmits counts timeouts only, not a prospective resend from the acknowledged state", () => {
  const s = ackedSender();
  type(s, "a");
  const first = next(s, 1);
  type(s, "b");
  const second = next(s, first.t + 1);
  type(s, "c");
  const third = next(s, second.t + 1);
  // Small enough to resend from the acknowledged state: a choice, not a loss.
  assert.equal(diffKeys(third.i), "abc");
  assert.ok(third.t - first.t < 200 + 100, "before any timeout");
  assert.equal(s.retransmits, 0);
  // No ack: past RTO + ACK_DELAY the newest state is resent as lost.
  const again = next(s, third.t + 1);
  assert.ok(again.t - first.t >= 200 + 100, `${again.t - first.t} ms`);
  assert.equal(diffKeys(again.i), "abc");
  assert.equal(s.retransmits, 1);
});

Deno.test("resendDue: true exactly when the next send is a retransmission after RTO + ACK_DELAY", () => {
  const s = ackedSender();
  type(s, "a");
  const first = next(s, 1);
  assert.equal(s.resendDue(first.t), false, "just sent");
  type(s, "b");
  assert.equal(s.resendDue(first.t + 10), false, "a new state, not a resend");
  // Unacknowledged past RTO + ACK_DELAY: the next send is a resend.
  const due = first.t + 200 + 100;
  assert.equal(s.resendDue(due - 1), false);
  const before = s.retransmits;
  assert.equal(s.resendDue(due), true);
  assert.ok(s.tick(due) !== null);
  assert.equal(s.retransmits, before + 1);
  // Acknowledged: nothing to resend.
  s.processAcknowledgmentThrough(s.lastSentNum);
  assert.equal(s.resendDue(due + 1000), false);
});

/** A state of appended text whose diff is the new text; counts the diffs asked from each state. */
class Appended {
  static asked = new Map<string, number>();
  constructor(readonly text: string, readonly hinted: boolean) {}
  equals(other: Appended): boolean {
    return other.text === this.text;
  }
  diffFrom(old: Appended): Uint8Array {
    Appended.asked.set(old.text, (Appended.asked.get(old.text) ?? 0) + 1);
    return te.encode(this.text.slice(old.text.length));
  }
  applyDiff(diff: Uint8Array): Appended {
    return new Appended(
      this.text + new TextDecoder().decode(diff),
      this.hinted,
    );
  }
  diffSizeAtLeast(old: Appended): number {
    return this.hinted ? this.text.length - old.text.length : 0;
  }
}

Deno.test("prospective resend: a resend its lower bound (diffSizeAtLeast) rules out is not computed, and the same diff is sent", () => {
  const sent: Instruction[][] = [];
  for (const hinted of [false, true]) {
    Appended.asked.clear();
    const s = new TransportSender(new Appended("", hinted), 0, {
      rtt: { srtt: 100, rto: 900 },
      randomFill: xorshiftFill(7),
    });
    s.hasRemote = true;
    s.tick(0);
    s.processAcknowledgmentThrough(1n);
    s.remoteHeard(0);
    s.setCurrentState(new Appended("x".repeat(1200), hinted));
    const out = [];
    for (let t = 10; t < 100; t++) out.push(s.tick(t));
    Appended.asked.clear();
    s.setCurrentState(new Appended("x".repeat(1200) + "b", hinted));
    for (let t = 100; t < 400; t++) out.push(s.tick(t));
    const instructions = out.filter((i): i is Instruction => i !== null);
    sent.push(instructions);
    const fromAcked = Appended.asked.get("") ?? 0;
    if (hinted) {
      assert.equal(fromAcked, 0, "no resend diff computed");
    } else assert.ok(fromAcked > 0, `${fromAcked}`);
  }
  assert.deepEqual(
    sent[1].map((i) => [i.oldNum, i.newNum, [...i.diff]]),
    sent[0].map((i) => [i.oldNum, i.newNum, [...i.diff]]),
  );
});

Deno.test("tick: once due, beforeSend runs first (told whether it is a resend) and what it sets goes out; changePending says a send is coming", () => {
  const s = ackedSender();
  assert.equal(s.changePending, false);
  type(s, "a");
  assert.equal(s.changePending, true);
  const calls: boolean[] = [];
  // Not due yet (collection delay): no call.
  assert.equal(s.tick(1, (resend) => calls.push(resend)), null);
  assert.equal(calls.length, 0);
  // Due: the hook may replace the state; the fresher one is sent.
  const sent = next(s, 2, (resend) => {
    calls.push(resend);
    type(s, "b");
  });
  assert.equal(calls.join(), "false");
  assert.equal(diffKeys(sent.i), "ab");
  assert.equal(s.changePending, false);
  // Unacknowledged past RTO + ACK_DELAY: the hook hears it is a resend.
  next(s, sent.t + 1, (resend) => calls.push(resend));
  assert.equal(calls.at(-1), true);
});
