/**
 * Tests for the emulator's native-scrollback mode (docs/emulation.md §15):
 * the real alternate screen (?1049, ?1047, ?47) and the records of rows
 * leaving the top of the normal screen (Emulator.takeScrollRecords).
 */
import assert from "node:assert/strict";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import {
  ATTR_BOLD,
  cellAt,
  type Framebuffer,
  paletteColor,
  rgbColor,
  type Row,
  rowCell,
  rowCells,
} from "../../protocol/terminal/framebuffer.ts";
import {
  SCROLL_RECORDS_MAX,
  type ScrollRecord,
} from "../../protocol/terminal/scroll_record.ts";
import { toLogRecords } from "../../protocol/statesync/scroll_backlog.ts";
import type { LogRecord } from "../../protocol/statesync/scroll_log.ts";
import { soupCase } from "../../harness/terminal_soup.ts";

/** Run `fn` with a fresh emulator in native-scrollback mode (unless `native` is false). */
function withEmu(
  w: number,
  h: number,
  fn: (e: Emulator) => void,
  native = true,
): void {
  const e = new Emulator(w, h);
  if (native) e.enableNativeScrollback();
  try {
    fn(e);
  } finally {
    e.dispose();
  }
}

/** A row's text with "." for blanks and "_" for wide continuations, "/" when wrapped. */
function text(r: Row): string {
  return rowCells(r).map((c) => (c.width === 0 ? "_" : c.text || ".")).join(
    "",
  ) + (r.wrap ? "/" : "");
}

function lines(fb: Framebuffer): string[] {
  return fb.rows.map(text);
}

/**
 * Records as strings: row text (a plain row's text in the same form: blanks
 * and spaces as ".", padded to `width`), "clear", "gap N".
 */
function show(records: ScrollRecord[], width: number): string[] {
  return records.map((r) =>
    r.kind === "row"
      ? text(r.row)
      : r.kind === "line"
      ? r.text.replaceAll(" ", ".").padEnd(width, ".") + (r.wrap ? "/" : "")
      : r.kind === "gap"
      ? `gap ${r.lines}`
      : r.kind
  );
}

function take(e: Emulator, data: string): string[] {
  e.writeSync(data);
  const records = e.takeScrollRecords();
  return show(records, e.snapshot().width);
}

Deno.test("without enableNativeScrollback: no records, ?1049 ignored as stock mosh-server", () => {
  withEmu(6, 2, (e) => {
    e.writeSync("a\r\nb\r\nc\r\nd\x1b[2S\x1b[3J");
    assert.deepEqual(e.takeScrollRecords(), []);
    e.writeSync("\x1b[H\x1b[2Jshell\x1b[?1049h\x1b[H\x1b[2Jvi");
    assert.equal(e.alternateScreen, false);
    assert.deepEqual(lines(e.snapshot()), ["vi....", "......"]);
    e.writeSync("\x1b[?1049l");
    assert.deepEqual(lines(e.snapshot()), ["vi....", "......"]);
    assert.equal(e.snapshot().cursorCol, 2);
  }, false);
});

Deno.test("LF, IND, NEL and autowrap at the bottom record the rows leaving the top, in order", () => {
  withEmu(4, 2, (e) => {
    assert.deepEqual(take(e, "a\nb"), []);
    assert.deepEqual(take(e, "\n"), ["a..."]);
    assert.deepEqual(take(e, "c\x1bDd\x1bEe"), [".b..", "..c."]);
    assert.deepEqual(take(e, "\x85f"), ["...d"]);
    assert.deepEqual(lines(e.snapshot()), ["e...", "f..."]);
    assert.deepEqual(take(e, "\r\x1b[Kwxyz12"), ["e..."]);
    assert.deepEqual(lines(e.snapshot()), ["wxyz/", "12.."]);
    assert.deepEqual(e.takeScrollRecords(), [], "taking forgets");
  });
});

Deno.test("a long wrapped line gives rows with wrap set, the last piece without", () => {
  withEmu(5, 3, (e) => {
    const recs = take(e, "0123456789abcdefghijklm\r\n\n\n");
    assert.deepEqual(recs, ["01234/", "56789/", "abcde/", "fghij/", "klm.."]);
  });
});

Deno.test("SU records n rows of the region; a huge n records the screen's height", () => {
  withEmu(3, 3, (e) => {
    assert.deepEqual(take(e, "a\r\nb\r\nc\x1b[2S"), ["a..", "b.."]);
    assert.deepEqual(lines(e.snapshot()), ["c..", "...", "..."]);
    e.writeSync("\x1b[Hx\r\ny\r\nz");
    assert.deepEqual(take(e, "\x1b[9999S"), ["x..", "y..", "z.."]);
    assert.deepEqual(lines(e.snapshot()), ["...", "...", "..."]);
  });
});

Deno.test("colours, attributes, wide and combining characters are kept", () => {
  withEmu(6, 2, (e) => {
    e.writeSync("\x1b[1;31mR\x1b[0;48;2;1;2;3mG\x1b[0m漢e\u0301\r\n\n");
    const recs = e.takeScrollRecords();
    assert.equal(recs.length, 1);
    const row = (recs[0] as { row: Row }).row;
    assert.equal(text(row), "RG漢_e\u0301.");
    const r = rowCell(row, 0).rendition;
    assert.equal(r.attrs, ATTR_BOLD);
    assert.equal(r.fg, paletteColor(1));
    assert.equal(rowCell(row, 1).rendition.bg, rgbColor(1, 2, 3));
    assert.equal(rowCell(row, 2).width, 2);
    assert.equal(rowCell(row, 4).text, "e\u0301");
  });
});

Deno.test("a styled row unchanged since the last snapshot is recorded as the snapshot's own row", () => {
  withEmu(4, 3, (e) => {
    e.writeSync("\x1b[1mtop\x1b[m\r\nx\r\ny");
    const fb = e.snapshot();
    e.writeSync("\n");
    const recs = e.takeScrollRecords();
    assert.equal(recs.length, 1);
    assert.equal((recs[0] as { row: Row }).row, fb.rows[0]);
  });
});

Deno.test("regions: top at row 1 is recorded (bottom above the last row too); top below row 1 is not", () => {
  withEmu(3, 4, (e) => {
    e.writeSync("\x1b[4;1Hst");
    assert.deepEqual(take(e, "\x1b[1;2r\x1b[Ha\r\nb\r\nc\x1b[S"), [
      "a..",
      "b..",
    ]);
    assert.deepEqual(lines(e.snapshot()), ["c..", "...", "...", "st."]);
    assert.deepEqual(take(e, "\x1b[2;3r\x1b[2Hp\r\nq\r\nr\x1b[2S"), []);
    assert.deepEqual(lines(e.snapshot()), ["c..", "...", "...", "st."]);
  });
});

Deno.test("DL, IL, SD, RI and ED 2 record nothing", () => {
  withEmu(3, 3, (e) => {
    e.writeSync("a\r\nb\r\nc");
    assert.deepEqual(
      take(e, "\x1b[H\x1b[M\x1b[2L\x1b[T\x1bM\x8d\x1b[2J\x1b[3;1H\x1b[2M"),
      [],
    );
  });
});

Deno.test("E3 appends a clear record, in order with the rows", () => {
  withEmu(3, 2, (e) => {
    assert.deepEqual(take(e, "a\r\nb\r\n\x1b[3Jc\r\n"), [
      "a..",
      "clear",
      "b..",
    ]);
    assert.deepEqual(take(e, "\x1b[3J"), ["clear"]);
    assert.deepEqual(
      lines(e.snapshot()),
      ["c..", "..."],
      "E3 leaves the screen alone",
    );
  });
});

Deno.test("the cap drops the oldest records into one gap record at the front", () => {
  withEmu(6, 2, (e) => {
    const n = SCROLL_RECORDS_MAX + 25;
    let out = "";
    for (let i = 0; i < n; i++) out += `${i}\r\n`;
    e.writeSync(out);
    const recs = show(e.takeScrollRecords(), 6);
    assert.equal(recs.length, SCROLL_RECORDS_MAX + 1);
    assert.equal(recs[0], "gap 24");
    assert.equal(recs[1], "24....");
    assert.equal(recs.at(-1), `${n - 2}`.padEnd(6, "."));
    // A dropped clear leads, and the gap counts only what came after it.
    e.writeSync("x\r\n\x1b[3J" + out);
    const again = show(e.takeScrollRecords(), 6);
    assert.deepEqual(again.slice(0, 3), ["clear", "gap 25", "24...."]);
    assert.equal(again.length, SCROLL_RECORDS_MAX + 2);
  });
});

Deno.test("?1049: saves the cursor, a cleared alternate screen, scrolls there unrecorded, normal screen restored", () => {
  withEmu(5, 3, (e) => {
    e.writeSync("one\r\ntwo\r\nthr");
    e.writeSync("\x1b[44m\x1b[?1049h");
    assert.equal(e.alternateScreen, true);
    let fb = e.snapshot();
    assert.deepEqual(lines(fb), [".....", ".....", "....."]);
    assert.equal(
      cellAt(fb, 0, 0).rendition.bg,
      paletteColor(4),
      "cleared with the background",
    );
    assert.deepEqual([fb.cursorRow, fb.cursorCol], [2, 3]);
    assert.deepEqual(
      take(e, "\x1b[0m\x1b[Hvi\r\n1\r\n2\r\n3\r\n4\x1b[5S\x1b[3;1H\x1b7"),
      [],
    );
    e.writeSync("\x1b[?1049l");
    assert.equal(e.alternateScreen, false);
    fb = e.snapshot();
    assert.deepEqual(lines(fb), ["one..", "two..", "thr.."]);
    assert.deepEqual(
      [fb.cursorRow, fb.cursorCol],
      [2, 3],
      "the alternate screen's DECSC is its own",
    );
    assert.equal(fb.rendition.bg, paletteColor(4), "rendition restored");
    assert.deepEqual(take(e, "\x1b[0m\r\nx"), ["one.."]);
    // Back again: the alternate screen is cleared on entry.
    e.writeSync("\x1b[?1049h");
    assert.deepEqual(lines(e.snapshot()), [".....", ".....", "....."]);
  });
});

Deno.test("?1047 clears the alternate screen when leaving, ?47 keeps it", () => {
  withEmu(4, 2, (e) => {
    e.writeSync("sh");
    e.writeSync("\x1b[?47h\x1b[Halt");
    assert.deepEqual(lines(e.snapshot()), ["alt.", "...."]);
    e.writeSync("\x1b[?47l");
    assert.equal(e.alternateScreen, false);
    assert.deepEqual(lines(e.snapshot()), ["sh..", "...."]);
    e.writeSync("\x1b[?1047h");
    assert.deepEqual(
      lines(e.snapshot()),
      ["alt.", "...."],
      "47 left it as it was",
    );
    e.writeSync("\x1b[?1047l\x1b[?47h");
    assert.equal(e.alternateScreen, true);
    assert.deepEqual(lines(e.snapshot()), ["....", "...."], "1047 cleared it");
    e.writeSync("\x1b[?47l");
    assert.deepEqual(lines(e.snapshot()), ["sh..", "...."]);
  });
});

Deno.test("resizing on the alternate screen keeps both screens consistent", () => {
  withEmu(6, 4, (e) => {
    e.writeSync("n1\r\nn2\r\nn3\r\nn4wide\x1b[2;2H");
    e.writeSync("\x1b[?1049h\x1b[Halt\r\nscreen");
    e.resize(4, 3);
    let fb = e.snapshot();
    assert.equal(e.alternateScreen, true);
    assert.deepEqual([fb.width, fb.height], [4, 3]);
    assert.ok(fb.rows.every((r) => r.width === 4));
    assert.equal(lines(fb)[0], "alt.");
    e.resize(8, 5);
    e.writeSync("\x1b[?1049l");
    fb = e.snapshot();
    assert.equal(e.alternateScreen, false);
    assert.deepEqual([fb.width, fb.height], [8, 5]);
    assert.ok(fb.rows.every((r) => r.width === 8));
    assert.deepEqual(lines(fb).slice(0, 2), ["n1......", "n2......"]);
    assert.deepEqual([fb.cursorRow, fb.cursorCol], [1, 1]);
    // The normal screen records at its new width.
    assert.deepEqual(take(e, "\x1b[5;1H\n"), ["n1......"]);
  });
});

Deno.test("RIS on the alternate screen shows the normal screen again", () => {
  withEmu(4, 2, (e) => {
    e.writeSync("\x1b[?1049hvi\x1bcok");
    assert.equal(e.alternateScreen, false);
    assert.deepEqual(lines(e.snapshot()), ["ok..", "...."]);
    assert.deepEqual(take(e, "\r\n\r\n"), ["ok.."]);
  });
});

/** The log records of `data` written in pieces, recorded with or without plain rows as text. */
function logOf(
  size: readonly [number, number],
  pieces: readonly string[],
  plainText: boolean,
): { log: LogRecord[]; texts: number } {
  const e = new Emulator(size[0], size[1]);
  const records: ScrollRecord[] = [];
  e.enableNativeScrollback({ plainText, onRecords: (r) => records.push(...r) });
  try {
    for (const p of pieces) {
      e.writeSync(p);
      records.push(...e.takeScrollRecords());
      if (p.length % 3 === 0) e.snapshot(); // cached rows take the other path
    }
    return {
      log: toLogRecords(records),
      texts: records.filter((r) => r.kind === "line").length,
    };
  } finally {
    e.dispose();
  }
}

Deno.test("plain rows recorded as text give the same log as the same rows recorded as rows", () => {
  const mixed = [
    "1\r\n22\r\n   333   \r\n\tx\r\n",
    "a wrapped line longer than the screen is wide, twice over....\r\n",
    "\x1b[31mred\x1b[m plain\r\n\x1b[44m   \x1b[m\r\n",
    "wide 漢字 and e\u0301 and 🎉\r\n",
    "\x1b[7minverse\x1b[m\r\n\x1b[1mbold\x1b[m\r\n",
    "x".repeat(20) + "\r\n\n\n\n\n\n",
  ];
  let texts = 0;
  for (const size of [[20, 4], [9, 3], [80, 24]] as const) {
    const fast = logOf(size, mixed, true);
    assert.deepEqual(fast.log, logOf(size, mixed, false).log);
    texts += fast.texts;
  }
  assert.ok(texts > 10, "the plain rows took the text path");
  for (let seed = 0; seed < 300; seed++) {
    const c = soupCase(seed);
    const size = [c.width, c.height] as const;
    const pieces = [...c.tokens, "\r\n".repeat(c.height)];
    assert.deepEqual(
      logOf(size, pieces, true).log,
      logOf(size, pieces, false).log,
      `seed ${seed}`,
    );
  }
});
