import assert from "node:assert/strict";
import {
  compress,
  decodeFragment,
  decompress,
  encodeFragment,
  type Fragment,
  FragmentAssembly,
  Fragmenter,
  fragmentPayloadSize,
  MAX_ASSEMBLY_BYTES,
  MAX_FRAGMENTS,
} from "../../protocol/network/fragment.ts";
import {
  COMPRESS_FAST_BYTES,
  DEFAULT_IPV4_MTU,
  DEFAULT_IPV6_MTU,
  DEFAULT_SEND_MTU,
  MAX_UNCOMPRESSED,
} from "../../protocol/network/constants.ts";
import { xorshiftBytes } from "../../harness/prng.ts";
import { fromHex, toHex } from "../../harness/hex.ts";

function frag(
  id: bigint,
  num: number,
  final: boolean,
  contents: Uint8Array,
): Uint8Array {
  return encodeFragment({ id, num, final, contents });
}

/** Cuts `data` (already compressed) into encoded fragments of `size` bytes. */
function cut(id: bigint, data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const count = Math.max(1, Math.ceil(data.length / size));
  for (let i = 0; i < count; i++) {
    out.push(
      frag(id, i, i === count - 1, data.subarray(i * size, (i + 1) * size)),
    );
  }
  return out;
}

const INSTRUCTION_1 = fromHex("0802100018012000280032080a061a04285030183a00");
const ZLIB_1 = "789ce360126090605460d06030e2e0629362d1083090b0620000105301de";
/** INSTRUCTION_1 as tmosh sends it: shorter than COMPRESS_STORED_BELOW_BYTES, one stored block (docs/wire.md §4.1). */
const STORED_1 = "7801011600e9ff" +
  "0802100018012000280032080a061a04285030183a00" +
  "105301de";

// ---- header and compression ----

Deno.test("fragment header: id u64 BE, final<<15 | num u16 BE, contents", () => {
  const f: Fragment = {
    id: 0x0102030405060708n,
    num: 0x1234,
    final: true,
    contents: fromHex("aabb"),
  };
  const bytes = encodeFragment(f);
  assert.equal(toHex(bytes), "0102030405060708" + "9234" + "aabb");
  assert.deepEqual(decodeFragment(bytes), f);
  const last = encodeFragment({
    id: 0xffff_ffff_ffff_ffffn,
    num: MAX_FRAGMENTS - 1,
    final: false,
    contents: new Uint8Array(),
  });
  assert.equal(toHex(last), "ffffffffffffffff7fff");
  assert.deepEqual(decodeFragment(fromHex("0000000000000000ffff")), {
    id: 0n,
    num: 0x7fff,
    final: true,
    contents: new Uint8Array(),
  });
});

Deno.test("fragment numbers >= 32768 and bad ids cannot be encoded", () => {
  const contents = new Uint8Array(1);
  for (const num of [MAX_FRAGMENTS, 65535, -1, 1.5]) {
    assert.throws(() =>
      encodeFragment({ id: 1n, num, final: false, contents })
    );
  }
  assert.throws(() =>
    encodeFragment({ id: -1n, num: 0, final: true, contents })
  );
  assert.throws(() =>
    encodeFragment({ id: 1n << 64n, num: 0, final: true, contents })
  );
});

Deno.test("decodeFragment rejects fewer than 10 bytes", () => {
  for (let n = 0; n < 10; n++) {
    assert.equal(decodeFragment(new Uint8Array(n)), null);
  }
  assert.notEqual(decodeFragment(new Uint8Array(10)), null);
});

Deno.test("payload size is MTU - 38", () => {
  assert.equal(fragmentPayloadSize(DEFAULT_IPV4_MTU), 1214);
  assert.equal(fragmentPayloadSize(DEFAULT_IPV6_MTU), 1178);
  assert.equal(fragmentPayloadSize(DEFAULT_SEND_MTU), 462);
});

Deno.test("decompress reads docs/wire.md §11's zlib (stock's default level); compress stores that short instruction (§4.1)", () => {
  assert.deepEqual(decompress(fromHex(ZLIB_1)), INSTRUCTION_1);
  const z = compress(INSTRUCTION_1);
  assert.equal(toHex(z), STORED_1);
  assert.deepEqual(decompress(z), INSTRUCTION_1);
});

Deno.test("a long instruction is compressed at the fast level (zlib header FLEVEL 1) and inflates back; a short one at Mosh's default (FLEVEL 2)", () => {
  const text = new TextEncoder().encode(
    Array.from({ length: 4000 }, (_, i) => `line ${i}\r\n`).join(""),
  );
  assert.ok(text.length >= COMPRESS_FAST_BYTES);
  const long = compress(text);
  assert.equal(long[0], 0x78);
  assert.equal(long[1] >> 6, 1, "FLEVEL 1: a fast level");
  assert.deepEqual(decompress(long), text);
  const short = compress(text.subarray(0, COMPRESS_FAST_BYTES - 1));
  assert.equal(short[1] >> 6, 2, "FLEVEL 2: the default level");
  assert.deepEqual(
    decompress(short),
    text.subarray(0, COMPRESS_FAST_BYTES - 1),
  );
});

Deno.test("decompress rejects non-zlib, truncated and bomb input", () => {
  const z = fromHex(ZLIB_1);
  assert.equal(decompress(z.subarray(0, z.length - 1)), null); // no adler
  assert.equal(decompress(z.subarray(2)), null); // raw deflate
  assert.equal(decompress(fromHex("1f8b0800000000000003")), null); // gzip
  assert.equal(decompress(new Uint8Array()), null);
  const bad = z.slice();
  bad[bad.length - 1] ^= 1; // adler mismatch
  assert.equal(decompress(bad), null);
  // Exactly 4 MiB is allowed (mosh's buffer size); one more byte is a bomb.
  const max = compress(new Uint8Array(MAX_UNCOMPRESSED));
  assert.equal(decompress(max)?.length, MAX_UNCOMPRESSED);
  const bomb = compress(new Uint8Array(MAX_UNCOMPRESSED + 1));
  assert.ok(bomb.length < 5000);
  assert.equal(decompress(bomb), null);
});

// ---- Fragmenter ----

Deno.test("first fragment on the wire matches docs/wire.md §11 (id 1, final, #0)", () => {
  const fr = new Fragmenter();
  const out = fr.makeFragments(INSTRUCTION_1, DEFAULT_IPV4_MTU);
  assert.equal(out.length, 1);
  assert.equal(toHex(out[0]), "0000000000000001" + "8000" + STORED_1);
  assert.deepEqual(new FragmentAssembly().add(out[0]), INSTRUCTION_1);
});

Deno.test("every call gets a new id, even for identical input", () => {
  const fr = new Fragmenter();
  const ids = [0, 1, 2].map((_) =>
    decodeFragment(fr.makeFragments(INSTRUCTION_1, 500)[0])?.id
  );
  assert.deepEqual(ids, [1n, 2n, 3n]);
});

Deno.test("2123 compressed bytes split into 1214 + 909 at MTU 1252", () => {
  // Find incompressible input whose zlib form is exactly 2123 bytes.
  const rnd = xorshiftBytes(7);
  let input: Uint8Array = new Uint8Array();
  for (let n = 2080; compress(input).length !== 2123; n++) input = rnd(n);
  const fr = new Fragmenter();
  const out = fr.makeFragments(input, DEFAULT_IPV4_MTU);
  assert.deepEqual(out.map((b) => b.length), [10 + 1214, 10 + 909]);
  const a = decodeFragment(out[0])!;
  const b = decodeFragment(out[1])!;
  assert.deepEqual([a.id, a.num, a.final], [1n, 0, false]);
  assert.deepEqual([b.id, b.num, b.final], [1n, 1, true]);
  const joined = new Uint8Array([...a.contents, ...b.contents]);
  assert.deepEqual(joined, compress(input));
  // Every datagram fits the MTU: 12 (nonce + timestamps) + fragment + 16 (tag).
  for (const f of out) assert.ok(12 + f.length + 16 <= DEFAULT_IPV4_MTU);
  const asm = new FragmentAssembly();
  assert.equal(asm.add(out[0]), null);
  assert.deepEqual(asm.add(out[1]), input);
});

Deno.test("too small an MTU or too many fragments throws", () => {
  const fr = new Fragmenter();
  assert.throws(() => fr.makeFragments(INSTRUCTION_1, 38), /tmosh: MTU 38/);
  assert.equal(fr.makeFragments(INSTRUCTION_1, 39).length, STORED_1.length / 2);
  // 40000 incompressible bytes at 1 byte per fragment need > 32768 fragments.
  assert.throws(
    () => fr.makeFragments(xorshiftBytes(3)(40000), 39),
    /fragments/,
  );
});

// ---- FragmentAssembly ----

/** A multi-fragment instruction: compressed data and its fragments. */
function sample(id: bigint, seed: number, size = 100): Uint8Array[] {
  return cut(id, compress(xorshiftBytes(seed)(1000)), size);
}

function expected(seed: number): Uint8Array {
  return xorshiftBytes(seed)(1000);
}

Deno.test("out-of-order fragments reassemble", () => {
  const frags = sample(1n, 11); // 11 fragments of <= 100 bytes
  assert.ok(frags.length > 5);
  const order = [3, frags.length - 1, 0, 5, 1, 2, 4];
  for (let i = 6; i < frags.length - 1; i++) order.push(i);
  const asm = new FragmentAssembly();
  const results = order.map((i) => asm.add(frags[i]));
  assert.ok(results.slice(0, -1).every((r) => r === null));
  assert.deepEqual(results.at(-1), expected(11));
  assert.equal(asm.bufferedBytes, 0);
});

Deno.test("duplicate fragments are ignored, not double-counted", () => {
  const frags = sample(4n, 12);
  const asm = new FragmentAssembly();
  for (let i = 0; i < frags.length - 1; i++) {
    assert.equal(asm.add(frags[i]), null);
    assert.equal(asm.add(frags[i]), null);
  }
  assert.equal(asm.bufferedFragments, frags.length - 1);
  assert.deepEqual(asm.add(frags.at(-1)!), expected(12));
  // Like stock mosh, a later copy of the completed id is assembled afresh,
  // so a byte-identical retransmission is delivered again.
  const single = new Fragmenter().makeFragments(INSTRUCTION_1, 1252)[0];
  const asm2 = new FragmentAssembly();
  assert.deepEqual(asm2.add(single), INSTRUCTION_1);
  assert.deepEqual(asm2.add(single), INSTRUCTION_1);
});

Deno.test("a newer id supersedes a partial assembly", () => {
  const old = sample(5n, 13);
  const newer = sample(6n, 14);
  const asm = new FragmentAssembly();
  for (let i = 0; i < old.length - 1; i++) asm.add(old[i]);
  for (let i = 0; i < newer.length - 1; i++) {
    assert.equal(asm.add(newer[i]), null);
  }
  assert.deepEqual(asm.add(newer.at(-1)!), expected(14));
  // The old id's last fragment no longer completes anything.
  assert.equal(asm.add(old.at(-1)!), null);
});

Deno.test("a stale (smaller) id does not destroy a newer assembly", () => {
  const old = sample(5n, 15);
  const newer = sample(6n, 16);
  const asm = new FragmentAssembly();
  for (let i = 0; i < newer.length - 1; i++) asm.add(newer[i]);
  for (const f of old) assert.equal(asm.add(f), null);
  assert.equal(asm.bufferedFragments, newer.length - 1);
  assert.deepEqual(asm.add(newer.at(-1)!), expected(16));
});

Deno.test("conflicting contents for the same (id, num) drop the assembly", () => {
  const frags = sample(7n, 17);
  const asm = new FragmentAssembly();
  asm.add(frags[0]);
  asm.add(frags[1]);
  const forged = frags[1].slice();
  forged[forged.length - 1] ^= 0xff;
  assert.equal(asm.add(forged), null);
  assert.equal(asm.bufferedFragments, 0);
  for (const f of frags) assert.equal(asm.add(f), null); // id 7 is dead
  // Same contents but a different final flag also conflicts.
  const other = sample(8n, 18);
  const asm2 = new FragmentAssembly();
  asm2.add(other.at(-1)!);
  const d = decodeFragment(other.at(-1)!)!;
  assert.equal(asm2.add(encodeFragment({ ...d, final: false })), null);
  for (const f of other) assert.equal(asm2.add(f), null);
  // A newer id works again.
  assert.deepEqual(asm.add(sample(9n, 19).at(0)!), null);
  const fresh = sample(10n, 20);
  let got: Uint8Array | null = null;
  for (const f of fresh) got = asm.add(f);
  assert.deepEqual(got, expected(20));
});

Deno.test("a final fragment below one already seen drops the assembly", () => {
  const data = compress(xorshiftBytes(21)(1000));
  const asm = new FragmentAssembly();
  asm.add(frag(1n, 0, false, data.subarray(0, 100)));
  asm.add(frag(1n, 2, false, data.subarray(200, 300)));
  assert.equal(asm.add(frag(1n, 1, true, data.subarray(100, 200))), null);
  assert.equal(asm.bufferedFragments, 0);
  // A second, different final is just as inconsistent.
  const asm2 = new FragmentAssembly();
  asm2.add(frag(2n, 3, true, data.subarray(0, 10)));
  assert.equal(asm2.add(frag(2n, 5, true, data.subarray(0, 10))), null);
  assert.equal(asm2.bufferedFragments, 0);
});

Deno.test("a non-final fragment beyond a known final drops the assembly", () => {
  const frags = sample(3n, 22);
  const asm = new FragmentAssembly();
  asm.add(frags.at(-1)!);
  const total = frags.length;
  assert.equal(asm.add(frag(3n, total, false, new Uint8Array(5))), null);
  assert.equal(asm.bufferedFragments, 0);
  for (const f of frags) assert.equal(asm.add(f), null);
});

Deno.test("the highest fragment number 32767 is accepted", () => {
  const asm = new FragmentAssembly();
  const z = fromHex(ZLIB_1);
  // Fragments 0..32767, fragment 0 carries everything, the rest are empty.
  assert.equal(
    asm.add(frag(1n, MAX_FRAGMENTS - 1, true, new Uint8Array())),
    null,
  );
  let got: Uint8Array | null = null;
  for (let i = 0; i < MAX_FRAGMENTS - 1; i++) {
    got = asm.add(frag(1n, i, false, i === 0 ? z : new Uint8Array()));
  }
  assert.deepEqual(got, INSTRUCTION_1);
});

Deno.test("garbage and truncated input is dropped without throwing", () => {
  const asm = new FragmentAssembly();
  for (let n = 0; n < 10; n++) assert.equal(asm.add(new Uint8Array(n)), null);
  // Complete but truncated or corrupted zlib.
  const z = fromHex(ZLIB_1);
  assert.equal(asm.add(frag(2n, 0, true, z.subarray(0, 20))), null);
  assert.equal(asm.add(frag(3n, 0, true, z.subarray(2))), null);
  assert.equal(asm.add(frag(4n, 0, true, new Uint8Array())), null);
  // Truncated fragment: a complete assembly whose last chunk lost bytes.
  const frags = sample(5n, 23);
  for (let i = 0; i < frags.length - 1; i++) asm.add(frags[i]);
  assert.equal(asm.add(frags.at(-1)!.subarray(0, 15)), null);
  // Random datagrams.
  const rnd = xorshiftBytes(24);
  for (let i = 0; i < 5000; i++) {
    const len = rnd(1)[0] % 64;
    assert.equal(asm.add(rnd(len)), null);
  }
});

Deno.test("a zlib bomb across fragments yields null", () => {
  const bomb = compress(new Uint8Array(MAX_UNCOMPRESSED * 2));
  const frags = cut(1n, bomb, 1214);
  assert.ok(frags.length > 1);
  const asm = new FragmentAssembly();
  const results = frags.map((f) => asm.add(f));
  assert.ok(results.every((r) => r === null));
  assert.equal(asm.bufferedBytes, 0);
});

Deno.test("100k hostile fragments keep buffered memory under the cap", () => {
  const pool = xorshiftBytes(25)(1 << 20);
  const asm = new FragmentAssembly();
  let peak = 0;
  let at = 0;
  for (let i = 0; i < 100_000; i++) {
    // Ids advance every 20000 fragments; numbers are distinct within an id,
    // so only the byte cap can stop the growth (20000 * ~1000 B > 8 MiB).
    const id = 1n + BigInt(Math.floor(i / 20_000));
    const len = 500 + (pool[i % pool.length] << 2); // 500..1520 bytes
    if (at + len > pool.length) at = 0;
    asm.add(frag(id, i % 20_000, false, pool.subarray(at, at + len)));
    at += len;
    peak = Math.max(peak, asm.bufferedBytes);
    assert.ok(asm.bufferedBytes <= MAX_ASSEMBLY_BYTES);
    assert.ok(asm.bufferedFragments <= MAX_FRAGMENTS);
  }
  assert.ok(peak > MAX_ASSEMBLY_BYTES - 2048, `peak ${peak}`);
  // Fully random headers as well (random ids, numbers and final flags).
  for (let i = 0; i < 20_000; i++) {
    const len = 10 + (pool[i] & 0x3f);
    if (at + len > pool.length) at = 0;
    asm.add(pool.subarray(at, at + len));
    at += len;
    assert.ok(asm.bufferedBytes <= MAX_ASSEMBLY_BYTES);
  }
});

Deno.test("one oversized fragment is dropped", () => {
  const asm = new FragmentAssembly();
  const big = new Uint8Array(MAX_ASSEMBLY_BYTES + 1);
  assert.equal(asm.add(frag(1n, 0, false, big)), null);
  assert.equal(asm.bufferedBytes, 0);
});
