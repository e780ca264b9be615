/**
 * Benchmarks for the terminal model: newFrame, applying a diff (emulator write
 * plus snapshot) and snapshot cost, for 80x24 and 200x60 screens.
 * @module
 */
import { newFrame } from "../protocol/terminal/display.ts";
import { Emulator } from "../protocol/terminal/emulator.ts";
import type { Framebuffer } from "../protocol/terminal/framebuffer.ts";

/** A screenful of coloured text with CJK, combining marks and emoji. */
function screen(w: number, h: number, salt: number): string {
  let s = "\x1b[H";
  for (let y = 0; y < h; y++) {
    s += `\x1b[${y + 1};1H\x1b[3${(y + salt) % 8}m`;
    let line = `${salt} row ${y} `;
    while (line.length < w - 10) {
      line += [
        "word ",
        "日本 ",
        "e\u0301 ",
        "👍 ",
        "\x1b[1mB\x1b[22m ",
      ][(y + line.length) % 5];
    }
    s += line + "\x1b[0m\x1b[K";
  }
  return s;
}

async function snap(w: number, h: number, data: string): Promise<Framebuffer> {
  const e = new Emulator(w, h);
  await e.write(data);
  const fb = e.snapshot();
  e.dispose();
  return fb;
}

function rate(label: string, fn: () => void, minMs = 300): void {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    fn();
    n++;
    if ((n & 7) === 0) t = performance.now();
  }
  t = performance.now();
  const per = (t - t0) / n;
  console.log(
    `${label.padEnd(44)} ${(1000 / per).toFixed(0).padStart(8)}/s  ${
      (per * 1000).toFixed(1).padStart(8)
    } µs`,
  );
}

async function rateAsync(
  label: string,
  fn: () => Promise<void>,
  minMs = 300,
): Promise<void> {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    await fn();
    n++;
  }
  const per = (performance.now() - t0) / n;
  console.log(
    `${label.padEnd(44)} ${(1000 / per).toFixed(0).padStart(8)}/s  ${
      (per * 1000).toFixed(1).padStart(8)
    } µs`,
  );
}

/** Print newFrame, diff-application and snapshot rates for 80x24 and 200x60. */
export async function benchDisplay(): Promise<void> {
  for (const [w, h] of [[80, 24], [200, 60]]) {
    const a = await snap(w, h, screen(w, h, 1));
    const b = await snap(w, h, screen(w, h, 2));
    const one = await snap(
      w,
      h,
      screen(w, h, 1) + `\x1b[${h >> 1};5Hchanged line\x1b[K`,
    );
    const full = newFrame(a, b, { initialized: true });
    const line = newFrame(a, one, { initialized: true });
    console.log(
      `${w}x${h}: full diff ${full.length} chars, one-line diff ${line.length} chars`,
    );
    rate(
      `newFrame ${w}x${h} full change`,
      () => void newFrame(a, b, { initialized: true }),
    );
    rate(
      `newFrame ${w}x${h} one-line change`,
      () => void newFrame(a, one, { initialized: true }),
    );
    rate(
      `newFrame ${w}x${h} no change`,
      () => void newFrame(a, a, { initialized: true }),
    );
    const e = new Emulator(w, h);
    await e.loadFramebuffer(a);
    const back = newFrame(b, a, { initialized: true });
    let flip = false;
    await rateAsync(`apply full diff ${w}x${h} (write+snapshot)`, async () => {
      flip = !flip;
      await e.write(flip ? full : back);
      e.snapshot();
    });
    await e.loadFramebuffer(a);
    const undo = newFrame(one, a, { initialized: true });
    await rateAsync(
      `apply one-line diff ${w}x${h} (write+snapshot)`,
      async () => {
        flip = !flip;
        await e.write(flip ? line : undo);
        e.snapshot();
      },
    );
    let i = 0;
    await rateAsync(`snapshot ${w}x${h} after a 1-char write`, async () => {
      await e.write(++i & 1 ? "x" : "\b");
      e.snapshot();
    });
    e.dispose();
  }
}

if (import.meta.main) await benchDisplay();
