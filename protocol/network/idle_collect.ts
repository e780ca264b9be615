/**
 * One full collection once a burst of work is over: the job V8's memory
 * reducer does, without its cost. TMOSH_V8_FLAGS (self_command.ts) turn the
 * reducer off because it also wakes an idle process for collections every
 * few seconds (2-3x the idle CPU); without a replacement, the memory a flood
 * left behind would stay resident until the next busy period
 * (docs/architecture.md §12.2). The session loops note the bytes they
 * handle; past WORK_BYTES, a collection runs SETTLE_MS after the last note,
 * and the executable's pages go back (protocol/network/trim_resident.ts).
 * @module
 */
import { collectGarbage } from "./garbage_valve.ts";
import { LazyTimer } from "./lazy_timer.ts";
import { trimExecutablePages, trimMallocArenas } from "./trim_resident.ts";

/** Bytes of work after which the next quiet period ends in a collection. */
export const WORK_BYTES = 1024 * 1024;
/** Quiet time after the last noted work before the collection, ms. */
export const SETTLE_MS = 2000;

let worked = 0;
// Unref'd: a pending collection never keeps a finished process alive.
const settle = new LazyTimer(() => {
  worked = 0;
  collectGarbage();
  trimExecutablePages(); // the runtime's pages the burst (or start-up) touched
  trimMallocArenas(); // what the burst's native buffers left free
}, { unref: true });

/** Notes `bytes` of work (program output, a received screen); arms the collection once past WORK_BYTES. */
export function noteWork(bytes: number): void {
  worked += bytes;
  if (worked >= WORK_BYTES) settle.after(SETTLE_MS);
}
