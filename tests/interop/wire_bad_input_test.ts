/**
 * Stock mosh-server against hostile datagrams built with tmosh's wire
 * modules: garbage, truncated, forged, wrong-key, wrong-direction, replayed,
 * short-plaintext, bad-zlib, zlib-bomb and wrong-version input is dropped
 * without harm (docs/wire.md §2.4, §4, §12.3). Only the inputs docs/wire.md
 * §12.3 lists as harmless are sent; the fatal ones would abort the stock server.
 * This is the behaviour tmosh's own server must match.
 * @module
 */

import assert from "node:assert/strict";
import { decodeKey, generateKey } from "../../protocol/crypto/key.ts";
import { DatagramCodec } from "../../protocol/network/datagram.ts";
import { Ocb } from "../../protocol/crypto/ocb.ts";
import {
  compress,
  encodeFragment,
  fragmentPayloadSize,
} from "../../protocol/network/fragment.ts";
import {
  encodeInstruction,
  encodeUserMessage,
  type Instruction,
} from "../../protocol/protobufs/messages.ts";
import { NONCE_BYTES } from "../../protocol/crypto/constants.ts";
import {
  DEFAULT_IPV4_MTU,
  PROTOCOL_VERSION,
  SHUTDOWN_NUM,
  TIMESTAMP_NONE,
  TO_CLIENT,
  TO_SERVER,
} from "../../protocol/network/constants.ts";
import { peers } from "../../harness/require_peer.ts";
import { processAlive, startStockServer } from "../../harness/stock_mosh.ts";
import { WireClient } from "../../harness/wire_client.ts";

const stockServer = peers("mosh-server");

/** Longest wait for one step of the session, ms. */
const STEP_MS = 4000;
/** Longest wait for the server process to exit after the shutdown handshake, ms. */
const EXIT_MS = 5000;
/** Fragment ids for hand-made fragments, far from the client's own (1, 2, 3, ...). */
const CRAFTED_ID = 1n << 60n;
/** Sequence numbers for wrong-direction datagrams, far from any the server uses. */
const CRAFTED_SEQ = 1n << 62n;
/** Text that appears on screen only if the server wrongly accepts an input. */
const INJECTED = "injected-by-bad-input";

/** Concatenates byte arrays. */
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Returns a copy of `bytes` with the low bit of byte `index` flipped. */
function flip(bytes: Uint8Array, index: number): Uint8Array {
  const out = bytes.slice();
  out[index] ^= 1;
  return out;
}

/** Returns `length` random bytes. */
function random(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  }
  return out;
}

/** Seals a datagram by hand: any direction, any sequence number, any plaintext. */
function craft(
  key: Uint8Array,
  nonceValue: bigint,
  plaintext: Uint8Array,
): Uint8Array {
  const nonce = new Uint8Array(NONCE_BYTES);
  new DataView(nonce.buffer).setBigUint64(4, nonceValue);
  return concat(nonce.subarray(4), new Ocb(key).seal(nonce, plaintext));
}

/** Plaintext of a datagram: no timestamps, then the payload. */
function plaintextOf(payload: Uint8Array): Uint8Array {
  return concat(
    new Uint8Array([0xff, 0xff, 0xff, 0xff]),
    payload,
  );
}

/** One unfragmented, compressed instruction as a fragment with the given id. */
function fragmentOf(id: bigint, instruction: Instruction): Uint8Array {
  return encodeFragment({
    id,
    num: 0,
    final: true,
    contents: compress(encodeInstruction(instruction)),
  });
}

stockServer.test("stock mosh-server drops hostile datagrams and keeps working", async () => {
  const server = await startStockServer({
    command: ["env", "PS1=$ ", "/bin/sh"],
  });
  const key = decodeKey(server.key);
  const target: Deno.NetAddr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: server.port,
  };
  // Another socket: the server must never start talking to it (no roaming
  // on input that does not authenticate or is out of order, docs/wire.md §3.3).
  const attacker = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  let attackerReceived = 0;
  const attackerLoop = (async () => {
    try {
      for (;;) {
        await attacker.receive();
        attackerReceived++;
      }
    } catch {
      // closed
    }
  })();
  const fromAttacker = async (bytes: Uint8Array) => {
    await attacker.send(bytes, target);
  };
  let client: WireClient | null = null;
  let crafted = 0n;
  /** An injection instruction: applicable if a server wrongly accepted it. */
  const injection = (c: WireClient): Instruction => ({
    protocolVersion: PROTOCOL_VERSION,
    oldNum: c.acked,
    newNum: 1000n + crafted,
    ackNum: c.serverState,
    throwawayNum: c.acked,
    diff: encodeUserMessage([{
      type: "keys",
      keys: new TextEncoder().encode(`echo ${INJECTED}\r`),
    }]),
    chaff: new Uint8Array(0),
  });
  try {
    // Before any client: garbage and a wrong-key datagram.
    const stranger = new DatagramCodec(generateKey(), {
      direction: TO_SERVER,
    });
    await fromAttacker(random(100));
    await fromAttacker(stranger.seal({
      timestamp: 1,
      timestampReply: TIMESTAMP_NONE,
      payload: random(40),
    }));

    client = new WireClient({ port: server.port, key });
    const c = client;
    await c.waitForScreen(
      (s) => s.lines.some((l) => l.startsWith("$")),
      "the shell prompt",
      STEP_MS,
    );
    // A genuine datagram (its sequence number is used up, it is never sent
    // intact): the model for truncated and bit-flipped forgeries.
    const real = c.sealPayload(
      fragmentOf(CRAFTED_ID + crafted++, injection(c)),
    );

    // Rejected before decryption or by the tag (docs/wire.md §2.4), from the attacker.
    const fromOutside: [string, Uint8Array][] = [
      ["empty datagram", new Uint8Array(0)],
      ["1 byte", random(1)],
      ["23 bytes (< nonce + tag)", random(23)],
      ["24 random bytes", random(24)],
      ["real datagram truncated to 23 bytes", real.subarray(0, 23)],
      ["real datagram minus its last byte", real.subarray(0, -1)],
      ["real datagram, flipped tag bit", flip(real, real.length - 1)],
      ["real datagram, flipped nonce bit", flip(real, 3)],
      ["real datagram, flipped ciphertext bit", flip(real, 12)],
      ["1500 bytes of garbage", random(1500)],
      ["oversize (3000 bytes, > RECEIVE_MTU)", random(3000)],
      [
        "wrong key",
        stranger.seal({
          timestamp: 1,
          timestampReply: TIMESTAMP_NONE,
          payload: fragmentOf(CRAFTED_ID + crafted++, injection(c)),
        }),
      ],
      // Authenticated but rejected by the direction check before any
      // bookkeeping (network.cc recv_one).
      [
        "wrong direction",
        craft(
          key,
          (BigInt(TO_CLIENT) << 63n) | (CRAFTED_SEQ + crafted),
          plaintextOf(fragmentOf(CRAFTED_ID + crafted++, injection(c))),
        ),
      ],
      // Authenticated, fewer than 4 bytes of plaintext (docs/wire.md §2.4).
      ["0-byte plaintext", craft(key, c.reserveSeq(), new Uint8Array(0))],
      ["3-byte plaintext", craft(key, c.reserveSeq(), random(3))],
      // Authenticated but out of order: delivered, applied idempotently.
      ["replay of state 1", c.sentDatagrams[0]],
      ["replay of the newest datagram", c.sentDatagrams.at(-1)!],
    ];
    for (const [what, bytes] of fromOutside) {
      await fromAttacker(bytes);
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(await processAlive(server.pid), `mosh-server died: ${what}`);
    }

    // Authenticated and in order, so sent from the client's own socket;
    // rejected by zlib or by the version check (docs/wire.md §4.1, §5.1).
    await c.sendPayload(encodeFragment({
      id: CRAFTED_ID + crafted++,
      num: 0,
      final: true,
      contents: new TextEncoder().encode("this is not zlib"),
    }));
    const whole = compress(encodeInstruction(injection(c)));
    await c.sendPayload(encodeFragment({
      id: CRAFTED_ID + crafted++,
      num: 0,
      final: true,
      contents: whole.subarray(0, whole.length - 4),
    }));
    const bomb = compress(new Uint8Array(5 * 1024 * 1024));
    const size = fragmentPayloadSize(DEFAULT_IPV4_MTU);
    const bombId = CRAFTED_ID + crafted++;
    const bombFragments = Math.ceil(bomb.length / size);
    assert.ok(bombFragments >= 2);
    for (let num = 0; num < bombFragments; num++) {
      await c.sendPayload(encodeFragment({
        id: bombId,
        num,
        final: num === bombFragments - 1,
        contents: bomb.subarray(num * size, (num + 1) * size),
      }));
    }
    await c.sendPayload(fragmentOf(CRAFTED_ID + crafted++, {
      ...injection(c),
      protocolVersion: PROTOCOL_VERSION + 1,
    }));

    // The server still works: an echo round trip, then our own shutdown.
    c.type("echo after-bad\r");
    const screen = await c.waitForScreen(
      (s) => s.lines.some((l) => l === "after-bad"),
      "the output line 'after-bad' after the hostile datagrams",
      STEP_MS,
    );
    assert.ok(await processAlive(server.pid), "mosh-server still running");
    assert.ok(
      !c.hostText().includes(INJECTED),
      `a hostile instruction was applied:\n${screen.lines.join("\n")}`,
    );

    c.shutdown();
    await c.waitFor(
      () => c.acked === SHUTDOWN_NUM,
      "the server to acknowledge our shutdown",
      STEP_MS,
    );
    const end = performance.now() + EXIT_MS;
    while (!await server.exited()) {
      if (performance.now() > end) {
        assert.fail(
          `mosh-server (pid ${server.pid}) still running ${EXIT_MS} ms after acknowledging our shutdown`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(attackerReceived, 0, "the server answered the attacker");
    assert.equal(c.stats.undecryptable, 0);
    assert.equal(c.stats.missingBase, 0);
    assert.deepEqual(c.errors, []);
  } finally {
    await client?.close();
    attacker.close();
    await attackerLoop;
    await server.stop();
  }
});
