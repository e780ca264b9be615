/**
 * Prompt collection of large short-lived buffers. V8 collects ArrayBuffers
 * lazily (after tens of MB of growth), and the freed memory returns to the
 * system slowly, so a peer that makes us inflate megabytes per datagram
 * would grow our resident memory to hundreds of MB before any collection.
 * Code that creates such buffers reports their size here; past a budget a
 * collection runs. Ordinary sessions, whose diffs are kilobytes, almost
 * never reach it.
 * @module
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Bytes of reported garbage between two forced collections. */
export const GARBAGE_BUDGET = 8 * 1024 * 1024;

/** V8's collector function, once exposed. */
type Collect = (options?: { type?: "major" | "minor" }) => void;

let collect: Collect | null | undefined;
let reported = 0;

/** Notes `bytes` of buffers that are garbage soon; collects when the budget is spent. */
export function reportGarbage(bytes: number): void {
  reported += bytes;
  if (reported < GARBAGE_BUDGET) return;
  reported = 0;
  collector()?.({ type: "major" });
}

/** Runs a full collection now (protocol/network/idle_collect.ts, after a burst of work). */
export function collectGarbage(): void {
  reported = 0;
  collector()?.({ type: "major" });
}

/** V8's gc(), exposed on first use; null where the runtime refuses. */
function collector(): Collect | null {
  if (collect !== undefined) return collect;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc");
    collect = typeof gc === "function" ? gc as Collect : null;
  } catch {
    collect = null;
  }
  return collect;
}
