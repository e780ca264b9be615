/**
 * LazyTimer (protocol/network/lazy_timer.ts): it calls back once, at the time
 * last asked for, and re-arming it for a later time sets no new timer (under
 * Deno each timer set is an idle wake-up, cleared or not).
 */

import assert from "node:assert/strict";
import { LazyTimer } from "../../protocol/network/lazy_timer.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn` while counting the setTimeout calls made. */
function countingTimers(fn: () => void): number {
  const real = globalThis.setTimeout;
  let count = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof real>) => {
    count++;
    return real(...args);
  }) as typeof real;
  try {
    fn();
  } finally {
    globalThis.setTimeout = real;
  }
  return count;
}

Deno.test("LazyTimer: a later due time replaces the earlier one, without a new timer until the old one comes", async () => {
  const fired: number[] = [];
  const start = performance.now();
  const timer = new LazyTimer(() => fired.push(performance.now() - start));
  const set = countingTimers(() => {
    timer.after(40);
    timer.after(80); // later: the 40 ms timer is kept
    timer.after(120);
  });
  assert.equal(set, 1, "one timer for three re-arms");
  await sleep(60);
  assert.deepEqual(fired, [], "not at the first due time");
  await sleep(100);
  assert.equal(fired.length, 1);
  assert.ok(fired[0] >= 119, `fired at ${fired[0]} ms, asked for 120`);
});

Deno.test("LazyTimer: an earlier due time re-arms at once; Infinity and cancel call back never", async () => {
  let fired = 0;
  const timer = new LazyTimer(() => fired++);
  const start = performance.now();
  timer.after(10_000);
  timer.after(20);
  await sleep(60);
  assert.equal(fired, 1, "the earlier time won");
  assert.ok(performance.now() - start < 5000);
  assert.equal(timer.pending, false);

  timer.after(20);
  timer.after(Infinity);
  assert.equal(timer.pending, false);
  await sleep(50);
  assert.equal(fired, 1, "Infinity: never");

  timer.after(20);
  timer.cancel();
  await sleep(50);
  assert.equal(fired, 1, "cancelled: never");
  // A cancelled timer leaves nothing pending: the test's op sanitizer agrees.
});

Deno.test("LazyTimer: a fake clock that has not reached the due time re-arms for the rest", async () => {
  let clock = 0;
  let fired = 0;
  const timer = new LazyTimer(() => fired++, { now: () => clock });
  timer.after(30);
  clock = 10; // only 10 ms passed on its clock when the 30 ms timer comes
  await sleep(50);
  assert.equal(fired, 0);
  clock = 30;
  await sleep(40);
  assert.equal(fired, 1);
});

Deno.test("LazyTimer: within() keeps an earlier due time and brings a later one forward", async () => {
  const fired: number[] = [];
  const start = performance.now();
  const timer = new LazyTimer(() => fired.push(performance.now() - start));
  timer.after(30);
  timer.within(200); // later: the 30 ms due time stays
  await sleep(80);
  assert.equal(fired.length, 1, "fired at the earlier time");
  assert.ok(fired[0] < 150, `fired at ${fired[0]} ms`);
  timer.after(10_000);
  timer.within(30); // earlier: it wins
  timer.within(Infinity); // never: changes nothing
  await sleep(100);
  assert.equal(fired.length, 2, "within() brought the due time forward");
  assert.equal(timer.pending, false);
});
