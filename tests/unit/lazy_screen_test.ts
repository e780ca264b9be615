/**
 * The client applies a received screen only when it is read (drawn, or the
 * base of the next diff), and draws no more of a screen than its window
 * shows: what lets a server flooding huge screens cost one emulator pass per
 * frame drawn (issue: a hostile server must not exhaust the client).
 * @module
 */
import assert from "node:assert/strict";
import { CompleteTerminal } from "../../protocol/statesync/complete_terminal.ts";
import type { FrameApplier } from "../../protocol/statesync/complete_terminal.ts";
import { EmulatorApplier } from "../../protocol/statesync/emulator_applier.ts";
import {
  blankFramebuffer,
  cellText,
  clipFramebuffer,
  type Framebuffer,
} from "../../protocol/terminal/framebuffer.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import type { HostEvent } from "../../protocol/protobufs/messages.ts";

/** An applier that counts its calls. */
class CountingApplier implements FrameApplier {
  calls = 0;
  readonly #inner = new EmulatorApplier();
  apply(base: Framebuffer, events: HostEvent[]): Framebuffer {
    this.calls++;
    return this.#inner.apply(base, events);
  }
  dispose(): void {
    this.#inner.dispose();
  }
}

/** A server state whose screen shows `text`, diffed from `base`. */
function diffShowing(base: CompleteTerminal, text: string): Uint8Array {
  const em = new Emulator(base.fb.width, base.fb.height);
  em.loadFramebufferSync(base.fb);
  em.writeSync(new TextEncoder().encode(text));
  const next = new CompleteTerminal(em.snapshot(), base.echoAck);
  em.dispose();
  return next.diffFrom(base);
}

Deno.test("a received screen is applied when read, once, and echo acks need no apply", () => {
  const applier = new CountingApplier();
  const s0 = new CompleteTerminal(blankFramebuffer(20, 4), 0n, { applier });
  const s1 = s0.applyDiff(diffShowing(s0, "one"))!;
  const s2 = s0.applyDiff(diffShowing(s0, "two"))!;
  const s3 = s0.applyDiff(diffShowing(s0, "three"))!;
  assert.equal(applier.calls, 0, "nothing applied before a screen is read");
  assert.equal(cellText(s3.fb.rows[0], 0) + cellText(s3.fb.rows[0], 1), "th");
  assert.equal(applier.calls, 1);
  void s3.fb;
  assert.equal(applier.calls, 1, "applied once");
  assert.ok(s1.byteSize() > 0 && s2.byteSize() > 0);
  // A diff on a pending state applies that state first: no chains.
  const s4 = s1.applyDiff(diffShowing(s0, "\x1b[2;1Hx"))!;
  assert.equal(applier.calls, 2);
  // (the diff moves relative to its base's cursor, after "one")
  assert.equal(cellText(s4.fb.rows[1], 3), "x");
  assert.equal(cellText(s4.fb.rows[0], 0), "o");
  assert.equal(applier.calls, 3);
  applier.dispose();
});

Deno.test("clipFramebuffer: a screen larger than the window keeps its top-left part", () => {
  const em = new Emulator(10, 5);
  em.writeSync(
    new TextEncoder().encode("abcdefgh字\r\n12345\r\nxyz\x1b[5;10H"),
  );
  const fb = em.snapshot();
  em.dispose();
  assert.equal(clipFramebuffer(fb, { cols: 10, rows: 5 }), fb);
  assert.equal(clipFramebuffer(fb, { cols: 80, rows: 24 }), fb);
  const c = clipFramebuffer(fb, { cols: 9, rows: 2 });
  assert.equal(c.width, 9);
  assert.equal(c.height, 2);
  assert.equal(c.rows.length, 2);
  assert.equal(cellText(c.rows[0], 7), "h");
  assert.equal(
    cellText(c.rows[0], 8),
    "",
    "a wide character cut in half is blank",
  );
  assert.equal(cellText(c.rows[1], 4), "5");
  assert.deepEqual([c.cursorRow, c.cursorCol], [1, 8]);
});
