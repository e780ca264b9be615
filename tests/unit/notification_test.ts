import assert from "node:assert/strict";
import {
  ATTR_BOLD,
  blankFramebuffer,
  cellAt,
  cellText,
  type Framebuffer,
  paletteColor,
} from "../../protocol/terminal/framebuffer.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import {
  formatDuration,
  NotificationEngine,
} from "../../client/notification.ts";

const T0 = 1_000_000; // an arbitrary clock origin

function engine(escapeKeyString = "Ctrl-^"): NotificationEngine {
  return new NotificationEngine({ escapeKeyString, prefix: "tmosh", now: T0 });
}

/** The text of row 0, trailing spaces removed. */
function bar(fb: Framebuffer): string {
  let s = "";
  for (let x = 0; x < fb.width; x++) s += cellText(fb.rows[0], x);
  return s.trimEnd();
}

const WIDE = blankFramebuffer(120, 5);

Deno.test("notification: nothing at 6.4 s or exactly 6.5 s, count-up just after 6.5 s", () => {
  const n = engine();
  assert.equal(n.apply(WIDE, T0 + 6400), WIDE);
  assert.equal(n.apply(WIDE, T0 + 6500), WIDE); // strictly more than 6500 ms
  assert.equal(
    bar(n.apply(WIDE, T0 + 6501)),
    "tmosh: Last contact 6 seconds ago. [To quit: Ctrl-^ .]",
  );
  // integer part of the seconds, no rounding
  assert.equal(
    bar(n.apply(WIDE, T0 + 7999)),
    "tmosh: Last contact 7 seconds ago. [To quit: Ctrl-^ .]",
  );
});

Deno.test("notification: serverHeard resets the count-up", () => {
  const n = engine();
  assert.notEqual(n.apply(WIDE, T0 + 8000), WIDE);
  n.serverHeard(T0 + 8000);
  n.serverAcked(T0 + 8000);
  assert.equal(n.apply(WIDE, T0 + 9000), WIDE);
  assert.equal(bar(n.apply(WIDE, T0 + 14501)), bar(n.apply(WIDE, T0 + 14600)));
  assert.match(
    bar(n.apply(WIDE, T0 + 14501)),
    /^tmosh: Last contact 6 seconds ago\./,
  );
});

Deno.test("notification: 'Last reply' when only our acks are late", () => {
  const n = engine();
  n.serverHeard(T0 + 10_000);
  assert.equal(n.apply(WIDE, T0 + 10_000), WIDE); // ack age exactly 10000: not late
  assert.equal(
    bar(n.apply(WIDE, T0 + 12_345)),
    "tmosh: Last reply 12 seconds ago. [To quit: Ctrl-^ .]",
  );
  // once the server is late too, "contact" wins with its own age
  assert.equal(
    bar(n.apply(WIDE, T0 + 16_600)),
    "tmosh: Last contact 6 seconds ago. [To quit: Ctrl-^ .]",
  );
});

Deno.test("notification: message alone, then message + late form", () => {
  const n = engine();
  n.setNotification("Exiting...", { permanent: true }, T0);
  assert.equal(
    bar(n.apply(WIDE, T0 + 100)),
    "tmosh: Exiting... [To quit: Ctrl-^ .]",
  );
  assert.equal(
    bar(n.apply(WIDE, T0 + 7000)),
    "tmosh: Exiting... (7 s without contact.) [To quit: Ctrl-^ .]",
  );
  n.serverHeard(T0 + 7000);
  assert.equal(
    bar(n.apply(WIDE, T0 + 11_000)),
    "tmosh: Exiting... (11 s without reply.) [To quit: Ctrl-^ .]",
  );
});

Deno.test("notification: durations 59 s, 1:05, 1:00:01 in both forms", () => {
  const n = engine();
  const at = (s: number) => bar(n.apply(WIDE, T0 + s * 1000 + 500));
  assert.equal(
    at(59),
    "tmosh: Last contact 59 seconds ago. [To quit: Ctrl-^ .]",
  );
  assert.equal(at(60), "tmosh: Last contact 1:00 ago. [To quit: Ctrl-^ .]");
  assert.equal(at(65), "tmosh: Last contact 1:05 ago. [To quit: Ctrl-^ .]");
  assert.equal(at(3599), "tmosh: Last contact 59:59 ago. [To quit: Ctrl-^ .]");
  assert.equal(
    at(3601),
    "tmosh: Last contact 1:00:01 ago. [To quit: Ctrl-^ .]",
  );
  assert.equal(
    at(36_061),
    "tmosh: Last contact 10:01:01 ago. [To quit: Ctrl-^ .]",
  );
  n.setNotification("hi", { permanent: true }, T0);
  assert.equal(at(59), "tmosh: hi (59 s without contact.) [To quit: Ctrl-^ .]");
  assert.equal(at(65), "tmosh: hi (1:05 without contact.) [To quit: Ctrl-^ .]");
  assert.equal(formatDuration(3661, "s"), "1:01:01");
  assert.equal(formatDuration(0, "seconds"), "0 seconds");
});

Deno.test("notification: bar cells are white on blue, text bold, rest of the picture untouched", async () => {
  const emu = new Emulator(40, 4);
  await emu.write("row zero text\r\nrow one\r\n");
  const fb = emu.snapshot();
  emu.dispose();
  const n = engine();
  n.setNotification("hello", {}, T0);
  const out = n.apply(fb, T0 + 10);
  const text = "tmosh: hello [To quit: Ctrl-^ .]";
  assert.equal(bar(out), text);
  for (let x = 0; x < 40; x++) {
    const c = cellAt(out, 0, x);
    assert.equal(c.rendition.fg, paletteColor(7), `fg at ${x}`);
    assert.equal(c.rendition.bg, paletteColor(4), `bg at ${x}`);
    assert.equal(c.width, 1);
    if (x < text.length) {
      assert.equal(c.rendition.attrs, ATTR_BOLD, `bold at ${x}`);
    } else {
      assert.equal(c.text, " ");
      assert.equal(c.rendition.attrs, 0, `not bold at ${x}`);
    }
  }
  // the space inside the text is a bold text cell too (mosh draws every character)
  assert.equal(cellAt(out, 0, 5).text, ":");
  assert.equal(cellAt(out, 0, 6).rendition.attrs, ATTR_BOLD);
  assert.equal(out.rows[1], fb.rows[1]);
  assert.equal(fb.rows[0] === out.rows[0], false);
  assert.equal(bar(fb), "row zero text"); // input not mutated
});

Deno.test("notification: text is cut at the screen width", () => {
  const n = engine();
  n.setNotification("hello", {}, T0);
  const out = n.apply(blankFramebuffer(10, 2), T0);
  assert.equal(bar(out), "tmosh: hel");
  assert.equal(cellAt(out, 0, 9).rendition.attrs, ATTR_BOLD);
});

Deno.test("notification: wide, combining and control characters in the message", () => {
  const n = engine("");
  n.setNotification("日本\u0301x\ty", {}, T0);
  const out = n.apply(blankFramebuffer(20, 2), T0);
  // "tmosh: " is 7 cells; 日 at 7-8, 本+U+0301 at 9-10, x at 11, tab dropped, y at 12
  assert.equal(cellAt(out, 0, 7).text, "日");
  assert.equal(cellAt(out, 0, 7).width, 2);
  assert.equal(cellAt(out, 0, 8).width, 0);
  assert.equal(cellAt(out, 0, 9).text, "本\u0301");
  assert.equal(cellAt(out, 0, 11).text, "x");
  assert.equal(cellAt(out, 0, 12).text, "y");
  assert.equal(cellAt(out, 0, 13).text, " ");
  // a wide character that does not fit in the last column is not drawn
  const narrow = n.apply(blankFramebuffer(8, 1), T0);
  assert.equal(cellAt(narrow, 0, 7).text, " ");
  assert.equal(cellAt(narrow, 0, 7).rendition.attrs, 0);
});

Deno.test("notification: cursor hidden only when it is on row 0", async () => {
  const n = engine();
  n.setNotification("x", { permanent: true }, T0);
  const top = blankFramebuffer(20, 3);
  assert.equal(top.cursorVisible, true);
  assert.equal(n.apply(top, T0).cursorVisible, false);
  const emu = new Emulator(20, 3);
  await emu.write("\r\n\r\n");
  const low = emu.snapshot();
  emu.dispose();
  assert.equal(low.cursorRow, 2);
  const out = n.apply(low, T0);
  assert.equal(out.cursorVisible, true);
  assert.equal(out.cursorRow, 2);
});

Deno.test("notification: ordinary messages expire after 1000 ms, permanent ones stay", () => {
  const n = engine();
  n.setNotification("short", {}, T0 + 100);
  assert.equal(
    bar(n.apply(WIDE, T0 + 1099)),
    "tmosh: short [To quit: Ctrl-^ .]",
  );
  assert.equal(n.message, "short");
  assert.equal(n.apply(WIDE, T0 + 1100), WIDE);
  assert.equal(n.message, "");
  n.setNotification("forever", { permanent: true }, T0 + 2000);
  n.serverHeard(T0 + 1_000_000);
  n.serverAcked(T0 + 1_000_000);
  assert.equal(
    bar(n.apply(WIDE, T0 + 1_000_000)),
    "tmosh: forever [To quit: Ctrl-^ .]",
  );
  n.setNotification("", {}, T0 + 1_000_000);
  assert.equal(n.apply(WIDE, T0 + 1_000_000), WIDE);
});

Deno.test("notification: lifetimeMs keeps a message longer (tmosh connect's notice)", () => {
  const n = engine();
  n.setNotification("2 detached sessions here", {
    lifetimeMs: 8000,
    showQuitKeystroke: false,
  }, T0);
  n.serverHeard(T0 + 7999);
  n.serverAcked(T0 + 7999);
  assert.equal(
    bar(n.apply(WIDE, T0 + 7999)),
    "tmosh: 2 detached sessions here",
  );
  assert.equal(n.waitTime(T0 + 7999), 1);
  assert.equal(n.apply(WIDE, T0 + 8000), WIDE);
});

Deno.test("notification: showQuitKeystroke false drops the hint until the next message", () => {
  const n = engine();
  const help = 'Commands: Ctrl-Z suspends, "." quits, "^" gives literal Ctrl-^';
  n.setNotification(help, { permanent: true, showQuitKeystroke: false }, T0);
  assert.equal(bar(n.apply(WIDE, T0)), `tmosh: ${help}`);
  n.setNotification("", {}, T0);
  assert.equal(
    bar(n.apply(WIDE, T0 + 7000)),
    "tmosh: Last contact 7 seconds ago. [To quit: Ctrl-^ .]",
  );
  // a disabled escape key (empty name) never shows a hint
  const off = engine("");
  assert.equal(
    bar(off.apply(WIDE, T0 + 7000)),
    "tmosh: Last contact 7 seconds ago.",
  );
  // another escape key is named in the hint
  const tilde = engine('"~"');
  tilde.setNotification("m", {}, T0);
  assert.equal(bar(tilde.apply(WIDE, T0)), 'tmosh: m [To quit: "~" .]');
});

Deno.test("notification: network errors last 3100 ms, cut to 1000 ms once sends succeed", () => {
  const n = engine();
  n.setNetworkError("sendto: Network is unreachable", T0);
  assert.equal(
    bar(n.apply(WIDE, T0 + 3099)),
    "tmosh: sendto: Network is unreachable [To quit: Ctrl-^ .]",
  );
  assert.equal(n.apply(WIDE, T0 + 3100), WIDE);

  const contact = (t: number) => {
    n.serverHeard(T0 + t);
    n.serverAcked(T0 + t);
  };
  contact(10_000);
  n.setNetworkError("sendto: boom", T0 + 10_000);
  n.clearNetworkError(T0 + 10_500); // expiry min(13100, 11500)
  assert.equal(
    bar(n.apply(WIDE, T0 + 11_499)),
    "tmosh: sendto: boom [To quit: Ctrl-^ .]",
  );
  assert.equal(n.apply(WIDE, T0 + 11_500), WIDE);

  contact(20_000);
  n.setNetworkError("sendto: late", T0 + 20_000);
  n.clearNetworkError(T0 + 22_500); // already closer than 1000 ms: unchanged
  assert.equal(n.waitTime(T0 + 22_500), 600);
  assert.notEqual(n.apply(WIDE, T0 + 23_099), WIDE);
  assert.equal(n.apply(WIDE, T0 + 23_100), WIDE);

  // clearNetworkError leaves ordinary messages alone
  n.setNotification("keep", { permanent: true }, T0 + 30_000);
  n.clearNetworkError(T0 + 30_000);
  n.serverHeard(T0 + 50_000);
  n.serverAcked(T0 + 50_000);
  assert.equal(
    bar(n.apply(WIDE, T0 + 50_000)),
    "tmosh: keep [To quit: Ctrl-^ .]",
  );
});

Deno.test("notification: waitTime values", () => {
  const n = engine();
  // nothing shown: wake when the count-up is due (server late after 6500 ms)
  assert.equal(n.waitTime(T0), 6501);
  assert.equal(n.waitTime(T0 + 6000), 501);
  // count-up: every 1000 ms
  assert.equal(n.waitTime(T0 + 6501), 1000);
  assert.equal(n.waitTime(T0 + 60_000), 1000);
  // after 60 s without contact: every 3000 ms (ACK_INTERVAL)
  assert.equal(n.waitTime(T0 + 60_001), 3000);
  // a message due to expire sooner wins
  n.setNotification("m", {}, T0 + 60_001);
  assert.equal(n.waitTime(T0 + 60_001), 1000);
  assert.equal(n.waitTime(T0 + 60_800), 201);
  // expired (even before apply cleared it) no longer counts
  assert.equal(n.waitTime(T0 + 61_002), 3000);
  // contact restored, message expiring in 400 ms
  n.serverHeard(T0 + 70_000);
  n.serverAcked(T0 + 70_000);
  n.setNotification("m", {}, T0 + 70_000);
  assert.equal(n.waitTime(T0 + 70_600), 400);
  // permanent message and no lateness: wake for the count-up only
  n.setNotification("p", { permanent: true }, T0 + 70_000);
  assert.equal(n.waitTime(T0 + 70_000), 6501);
  // only the reply late: count-up every 1000 ms
  n.serverHeard(T0 + 80_500);
  assert.equal(n.waitTime(T0 + 80_500), 1000);
});

Deno.test("notification: timers start at the first time given when no `now` option", () => {
  const n = new NotificationEngine({ escapeKeyString: "Ctrl-^" });
  assert.equal(n.apply(WIDE, 5000), WIDE);
  assert.equal(n.apply(WIDE, 11_500), WIDE);
  assert.equal(
    bar(n.apply(WIDE, 11_501)),
    "tmosh: Last contact 6 seconds ago. [To quit: Ctrl-^ .]",
  );
});

Deno.test("notification: prefix option names the product", () => {
  const n = new NotificationEngine({
    escapeKeyString: "Ctrl-^",
    prefix: "mosh",
    now: 0,
  });
  assert.equal(
    bar(n.apply(WIDE, 6501)),
    "mosh: Last contact 6 seconds ago. [To quit: Ctrl-^ .]",
  );
});
