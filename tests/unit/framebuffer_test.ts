/** Tests for protocol/framebuffer.ts: snapshot model, equality, SGR output, row helpers. */
import assert from "node:assert/strict";
import {
  ATTR_BLINK,
  ATTR_BOLD,
  ATTR_FAINT,
  ATTR_INVERSE,
  ATTR_INVISIBLE,
  ATTR_ITALIC,
  ATTR_UNDERLINE,
  blankFramebuffer,
  blankRow,
  type Cell,
  cellAt,
  cellIsBlank,
  COLOR_PALETTE,
  COLOR_RGB,
  DEFAULT_RENDITION,
  type Framebuffer,
  framebuffersEqual,
  makeRendition,
  paletteColor,
  rgbColor,
  rowCells,
  rowFromCells,
  rowsEqual,
  rowWithCell,
  rowWithWrap,
  sgrFor,
  withRow,
} from "../../protocol/terminal/framebuffer.ts";

const red = makeRendition(ATTR_BOLD, paletteColor(1), rgbColor(1, 2, 3));

function cell(
  text: string,
  width: 0 | 1 | 2 = 1,
  rendition = DEFAULT_RENDITION,
): Cell {
  return { text, width, rendition };
}

Deno.test("blankFramebuffer: size clamped, defaults as mosh's DrawState", () => {
  const fb = blankFramebuffer(80, 24);
  assert.deepEqual([fb.width, fb.height, fb.rows.length], [80, 24, 24]);
  assert.deepEqual([fb.cursorRow, fb.cursorCol, fb.cursorVisible], [
    0,
    0,
    true,
  ]);
  assert.equal(fb.rows[0], fb.rows[23], "blank rows are shared");
  assert.deepEqual(cellAt(fb, 5, 5), cell(""));
  const tiny = blankFramebuffer(0, -4);
  assert.deepEqual([tiny.width, tiny.height], [1, 1]);
});

Deno.test("colours and SGR: mosh's absolute form, bright colours as 38;5;N, faint as ;2", () => {
  assert.equal(sgrFor(DEFAULT_RENDITION), "\x1b[0m");
  assert.equal(paletteColor(3), COLOR_PALETTE | 3);
  assert.equal(rgbColor(0x12, 0x34, 0x56), COLOR_RGB | 0x123456);
  const all = ATTR_BOLD | ATTR_FAINT | ATTR_ITALIC | ATTR_UNDERLINE |
    ATTR_BLINK | ATTR_INVERSE |
    ATTR_INVISIBLE;
  assert.equal(
    sgrFor(makeRendition(all, paletteColor(2), paletteColor(7))),
    "\x1b[0;1;2;3;4;5;7;8;32;47m",
  );
  assert.equal(
    sgrFor(makeRendition(0, paletteColor(9), paletteColor(255))),
    "\x1b[0;38;5;9;48;5;255m",
  );
  assert.equal(
    sgrFor(makeRendition(ATTR_BOLD, rgbColor(1, 2, 3), 0)),
    "\x1b[0;1;38;2;1;2;3m",
  );
  assert.equal(makeRendition(0, 0, 0), DEFAULT_RENDITION);
  assert.equal(
    makeRendition(1, 2, 3),
    makeRendition(1, 2, 3),
    "renditions are interned",
  );
});

Deno.test("rows: cells round-trip; blanks keep only their background", () => {
  const cells = [
    cell("a", 1, red),
    cell("漢", 2, red),
    cell("", 0, makeRendition(0, 0, red.bg)),
    cell("e\u0301", 1),
    cell("👍", 2),
    cell("", 0),
    cell("", 1, red),
  ];
  const row = rowFromCells(cells, true);
  assert.equal(row.wrap, true);
  const back = rowCells(row);
  assert.deepEqual(back.slice(0, 6), cells.slice(0, 6));
  assert.deepEqual(back[6], cell("", 1, makeRendition(0, 0, red.bg)));
  assert.ok(rowsEqual(row, rowFromCells(cells, true)));
  assert.ok(!rowsEqual(row, rowFromCells(cells, false)), "wrap counts");
  assert.ok(
    !rowsEqual(row, rowWithCell(row, 3, cell("e\u0300"))),
    "combined text counts",
  );
  assert.ok(rowsEqual(rowWithCell(row, 3, cell("e\u0301")), row));
  const plain = rowFromCells([cell("a"), cell("b")]);
  const edited = rowWithCell(
    rowWithCell(plain, 1, cell("b\u0301")),
    1,
    cell("b"),
  );
  assert.ok(
    rowsEqual(edited, plain) && rowsEqual(plain, edited),
    "texts only count where used",
  );
  assert.equal(rowWithWrap(row, true), row);
  assert.ok(
    rowsEqual(
      blankRow(3, 5),
      rowFromCells([0, 1, 2].map(() => cell("", 1, makeRendition(0, 0, 5)))),
    ),
  );
});

Deno.test("framebuffersEqual counts mosh's fields and ignores the others", () => {
  const a = blankFramebuffer(10, 3);
  const counted: Partial<Framebuffer>[] = [
    { cursorRow: 1 },
    { cursorCol: 1 },
    { cursorVisible: false },
    { reverseVideo: true },
    { rendition: red },
    { bracketedPaste: true },
    { mouseReporting: 1000 },
    { focusEvents: true },
    { altScroll: true },
    { mouseEncoding: 1006 },
    { bellCount: 1 },
    { title: "t" },
    { clipboard: "c" },
  ];
  for (const change of counted) {
    assert.ok(
      !framebuffersEqual(a, { ...a, ...change }),
      JSON.stringify(change),
    );
  }
  const ignored: Partial<Framebuffer>[] = [
    { iconName: "i" },
    { appCursorKeys: true },
    { appKeypad: true },
    { titleInitialized: true },
    { cursorPendingWrap: true },
  ];
  for (const change of ignored) {
    assert.ok(
      framebuffersEqual(a, { ...a, ...change }),
      JSON.stringify(change),
    );
  }
  const b = withRow(a, 1, rowWithCell(a.rows[1], 4, cell("x")));
  assert.ok(!framebuffersEqual(a, b));
  assert.equal(b.rows[0], a.rows[0], "withRow shares the other rows");
  assert.ok(
    framebuffersEqual(b, withRow(a, 1, rowFromCells(rowCells(b.rows[1])))),
    "compared by value",
  );
  assert.ok(!framebuffersEqual(a, blankFramebuffer(10, 4)));
});

Deno.test("cellIsBlank: empty, space and NBSP", () => {
  assert.ok(cellIsBlank(cell("")));
  assert.ok(cellIsBlank(cell(" ")));
  assert.ok(cellIsBlank(cell("\u00a0")));
  assert.ok(!cellIsBlank(cell("\u00a0\u0301")));
});

Deno.test("equality of two full 80x24 snapshots is cheap", () => {
  const rows = Array.from(
    { length: 24 },
    (_, y) =>
      rowFromCells(
        Array.from({ length: 80 }, (_, x) =>
          cell(String.fromCharCode(33 + ((x + y) % 90)), 1, red)),
      ),
  );
  const a: Framebuffer = { ...blankFramebuffer(80, 24), rows };
  const b: Framebuffer = {
    ...a,
    rows: rows.map((r) => rowFromCells(rowCells(r))),
  };
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) assert.ok(framebuffersEqual(a, b));
  const us = performance.now() - t0;
  assert.ok(us < 100, `1000 value compares took ${us.toFixed(1)} ms`); // < 0.1 ms each
});
