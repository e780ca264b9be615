/**
 * Tests for protocol/datagram.ts: exact wire bytes (docs/wire.md §11),
 * hostile input, sequence numbers and timestamps. The exchange with a stock
 * mosh-server is in tests/interop/datagram_stock_test.ts.
 * @module
 */

import assert from "node:assert/strict";
import {
  DatagramCodec,
  timestamp16,
  timestampDiff,
} from "../../protocol/network/datagram.ts";
import { Ocb } from "../../protocol/crypto/ocb.ts";
import { TO_CLIENT, TO_SERVER } from "../../protocol/network/constants.ts";
import { toHex } from "../../harness/hex.ts";
import {
  C2S_DATAGRAM,
  C2S_PAYLOAD,
  KEY,
  S2C_DATAGRAM,
  S2C_PAYLOAD,
} from "../../harness/wire_vectors.ts";

Deno.test("datagram: §11 client → server example is reproduced byte for byte", () => {
  const client = new DatagramCodec(KEY, { direction: TO_SERVER });
  const wire = client.seal({
    timestamp: 0x1234,
    timestampReply: 0xffff,
    payload: C2S_PAYLOAD,
  });
  assert.equal(wire.length, 68);
  assert.equal(toHex(wire), toHex(C2S_DATAGRAM));
  assert.equal(client.sentCount, 1n);

  const server = new DatagramCodec(KEY, { direction: TO_CLIENT });
  const got = server.open(C2S_DATAGRAM);
  assert.ok(got);
  assert.equal(got.direction, 0);
  assert.equal(got.seq, 0n);
  assert.equal(got.timestamp, 0x1234);
  assert.equal(got.timestampReply, 0xffff);
  assert.deepEqual(got.payload, C2S_PAYLOAD);
});

Deno.test("datagram: §11 server → client example is reproduced byte for byte", () => {
  const server = new DatagramCodec(KEY, { direction: TO_CLIENT });
  const wire = server.seal({
    timestamp: 0x0102,
    timestampReply: 0x1234,
    payload: S2C_PAYLOAD,
  });
  assert.equal(wire.length, 74);
  assert.equal(toHex(wire), toHex(S2C_DATAGRAM));

  const client = new DatagramCodec(KEY, { direction: TO_SERVER });
  const got = client.open(S2C_DATAGRAM);
  assert.ok(got);
  assert.equal(got.direction, 1);
  assert.equal(got.seq, 0n);
  assert.equal(got.timestamp, 0x0102);
  assert.equal(got.timestampReply, 0x1234);
  assert.deepEqual(got.payload, S2C_PAYLOAD);
});

Deno.test("datagram: wrong direction (a reflected packet) is dropped", () => {
  const client = new DatagramCodec(KEY, { direction: TO_SERVER });
  const server = new DatagramCodec(KEY, { direction: TO_CLIENT });
  assert.equal(client.open(C2S_DATAGRAM), null, "client's own packet");
  assert.equal(server.open(S2C_DATAGRAM), null, "server's own packet");
  const flipped = C2S_DATAGRAM.slice();
  flipped[0] ^= 0x80;
  assert.equal(server.open(flipped), null);
  assert.equal(client.open(flipped), null, "direction bit is authenticated");
});

Deno.test("datagram: garbage, truncated, forged and wrong-key input is dropped", () => {
  const server = new DatagramCodec(KEY, { direction: TO_CLIENT });
  for (let len = 0; len < C2S_DATAGRAM.length; len++) {
    assert.equal(
      server.open(C2S_DATAGRAM.subarray(0, len)),
      null,
      `len ${len}`,
    );
  }
  for (let i = 0; i < 300; i++) {
    const len = i < 40 ? i : Math.floor(Math.random() * 2100);
    const junk = crypto.getRandomValues(new Uint8Array(len));
    junk[0] &= 0x7f; // right direction, so it reaches the tag check
    assert.equal(server.open(junk), null);
  }
  for (let bit = 0; bit < C2S_DATAGRAM.length * 8; bit++) {
    const bad = C2S_DATAGRAM.slice();
    bad[bit >>> 3] ^= 1 << (bit & 7);
    assert.equal(server.open(bad), null, `bit ${bit}`);
  }
  const otherKey = KEY.slice();
  otherKey[15] ^= 1;
  const stranger = new DatagramCodec(otherKey, { direction: TO_CLIENT });
  assert.equal(stranger.open(C2S_DATAGRAM), null);
  assert.ok(server.open(C2S_DATAGRAM), "the genuine datagram still opens");
});

Deno.test("datagram: authentic plaintext shorter than 4 bytes is dropped", () => {
  const client = new DatagramCodec(KEY, { direction: TO_SERVER });
  const server = new DatagramCodec(KEY, { direction: TO_CLIENT });
  const empty = client.seal({
    timestamp: 1,
    timestampReply: 2,
    payload: new Uint8Array(0),
  });
  assert.equal(empty.length, 28);
  assert.equal(server.open(empty)?.payload.length, 0, "4 bytes is enough");
  // Authentic datagrams with 0..3 plaintext bytes, built with the raw OCB layer.
  const ocb = new Ocb(KEY);
  for (let len = 0; len < 4; len++) {
    const nonce = new Uint8Array(12);
    nonce[11] = 100 + len;
    const wire = ocb.seal(nonce, new Uint8Array(len), { headroom: 8 });
    wire.set(nonce.subarray(4), 0);
    assert.equal(wire.length, 24 + len);
    assert.equal(server.open(wire), null, `plaintext length ${len}`);
  }
});

Deno.test("datagram: sequence numbers count up from 0 and never repeat", () => {
  const client = new DatagramCodec(KEY, { direction: TO_SERVER });
  const server = new DatagramCodec(KEY, { direction: TO_CLIENT });
  const payload = new Uint8Array(20);
  const seen = new Set<string>();
  for (let i = 0; i < 300; i++) {
    assert.equal(client.sentCount, BigInt(i));
    const wire = client.seal({ timestamp: i, timestampReply: 0xffff, payload });
    const tail = toHex(wire.subarray(0, 8));
    assert.equal(tail, BigInt(i).toString(16).padStart(16, "0"));
    assert.ok(!seen.has(tail));
    seen.add(tail);
    const got = server.open(wire);
    assert.ok(got);
    assert.equal(got.seq, BigInt(i));
    assert.equal(got.timestamp, i);
  }
  assert.equal(client.sentCount, 300n);
  // Identical content still gets a fresh nonce and a different ciphertext.
  const a = client.seal({ timestamp: 7, timestampReply: 7, payload });
  const b = client.seal({ timestamp: 7, timestampReply: 7, payload });
  assert.notEqual(toHex(a), toHex(b));
  // A second codec on the same key starts at 0 again: one codec per side.
  const srv = server.seal({ timestamp: 0, timestampReply: 0, payload });
  assert.equal(toHex(srv.subarray(0, 8)), "8000000000000000");
});

Deno.test("datagram: seal rejects out-of-range timestamps", () => {
  const client = new DatagramCodec(KEY, { direction: TO_SERVER });
  const payload = new Uint8Array(0);
  for (const bad of [-1, 65536, 1.5, NaN]) {
    assert.throws(
      () => client.seal({ timestamp: bad, timestampReply: 0, payload }),
      /tmosh: datagram timestamp/,
    );
    assert.throws(
      () => client.seal({ timestamp: 0, timestampReply: bad, payload }),
      /tmosh: datagram timestampReply/,
    );
  }
  assert.equal(client.sentCount, 0n, "a rejected seal uses no sequence number");
});

Deno.test("datagram: timestamp16 and timestampDiff follow mosh", () => {
  assert.equal(timestamp16(0), 0);
  assert.equal(timestamp16(1234.9), 1234);
  assert.equal(timestamp16(65534), 65534);
  assert.equal(timestamp16(65535), 0, "0xFFFF is never produced");
  assert.equal(timestamp16(65536), 0);
  assert.equal(timestamp16(65537), 1);
  assert.equal(timestamp16(131071), 0);
  assert.equal(timestamp16(2 ** 40 + 5), 5);
  assert.equal(timestampDiff(5, 65530), 11);
  assert.equal(timestampDiff(100, 100), 0);
  assert.equal(timestampDiff(0, 1), 65535);
  assert.equal(timestampDiff(300, 200), 100);
  assert.equal(timestampDiff(0, 65535), 1);
});
