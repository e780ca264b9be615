/**
 * Throughput of the fragment layer: compress + fragment on send, reassemble +
 * decompress on receive, for an idle heartbeat, a typical screen diff and a
 * 1400-byte payload.
 * @module
 */

import { FragmentAssembly, Fragmenter } from "../protocol/network/fragment.ts";
import { DEFAULT_IPV4_MTU } from "../protocol/network/constants.ts";
import { fromHex } from "../harness/hex.ts";

const RUN_MS = 400;

/** Builds ~2 KB of terminal output repainting an 80x24 screen. */
function screenDiff(): Uint8Array {
  const names = ["README.md", "src", "main.ts", "deno.json", "tests", "bench"];
  let s = "\x1b[?25l\x1b[H";
  for (let row = 1; row <= 24; row++) {
    s += `\x1b[${row};1H\x1b[0;1;34m`;
    let line = `drwxr-xr-x  4 user user  4096 Mar ${row % 28 + 1} 12:${
      String(row * 2).padStart(2, "0")
    } `;
    line += names[row % names.length] + " -> /home/user/projects/tmosh/";
    s += line.slice(0, 64) + "\x1b[0m\x1b[K";
  }
  s += "\x1b[24;1H$ \x1b[?25h";
  return new TextEncoder().encode(s);
}

/** Deterministic incompressible bytes. */
function noise(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Runs `fn` repeatedly for RUN_MS and returns operations per second. */
function rate(fn: () => void): number {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < RUN_MS) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    elapsed = performance.now() - start;
  }
  return n / (elapsed / 1000);
}

/** Prints fragment+compress/s and reassemble+decompress/s for two payloads. */
export async function benchFragment(): Promise<void> {
  const cases: [string, Uint8Array][] = [
    // An idle heartbeat: Instruction with nums, empty diff and 8 B of chaff (stored, docs/wire.md §4.1).
    ["heartbeat", fromHex("0802102a1829202828003200" + "3a080102030405060708")],
    ["80x24 screen diff", screenDiff()],
    ["1400 B random payload", noise(1400)],
  ];
  for (const [name, payload] of cases) {
    const fragmenter = new Fragmenter();
    const frags = fragmenter.makeFragments(payload, DEFAULT_IPV4_MTU).length;
    const send = rate(() => {
      fragmenter.makeFragments(payload, DEFAULT_IPV4_MTU);
    });
    // Pre-made instructions with increasing ids, replayed into a fresh
    // assembly on each pass (ids must increase for it to accept them).
    const batch = Array.from(
      { length: 512 },
      () => fragmenter.makeFragments(payload, DEFAULT_IPV4_MTU),
    );
    let asm = new FragmentAssembly();
    let next = 0;
    const recv = rate(() => {
      if (next === batch.length) {
        next = 0;
        asm = new FragmentAssembly();
      }
      let out: Uint8Array | null = null;
      for (const f of batch[next++]) out = asm.add(f);
      if (out?.length !== payload.length) {
        throw new Error("tmosh: bench instruction did not reassemble");
      }
    });
    console.log(
      `fragment: ${name} (${payload.length} B, ${frags} fragment(s)): ` +
        `fragment+compress ${Math.round(send)}/s, ` +
        `reassemble+decompress ${Math.round(recv)}/s`,
    );
    await Promise.resolve();
  }
}

if (import.meta.main) {
  await benchFragment();
}
