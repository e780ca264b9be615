/**
 * Rows a taller window pulled back from the scrollback (client/pulled_rows.ts):
 * when the client asks, what it makes of the terminal's answer.
 */
import assert from "node:assert/strict";
import {
  CURSOR_QUERY,
  PULL_ANSWER_TIMEOUT_MS,
  PullWatch,
  pushRowsBack,
} from "../../client/pulled_rows.ts";

const te = new TextEncoder();
const drawn = { rows: 24, cols: 80, cursorRow: 10 };

Deno.test("pulled rows: asked only when the window grew taller at the same width, once per answer", () => {
  const w = new PullWatch();
  assert.equal(w.resized(drawn, { rows: 24, cols: 80 }, 0), "");
  assert.equal(w.resized(drawn, { rows: 20, cols: 80 }, 0), "");
  assert.equal(w.resized(drawn, { rows: 30, cols: 100 }, 0), "");
  assert.equal(w.waiting(0), false);
  assert.equal(w.resized(drawn, { rows: 28, cols: 80 }, 0), CURSOR_QUERY);
  assert.equal(w.waiting(1), true);
  assert.equal(w.resized(drawn, { rows: 30, cols: 80 }, 2), "", "one query");
});

Deno.test("pulled rows: the cursor's move down is the rows pulled back, at most the growth; the answer leaves the keys around it", () => {
  const w = new PullWatch();
  w.resized(drawn, { rows: 28, cols: 80 }, 0);
  assert.equal(w.take(te.encode("ab"), { rows: 28 }), null, "no answer yet");
  const got = w.take(te.encode("x\x1b[15;3Ry"), { rows: 28 });
  assert.ok(got !== null);
  assert.equal(got.pulled, 4); // row 15 (1-based) = 14, was 10
  assert.equal(new TextDecoder().decode(got.rest), "xy");
  assert.equal(w.waiting(1), false);
  assert.equal(
    w.take(te.encode("\x1b[15;3R"), { rows: 28 }),
    null,
    "not waiting: keys (F3 with modifiers) go on",
  );
  w.resized(drawn, { rows: 28, cols: 80 }, 10);
  assert.equal(w.take(te.encode("\x1b[11;1R"), { rows: 28 })?.pulled, 0);
  w.resized(drawn, { rows: 28, cols: 80 }, 10);
  assert.equal(w.take(te.encode("\x1b[28;1R"), { rows: 28 })?.pulled, 4);
});

Deno.test("pulled rows: no answer within PULL_ANSWER_TIMEOUT_MS: frames go on", () => {
  const w = new PullWatch();
  w.resized(drawn, { rows: 28, cols: 80 }, 100);
  assert.equal(w.waitTime(100), PULL_ANSWER_TIMEOUT_MS);
  assert.equal(w.waiting(100 + PULL_ANSWER_TIMEOUT_MS - 1), true);
  assert.equal(w.waiting(100 + PULL_ANSWER_TIMEOUT_MS), false);
  assert.equal(w.waitTime(0), Infinity);
});

Deno.test("pulled rows: pushed back with LF at the bottom of the whole screen", () => {
  assert.equal(pushRowsBack(0, 28), "");
  assert.equal(pushRowsBack(3, 28), "\x1b[r\x1b[28;1H\n\n\n");
});
