/**
 * The scrollback log's flow control (server/log_flow.ts): when the session
 * holds the program's output back so a flood is not collapsed into gaps.
 */
import assert from "node:assert/strict";
import {
  hasInterrupt,
  LOG_ACK_STALL_MS,
  LOG_PAUSE_BYTES,
  LOG_PAUSE_RECORDS,
  LogFlow,
} from "../../server/log_flow.ts";

const small = { records: 10, bytes: 600 };
const many = { records: LOG_PAUSE_RECORDS, bytes: 1000 };

Deno.test("log flow: no pause before the client acknowledged anything (a detached session never blocks)", () => {
  const flow = new LogFlow();
  assert.equal(flow.update(many, 0), false);
  assert.equal(flow.update({ records: 10, bytes: LOG_PAUSE_BYTES }, 5), false);
  assert.equal(flow.waitTime(5), Infinity);
});

Deno.test("log flow: pauses at the thresholds while acks advance, resumes below half of them", () => {
  const flow = new LogFlow();
  flow.acked(100, 0);
  assert.equal(flow.update(small, 10), false);
  assert.equal(flow.update(many, 20), true);
  assert.equal(flow.paused, true);
  flow.acked(200, 30);
  assert.equal(
    flow.update({ records: LOG_PAUSE_RECORDS / 2 + 1, bytes: 0 }, 40),
    true,
    "hysteresis: still above half",
  );
  assert.equal(
    flow.update({ records: LOG_PAUSE_RECORDS / 2, bytes: 0 }, 50),
    false,
  );
  assert.equal(
    flow.update({ records: 0, bytes: LOG_PAUSE_BYTES }, 60),
    true,
    "bytes count too",
  );
});

Deno.test("log flow: acks stalled for LOG_ACK_STALL_MS resume reading; waitTime says when", () => {
  const flow = new LogFlow();
  flow.acked(5, 1000);
  assert.equal(flow.update(many, 1100), true);
  assert.equal(flow.waitTime(1100), LOG_ACK_STALL_MS - 100);
  flow.acked(5, 1500); // no advance: the stall clock keeps running
  assert.equal(flow.update(many, 1000 + LOG_ACK_STALL_MS - 1), true);
  assert.equal(flow.update(many, 1000 + LOG_ACK_STALL_MS), false);
  assert.equal(flow.waitTime(1000 + LOG_ACK_STALL_MS), Infinity);
  flow.acked(6, 5000);
  assert.equal(flow.update(many, 5001), true, "a live client again");
  flow.release();
  assert.equal(flow.paused, false);
});

Deno.test("log flow: Ctrl-C, Ctrl-\\ and Ctrl-Z are interrupts; other keys are not", () => {
  for (const key of [0x03, 0x1c, 0x1a]) {
    assert.ok(hasInterrupt(new Uint8Array([0x61, key])), `${key}`);
  }
  assert.ok(!hasInterrupt(new TextEncoder().encode("ls -l\r\x1b[A")));
});
