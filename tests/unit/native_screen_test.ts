/**
 * The client's native-scrollback bookkeeping (client/native_screen.ts): the
 * rows of a logical line whose end is still on the server's screen wait for
 * it, so the line reaches the terminal's scrollback as one soft-wrapped line
 * even when its rows arrive in different states; the session's last frame
 * and lines past HELD_WRAPPED_ROWS_MAX are written at once.
 * @module
 */
import assert from "node:assert/strict";
import {
  FRAME_LOG_BYTES_MAX,
  HELD_WRAPPED_ROWS_MAX,
  NativeScreen,
} from "../../client/native_screen.ts";
import { CompleteTerminal } from "../../protocol/statesync/complete_terminal.ts";
import { SCROLLBACK_CAPABILITY } from "../../protocol/statesync/capabilities.ts";
import {
  type LogRecord,
  ScrollLog,
} from "../../protocol/statesync/scroll_log.ts";
import { blankFramebuffer } from "../../protocol/terminal/framebuffer.ts";

const SIZE = { cols: 20, rows: 4 };

/** A line record. */
function line(text: string, wrap = false): LogRecord {
  return { kind: "line", text, cols: text.length, wrap };
}

/** A server state holding `log`, with scrollback in use. */
function state(log: ScrollLog): CompleteTerminal {
  return new CompleteTerminal(blankFramebuffer(SIZE.cols, SIZE.rows), 0n, {
    capabilities: [SCROLLBACK_CAPABILITY],
    scroll: log,
  });
}

/** The prelude's output for `log`, its bytes as text. */
function prelude(screen: NativeScreen, log: ScrollLog, flush = false) {
  const p = screen.prelude(state(log), {
    size: SIZE,
    leaveAlternate: () => {},
    flush,
  });
  return { ...p, out: new TextDecoder().decode(p.out) };
}

Deno.test("native screen: a soft-wrapped line split across states is written once, joined", () => {
  const screen = new NativeScreen([SCROLLBACK_CAPABILITY]);
  let log = ScrollLog.empty().append([line("one"), line("two-a", true)]);
  const first = prelude(screen, log);
  assert.ok(first.out.includes("one"));
  assert.ok(!first.out.includes("two-a"), "the unfinished line waits");
  assert.equal(screen.written, 1);
  // Nothing new to write: no output, no repaint.
  log = log.append([line("two-b", true)]);
  assert.deepEqual(prelude(screen, log), { out: "", repaint: false });
  assert.equal(screen.written, 1);
  log = log.append([line("two-c"), line("three")]);
  const second = prelude(screen, log);
  // One run of text: the terminal's own autowrap joins it.
  assert.ok(second.out.includes("two-atwo-btwo-c"), JSON.stringify(second));
  assert.ok(second.out.includes("three"));
  assert.ok(second.repaint);
  assert.equal(screen.written, 5);
});

Deno.test("native screen: the last frame and over-long lines are written at once", () => {
  const screen = new NativeScreen([SCROLLBACK_CAPABILITY]);
  let log = ScrollLog.empty().append([line("start", true)]);
  assert.ok(!prelude(screen, log).out.includes("start"));
  assert.ok(prelude(screen, log, true).out.includes("start"));
  assert.equal(screen.written, 1);
  const long = Array.from(
    { length: HELD_WRAPPED_ROWS_MAX + 1 },
    (_, i) => line(`r${i}|`, true),
  );
  log = log.append(long);
  assert.ok(prelude(screen, log).out.includes(`r${HELD_WRAPPED_ROWS_MAX}|`));
  assert.equal(screen.written, log.end);
});

Deno.test("native screen: a flood is written in shares of FRAME_LOG_BYTES_MAX, each frame asking for the next, all once and in order", () => {
  const screen = new NativeScreen([SCROLLBACK_CAPABILITY]);
  const n = 100_000;
  const records: LogRecord[] = [];
  for (let i = 1; i <= n; i++) records.push(line(`${i}`));
  const log = ScrollLog.empty().append(records);
  prelude(screen, ScrollLog.empty()); // the first answer: leaves the alternate screen
  const seen: string[] = [];
  let frames = 0;
  for (;;) {
    const p = prelude(screen, log);
    frames++;
    assert.ok(
      p.out.length < FRAME_LOG_BYTES_MAX * 3,
      `frame ${frames}: ${p.out.length} bytes`,
    );
    for (const m of p.out.matchAll(/(?:\x1b\[2K|\r\n)(\d+)/g)) {
      seen.push(m[1]);
    }
    if (!p.more) break;
    assert.ok(frames < 1000);
  }
  assert.ok(frames > 2, `${frames} frames`);
  assert.equal(screen.written, n);
  const nums = p2nums(seen);
  assert.deepEqual(nums, Array.from({ length: n }, (_, i) => i + 1));
  assert.equal(prelude(screen, log).out, "", "nothing twice");
});

Deno.test("native screen: the last frame writes the whole flood at once", () => {
  const screen = new NativeScreen([SCROLLBACK_CAPABILITY]);
  const records: LogRecord[] = [];
  for (let i = 0; i < 100_000; i++) records.push(line(`${i}`));
  prelude(screen, ScrollLog.empty());
  const p = prelude(screen, ScrollLog.empty().append(records), true);
  assert.equal(p.more, undefined);
  assert.equal(screen.written, 100_000);
});

/** The numbers of the rows written, in order. */
function p2nums(texts: string[]): number[] {
  return texts.map(Number);
}
