/**
 * OSC 52 clipboard queries never reach the user's terminal: the emulator
 * (server and client alike) keeps only clipboard writes, under every
 * spelling it accepts, and the display never emits anything else. A local
 * terminal that answers a query would send the user's clipboard to the host.
 * @module
 */
import assert from "node:assert/strict";
import { newFrame } from "../../protocol/terminal/display.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import { isClipboardWrite } from "../../protocol/terminal/emulator_modes.ts";
import { blankFramebuffer } from "../../protocol/terminal/framebuffer.ts";

/** OSC 52 requests a local terminal may answer with its clipboard, as a host could send them. */
const QUERIES = [
  "\x1b]52;c;?\x07",
  "\x1b]52;c;?\x1b\\",
  "\u009d52;c;?\u009c",
  "\x1b]052;c;?\x07",
  "\x1b]52;c;\x01?\x07",
  "\x1b]52;c; ?\x07",
  "\x1b]52;c;??\x07",
  "\x1b]52;c;YQ==?\x07",
  "\x1b]52;c;?;YQ==\x07",
  "\x1b]52;c;YQ==;?\x07",
  "\x1b]52;c;c;?\x07",
  "\x1b]52;c;\uff1f\x07",
  "\x1b]52;?\x07",
  "\x1b]52;;?\x07",
  "\x1b]52;p;?\x07",
  "\x1b]52;s;?\x07",
  "\x1b]52;0;?\x07",
  "\x1b]52;cp;?\x07",
  "\x1b]52;pc;?\x07",
];

Deno.test("clipboard: no OSC 52 query is kept by the emulator, whatever its spelling", () => {
  const e = new Emulator(20, 3);
  try {
    e.writeSync("\x1b]52;c;YQ==\x07");
    assert.equal(e.snapshot().clipboard, "YQ==");
    for (const q of QUERIES) {
      e.writeSync(q);
      assert.equal(e.snapshot().clipboard, "YQ==", JSON.stringify(q));
    }
    // Writes still go through afterwards, the empty one (clear) included.
    e.writeSync("\x1b]52;c;aGVsbG8=\x07");
    assert.equal(e.snapshot().clipboard, "aGVsbG8=");
    e.writeSync("\x1b]52;c;\x07");
    assert.equal(e.snapshot().clipboard, "");
  } finally {
    e.dispose();
  }
});

Deno.test("clipboard: a host's query never reaches the client's display output", () => {
  for (const q of QUERIES) {
    const e = new Emulator(20, 3);
    try {
      const blank = e.snapshot();
      e.writeSync(q);
      const out = newFrame(blank, e.snapshot(), { initialized: true });
      assert.ok(!out.includes("52;"), `${JSON.stringify(q)} -> ${out}`);
    } finally {
      e.dispose();
    }
  }
});

Deno.test("clipboard: the display emits writes only, even from a framebuffer holding a query", () => {
  const blank = blankFramebuffer(20, 3);
  for (const clipboard of ["?", "c;?", " ?", "YQ==;?"]) {
    const out = newFrame(blank, { ...blank, clipboard }, { initialized: true });
    assert.ok(!out.includes("\x1b]52"), JSON.stringify(clipboard));
  }
  const out = newFrame(blank, { ...blank, clipboard: "YQ==" }, {
    initialized: true,
  });
  assert.ok(out.includes("\x1b]52;c;YQ==\x07"), out);
  assert.equal(isClipboardWrite("aGVsbG8gd29ybGQ="), true);
  assert.equal(isClipboardWrite(""), true);
  assert.equal(isClipboardWrite("?"), false);
});
