/**
 * protocol/network/idle_collect.ts: past WORK_BYTES of noted work, one full
 * collection runs SETTLE_MS after the last note (the memory a flood left
 * behind is freed once the session is quiet); below it, nothing runs.
 */

import assert from "node:assert/strict";
import {
  noteWork,
  SETTLE_MS,
  WORK_BYTES,
} from "../../protocol/network/idle_collect.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Leaves about 60 MB of unreachable objects on the heap. */
function makeGarbage(): void {
  let junk: unknown[] = [];
  for (let i = 0; i < 200_000; i++) {
    junk.push({ text: `row ${i} `.repeat(20), cells: [i, i + 1, i + 2] });
  }
  junk = [];
  assert.equal(junk.length, 0);
}

const MB = 1024 * 1024;

Deno.test("idle_collect: below WORK_BYTES nothing is collected; past it, one collection after SETTLE_MS of quiet", async () => {
  const base = Deno.memoryUsage().heapUsed;
  makeGarbage();
  const dirty = Deno.memoryUsage().heapUsed;
  assert.ok(dirty - base > 40 * MB, `garbage on the heap: ${dirty / MB} MB`);

  noteWork(WORK_BYTES / 4);
  await sleep(SETTLE_MS + 500);
  assert.ok(
    Deno.memoryUsage().heapUsed > dirty - 10 * MB,
    "little work: no collection",
  );

  noteWork(WORK_BYTES);
  await sleep(SETTLE_MS / 2);
  noteWork(1); // more work: the quiet period starts again
  await sleep(SETTLE_MS / 2 + 200);
  assert.ok(
    Deno.memoryUsage().heapUsed > dirty - 10 * MB,
    "not before SETTLE_MS after the last note",
  );
  await sleep(SETTLE_MS / 2 + 300);
  const clean = Deno.memoryUsage().heapUsed;
  assert.ok(
    clean < base + (dirty - base) / 2,
    `collected: ${(base / MB).toFixed(0)} + garbage = ${
      (dirty / MB).toFixed(0)
    } -> ${(clean / MB).toFixed(0)} MB`,
  );
});
