/**
 * Tests for protocol/terminal/row_text.ts: rows made by the real emulator,
 * rendered as text, and that text replayed into a fresh emulator gives the
 * row back cell for cell.
 */
import assert from "node:assert/strict";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import { type RowText, rowText } from "../../protocol/terminal/row_text.ts";
import {
  ATTR_FAINT,
  ATTR_UNDERLINE,
  type Cell,
  DEFAULT_RENDITION,
  makeRendition,
  type Row,
  rowCells,
  rowFromCells,
} from "../../protocol/terminal/framebuffer.ts";
import { mulberry32 } from "../../harness/prng.ts";

/** The rows of a `width`-column screen after the emulator printed `output`. */
async function rowsAfter(width: number, output: string): Promise<Row[]> {
  const e = new Emulator(width, 6);
  try {
    await e.write(output);
    return e.snapshot().rows.slice();
  } finally {
    e.dispose();
  }
}

/** The text of row 0 after `output`. */
async function textOf(width: number, output: string): Promise<RowText> {
  return rowText((await rowsAfter(width, output))[0]);
}

Deno.test("rowText: plain text has no SGR and drops trailing blanks and spaces", async () => {
  assert.deepEqual(await textOf(10, "hello"), { text: "hello", cols: 5 });
  assert.deepEqual(await textOf(10, "ab   "), { text: "ab", cols: 2 });
  assert.deepEqual(await textOf(10, "a\x1b[5Gb"), { text: "a   b", cols: 5 });
  assert.deepEqual(await textOf(10, ""), { text: "", cols: 0 });
});

Deno.test("rowText: renditions as absolute SGRs, ending with SGR 0", async () => {
  assert.deepEqual(
    await textOf(
      20,
      "\x1b[1;31mred\x1b[0m ok \x1b[38;5;200mX\x1b[48;2;1;2;3mY\x1b[0m",
    ),
    {
      text: "\x1b[0;1;31mred\x1b[0m ok \x1b[0;38;5;200mX" +
        "\x1b[0;38;5;200;48;2;1;2;3mY\x1b[0m",
      cols: 9,
    },
  );
  // Faint (which the emulator, like mosh's, does not set) from a built row.
  const faint = makeRendition(ATTR_FAINT | ATTR_UNDERLINE, 0, 0);
  const row = rowFromCells([
    { text: "d", width: 1, rendition: faint },
    { text: "x", width: 1, rendition: DEFAULT_RENDITION },
    { text: "", width: 1, rendition: DEFAULT_RENDITION },
  ]);
  assert.deepEqual(rowText(row), {
    text: "\x1b[0;2;4md\x1b[0mx\x1b[0m",
    cols: 2,
  });
});

Deno.test("rowText: blanks with a background and visible spaces are kept", async () => {
  assert.deepEqual(await textOf(6, "ab\x1b[44m\x1b[K\x1b[0m"), {
    text: "ab\x1b[0;44m    \x1b[0m",
    cols: 6,
  });
  assert.deepEqual(await textOf(6, "a\x1b[7m \x1b[0m  "), {
    text: "a\x1b[0;7m \x1b[0m",
    cols: 2,
  });
});

Deno.test("rowText: wide and combining characters", async () => {
  assert.deepEqual(await textOf(10, "中文x"), { text: "中文x", cols: 5 });
  assert.deepEqual(await textOf(10, "ab中"), { text: "ab中", cols: 4 });
  assert.deepEqual(await textOf(10, "e\u0301x"), {
    text: "e\u0301x",
    cols: 2,
  });
  assert.deepEqual(await textOf(10, "\x1b[32m中\x1b[0m"), {
    text: "\x1b[0;32m中\x1b[0m",
    cols: 2,
  });
});

Deno.test("rowText: a wrapped row covers its whole width, trailing space included", async () => {
  const rows = await rowsAfter(10, "abcdefghi jk");
  assert.equal(rows[0].wrap, true);
  assert.deepEqual(rowText(rows[0]), { text: "abcdefghi ", cols: 10 });
  assert.deepEqual(rowText(rows[1]), { text: "jk", cols: 2 });
  // A wide character that does not fit in the last column moves to the next
  // row without marking this one wrapped (mosh's rule): two lines.
  const wide = await rowsAfter(10, "123456789中");
  assert.equal(wide[0].wrap, false);
  assert.deepEqual(rowText(wide[0]), { text: "123456789", cols: 9 });
  assert.deepEqual(rowText(wide[1]), { text: "中", cols: 2 });
});

/** Cells compared for display: a blank shows as a space. */
function shown(cell: Cell): string {
  const r = cell.rendition;
  return `${cell.text || " "}/${cell.width}/${r.attrs},${r.fg},${r.bg}`;
}

const PIECES = [
  "a",
  "Z",
  " ",
  "中",
  "\u0301",
  "\x1b[0m",
  "\x1b[1m",
  "\x1b[2m",
  "\x1b[7m",
  "\x1b[4;33m",
  "\x1b[38;5;123m",
  "\x1b[48;5;17m",
  "\x1b[38;2;9;8;7m",
  "\x1b[41m",
  "\x1b[K",
  "\x1b[3G",
  "\x1b[9G",
  "\x1b[2X",
];

Deno.test("rowText property: replaying the text gives the row back", async () => {
  const rnd = mulberry32(11);
  const width = 12;
  for (let round = 0; round < 150; round++) {
    let output = "";
    const n = 1 + Math.floor(rnd() * 20);
    for (let i = 0; i < n; i++) {
      output += PIECES[Math.floor(rnd() * PIECES.length)];
    }
    const row = (await rowsAfter(width, output + "\x1b[0m"))[0];
    const { text, cols } = rowText(row);
    const back = (await rowsAfter(width, text))[0];
    const want = rowCells(row), got = rowCells(back);
    const where = `round ${round}: ${JSON.stringify(output)} -> ${
      JSON.stringify(text)
    }`;
    for (let x = 0; x < cols; x++) {
      assert.equal(shown(got[x]), shown(want[x]), `cell ${x}, ${where}`);
    }
    for (let x = cols; x < width; x++) {
      assert.equal(shown(got[x]), " /1/0,0,0", `cell ${x}, ${where}`);
      assert.match(shown(want[x]), /^ \/[01]\/0,\d+,0$/, `cell ${x}, ${where}`);
    }
  }
});
