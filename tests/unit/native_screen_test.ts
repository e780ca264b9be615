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

/** The prelude's output for `log`. */
function prelude(screen: NativeScreen, log: ScrollLog, flush = false) {
  return screen.prelude(state(log), {
    size: SIZE,
    leaveAlternate: () => {},
    flush,
  });
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
