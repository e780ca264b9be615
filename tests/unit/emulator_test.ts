/**
 * Tests for protocol/emulator.ts: mosh 1.4 semantics on top of xterm.js,
 * fed with the byte strings a stock mosh-server emits (docs/display.md §9, docs/emulation.md)
 * and with application output on the server side.
 */
import assert from "node:assert/strict";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import { wcwidth } from "../../protocol/terminal/wcwidth.ts";
import {
  ATTR_BLINK,
  ATTR_BOLD,
  ATTR_INVERSE,
  ATTR_INVISIBLE,
  ATTR_ITALIC,
  ATTR_UNDERLINE,
  cellAt,
  type Framebuffer,
  framebuffersEqual,
  paletteColor,
  rgbColor,
  rowCells,
} from "../../protocol/terminal/framebuffer.ts";

/** Run `fn` with a fresh emulator, disposing it afterwards. */
async function withEmu(
  w: number,
  h: number,
  fn: (e: Emulator) => Promise<void>,
): Promise<void> {
  const e = new Emulator(w, h);
  try {
    await fn(e);
  } finally {
    e.dispose();
  }
}

/** Row texts with "." for blanks and "_" for wide continuations. */
function lines(fb: Framebuffer): string[] {
  return fb.rows.map((r) =>
    rowCells(r).map((c) => (c.width === 0 ? "_" : c.text || ".")).join("") +
    (r.wrap ? "/" : "")
  );
}

async function feed(e: Emulator, s: string): Promise<Framebuffer> {
  await e.write(s);
  return e.snapshot();
}

Deno.test("widths: CJK and emoji take two cells, combining marks join, unprintables vanish", async () => {
  await withEmu(12, 2, async (e) => {
    const fb = await feed(e, "漢👍e\u0301a\u0308\u0323\u2028z");
    assert.deepEqual(lines(fb)[0], "漢_👍_e\u0301a\u0308\u0323z.....");
    assert.equal(cellAt(fb, 0, 4).text, "e\u0301");
    assert.equal(cellAt(fb, 0, 5).text, "a\u0308\u0323");
    assert.equal(cellAt(fb, 0, 0).width, 2);
    assert.equal(cellAt(fb, 0, 1).width, 0);
    assert.equal(fb.cursorCol, 7);
  });
});

Deno.test("widths: the built-in table equals glibc's wcwidth for every code point", () => {
  let lib;
  try {
    lib = Deno.dlopen("libc.so.6", {
      setlocale: { parameters: ["i32", "buffer"], result: "pointer" },
      wcwidth: { parameters: ["i32"], result: "i32" },
    });
  } catch {
    if (Deno.env.get("CI") === "true") {
      throw new Error("tmosh: glibc is required for this test in CI");
    }
    console.log("skipped: no glibc");
    return;
  }
  assert.notEqual(
    lib.symbols.setlocale(0, new TextEncoder().encode("C.UTF-8\0")),
    null,
  );
  let differ = 0;
  for (let cp = 0x100; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    if (wcwidth(cp) !== lib.symbols.wcwidth(cp)) differ++;
  }
  lib.close();
  assert.equal(differ, 0);
  assert.equal(wcwidth(0x41), 1);
  assert.equal(wcwidth(0xad), 1); // ISO 8859-1 is always width 1 in mosh
  assert.equal(wcwidth(0x85), -1);
});

Deno.test("fallback: NBSP + mark from a mosh server is one cell; a bare mark becomes NBSP + mark", async () => {
  await withEmu(6, 2, async (e) => {
    let fb = await feed(e, "\u00a0\u0301x");
    assert.equal(cellAt(fb, 0, 0).text, "\u00a0\u0301");
    assert.equal(cellAt(fb, 0, 1).text, "x");
    fb = await feed(e, "\x1b[2;3H\u0301y");
    assert.equal(cellAt(fb, 1, 2).text, "\u00a0\u0301"); // mosh: fallback cell, cursor moves on
    assert.equal(cellAt(fb, 1, 3).text, "y");
    fb = await feed(e, "\x1b[1;1H\u0308"); // onto a non-empty cell at the cursor: joins, no move
    assert.equal(cellAt(fb, 0, 0).text, "\u00a0\u0301\u0308");
    assert.equal(fb.cursorCol, 0);
    fb = await feed(e, "\x1b[1;2H" + "e" + "\u0301".repeat(40)); // at most 32 bytes per cell
    assert.equal(new TextEncoder().encode(cellAt(fb, 0, 1).text).length, 33);
  });
});

Deno.test("wrap: a mosh frame for an 80-column line marks the row; LF and CR keep the mark", async () => {
  await withEmu(80, 24, async (e) => {
    const line = "a".repeat(79);
    let fb = await feed(
      e,
      `\x1b[?25l\x1b[1;1H${line}\x1b[1;80Hb` + "cd\r\n\x1b[?25h",
    );
    assert.equal(lines(fb)[0], line + "b/");
    assert.equal(lines(fb)[1].slice(0, 3), "cd.");
    fb = await feed(e, "\x1b[1;1H\n\n\r");
    assert.ok(fb.rows[0].wrap, "xterm.js would clear it on LF; mosh does not");
    fb = await feed(e, "\x1b[1;80Hz");
    assert.ok(!fb.rows[0].wrap, "rewriting the last cell clears the flag");
    fb = await feed(e, "y\x1b[1;80H\x1b[K");
    assert.ok(!fb.rows[0].wrap, "erasing the last cell clears the flag");
  });
});

Deno.test("wrap: a wide character at the last column wraps early without marking the row", async () => {
  await withEmu(10, 3, async (e) => {
    const fb = await feed(e, "\x1b[0;42m\x1b[1;10H漢");
    assert.equal(lines(fb)[0], "........."[0].repeat(10));
    assert.ok(!fb.rows[0].wrap);
    assert.equal(cellAt(fb, 0, 9).rendition.bg, paletteColor(2)); // reset with BCE
    assert.equal(lines(fb)[1].slice(0, 2), "漢_");
    assert.deepEqual([fb.cursorRow, fb.cursorCol], [1, 2]);
  });
});

Deno.test("deferred wrap: BS after the last column lands on width-2 (mosh's emulator)", async () => {
  await withEmu(80, 24, async (e) => {
    let fb = await feed(e, `\x1b[24;1H${"0".repeat(80)}`);
    assert.ok(fb.cursorPendingWrap);
    assert.equal(fb.cursorCol, 79);
    fb = await feed(e, "\b\b\bX");
    assert.equal(cellAt(fb, 23, 76).text, "X");
    assert.ok(!fb.rows[22].wrap);
  });
});

Deno.test("deferred wrap: cleared by BEL, CUP and unknown sequences, kept by SGR, DECSET, OSC, HT", async () => {
  await withEmu(5, 3, async (e) => {
    let fb = await feed(e, "abcde\x07X");
    assert.equal(lines(fb)[0], "abcdX");
    fb = await feed(e, "\x1b[1;1Habcde\x1b[1m\x1b[?2004h\x1b]0;t\x07\tY");
    assert.equal(lines(fb)[0], "abcde/");
    assert.equal(lines(fb)[1][0], "Y");
    fb = await feed(e, "\x1b[3;1Hvwxyz\x1b[5tQ");
    assert.equal(lines(fb)[2], "vwxyQ");
    fb = await feed(e, "\x1b[2;1H12345\x1b[K");
    assert.equal(
      lines(fb)[1],
      "1234.",
      "EL at a pending wrap erases the last column",
    );
  });
});

Deno.test("BCE: erase, ECH, ED and scrolling use the background colour only", async () => {
  await withEmu(6, 3, async (e) => {
    let fb = await feed(
      e,
      "abcdef\x1b[1;2H\x1b[0;1;3;7;31;44m\x1b[2X\x1b[2;1H\x1b[K",
    );
    for (const [y, x] of [[0, 1], [0, 2], [1, 0], [1, 5]]) {
      const c = cellAt(fb, y, x);
      assert.deepEqual([
        c.text,
        c.rendition.attrs,
        c.rendition.fg,
        c.rendition.bg,
      ], ["", 0, 0, paletteColor(4)]);
    }
    fb = await feed(e, "\x1b[0;45m\x1b[1;3r\x1b[3;1H\n\x1b[r\x1b[0m");
    assert.equal(cellAt(fb, 2, 3).rendition.bg, paletteColor(5));
    fb = await feed(e, "\x1b[0;46m\x1b[2J");
    assert.equal(cellAt(fb, 1, 1).rendition.bg, paletteColor(6));
  });
});

Deno.test("DECSTBM homes the cursor; invalid margins are ignored", async () => {
  await withEmu(10, 6, async (e) => {
    let fb = await feed(e, "\x1b[5;7H\x1b[2;4r");
    assert.deepEqual([fb.cursorRow, fb.cursorCol], [0, 0]);
    fb = await feed(e, "\x1b[5;7H\x1b[r");
    assert.deepEqual([fb.cursorRow, fb.cursorCol], [0, 0]);
    fb = await feed(e, "\x1b[5;7H\x1b[4;2r");
    assert.deepEqual([fb.cursorRow, fb.cursorCol], [4, 6]);
  });
});

Deno.test("SGR: mosh's absolute forms, palette and true colour, faint ignored as stock mosh does", async () => {
  await withEmu(10, 2, async (e) => {
    let fb = await feed(e, "\x1b[0;1;2;3;4;5;7;8;38;5;200;48;2;1;2;3mA");
    const r = cellAt(fb, 0, 0).rendition;
    assert.equal(
      r.attrs,
      ATTR_BOLD | ATTR_ITALIC | ATTR_UNDERLINE | ATTR_BLINK | ATTR_INVERSE |
        ATTR_INVISIBLE,
    );
    assert.deepEqual([r.fg, r.bg], [paletteColor(200), rgbColor(1, 2, 3)]);
    fb = await feed(
      e,
      "\x1b[0;33mB\x1b[0;38;5;3mC\x1b[0;93mD\x1b[0;38;5;11mE\x1b[0;22mF",
    );
    assert.equal(cellAt(fb, 0, 1).rendition.fg, cellAt(fb, 0, 2).rendition.fg);
    assert.equal(cellAt(fb, 0, 3).rendition.fg, cellAt(fb, 0, 4).rendition.fg);
    assert.equal(cellAt(fb, 0, 5).rendition.attrs, 0);
    assert.deepEqual(fb.rendition, cellAt(fb, 0, 5).rendition);
  });
});

Deno.test("bell count, titles (OSC 0/1/2, bare, 256 limit), clipboard and RIS", async () => {
  await withEmu(10, 2, async (e) => {
    let fb = await feed(e, "\x07\x07");
    assert.equal(fb.bellCount, 2);
    assert.equal(fb.titleInitialized, false);
    fb = await feed(e, "\x1b]0;both\x07");
    assert.deepEqual([fb.title, fb.iconName, fb.titleInitialized], [
      "both",
      "both",
      true,
    ]);
    fb = await feed(e, "\x1b]1;icon\x1b\\\x1b]2;win\x07");
    assert.deepEqual([fb.title, fb.iconName], ["win", "icon"]);
    fb = await feed(e, "\x1b];bare\x07");
    assert.deepEqual([fb.title, fb.iconName], ["bare", "bare"]);
    fb = await feed(e, `\x1b]2;${"t".repeat(300)}\x07`);
    assert.equal(fb.title.length, 254);
    fb = await feed(e, "\x1b]52;c;aGVsbG8=\x07\x1b]52;p;bm8=\x07");
    assert.equal(fb.clipboard, "aGVsbG8=");
    fb = await feed(e, "\x1b]8;;http://example.com\x1b\\link\x1b]8;;\x1b\\");
    assert.equal(lines(fb)[0], "link......");
    fb = await feed(e, "\x1b[?5h\x1b[?2004h\x07\x1bc");
    assert.deepEqual(
      [fb.title, fb.iconName, fb.titleInitialized, fb.clipboard, fb.bellCount],
      ["", "bare", true, "", 3],
    );
    assert.deepEqual([fb.reverseVideo, fb.bracketedPaste], [false, false]);
  });
});

Deno.test("modes: reverse video, cursor, paste, mouse, focus, encoding, DECCKM, keypad", async () => {
  await withEmu(10, 2, async (e) => {
    let fb = await feed(
      e,
      "\x1b[?5h\x1b[?25l\x1b[?2004h\x1b[?1001h\x1b[?1004h\x1b[?1015h\x1b[?1007h\x1b[?1h\x1b=",
    );
    assert.deepEqual(
      [
        fb.reverseVideo,
        fb.cursorVisible,
        fb.bracketedPaste,
        fb.mouseReporting,
        fb.focusEvents,
      ],
      [true, false, true, 1001, true],
    );
    assert.deepEqual([
      fb.mouseEncoding,
      fb.altScroll,
      fb.appCursorKeys,
      fb.appKeypad,
    ], [1015, true, true, true]);
    assert.equal(e.appCursorKeys, true);
    fb = await feed(e, "\x1b[?9h\x1b[?1005h");
    assert.deepEqual([fb.mouseReporting, fb.mouseEncoding], [9, 1005]);
    fb = await feed(e, "\x1b[?1000l\x1b[?1006l\x1b>");
    assert.deepEqual([fb.mouseReporting, fb.mouseEncoding, fb.appKeypad], [
      0,
      0,
      false,
    ]);
    fb = await feed(e, "\x1b[!p");
    assert.deepEqual([fb.cursorVisible, fb.appCursorKeys, fb.reverseVideo], [
      true,
      false,
      true,
    ]);
  });
});

Deno.test("replies: only mosh's DA, secondary DA and DSR answers", async () => {
  await withEmu(10, 3, async (e) => {
    const replies: string[] = [];
    const stop = e.onReply((d) => replies.push(d));
    await e.write(
      "\x1b[c\x1b[>c\x1b[5n\x1b[2;3H\x1b[6n\x1b[1;1H0123456789\x1b[6n",
    );
    await e.write(
      "\x1b[?6n\x1b]10;?\x07\x1b[?1$p\x1b[>q\x1b[18t\x1bP$qm\x1b\\",
    );
    assert.deepEqual(replies, [
      "\x1b[?62c",
      "\x1b[>1;10;0c",
      "\x1b[0n",
      "\x1b[2;3R",
      "\x1b[1;10R",
    ]);
    stop();
    await e.write("\x1b[c");
    assert.equal(replies.length, 5);
  });
});

Deno.test("observed mosh 1.4 frames apply as a stock client would", async () => {
  await withEmu(80, 24, async (e) => {
    await e.write("\n");
    let fb = await feed(e, "\x1b[?25l\nhello\r\n\x1b[?25h");
    assert.deepEqual(lines(fb).slice(0, 4).map((l) => l.slice(0, 6)), [
      "......",
      "......",
      "hello.",
      "......",
    ]);
    fb = await feed(e, "echo hi\x1b[?25l\r\necho hi\r\n\x1b[?25h");
    assert.equal(lines(fb)[3].slice(0, 8), "echo hi.");
    assert.deepEqual([fb.cursorRow, fb.cursorCol, fb.cursorVisible], [
      5,
      0,
      true,
    ]);
    fb = await feed(
      e,
      "\x1b[0m\x1b[1;23r\x1b[?25l\x1b[23;1H\n\n\x1b[r\x1b[?25h",
    );
    assert.equal(lines(fb)[1].slice(0, 6), "echo h");
    assert.ok(lines(fb)[22].startsWith("....."));
  });
});

Deno.test("resize: no reflow, wrap flags cleared, no half wide character, sizes clamped", async () => {
  await withEmu(6, 3, async (e) => {
    let fb = await feed(e, "abcdefgh\x1b[3;1H1234漢");
    assert.ok(fb.rows[0].wrap);
    e.resize(5, 3);
    fb = e.snapshot();
    assert.deepEqual(lines(fb), ["abcde", "gh...", "1234."]);
    e.resize(8, 4);
    fb = e.snapshot();
    assert.deepEqual(lines(fb), [
      "abcde...",
      "gh......",
      "1234....",
      "........",
    ]);
    e.resize(0, -3);
    fb = e.snapshot();
    assert.deepEqual([fb.width, fb.height], [2, 1]);
  });
});

Deno.test("loadFramebuffer reproduces a snapshot exactly, pending wrap and modes included", async () => {
  const src = new Emulator(7, 4), dst = new Emulator(3, 2);
  try {
    await src.write(
      "\x1b]1;i\x07\x1b]2;t\x07\x07\x1b[?1h\x1b=\x1b[?1003h\x1b[?1006h\x1b[?1007h\x1b[?25l",
    );
    await src.write(
      "\x1b[0;1;38;2;9;8;7;44m漢字e\u0301\u00a0\u0301ab\x1b[3;1H\x1b[0;2;35mabcdefg",
    );
    const want = src.snapshot();
    assert.ok(want.cursorPendingWrap);
    await dst.loadFramebuffer(want);
    const got = dst.snapshot();
    assert.ok(framebuffersEqual(got, want));
    assert.deepEqual({ ...got, rows: lines(got) }, {
      ...want,
      rows: lines(want),
    });
    await src.write("X");
    const big = "y".repeat(40000);
    const loaded = dst.loadFramebuffer(want); // calls keep their order without awaiting
    const wrote = dst.write("X");
    await Promise.all([loaded, wrote]);
    assert.deepEqual(lines(dst.snapshot()), lines(src.snapshot()));
    const p1 = dst.write(big),
      p2 = dst.loadFramebuffer(want),
      p3 = dst.write("X");
    await Promise.all([p1, p2, p3]);
    assert.deepEqual(lines(dst.snapshot()), lines(src.snapshot()));
    assert.ok(framebuffersEqual(dst.snapshot(), src.snapshot()));
  } finally {
    src.dispose();
    dst.dispose();
  }
});

Deno.test("snapshots share unchanged rows and cost little", async () => {
  await withEmu(80, 24, async (e) => {
    await e.write("line\r\n".repeat(30));
    const a = e.snapshot();
    assert.equal(e.snapshot(), a);
    await e.write("x");
    const b = e.snapshot();
    assert.equal(b.rows[0], a.rows[0]);
    assert.notEqual(b.rows[23], a.rows[23]);
    await e.write("\r\n");
    const c = e.snapshot();
    assert.equal(c.rows[21], b.rows[22], "a scrolled row is the same object");
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) {
      await e.write(i % 2 ? "a" : "\b");
      framebuffersEqual(e.snapshot(), c);
    }
    const us = (performance.now() - t0) * 1000 / 200;
    assert.ok(us < 500, `snapshot+compare took ${us.toFixed(1)} µs`);
  });
});

Deno.test("writes: a flood parses fully without stalling the event loop; order is kept", async () => {
  await withEmu(80, 24, async (e) => {
    let maxLag = 0, last = performance.now(), ticking = true;
    const tick = () => {
      const now = performance.now();
      maxLag = Math.max(maxLag, now - last);
      last = now;
      if (ticking) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const flood = ("\x1b[31mflood\x1b[0m " + "x".repeat(60) + "\r\n").repeat(
      16000,
    );
    const p1 = e.write(new TextEncoder().encode(flood));
    const p2 = e.write("END");
    await Promise.all([p1, p2]);
    ticking = false;
    await new Promise((r) => setTimeout(r, 5));
    const fb = e.snapshot();
    assert.equal(lines(fb)[23].slice(0, 4), "END.");
    assert.ok(maxLag < 200, `event loop stalled ${maxLag.toFixed(0)} ms`);
  });
});

Deno.test("hostile input never throws and keeps the emulator usable", async () => {
  await withEmu(7, 3, async (e) => {
    let seed = 1;
    const bytes = new Uint8Array(200000).map(() =>
      (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24
    );
    await e.write(bytes);
    await e.write("\x1b[3;7H\x1b[1J\x1b]0;" + "x".repeat(100000) + "\x07");
    await e.write("\x1bc\x1b[H\x1b[2Jok");
    assert.equal(lines(e.snapshot())[0], "ok.....");
  });
});

Deno.test("alternate screen requests are ignored, as stock mosh-server does", async () => {
  await withEmu(6, 2, async (e) => {
    await e.write("shell");
    let fb = await feed(e, "\x1b[?1049h\x1b[H\x1b[2Jvi");
    assert.equal(lines(fb)[0], "vi....");
    fb = await feed(e, "\x1b[?1049l");
    assert.equal(lines(fb)[0], "vi....");
  });
});
