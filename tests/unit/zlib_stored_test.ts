import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "node:zlib";
import {
  adler32,
  inflateStored,
  STORED_BLOCK_MAX_BYTES,
  storedZlib,
} from "../../protocol/network/zlib_stored.ts";
import { compress, decompress } from "../../protocol/network/fragment.ts";
import {
  COMPRESS_STORED_BELOW_BYTES,
  MAX_UNCOMPRESSED,
} from "../../protocol/network/constants.ts";
import { xorshiftBytes } from "../../harness/prng.ts";
import { fromHex, toHex } from "../../harness/hex.ts";

/** The Adler-32 node:zlib writes after a stream of `data`. */
function zlibAdler(data: Uint8Array): number {
  const z = deflateSync(data);
  return new DataView(z.buffer, z.byteOffset, z.length).getUint32(
    z.length - 4,
  );
}

Deno.test("adler32 matches zlib's on empty, short, long and 0xff-filled input", () => {
  const rnd = xorshiftBytes(7);
  for (
    const data of [
      new Uint8Array(),
      fromHex("00"),
      new TextEncoder().encode("Wikipedia"),
      rnd(5551),
      rnd(5553),
      rnd(100_000),
      new Uint8Array(70_000).fill(0xff),
    ]
  ) {
    assert.equal(adler32(data), zlibAdler(data), `length ${data.length}`);
  }
  assert.equal(adler32(new TextEncoder().encode("Wikipedia")), 0x11e60398);
});

Deno.test("storedZlib writes RFC 1950 + one final stored block that zlib inflates", () => {
  const data = fromHex("0802100018012000280032080a061a04285030183a00");
  const z = storedZlib(data);
  assert.equal(
    toHex(z),
    "7801" + "01" + "1600" + "e9ff" + toHex(data) +
      adler32(data).toString(16).padStart(8, "0"),
  );
  assert.deepEqual(new Uint8Array(inflateSync(z)), data);
  for (const n of [0, 1, 63, 64, 1000, STORED_BLOCK_MAX_BYTES]) {
    const d = xorshiftBytes(n + 1)(n);
    assert.deepEqual(new Uint8Array(inflateSync(storedZlib(d))), d);
    assert.deepEqual(inflateStored(storedZlib(d)), d);
  }
  assert.throws(() => storedZlib(new Uint8Array(STORED_BLOCK_MAX_BYTES + 1)));
});

Deno.test("inflateStored leaves everything but one whole stored block to the full inflater", () => {
  const data = xorshiftBytes(3)(40);
  const good = storedZlib(data);
  const variant = (at: number, value: number) => {
    const v = good.slice();
    v[at] = value;
    return v;
  };
  const cases: [string, Uint8Array][] = [
    ["deflated (78 9c)", new Uint8Array(deflateSync(new Uint8Array(40)))],
    ["truncated", good.subarray(0, good.length - 1)],
    ["trailing byte", Uint8Array.of(...good, 0)],
    ["adler mismatch", variant(good.length - 1, good[good.length - 1] ^ 1)],
    ["NLEN mismatch", variant(5, good[5] ^ 1)],
    ["LEN beyond the data", variant(3, good[3] + 1)],
    ["not final", variant(2, 0x00)],
    ["fixed Huffman block", variant(2, 0x03)],
    ["bad FCHECK", variant(1, 0x02)],
    ["preset dictionary", Uint8Array.of(0x78, 0x20, ...good.subarray(2))],
    ["CM 7", variant(0, 0x77)],
    ["window 64 KiB", variant(0, 0x88)],
    ["gzip", fromHex("1f8b0800000000000003")],
    ["empty", new Uint8Array()],
    ["header only", good.subarray(0, 2)],
  ];
  for (const [name, bytes] of cases) {
    assert.equal(inflateStored(bytes), null, name);
  }
  // Other valid headers (any FLEVEL, a smaller window) are read as zlib reads them.
  for (const [cmf, flg] of [[0x78, 0x9c], [0x78, 0xda], [0x48, 0x0d]]) {
    assert.equal(((cmf << 8) | flg) % 31, 0);
    const v = Uint8Array.of(cmf, flg, ...good.subarray(2));
    assert.deepEqual(inflateStored(v), data);
    assert.deepEqual(new Uint8Array(inflateSync(v)), data);
  }
});

Deno.test("inflateStored never throws and agrees with zlib on mutated streams", () => {
  const rnd = xorshiftBytes(11);
  const pick = xorshiftBytes(12);
  for (let i = 0; i < 600; i++) {
    const data = rnd(pick(1)[0] % 80);
    const z = storedZlib(data);
    const flips = 1 + (pick(1)[0] % 3);
    for (let f = 0; f < flips; f++) {
      z[pick(1)[0] % z.length] ^= 1 << (pick(1)[0] % 8);
    }
    let expected: Uint8Array | null;
    try {
      expected = new Uint8Array(inflateSync(z));
    } catch {
      expected = null;
    }
    const got = inflateStored(z);
    // A stream it accepts inflates exactly as zlib inflates it.
    if (got !== null) assert.deepEqual(got, expected);
    assert.deepEqual(decompress(z), expected);
  }
});

Deno.test("compress stores instructions under COMPRESS_STORED_BELOW_BYTES and deflates longer ones; decompress reads both", () => {
  const text = new TextEncoder().encode("x".repeat(200));
  const short = text.subarray(0, COMPRESS_STORED_BELOW_BYTES - 1);
  const long = text.subarray(0, COMPRESS_STORED_BELOW_BYTES);
  assert.equal(toHex(compress(short).subarray(0, 3)), "780101");
  assert.equal(toHex(compress(long).subarray(0, 2)), "789c");
  assert.ok(compress(long).length < long.length);
  assert.deepEqual(decompress(compress(short)), short);
  assert.deepEqual(decompress(compress(long)), long);
  // A stored stream is bounded by its 16-bit length, far below MAX_UNCOMPRESSED.
  assert.ok(STORED_BLOCK_MAX_BYTES < MAX_UNCOMPRESSED);
});
