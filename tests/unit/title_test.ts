import assert from "node:assert/strict";
import {
  blankFramebuffer,
  type Framebuffer,
} from "../../protocol/terminal/framebuffer.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import { applyTitlePrefix, DEFAULT_TITLE_PREFIX } from "../../client/title.ts";

async function screen(output: string): Promise<Framebuffer> {
  const emu = new Emulator(20, 3);
  await emu.write(output);
  const fb = emu.snapshot();
  emu.dispose();
  return fb;
}

Deno.test("title: default prefix is '[tmosh] '", () => {
  assert.equal(DEFAULT_TITLE_PREFIX, "[tmosh] ");
});

Deno.test("title: OSC 0 sets both: both get the prefix", async () => {
  const fb = await screen("\x1b]0;pytitle\x07");
  assert.equal(fb.titleInitialized, true);
  const out = applyTitlePrefix(fb, DEFAULT_TITLE_PREFIX);
  assert.equal(out.title, "[tmosh] pytitle");
  assert.equal(out.iconName, "[tmosh] pytitle");
  assert.equal(fb.title, "pytitle"); // input untouched
  assert.equal(out.rows, fb.rows);
});

Deno.test("title: a different icon name keeps its own text", async () => {
  const fb = await screen("\x1b]1;icon\x07\x1b]2;window\x07");
  assert.equal(fb.iconName, "icon");
  const out = applyTitlePrefix(fb, "[tmosh] ");
  assert.equal(out.title, "[tmosh] window");
  assert.equal(out.iconName, "icon");
});

Deno.test("title: nothing before the remote side sets a title, nothing with an empty prefix", async () => {
  const blank = blankFramebuffer(10, 2);
  assert.equal(applyTitlePrefix(blank, "[tmosh] "), blank);
  const fb = await screen("\x1b]2;t\x07");
  assert.equal(applyTitlePrefix(fb, ""), fb);
  // an empty title that was explicitly set is still prefixed
  const empty = await screen("\x1b]0;\x07");
  assert.equal(empty.titleInitialized, true);
  assert.equal(applyTitlePrefix(empty, "[tmosh] ").title, "[tmosh] ");
});
