/**
 * Tests for protocol/crypto/ocb.ts: RFC 7253 Appendix A vectors, the iterated
 * test, Mosh's own vectors, tampering and round trips, each on both
 * implementations (libcrypto through FFI, where it loads, and JavaScript).
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Ocb as AnyOcb, type OcbBackend } from "../../protocol/crypto/ocb.ts";
import { fromHex, toHex } from "../../harness/hex.ts";

/** Upper-case hex, as RFC 7253 prints its vectors. */
function upperHex(bytes: Uint8Array): string {
  return toHex(bytes).toUpperCase();
}

function seq(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i);
}

const RFC_KEY = fromHex("000102030405060708090A0B0C0D0E0F");

/** Whether libcrypto loads here (else only the JavaScript implementation runs). */
const NATIVE = new AnyOcb(RFC_KEY).backend === "native";

/** Registers `body` once per implementation; it gets an Ocb class bound to it. */
function ocbTest(
  name: string,
  body: (Ocb: new (key: Uint8Array) => AnyOcb) => void,
): void {
  for (const backend of ["native", "js"] as OcbBackend[]) {
    class Ocb extends AnyOcb {
      constructor(key: Uint8Array) {
        super(key, { backend });
        if (key.length === 16) assert.equal(this.backend, backend);
      }
    }
    Deno.test({
      name: `ocb (${backend}): ${name}`,
      ignore: backend === "native" && !NATIVE,
      fn: () => body(Ocb),
    });
  }
}

/** RFC 7253 Appendix A, AES-128, TAGLEN 128: [nonce suffix, |A|, |P|, C]. */
const RFC_VECTORS: [string, number, number, string][] = [
  ["00", 0, 0, "785407BFFFC8AD9EDCC5520AC9111EE6"],
  ["01", 8, 8, "6820B3657B6F615A5725BDA0D3B4EB3A257C9AF1F8F03009"],
  ["02", 8, 0, "81017F8203F081277152FADE694A0A00"],
  ["03", 0, 8, "45DD69F8F5AAE72414054CD1F35D82760B2CD00D2F99BFA9"],
  [
    "04",
    16,
    16,
    "571D535B60B277188BE5147170A9A22C3AD7A4FF3835B8C5701C1CCEC8FC3358",
  ],
  ["05", 16, 0, "8CF761B6902EF764462AD86498CA6B97"],
  [
    "06",
    0,
    16,
    "5CE88EC2E0692706A915C00AEB8B2396F40E1C743F52436BDF06D8FA1ECA343D",
  ],
  [
    "07",
    24,
    24,
    "1CA2207308C87C010756104D8840CE1952F09673A448A122C92C62241051F57356D7F3C90BB0E07F",
  ],
  ["08", 24, 0, "6DC225A071FC1B9F7C69F93B0F1E10DE"],
  [
    "09",
    0,
    24,
    "221BD0DE7FA6FE993ECCD769460A0AF2D6CDED0C395B1C3CE725F32494B9F914D85C0B1EB38357FF",
  ],
  [
    "0A",
    32,
    32,
    "BD6F6C496201C69296C11EFD138A467ABD3C707924B964DEAFFC40319AF5A48540FBBA186C5553C68AD9F592A79A4240",
  ],
  ["0B", 32, 0, "FE80690BEE8A485D11F32965BC9D2A32"],
  [
    "0C",
    0,
    32,
    "2942BFC773BDA23CABC6ACFD9BFD5835BD300F0973792EF46040C53F1432BCDFB5E1DDE3BC18A5F840B52E653444D5DF",
  ],
  [
    "0D",
    40,
    40,
    "D5CA91748410C1751FF8A2F618255B68A0A12E093FF454606E59F9C1D0DDC54B65E8628E568BAD7AED07BA06A4A69483A7035490C5769E60",
  ],
  ["0E", 40, 0, "C5CD9D1850C141E358649994EE701B68"],
  [
    "0F",
    0,
    40,
    "4412923493C57D5DE0D700F753CCE0D1D2D95060122E9F15A5DDBFC5787E50B5CC55EE507BCB084E479AD363AC366B95A98CA5F3000B1479",
  ],
];

ocbTest("RFC 7253 Appendix A vectors (seal and open)", (Ocb) => {
  const ocb = new Ocb(RFC_KEY);
  assert.equal(RFC_VECTORS.length, 16);
  for (const [suffix, adLen, ptLen, expected] of RFC_VECTORS) {
    const nonce = fromHex("BBAA998877665544332211" + suffix);
    const ad = seq(adLen);
    const pt = seq(ptLen);
    const sealed = ocb.seal(nonce, pt, { ad });
    assert.equal(upperHex(sealed), expected, `vector ${suffix}`);
    const opened = ocb.open(nonce, sealed, { ad });
    assert.ok(opened, `vector ${suffix} opens`);
    assert.deepEqual(opened, pt);
  }
});

ocbTest("RFC 7253 vectors also verify with a fresh context each", (Ocb) => {
  for (const [suffix, adLen, ptLen, expected] of RFC_VECTORS) {
    const nonce = fromHex("BBAA998877665544332211" + suffix);
    const opened = new Ocb(RFC_KEY).open(nonce, fromHex(expected), {
      ad: seq(adLen),
    });
    assert.deepEqual(opened, seq(ptLen), `vector ${suffix}`);
  }
});

ocbTest("RFC 7253 iterated test, TAGLEN 128", (Ocb) => {
  const key = new Uint8Array(16);
  key[15] = 0x80;
  const ocb = new Ocb(key);
  const num2str = (v: number) => {
    const n = new Uint8Array(12);
    new DataView(n.buffer).setUint32(8, v);
    return n;
  };
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 128; i++) {
    const s = new Uint8Array(i);
    parts.push(ocb.seal(num2str(3 * i + 1), s, { ad: s }));
    parts.push(ocb.seal(num2str(3 * i + 2), s));
    parts.push(ocb.seal(num2str(3 * i + 3), new Uint8Array(0), { ad: s }));
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const c = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    c.set(p, at);
    at += p.length;
  }
  const tag = ocb.seal(num2str(385), new Uint8Array(0), { ad: c });
  assert.equal(upperHex(tag), "67E944D23256C5E0B6C61FA22FDF1EA2");
});

ocbTest("Mosh's own vectors (src/tests/ocb-aes.cc)", (Ocb) => {
  const ocb = new Ocb(RFC_KEY);
  const nonce = fromHex("000102030405060708090A0B");
  assert.equal(
    upperHex(ocb.seal(nonce, new Uint8Array(0))),
    "197B9C3C441D3C83EAFB2BEF633B9182",
  );
  assert.equal(
    upperHex(ocb.seal(nonce, seq(8), { ad: seq(8) })),
    "92B657130A74B85A16DC76A46D47E1EAD537209E8A96D14E",
  );
});

ocbTest("lengths 0..100 round-trip; truncated input is rejected", (Ocb) => {
  const ocb = new Ocb(crypto.getRandomValues(new Uint8Array(16)));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  for (let len = 0; len <= 100; len++) {
    const pt = crypto.getRandomValues(new Uint8Array(len));
    const sealed = ocb.seal(nonce, pt);
    assert.equal(sealed.length, len + 16);
    assert.deepEqual(ocb.open(nonce, sealed), pt, `length ${len}`);
    for (let cut = 1; cut <= Math.min(sealed.length, 17); cut++) {
      assert.equal(
        ocb.open(nonce, sealed.subarray(0, sealed.length - cut)),
        null,
      );
    }
  }
  assert.equal(ocb.open(nonce, new Uint8Array(0)), null);
  assert.equal(ocb.open(nonce, new Uint8Array(15)), null);
  assert.equal(ocb.open(new Uint8Array(11), new Uint8Array(32)), null);
});

ocbTest("large messages round-trip across many nonces", (Ocb) => {
  const ocb = new Ocb(crypto.getRandomValues(new Uint8Array(16)));
  const nonce = new Uint8Array(12);
  for (const len of [1399, 1400, 1401, 2048, 4000, 70000]) {
    for (let s = 0; s < 130; s += 13) {
      nonce[11] = s;
      nonce[10] = len & 0xff;
      const pt = crypto.getRandomValues(
        new Uint8Array(len > 65536 ? 65536 : len),
      );
      const sealed = ocb.seal(nonce, pt);
      assert.deepEqual(ocb.open(nonce, sealed), pt);
    }
  }
});

/** Long messages sealed by Python `cryptography` AESOCB3 (key 00..0F, P[i] = 7i mod 256). */
const LONG_VECTORS: [number, string, string][] = [
  [
    1399,
    "000000008000000000000100",
    "de22a0a2d6bd5dcb2d99528bf6e664667312df1536a85f5398a9dfba3d539c0d",
  ],
  [
    1400,
    "00000000800000000000013f",
    "c7b4f25b3c18415c149a0210a92c12940ba5d891b6f7ebc7ce27ab94fbf967c9",
  ],
  [
    1401,
    "000000008000000000000121",
    "3315534d53376fe3da7f53f10f0ab2beaaef74acd2f5fd220c7c7c69aa8f40b6",
  ],
  [
    4000,
    "000000008000000000000107",
    "8b77485a3a79193f230218983cf8a6a844dbb282013f6c3c1b1df55eff384937",
  ],
  [
    20,
    "000000008000000000000140",
    "8af86d9ab266f6002180efdf818b02f62373304d18fa8f8b5e759d86cd53ac60",
  ],
  [
    2048,
    "00000000800000000000013e",
    "68b575b4c63d338bf6338659ab7cdd384cbfb7a6bb2e9b25910e61475c723312",
  ],
];

ocbTest("long messages match an independent implementation", (Ocb) => {
  const ocb = new Ocb(RFC_KEY);
  for (const [len, nonceHex, sha] of LONG_VECTORS) {
    const pt = Uint8Array.from({ length: len }, (_, i) => (i * 7) & 0xff);
    const sealed = ocb.seal(fromHex(nonceHex), pt);
    const digest = createHash("sha256").update(sealed).digest("hex");
    assert.equal(digest, sha, `length ${len}`);
    assert.deepEqual(ocb.open(fromHex(nonceHex), sealed), pt);
  }
});

ocbTest("the cached Ktop gives the same result as a fresh context", (Ocb) => {
  const key = crypto.getRandomValues(new Uint8Array(16));
  const shared = new Ocb(key);
  const pt = crypto.getRandomValues(new Uint8Array(53));
  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  for (const start of [0, 0x7fffffc0, 0xffffff00]) {
    for (let i = 0; i < 150; i++) {
      view.setUint32(8, (start + i) >>> 0);
      view.setUint32(4, i % 3 === 0 ? 0x80000000 : 0);
      const a = shared.seal(nonce, pt);
      const b = new Ocb(key).seal(nonce, pt);
      assert.deepEqual(a, b, `nonce ${upperHex(nonce)}`);
      assert.deepEqual(shared.open(nonce, b), pt);
    }
  }
});

ocbTest("unaligned input views seal and open correctly", (Ocb) => {
  const ocb = new Ocb(RFC_KEY);
  const nonce = fromHex("BBAA9988776655443322110F");
  const backing = new Uint8Array(100);
  backing.set(seq(40), 3);
  const pt = backing.subarray(3, 43);
  const sealed = ocb.seal(nonce, pt);
  assert.equal(upperHex(sealed), RFC_VECTORS[15][3]);
  const back = new Uint8Array(sealed.length + 5);
  back.set(sealed, 5);
  assert.deepEqual(ocb.open(nonce, back.subarray(5)), seq(40));
});

ocbTest("tampered ciphertext, tag, nonce, AD or key is rejected", (Ocb) => {
  const key = crypto.getRandomValues(new Uint8Array(16));
  const ocb = new Ocb(key);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const pt = crypto.getRandomValues(new Uint8Array(45));
  const ad = seq(5);
  const sealed = ocb.seal(nonce, pt, { ad });
  assert.deepEqual(ocb.open(nonce, sealed, { ad }), pt);

  const badCt = sealed.slice();
  badCt[0] ^= 1;
  assert.equal(ocb.open(nonce, badCt, { ad }), null);
  const badTag = sealed.slice();
  badTag[badTag.length - 1] ^= 0x80;
  assert.equal(ocb.open(nonce, badTag, { ad }), null);
  const badNonce = nonce.slice();
  badNonce[11] ^= 1;
  assert.equal(ocb.open(badNonce, sealed, { ad }), null);
  assert.equal(ocb.open(nonce, sealed), null, "missing AD");
  assert.equal(ocb.open(nonce, sealed, { ad: seq(6) }), null, "other AD");
  const otherKey = key.slice();
  otherKey[0] ^= 1;
  assert.equal(new Ocb(otherKey).open(nonce, sealed, { ad }), null);
});

ocbTest("every single-bit flip of a sealed message is rejected", (Ocb) => {
  const ocb = new Ocb(crypto.getRandomValues(new Uint8Array(16)));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  for (const len of [0, 7, 16, 37]) {
    const pt = crypto.getRandomValues(new Uint8Array(len));
    const sealed = ocb.seal(nonce, pt);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const bad = sealed.slice();
      bad[bit >>> 3] ^= 1 << (bit & 7);
      assert.equal(ocb.open(nonce, bad), null, `len ${len} bit ${bit}`);
    }
    for (let bit = 0; bit < 96; bit++) {
      const bad = nonce.slice();
      bad[bit >>> 3] ^= 1 << (bit & 7);
      assert.equal(ocb.open(bad, sealed), null, `len ${len} nonce bit ${bit}`);
    }
    assert.deepEqual(ocb.open(nonce, sealed), pt);
  }
});

ocbTest("rejects keys that are not 16 bytes", (Ocb) => {
  assert.throws(() => new Ocb(new Uint8Array(15)), /tmosh: OCB key must be 16/);
  assert.throws(() => new Ocb(new Uint8Array(32)), /tmosh: OCB key must be 16/);
});

ocbTest("headroom of any size leaves the sealed bytes unchanged", (Ocb) => {
  const ocb = new Ocb(crypto.getRandomValues(new Uint8Array(16)));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  for (const len of [0, 15, 16, 100, 70_000]) {
    const pt = Uint8Array.from({ length: len }, (_, i) => (i * 131) >>> 3);
    const plain = ocb.seal(nonce, pt);
    for (let head = 0; head < 9; head++) {
      const out = ocb.seal(nonce, pt, { headroom: head });
      assert.deepEqual(out.subarray(0, head), new Uint8Array(head));
      assert.deepEqual(out.subarray(head), plain, `len ${len} head ${head}`);
    }
    assert.deepEqual(ocb.open(nonce, plain), pt);
  }
});

Deno.test("ocb: libcrypto is used where it loads", () => {
  let loads = false;
  try {
    Deno.dlopen("libcrypto.so.3", {}).close();
    loads = true;
  } catch {
    // absent here: the JavaScript implementation serves
  }
  assert.equal(new AnyOcb(RFC_KEY).backend, loads ? "native" : "js");
});

ocbTest(
  "sealing into a reused array gives the same bytes; a small one is not used",
  (Ocb) => {
    const ocb = new Ocb(crypto.getRandomValues(new Uint8Array(16)));
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const backing = new Uint8Array(5000).fill(0xee);
    const into = backing.subarray(3); // an unaligned view
    for (const len of [0, 15, 100, 1400, 4000]) {
      const pt = Uint8Array.from({ length: len }, (_, i) => (i * 7) >>> 1);
      for (const head of [0, 8]) {
        const fresh = ocb.seal(nonce, pt, { headroom: head });
        const out = ocb.seal(nonce, pt, { headroom: head, into });
        assert.equal(out.buffer, backing.buffer, `len ${len} head ${head}`);
        assert.equal(out.byteOffset, 3);
        assert.deepEqual(out.subarray(head), fresh.subarray(head));
        assert.deepEqual(ocb.open(nonce, out.subarray(head)), pt);
      }
    }
    const small = new Uint8Array(20);
    const out = ocb.seal(nonce, new Uint8Array(10), { into: small });
    assert.notEqual(out.buffer, small.buffer);
    assert.equal(out.length, 26);
  },
);
