import assert from "node:assert/strict";
import {
  ATTR_BOLD,
  ATTR_UNDERLINE,
  blankFramebuffer,
  type Cell,
  cellAt,
  cellText,
  DEFAULT_RENDITION,
  type Framebuffer,
  makeRendition,
  type Rendition,
  rowFromCells,
} from "../../protocol/terminal/framebuffer.ts";
import {
  PredictionEngine,
  type PredictionEngine as Engine,
  type PredictionOptions,
} from "../../client/prediction/engine.ts";
import { InputParser } from "../../client/prediction/input.ts";
import { EchoConfidence } from "../../client/prediction/confidence.ts";
import { simulateSession } from "../../harness/prediction_sim.ts";

const te = new TextEncoder();

/** A width×height screen holding `lines`, cursor at [row, col]. */
function screen(
  lines: string[],
  cursor: [number, number],
  size: { width?: number; height?: number; rendition?: Rendition } = {},
): Framebuffer {
  const width = size.width ?? 20, height = size.height ?? 5;
  const fb = blankFramebuffer(width, height);
  const rows = fb.rows.slice();
  lines.forEach((line, y) => {
    const cells: Cell[] = [];
    const chars = [...line];
    for (let x = 0; x < width; x++) {
      cells.push({
        text: x < chars.length ? chars[x] : "",
        width: 1,
        rendition: size.rendition ?? DEFAULT_RENDITION,
      });
    }
    rows[y] = rowFromCells(cells);
  });
  return { ...fb, rows, cursorRow: cursor[0], cursorCol: cursor[1] };
}

/** The text of row y ("" cells as spaces), trailing blanks trimmed. */
function line(fb: Framebuffer, y: number): string {
  let s = "";
  for (let x = 0; x < fb.width; x++) s += cellText(fb.rows[y], x) || " ";
  return s.trimEnd();
}

/** One client and the server's newest frame, with fake time and state numbers. */
class Harness {
  readonly engine: Engine;
  fb: Framebuffer;
  sent = 0n;
  now = 1000;

  constructor(
    options: PredictionOptions,
    fb: Framebuffer,
    sendInterval = 100,
  ) {
    this.engine = new PredictionEngine(options);
    this.engine.setSendInterval(sendInterval);
    this.fb = fb;
    this.engine.cull(fb, this.now);
  }

  /** Type `keys` as one new client state. */
  type(keys: string | number[]): this {
    const bytes = typeof keys === "string"
      ? te.encode(keys)
      : new Uint8Array(keys);
    this.engine.setLocalFrameSent(this.sent);
    this.engine.newUserInput(bytes, this.fb, this.now);
    this.sent++;
    return this;
  }

  /** A server state arrives: frame `fb`, echo ack `ack` (default: everything sent). */
  server(fb: Framebuffer, ack = this.sent): this {
    this.fb = fb;
    this.engine.setLocalFrameAcked(ack);
    this.engine.setLocalFrameLateAcked(ack);
    this.engine.cull(fb, this.now);
    return this;
  }

  /** What the user sees now. */
  view(): Framebuffer {
    this.engine.cull(this.fb, this.now);
    return this.engine.apply(this.fb);
  }

  tick(ms: number): this {
    this.now += ms;
    return this;
  }
}

const PROMPT = "$ ";
const prompt = (typed = "", row = 0, above: string[] = []) =>
  screen([...above, PROMPT + typed], [row, 2 + typed.length]);

/** Type `first` at the prompt and let the server echo it, confirming the epoch. */
function confirmedAtPrompt(options: PredictionOptions, first = "l"): Harness {
  const h = new Harness(options, prompt());
  h.type(first).tick(250).server(prompt(first));
  return h;
}

Deno.test("mosh first key: hidden until the server confirms the epoch, then later keys show at once", () => {
  const h = new Harness({ mode: "adaptive", firstKey: "mosh" }, prompt());
  h.type("l");
  assert.equal(line(h.view(), 0), "$");
  assert.deepEqual([h.view().cursorRow, h.view().cursorCol], [0, 2]);
  h.type("s");
  assert.equal(line(h.view(), 0), "$", "still tentative");
  // The server echoed "l" but its echo ack does not cover state 1 yet.
  h.tick(100).server(prompt("l"), 0n);
  assert.equal(line(h.view(), 0), "$ l");
  assert.equal(h.engine.stats.confirmed, 0);
  // Echo ack for "l" arrives: the epoch is confirmed and "s" shows at once.
  h.tick(100).server(prompt("l"), 1n);
  assert.equal(h.engine.stats.confirmed, 1);
  assert.equal(line(h.view(), 0), "$ ls");
  assert.equal(h.view().cursorCol, 4);
  h.type("x");
  assert.equal(line(h.view(), 0), "$ lsx");
  assert.deepEqual(h.engine.stats, {
    predicted: 3,
    shownInstantly: 1,
    confirmed: 1,
    mispredicted: 0,
    killedTentative: 0,
    vouched: 0,
  });
});

Deno.test("confirmation needs the echo ack to reach the expiration frame and a matching cell", () => {
  const h = confirmedAtPrompt({ mode: "always" });
  h.type("s");
  h.tick(50).server(prompt("ls"), 1n); // ack below the expiration (2)
  assert.equal(h.engine.stats.confirmed, 1);
  h.server(prompt("ls"), 2n);
  assert.equal(h.engine.stats.confirmed, 2);
  // Matching the original contents earns no credit (and confirms nothing).
  const h2 = new Harness(
    { mode: "always", overwrite: true, firstKey: "mosh" },
    screen(["$ abc"], [0, 2]),
  );
  h2.type("a").tick(250).server(screen(["$ abc"], [0, 3]));
  assert.equal(h2.engine.stats.confirmed, 0);
  h2.type("X");
  assert.equal(line(h2.view(), 0), "$ abc", "epoch still unconfirmed");
});

Deno.test("confident first key: shown at once on a prompt where echo was confirmed before", () => {
  for (const firstKey of ["mosh", "confident"] as const) {
    const h = confirmedAtPrompt({ mode: "adaptive", firstKey }, "ls");
    h.type("\r").tick(250);
    // The command ran: output, then a fresh prompt two rows down.
    h.server(prompt("", 2, ["$ ls", "file"]));
    assert.equal(h.view().cursorRow, 2);
    h.type("c");
    const shown = line(h.view(), 2) === "$ c";
    assert.equal(shown, firstKey === "confident", firstKey);
    assert.equal(h.engine.stats.vouched, firstKey === "confident" ? 1 : 0);
    h.type("d");
    assert.equal(line(h.view(), 2) === "$ cd", firstKey === "confident");
    // Either way the echo then confirms it.
    h.tick(250).server(screen(["$ ls", "file", "$ cd"], [2, 4]));
    assert.equal(line(h.view(), 2), "$ cd");
  }
});

Deno.test("confident first key: a changed prompt with the same shell ending is trusted", () => {
  const h = new Harness(
    { mode: "always" },
    screen(["me@box:~/a$ "], [0, 12]),
  );
  h.type("c").tick(250).server(screen(["me@box:~/a$ c"], [0, 13]));
  h.type("\r").tick(250).server(
    screen(["me@box:~/a$ cd b", "me@box:~/b$ "], [1, 12]),
  );
  h.type("l");
  assert.equal(line(h.view(), 1), "me@box:~/b$ l");
  assert.equal(h.engine.stats.vouched, 1);
});

Deno.test("confident first key: never on password prompts or without evidence", () => {
  // No echo seen yet: behave like mosh.
  const fresh = new Harness({ mode: "always" }, prompt());
  fresh.type("l");
  assert.equal(line(fresh.view(), 0), "$");
  // Echo seen at the shell prompt, then a password prompt.
  const h = confirmedAtPrompt({ mode: "always" }, "sudo");
  h.type("\r").tick(250);
  h.server(screen(["$ sudo", "Password: "], [1, 10]));
  h.type("s");
  assert.equal(line(h.view(), 1), "Password:");
  assert.equal(h.engine.stats.vouched, 0);
  const conf = new EchoConfidence();
  const wide = { width: 40 };
  const sudo = screen(["[sudo] password for me: "], [0, 24], wide);
  assert.equal(conf.contextAt(sudo), undefined);
  assert.equal(conf.contextAt(screen(["Enter PIN: "], [0, 11])), undefined);
  assert.equal(conf.contextAt(screen(["$ "], [0, 2])), "$ ");
  assert.equal(
    conf.contextAt(screen(["$ x"], [0, 2])),
    undefined,
    "text right",
  );
  assert.equal(conf.contextAt(screen([""], [0, 0])), undefined, "no prompt");
});

Deno.test("confident first key: not while an earlier key (history recall) is in flight", () => {
  const h = confirmedAtPrompt({ mode: "always" }, "ls");
  h.type("\r").tick(250);
  h.server(prompt("", 2, ["$ ls", "file"]));
  // Up, then a key before the recalled line is back: the prompt is trusted,
  // but the screen is about to change under the cursor.
  h.type("\x1b[A").tick(100).type("x");
  assert.equal(line(h.view(), 2), "$", "not vouched");
  assert.equal(h.engine.stats.vouched, 0);
  h.tick(250).server(screen(["$ ls", "file", "$ lsx"], [2, 5]));
  assert.equal(line(h.view(), 2), "$ lsx");
  assert.equal(h.engine.stats.mispredicted, 0);
  // With everything echoed, the next prompt's first key is vouched again.
  h.type("\r").tick(250).server(
    prompt("", 4, ["$ ls", "file", "$ lsx", "sh: lsx: not found"]),
  );
  h.type("y");
  assert.equal(line(h.view(), 4), "$ y");
  assert.equal(h.engine.stats.vouched, 1);
});

Deno.test("misprediction: shown keys vanish and the server's frame is left untouched", () => {
  const h = confirmedAtPrompt({ mode: "adaptive" });
  h.type("x");
  assert.equal(line(h.view(), 0), "$ lx");
  // The application ignored "x"; the echo ack passes its expiration.
  h.tick(250).server(prompt("l"));
  const view = h.view();
  assert.equal(view, h.fb, "apply returns the server frame itself");
  assert.equal(h.engine.stats.mispredicted, 1);
});

Deno.test("stty -echo: repeated unconfirmed keys are never shown and their epochs die", () => {
  for (const firstKey of ["mosh", "confident"] as const) {
    const fb = screen(["secret? "], [0, 8]);
    const h = new Harness({ mode: "adaptive", firstKey }, fb);
    for (const k of "hunter2") {
      h.type(k);
      assert.equal(line(h.view(), 0), "secret?", firstKey);
      h.tick(120).server(fb);
      assert.equal(line(h.view(), 0), "secret?");
    }
    const s = h.engine.stats;
    assert.equal(s.killedTentative, 7);
    assert.equal(s.shownInstantly, 0);
    assert.equal(s.mispredicted, 0);
  }
});

Deno.test("stty -echo behind a trusted prompt: one shown misprediction, then caution", () => {
  const h = confirmedAtPrompt({ mode: "always" });
  h.type("\r").tick(250);
  const quiet = prompt("", 1, ["$ l"]);
  h.server(quiet);
  h.type("p");
  assert.equal(line(h.view(), 1), "$ p", "vouched");
  h.tick(250).server(quiet);
  assert.equal(line(h.view(), 1), "$");
  assert.equal(h.engine.stats.mispredicted, 1);
  h.type("q");
  assert.equal(line(h.view(), 1), "$", "not vouched after the kill");
  assert.equal(h.engine.stats.vouched, 1);
});

Deno.test("a screen change under a prediction is no evidence against echo", () => {
  const h = confirmedAtPrompt({ mode: "always" });
  h.type("s");
  // The screen is cleared before the echo ack arrives: the prediction is
  // judged wrong, but the prompt is gone, so the prompt stays trusted.
  h.tick(250).server(screen([], [0, 0]));
  assert.equal(h.engine.stats.mispredicted, 1);
  h.tick(100).server(prompt());
  h.type("c");
  assert.equal(line(h.view(), 0), "$ c");
  assert.equal(h.engine.stats.vouched, 1);
});

function underlinedAt(fb: Framebuffer, y: number, x: number): boolean {
  return (cellAt(fb, y, x).rendition.attrs & ATTR_UNDERLINE) !== 0;
}

Deno.test("underline while flagging (send interval > 80), none at or below 50", () => {
  const h = confirmedAtPrompt({ mode: "always" });
  h.type("s");
  assert.ok(underlinedAt(h.view(), 0, 3));
  h.engine.setSendInterval(60); // hysteresis: still flagging
  assert.ok(underlinedAt(h.view(), 0, 3));
  h.engine.setSendInterval(50);
  assert.equal(line(h.view(), 0), "$ ls");
  assert.ok(!underlinedAt(h.view(), 0, 3));
  h.engine.setSendInterval(81);
  assert.ok(underlinedAt(h.view(), 0, 3));
});

Deno.test("adaptive: nothing shown on a fast link, shown once the link is slow", () => {
  const h = new Harness({ mode: "adaptive" }, prompt(), 20);
  h.type("l").tick(40).server(prompt("l"));
  h.type("s");
  assert.equal(line(h.view(), 0), "$ l", "send interval 20: not shown");
  const a = new Harness({ mode: "always" }, prompt(), 20);
  a.type("l").tick(40).server(prompt("l"));
  a.type("s");
  assert.equal(line(a.view(), 0), "$ ls", "always shows");
  assert.ok(!underlinedAt(a.view(), 0, 3));
  h.engine.setSendInterval(31);
  assert.equal(line(h.view(), 0), "$ ls");
  // srtt trigger stays on until the interval is <= 20 and nothing is active.
  h.engine.setSendInterval(20);
  assert.equal(line(h.view(), 0), "$ ls");
  h.tick(40).server(prompt("ls"));
  h.type("x");
  assert.equal(line(h.view(), 0), "$ ls");
});

Deno.test("adaptive: a long-pending prediction shows (glitch), and underlines after 5 s", () => {
  const h = new Harness({ mode: "adaptive" }, prompt(), 20);
  h.type("l").tick(40).server(prompt("l"));
  h.type("s");
  assert.equal(h.engine.waitTime(h.now), 50);
  assert.equal(line(h.view(), 0), "$ l");
  h.tick(250);
  assert.equal(line(h.view(), 0), "$ ls");
  assert.ok(!underlinedAt(h.view(), 0, 3));
  h.tick(5000);
  h.view();
  assert.ok(underlinedAt(h.view(), 0, 3));
  assert.equal(h.engine.waitTime(h.now), Infinity, "every trigger fired");
  h.server(prompt("ls"));
  h.view();
  assert.equal(h.engine.waitTime(h.now), Infinity, "nothing active");
});

Deno.test("never: nothing predicted, nothing shown", () => {
  const h = new Harness({ mode: "never" }, prompt());
  h.type("ls");
  assert.equal(h.view(), h.fb);
  assert.equal(h.engine.stats.predicted, 0);
  assert.equal(h.engine.waitTime(h.now), Infinity);
});

Deno.test("backspace and arrows move the predicted cursor", () => {
  const h = confirmedAtPrompt({ mode: "always" });
  h.type("ab");
  assert.equal(h.view().cursorCol, 5);
  h.type([0x7f]);
  assert.equal(line(h.view(), 0), "$ la");
  assert.equal(h.view().cursorCol, 4);
  h.type("\x1b[D");
  assert.equal(h.view().cursorCol, 3);
  h.type("\x1bOD");
  assert.equal(h.view().cursorCol, 2);
  h.type("\x1b[C");
  assert.equal(h.view().cursorCol, 3);
  // Backspace in the middle pulls the rest of the row left.
  h.type([0x7f]);
  assert.equal(line(h.view(), 0), "$ a");
  assert.equal(h.view().cursorCol, 2);
  // Left arrow stops at column 0.
  h.type("\x1b[D\x1b[D\x1b[D");
  assert.equal(h.view().cursorCol, 0);
  // Any other CSI makes the next keys tentative.
  h.type("\x1b[A");
  h.type("z");
  assert.equal(line(h.view(), 0), "$ l", "re-predicted cells are tentative");
});

Deno.test("backspace with predictions in overwrite mode blanks only one cell", () => {
  const h = new Harness(
    { mode: "always", overwrite: true },
    screen(["$ abc"], [0, 5]),
  );
  h.type("d").tick(250).server(screen(["$ abcd"], [0, 6]));
  h.type("\x1b[D\x1b[D");
  h.type([0x7f]);
  assert.equal(line(h.view(), 0), "$ a cd");
  assert.equal(h.view().cursorCol, 3);
});

Deno.test("CR predicts column 0 of the next row; on the bottom row a blank row", () => {
  const h = new Harness({ mode: "experimental" }, prompt());
  h.type("ls\r");
  const v = h.view();
  assert.deepEqual([v.cursorRow, v.cursorCol], [1, 0]);
  const bottom = screen(["a", "b", "c", "d", "$ "], [4, 2]);
  const b = new Harness({ mode: "experimental" }, bottom);
  b.type("\r");
  const bv = b.view();
  assert.deepEqual([bv.cursorRow, bv.cursorCol, line(bv, 4)], [4, 0, ""]);
  // Mosh mode: a CR starts a new, tentative epoch.
  const m = confirmedAtPrompt({ mode: "always", firstKey: "mosh" });
  m.type("\rx");
  assert.deepEqual([m.view().cursorRow, m.view().cursorCol], [0, 3]);
  assert.equal(line(m.view(), 1), "");
});

Deno.test("last column: the key there is tentative and the cursor wraps to the next row", () => {
  const fb = screen(["$ abcdefg"], [0, 9], { width: 10 });
  const h = new Harness({ mode: "experimental" }, fb);
  h.type("i");
  let v = h.view();
  assert.equal(line(v, 0), "$ abcdefgi");
  assert.deepEqual([v.cursorRow, v.cursorCol], [1, 0]);
  const m = new Harness({ mode: "always", firstKey: "mosh" }, fb);
  m.type("\x1b[D");
  m.type("x").tick(250).server(screen(["$ abcdefxg"], [0, 9], { width: 10 }));
  assert.equal(m.engine.stats.confirmed, 1);
  m.type("y");
  v = m.view();
  assert.equal(line(v, 0), "$ abcdefxg", "last-column key stays hidden");
  // Backspace makes the last two columns unknown: underlined, except the last.
  const b = new Harness(
    { mode: "experimental" },
    screen(["$ abcdefgh"], [0, 4], { width: 10 }),
  );
  b.type([0x7f]);
  v = b.view();
  assert.equal(line(v, 0), "$ acdefggh");
  assert.ok(underlinedAt(v, 0, 8) && !underlinedAt(v, 0, 9));
  // Unknown cells are underlined when flagging, except in the last column.
  const u = confirmedAtPrompt({ mode: "always" });
  u.type("\x1b[D");
  u.type("Z");
  v = u.view();
  assert.equal(line(v, 0), "$ Zl");
  assert.ok(underlinedAt(v, 0, 2) && underlinedAt(v, 0, 3));
  assert.ok(!underlinedAt(v, 0, 19), "last column not underlined");
  assert.ok(!underlinedAt(v, 0, 10), "blank over blank not underlined");
});

Deno.test("insert mode shifts the rest of the row right; overwrite replaces in place", () => {
  const bold = { rendition: makeRendition(ATTR_BOLD, 0, 0) };
  const run = (overwrite: boolean) => {
    const h = new Harness(
      { mode: "always", overwrite, firstKey: "mosh" },
      screen(["$ abc"], [0, 5], bold),
    );
    h.type("d").tick(250).server(screen(["$ abcd"], [0, 6], bold));
    h.type("\x1b[D\x1b[D\x1b[D\x1b[D");
    h.type("X");
    return h.view();
  };
  const ins = run(false);
  assert.equal(line(ins, 0), "$ Xabcd");
  assert.equal(ins.cursorCol, 3);
  assert.equal(cellAt(ins, 0, 2).rendition.attrs & ATTR_BOLD, ATTR_BOLD);
  assert.equal(cellAt(ins, 0, 6).rendition.attrs & ATTR_BOLD, ATTR_BOLD);
  const ovr = run(true);
  assert.equal(line(ovr, 0), "$ Xbcd");
  assert.equal(ovr.cursorCol, 3);
});

Deno.test("half of a wide character is never left on screen", () => {
  const wide: Cell[] = [..."$ "].map((text) => ({
    text,
    width: 1,
    rendition: DEFAULT_RENDITION,
  }));
  wide.push({ text: "中", width: 2, rendition: DEFAULT_RENDITION });
  wide.push({ text: "", width: 0, rendition: DEFAULT_RENDITION });
  while (wide.length < 20) {
    wide.push({ text: "", width: 1, rendition: DEFAULT_RENDITION });
  }
  const base = blankFramebuffer(20, 5);
  const rows = base.rows.slice();
  rows[0] = rowFromCells(wide);
  const fb = { ...base, rows, cursorCol: 2 };
  const h = new Harness({ mode: "experimental", overwrite: true }, fb);
  h.type("x");
  const v = h.view();
  assert.deepEqual(
    [cellAt(v, 0, 2).text, cellAt(v, 0, 2).width, cellAt(v, 0, 3).width],
    ["x", 1, 1],
  );
  // Insert mode moves the whole pair right.
  const ins = new Harness({ mode: "experimental" }, fb);
  ins.type("y");
  const w = ins.view();
  assert.deepEqual(
    [2, 3, 4].map((x) => [cellAt(w, 0, x).text, cellAt(w, 0, x).width]),
    [["y", 1], ["中", 2], ["", 0]],
  );
});

Deno.test("resize and paste reset every prediction", () => {
  const h = confirmedAtPrompt({ mode: "always" });
  h.type("s");
  assert.equal(line(h.view(), 0), "$ ls");
  h.fb = screen(["$ l"], [0, 3], { width: 30 });
  assert.equal(line(h.view(), 0), "$ l", "resize");
  const p = confirmedAtPrompt({ mode: "always" });
  p.type("s");
  p.engine.reset();
  assert.equal(line(p.view(), 0), "$ l", "paste");
  p.type("t");
  assert.equal(line(p.view(), 0), "$ l", "new keys must earn trust again");
});

Deno.test("printable UTF-8 is predicted; wide and control characters are not", () => {
  const h = confirmedAtPrompt({ mode: "always" });
  h.type("é");
  h.type("ж");
  assert.equal(line(h.view(), 0), "$ léж");
  h.type("中");
  h.type("x");
  assert.equal(line(h.view(), 0), "$ léж", "after a wide char: tentative");
  const p = new InputParser();
  const acts = [...te.encode("a\x1b[1;5C\x1bx\x07é")].flatMap((b) => p.feed(b));
  assert.deepEqual(acts, [
    { kind: "print", ch: 0x61 },
    { kind: "csi", ch: 0x43 },
    { kind: "esc", ch: 0x78 },
    { kind: "execute", ch: 0x07 },
    { kind: "print", ch: 0xe9 },
  ]);
  // A truncated sequence becomes U+FFFD before the next ASCII byte.
  const q = new InputParser();
  assert.deepEqual([0xc3, 0x41].flatMap((b) => q.feed(b)), [
    { kind: "print", ch: 0xfffd },
    { kind: "print", ch: 0x41 },
  ]);
  // OSC strings are swallowed up to BEL.
  const r = new InputParser();
  assert.deepEqual(
    [...te.encode("\x1b]0;t\x07b")].flatMap((b) => r.feed(b)),
    [{ kind: "print", ch: 0x62 }],
  );
});

Deno.test("simulated session, 100 ms one-way: confident shows more first keys at once, no more mispredictions", () => {
  const mosh = simulateSession({ firstKey: "mosh", oneWayDelay: 100, seed: 1 });
  const conf = simulateSession({
    firstKey: "confident",
    oneWayDelay: 100,
    seed: 1,
  });
  assert.equal(mosh.keys, conf.keys);
  assert.ok(
    conf.firstKeyInstant > mosh.firstKeyInstant + 5,
    JSON.stringify({ mosh, conf }),
  );
  assert.ok(conf.firstKeyLatency.mean < mosh.firstKeyLatency.mean / 2);
  assert.ok(conf.mispredicted <= mosh.mispredicted);
  assert.equal(conf.secretShown, 0);
  assert.equal(mosh.secretShown, 0);
});
