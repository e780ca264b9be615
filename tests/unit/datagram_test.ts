/**
 * Tests for protocol/datagram.ts: exact wire bytes (mosh-wire.md §11),
 * hostile input, sequence numbers, timestamps, and a real exchange with a
 * stock mosh-server.
 * @module
 */

import assert from "node:assert/strict";
import {
  DatagramCodec,
  timestamp16,
  timestampDiff,
} from "../../protocol/network/datagram.ts";
import { decodeKey } from "../../protocol/crypto/key.ts";
import { Ocb } from "../../protocol/crypto/ocb.ts";
import { TO_CLIENT, TO_SERVER } from "../../protocol/network/constants.ts";
import { fromHex, toHex } from "../../harness/hex.ts";

const KEY = decodeKey("AAECAwQFBgcICQoLDA0ODw");

/** §11 client → server, first packet. */
const C2S_PAYLOAD = fromHex(
  "0000000000000001 8000 789ce360126090605460d06030e2e0629362d1083090b0620000105301de",
);
const C2S_DATAGRAM = fromHex(
  "0000000000000000" +
    "9f164d976357081cc1c8bceef905db5a02428c8571949d686f4420ca31f0060ca43d50ffb19e12e522a8cf6e" +
    "73fd36a91f68ecf470d119b52ed349b9",
);
/** §11 server → client. */
const S2C_PAYLOAD = fromHex(
  "0000000000000001 8000 789ce360126090605460d46030e2e362b1627260e46213625162cac8b46200001c28029d",
);
const S2C_DATAGRAM = fromHex(
  "8000000000000000" +
    "6d12074b42365865fb44a279ed68eec1d183705a31dd0a6d4799e8b555af19be8251ce6103b1b50bbf116b775d990a8aadc7" +
    "4af9c52eb9de136c3b0b0a31d0ef653b",
);

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

/** Runs `mosh-server new` on a random port; returns its port, key and pid. */
async function startStockServer(): Promise<
  { port: number; key: string; pid: number } | null
> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    let out;
    try {
      out = await new Deno.Command("mosh-server", {
        args: [
          "new",
          "-i",
          "127.0.0.1",
          "-p",
          String(port),
          "--",
          "sleep",
          "20",
        ],
        env: { LANG: "C.UTF-8" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const m = stdout.match(/^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})\s*$/m);
    const p = stderr.match(/detached, pid = (\d+)/);
    if (m && p) return { port: Number(m[1]), key: m[2], pid: Number(p[1]) };
  }
  throw new Error("tmosh test: mosh-server did not start on 5 random ports");
}

Deno.test("datagram: a stock mosh-server accepts our packet and we open its reply", async () => {
  const server = await startStockServer();
  if (server === null) {
    if (Deno.env.get("CI") === "true") {
      throw new Error(
        "tmosh test: mosh-server is not installed (needed with CI=true)",
      );
    }
    console.log("skipped: mosh-server is not installed");
    return;
  }
  const sock = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const codec = new DatagramCodec(decodeKey(server.key), {
      direction: TO_SERVER,
    });
    // The §11 first packet: a Resize(80x24) instruction.
    const sentAt = 0x1234;
    await sock.send(
      codec.seal({
        timestamp: sentAt,
        timestampReply: 0xffff,
        payload: C2S_PAYLOAD,
      }),
      { transport: "udp", hostname: "127.0.0.1", port: server.port },
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("tmosh test: no reply from mosh-server in 3 s")),
        3000,
      );
    });
    const [bytes] = await Promise.race([sock.receive(), timeout]);
    const reply = codec.open(bytes);
    assert.ok(reply, "the stock server's datagram authenticates");
    assert.equal(reply.direction, 1);
    assert.equal(reply.seq, 0n);
    assert.notEqual(reply.timestamp, 0xffff);
    // The server echoes our timestamp, moved on by the time it held it.
    assert.ok(timestampDiff(reply.timestampReply, sentAt) < 1000);
    assert.ok(reply.payload.length >= 10, "carries a fragment header");
    // A packet of ours reflected back is not accepted.
    const ours = codec.seal({
      timestamp: 1,
      timestampReply: 0xffff,
      payload: C2S_PAYLOAD,
    });
    assert.equal(codec.open(ours), null);
  } finally {
    clearTimeout(timer);
    sock.close();
    try {
      // SIGKILL: SIGTERM would make it retry a shutdown handshake for ~10 s.
      // Its pty closes, so the `sleep` child gets SIGHUP and exits too.
      Deno.kill(server.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
