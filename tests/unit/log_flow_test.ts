/**
 * The scrollback log's flow control (server/log_flow.ts): when the session
 * holds the program's output back so a flood is not collapsed into gaps, and
 * when it never does (a slow link, a silent client).
 */
import assert from "node:assert/strict";
import {
  hasInterrupt,
  LOG_ACK_STALL_MS,
  LOG_DRAIN_MAX_MS,
  LOG_PAUSE_BYTES,
  LOG_PAUSE_RECORDS,
  LogFlow,
} from "../../server/log_flow.ts";

const small = { records: 10, bytes: 600 };
const many = { records: LOG_PAUSE_RECORDS, bytes: 1000 };

/** A flow whose client acknowledged `perMs` records per ms from 0 to `at`. */
function fed(perMs: number, at = 200): LogFlow {
  const flow = new LogFlow();
  for (let t = 0; t <= at; t += 20) flow.acked(1 + t * perMs, t);
  return flow;
}

Deno.test("log flow: no pause before the client acknowledged anything (a detached session never blocks)", () => {
  const flow = new LogFlow();
  assert.equal(flow.update(many, 0), false);
  assert.equal(flow.update({ records: 10, bytes: LOG_PAUSE_BYTES }, 5), false);
  assert.equal(flow.waitTime(5), Infinity);
});

Deno.test("log flow: a fast client: pauses at the thresholds, resumes below half of them", () => {
  const flow = fed(500); // 10,000 records drain in 20 ms
  assert.equal(flow.update(small, 200), false);
  assert.equal(flow.update(many, 200), true);
  assert.equal(flow.paused, true);
  assert.equal(
    flow.update({ records: LOG_PAUSE_RECORDS / 2 + 1, bytes: 0 }, 210),
    true,
    "hysteresis: still above half",
  );
  assert.equal(
    flow.update({ records: LOG_PAUSE_RECORDS / 2, bytes: 0 }, 220),
    false,
  );
  assert.equal(
    flow.update({ records: 1000, bytes: LOG_PAUSE_BYTES }, 230),
    true,
    "bytes count too",
  );
});

Deno.test("log flow: a slow link never holds the program (what waits collapses, as in Mosh)", () => {
  // 1 record per ms: 10,000 would take 10 s to drain, 5,000 5 s.
  const flow = fed(1);
  assert.ok(LOG_PAUSE_RECORDS / 2 > LOG_DRAIN_MAX_MS);
  assert.equal(flow.update(many, 200), false);
  assert.equal(
    flow.update({ records: 5_000, bytes: LOG_PAUSE_BYTES }, 200),
    false,
  );
});

Deno.test("log flow: acks stalled for LOG_ACK_STALL_MS, or slowed to twice the drain limit, resume reading", () => {
  const flow = fed(500);
  assert.equal(flow.update(many, 200), true);
  assert.equal(flow.waitTime(200), LOG_ACK_STALL_MS - 0);
  flow.acked(100, 300); // no advance: ignored
  assert.equal(flow.update(many, 200 + LOG_ACK_STALL_MS - 1), true);
  assert.equal(flow.update(many, 200 + LOG_ACK_STALL_MS), false);
  assert.equal(flow.waitTime(200 + LOG_ACK_STALL_MS), Infinity);

  const slowing = fed(500);
  assert.equal(slowing.update(many, 200), true);
  // A second later the acks crawl: the last second drained 1 record per ms
  // (10,000 would take 10 s, past twice LOG_DRAIN_MAX_MS).
  for (let t = 220; t <= 1400; t += 20) {
    slowing.acked(100_001 + (t - 200), t);
  }
  assert.equal(slowing.update(many, 1400), false);
  slowing.release();
  assert.equal(slowing.paused, false);
});

Deno.test("log flow: Ctrl-C, Ctrl-\\ and Ctrl-Z are interrupts; other keys are not", () => {
  for (const key of [0x03, 0x1c, 0x1a]) {
    assert.ok(hasInterrupt(new Uint8Array([0x61, key])), `${key}`);
  }
  assert.ok(!hasInterrupt(new TextEncoder().encode("ls -l\r\x1b[A")));
});

Deno.test("log flow: after a quiet spell the rate counts from the first advance, not the idle time before the flood", () => {
  const flow = new LogFlow();
  flow.acked(0, 0); // the log, idle for a minute
  flow.acked(5_000, 60_000); // a flood: 100 records per ms from here
  flow.acked(15_000, 60_100);
  assert.equal(flow.update(many, 60_100), true);
  // Before the fix the rate counted the idle minute: 0.25 records per ms.
  assert.ok(LOG_PAUSE_RECORDS / 0.25 > 2 * LOG_DRAIN_MAX_MS);
});
