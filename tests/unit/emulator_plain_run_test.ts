/**
 * Tests for the plain-line shortcut of native-scrollback mode
 * (protocol/terminal/emulator_plain_run.ts): finding runs, and an emulator
 * taking it records, shows and goes on exactly as one parsing every line.
 */
import assert from "node:assert/strict";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import {
  findPlainRun,
  PlainRunSkipper,
} from "../../protocol/terminal/emulator_plain_run.ts";
import {
  blockLines,
  type ScrollRecord,
} from "../../protocol/terminal/scroll_record.ts";
import { toLogRecords } from "../../protocol/statesync/scroll_backlog.ts";
import { soupCase } from "../../harness/terminal_soup.ts";

const enc = new TextEncoder();

/** Line texts of a run found in `s`. */
function runLines(s: string, from = 0, min = 2, cols = 10): string[] | null {
  const b = enc.encode(s);
  const run = findPlainRun(b, { from, cols, min });
  if (run === null) return null;
  return run.starts.map((st, i) => {
    const end = (i + 1 < run.starts.length ? run.starts[i + 1] : run.end) - 2;
    return new TextDecoder().decode(b.subarray(st, end));
  });
}

Deno.test("findPlainRun: printable ASCII lines shorter than the width, each ended by CR LF", () => {
  assert.deepEqual(runLines("a\r\nbb\r\n\r\n  c \r\nxyz"), [
    "a",
    "bb",
    "",
    "  c ",
  ]);
  // A line as wide as the screen, an escape, a bare LF or a tab end a run;
  // the next one starts after the next CR LF.
  assert.deepEqual(runLines("a\r\n0123456789\r\nb\r\nc\r\n"), ["b", "c"]);
  assert.deepEqual(runLines("a\r\n\x1b[mb\r\nc\r\nd\r\n"), ["c", "d"]);
  assert.deepEqual(runLines("a\nb\r\nc\r\nd\r\n"), ["c", "d"]);
  assert.deepEqual(runLines("a\tb\r\nc\r\nd\r\n"), ["c", "d"]);
  assert.deepEqual(runLines("é\r\nc\r\nd\r\n"), ["c", "d"]);
  assert.equal(runLines("a\r\nb\x7f\r\nc\r\n"), null);
  assert.equal(runLines("a\r\nb\r\nc\r\n", 0, 4), null);
  assert.equal(runLines("a\r\nb\r"), null);
  assert.deepEqual(runLines("xx\r\na\r\nb\r\n", 4), ["a", "b"]);
});

/** A seeded generator (mulberry32). */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** A run of plain lines (some empty, blank-ended or as wide as the screen), seeded. */
function plainRun(int: (n: number) => number, cols: number): string {
  const n = int(600);
  let s = "";
  for (let i = 0; i < n; i++) {
    // Mostly lines that keep the run going; now and then one that ends it.
    const k = int(200);
    const len = k < 10 ? 0 : k === 10 ? cols : k === 11 ? cols + 3 : int(cols);
    let line = "";
    for (let j = 0; j < len; j++) {
      line += String.fromCharCode(k < 20 ? 0x20 : 0x20 + int(95));
    }
    s += line + (k === 12 ? "\n" : "\r\n");
  }
  return s;
}

/** Records with each block as the line records of its rows. */
function unblocked(records: readonly ScrollRecord[]): ScrollRecord[] {
  return records.flatMap((r) => r.kind === "block" ? blockLines(r) : [r]);
}

/** Feeds `bytes` in seeded pieces to an emulator; its records and a snapshot after each piece. */
function replay(
  size: readonly [number, number],
  bytes: Uint8Array,
  options: { skip: boolean; seed: number },
): { log: unknown[]; frames: unknown[] } {
  const int = rng(options.seed);
  const e = new Emulator(size[0], size[1]);
  const records: ScrollRecord[] = [];
  e.enableNativeScrollback({
    skipPlainRuns: options.skip,
    onRecords: (r) => records.push(...r),
  });
  const frames: unknown[] = [];
  try {
    for (let off = 0; off < bytes.length;) {
      const n = 1 + int(int(4) === 0 ? 64 : 20000);
      e.writeSync(bytes.subarray(off, off + n));
      off += n;
      records.push(...e.takeScrollRecords());
      frames.push(e.snapshot());
    }
    // What follows refers to the last character printed and the combining target.
    e.writeSync(enc.encode("\x1b[3b\u0301x\r\n".repeat(size[1] + 1)));
    records.push(...e.takeScrollRecords());
    frames.push(e.snapshot());
    return { log: toLogRecords(unblocked(records)), frames };
  } finally {
    e.dispose();
  }
}

Deno.test("an emulator skipping plain runs records and shows what one parsing every line does", () => {
  const skip = PlainRunSkipper.prototype.skip;
  let skips = 0;
  PlainRunSkipper.prototype.skip = function (...a) {
    const skipped = skip.apply(this, a);
    if (skipped) skips++;
    return skipped;
  };
  try {
    for (let seed = 0; seed < 120; seed++) {
      const c = soupCase(seed);
      const int = rng(seed * 7919 + 1);
      const size = [c.width, int(5) === 0 ? 1 : c.height] as const;
      let s = "";
      for (const token of c.tokens) {
        s += int(6) === 0 ? plainRun(int, c.width) : token;
      }
      s += plainRun(int, c.width);
      const bytes = enc.encode(s);
      const slow = replay(size, bytes, { skip: false, seed });
      const fast = replay(size, bytes, { skip: true, seed });
      assert.deepEqual(fast.log, slow.log, `seed ${seed}: records`);
      assert.deepEqual(fast.frames, slow.frames, `seed ${seed}: screens`);
    }
  } finally {
    PlainRunSkipper.prototype.skip = skip;
  }
  assert.ok(skips > 100, `the shortcut was taken (${skips} times)`);
});

Deno.test("seq-like output in 16 KiB chunks: every line leaves the screen once, in order", () => {
  const e = new Emulator(80, 24);
  const records: ScrollRecord[] = [];
  e.enableNativeScrollback({ onRecords: (r) => records.push(...r) });
  try {
    let s = "";
    for (let i = 1; i <= 20000; i++) s += `${i}\r\n`;
    const bytes = enc.encode(s);
    for (let off = 0; off < bytes.length; off += 16384) {
      e.writeSync(bytes.subarray(off, off + 16384));
    }
    records.push(...e.takeScrollRecords());
    assert.ok(records.some((r) => r.kind === "block"), "blocks recorded");
    const texts = unblocked(records).map((r) =>
      r.kind === "line" ? r.text : r.kind
    );
    // All but the 23 lines left above the blank bottom row left the screen.
    assert.deepEqual(
      texts,
      Array.from({ length: 20000 - 23 }, (_, i) => `${i + 1}`),
    );
    assert.equal(e.snapshot().cursorRow, 23);
  } finally {
    e.dispose();
  }
});

Deno.test("a run ending in blank lines: a combining mark after it joins the cell the parser last printed", () => {
  for (const trail of ["", "\r\n".repeat(30), "   \r\n" + "\r\n".repeat(40)]) {
    let s = "";
    for (let i = 0; i < 300; i++) s += `line ${i}\r\n`;
    const bytes = enc.encode("\r\n".repeat(30) + s + trail + "\u0301y\r\n");
    const slow = replay([20, 6], bytes, { skip: false, seed: 1 });
    const fast = replay([20, 6], bytes, { skip: true, seed: 1 });
    assert.deepEqual(fast.log, slow.log);
    assert.deepEqual(fast.frames, slow.frames);
  }
});
