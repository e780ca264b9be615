/**
 * newFrame with `nativeScrollback`: random application output diffed, then
 * replayed into tmosh's emulator, must reproduce the target exactly, without
 * the sequences that push rows into a terminal's scrollback (ED 2, SU) and
 * scrolling only with delete-lines. (That nothing reaches a real terminal's
 * scrollback is checked with tmux in tests/e2e/scrollback_writer_test.ts.)
 */
import assert from "node:assert/strict";
import { newFrame } from "../../protocol/terminal/display.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import {
  type Framebuffer,
  rowCells,
  rowsEqual,
} from "../../protocol/terminal/framebuffer.ts";
import { mulberry32 } from "../../harness/prng.ts";

const WORDS = ["ls", "hello", "中文", "e\u0301", "\x1b[1;31mred\x1b[0m", "  "];

/** One random piece of output for a w x h screen, heavy on scrolling. */
function randomOutput(rnd: () => number, w: number, h: number): string {
  const n = (k: number) => Math.floor(rnd() * k);
  switch (n(8)) {
    case 0:
    case 1:
      return "\r\n".repeat(1 + n(3));
    case 2: {
      const top = 1 + n(h), bottom = top + n(h - top + 1);
      return `\x1b[${top};${bottom}r\x1b[${bottom};1H${"\n".repeat(1 + n(3))}` +
        `\x1b[r\x1b[${1 + n(h)};${1 + n(w)}H`;
    }
    case 3:
      return `\x1b[44m${"x".repeat(n(2 * w))}\x1b[0m`;
    case 4:
      return `\x1b[${1 + n(h)};${1 + n(w)}H`;
    default:
      return WORDS[n(WORDS.length)] + " ";
  }
}

/** Replays newFrame(old, next) into an emulator holding `old`; returns the diff. */
async function replay(
  client: Emulator,
  old: Framebuffer,
  next: Framebuffer,
  initialized: boolean,
): Promise<string> {
  const diff = newFrame(old, next, { initialized, nativeScrollback: true });
  await client.loadFramebuffer(old);
  await client.write(diff);
  const got = client.snapshot();
  for (let y = 0; y < next.height; y++) {
    assert.ok(
      rowsEqual(got.rows[y], next.rows[y]),
      `row ${y}: got ${JSON.stringify(rowCells(got.rows[y]))}\nwant ${
        JSON.stringify(rowCells(next.rows[y]))
      }\ndiff=${JSON.stringify(diff)}`,
    );
  }
  assert.deepEqual(
    [got.cursorRow, got.cursorCol, got.cursorVisible],
    [next.cursorRow, next.cursorCol, next.cursorVisible],
  );
  assert.ok(!/\x1b\[\d*[JS]/.test(diff), JSON.stringify(diff));
  return diff;
}

Deno.test("newFrame nativeScrollback property: diffs replay exactly, scrolls are delete-lines", async () => {
  const client = new Emulator(2, 1);
  let scrolls = 0;
  try {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = mulberry32(seed);
      const w = 4 + Math.floor(rnd() * 12), h = 2 + Math.floor(rnd() * 6);
      const server = new Emulator(w, h);
      client.resize(w, h);
      try {
        let old = server.snapshot();
        for (let step = 0; step < 6; step++) {
          let chunk = "";
          for (let k = Math.floor(rnd() * 6); k >= 0; k--) {
            chunk += randomOutput(rnd, w, h);
          }
          await server.write(chunk);
          const next = server.snapshot();
          const diff = await replay(client, old, next, true);
          if (/\x1b\[\d*M/.test(diff)) scrolls++;
          if (rnd() < 0.2) await replay(client, old, next, false);
          old = next;
        }
      } catch (error) {
        console.log(`failing seed: ${seed}`);
        throw error;
      } finally {
        server.dispose();
      }
    }
  } finally {
    client.dispose();
  }
  assert.ok(scrolls > 100, `only ${scrolls} diffs scrolled`);
});

Deno.test("newFrame nativeScrollback: a full repaint erases row by row, without ED 2", async () => {
  const e = new Emulator(6, 3);
  try {
    await e.write("ab");
    const fb = e.snapshot();
    const diff = newFrame(fb, fb, {
      initialized: false,
      nativeScrollback: true,
    });
    assert.ok(
      diff.startsWith(
        "\x1b[?5l\x1b[r\x1b[0m\x1b[H\x1b[2K\n\x1b[2K\n\x1b[2K\x1b[H\x1b[?25lab",
      ),
      JSON.stringify(diff),
    );
    assert.equal(
      newFrame(fb, fb, { initialized: false, nativeScrollback: false }),
      newFrame(fb, fb, { initialized: false }),
    );
  } finally {
    e.dispose();
  }
});
