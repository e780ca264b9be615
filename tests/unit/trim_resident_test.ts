import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "node:zlib";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  cleanExecutableSpans,
  trimExecutablePages,
  trimMallocArenas,
} from "../../protocol/network/trim_resident.ts";

/** One /proc/PID/smaps entry. */
function entry(
  range: string,
  perms: string,
  path: string,
  fields: { dirty?: number; anon?: number } = {},
): string {
  return [
    `${range} ${perms} 00000000 fe:00 1441832                    ${path}`,
    "Size:               1024 kB",
    "Rss:                 512 kB",
    ...(fields.dirty === undefined
      ? []
      : [`Private_Dirty:      ${fields.dirty} kB`]),
    ...(fields.anon === undefined
      ? []
      : [`Anonymous:          ${fields.anon} kB`]),
    "VmFlags: rd ex mr mw me sd",
  ].join("\n");
}

Deno.test("cleanExecutableSpans keeps only clean read-only mappings of the executable", () => {
  const exe = "/opt/my deno/deno";
  const smaps = [
    entry("1000-3000", "r--p", exe, { dirty: 0, anon: 0 }),
    entry("3000-7000", "r-xp", exe, { dirty: 0, anon: 0 }),
    entry("7000-8000", "r--p", exe, { dirty: 4, anon: 4 }), // RELRO: relocated
    entry("8000-9000", "rw-p", exe, { dirty: 0, anon: 0 }),
    entry("9000-a000", "r--p", exe, { dirty: 0, anon: 4 }), // a private copy
    entry("a000-b000", "r--p", exe), // fields missing: kept as it is
    entry("b000-c000", "r-xp", "/usr/lib/libc.so.6", { dirty: 0, anon: 0 }),
    entry("c000-d000", "r-xp", `${exe} (deleted)`, { dirty: 0, anon: 0 }),
    entry("d000-e000", "r--s", exe, { dirty: 0, anon: 0 }),
    entry("7f0000000000-7f0000200000", "r-xp", exe, { dirty: 0, anon: 0 }),
  ].join("\n") + "\n";
  assert.deepEqual(cleanExecutableSpans(smaps, exe), [
    { start: 0x1000n, length: 0x2000n },
    { start: 0x3000n, length: 0x4000n },
    { start: 0x7f0000000000n, length: 0x200000n },
  ]);
  assert.deepEqual(cleanExecutableSpans("", exe), []);
  assert.deepEqual(cleanExecutableSpans("garbage\nmore garbage", exe), []);
});

/** This process's RSS, kB. */
function rssKb(): number {
  const rollup = Deno.readTextFileSync("/proc/self/smaps_rollup");
  return Number(/^Rss:\s+(\d+) kB/m.exec(rollup)?.[1]);
}

/** This process's resident pages of the executable, kB. */
function executableRssKb(): number {
  let kb = 0;
  const exe = Deno.execPath();
  for (
    const block of Deno.readTextFileSync("/proc/self/smaps").split(
      /\n(?=[0-9a-f]+-[0-9a-f]+ )/,
    )
  ) {
    if (!block.slice(0, block.indexOf("\n")).endsWith(` ${exe}`)) continue;
    kb += Number(/^Rss:\s+(\d+) kB/m.exec(block)?.[1] ?? 0);
  }
  return kb;
}

Deno.test({
  name:
    "trimExecutablePages drops the executable's resident pages from this process, which runs on",
  ignore: Deno.build.os !== "linux",
  fn() {
    const before = executableRssKb();
    const rssBefore = rssKb();
    assert.ok(before > 4096, `the executable is resident: ${before} kB`);
    const advised = trimExecutablePages();
    assert.ok(advised > before * 1024, `advised ${advised} bytes`);
    const after = executableRssKb();
    assert.ok(after < before / 2, `${before} kB -> ${after} kB`);
    assert.ok(rssKb() < rssBefore, "the process's RSS went down");
    // Code of the runtime that had been dropped comes back on use.
    const data = new TextEncoder().encode("tmosh ".repeat(1000));
    assert.deepEqual(new Uint8Array(inflateSync(deflateSync(data))), data);
    assert.equal(JSON.parse(JSON.stringify({ a: [1, 2] })).a[1], 2);
    assert.ok(/^t(mo)sh$/.test("tmosh"));
    // Twice is harmless.
    assert.ok(trimExecutablePages() > 0);
  },
});

Deno.test("trimMallocArenas: freed buffers between live ones leave the resident memory", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  // 128 MiB of 64 KiB buffers (below glibc's mmap threshold: from an arena),
  // every 50th kept alive, so the heap's top is never free and free()
  // alone gives nothing back.
  let buffers: Uint8Array[] = [];
  for (let i = 0; i < 2048; i++) {
    buffers.push(new Uint8Array(64 * 1024).fill(1));
  }
  buffers = buffers.filter((_, i) => i % 50 === 0);
  gc();
  gc();
  const before = rssKb() / 1024;
  const trimmed = trimMallocArenas();
  const after = rssKb() / 1024;
  assert.equal(buffers.length, 41);
  assert.ok(trimmed, "malloc_trim gave memory back");
  assert.ok(
    before - after > 64,
    `resident ${before.toFixed(1)} -> ${after.toFixed(1)} MiB`,
  );
});
