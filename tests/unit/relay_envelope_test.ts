/**
 * Relay envelopes (docs/wire.md §16): the codec, the replay window, the
 * client's nested path, the relay's roaming rule, and a Connection whose
 * datagrams really cross loopback UDP through a relay built on RelayState.
 * @module
 */

import assert from "node:assert/strict";
import {
  EnvelopeCodec,
  RelayPath,
  relayPath,
  RelayState,
  ReplayWindow,
} from "../../protocol/network/relay_envelope.ts";
import { DatagramCodec } from "../../protocol/network/datagram.ts";
import { Connection } from "../../protocol/network/connection.ts";
import {
  DEFAULT_IPV4_MTU,
  ENVELOPE_BYE,
  ENVELOPE_DATA,
  ENVELOPE_OVERHEAD,
  ENVELOPE_REPLAY_WINDOW,
} from "../../protocol/network/constants.ts";
import { encodeKey, generateKey } from "../../protocol/crypto/key.ts";

const A = { hostname: "192.0.2.1", port: 1000 };
const B = { hostname: "192.0.2.2", port: 2000 };
const bytes = (...xs: number[]) => new Uint8Array(xs);

Deno.test("EnvelopeCodec: seals and opens; its own direction, tampering and other keys are refused", () => {
  const key = generateKey();
  const client = new EnvelopeCodec(key, { direction: 0 });
  const relay = new EnvelopeCodec(key, { direction: 1 });
  const sealed = client.seal(ENVELOPE_DATA, bytes(1, 2, 3));
  assert.equal(sealed.length, 3 + ENVELOPE_OVERHEAD);
  assert.deepEqual(relay.open(sealed), {
    seq: 0n,
    kind: ENVELOPE_DATA,
    body: bytes(1, 2, 3),
  });
  assert.equal(client.seal(ENVELOPE_BYE, bytes()).at(7), 1, "seq 1 next");
  assert.equal(client.open(sealed), null, "a reflected envelope");
  for (let i = 0; i < sealed.length; i++) {
    const bad = sealed.slice();
    bad[i] ^= 0x01;
    assert.equal(relay.open(bad), null, `byte ${i} flipped`);
  }
  const other = new EnvelopeCodec(generateKey(), { direction: 1 });
  assert.equal(other.open(sealed), null);
  // A Mosh datagram under the same key is no envelope (another nonce prefix).
  const mosh = new DatagramCodec(key, { direction: 0 }).seal({
    timestamp: 1,
    timestampReply: 0xffff,
    payload: bytes(0, 1, 2),
  });
  assert.equal(relay.open(mosh), null);
  assert.equal(relay.open(new Uint8Array(0)), null);
  assert.equal(relay.open(new Uint8Array(24)), null);
  assert.equal(relay.open(new Uint8Array(5000)), null);
});

Deno.test("ReplayWindow: newer, old-but-unseen within the window, never twice, never too old", () => {
  const w = new ReplayWindow();
  assert.equal(w.accept(5n), "newer");
  assert.equal(w.accept(5n), null);
  assert.equal(w.accept(3n), "old");
  assert.equal(w.accept(3n), null);
  assert.equal(w.accept(6n), "newer");
  assert.equal(w.accept(4n), "old");
  const far = 6n + BigInt(ENVELOPE_REPLAY_WINDOW);
  assert.equal(w.accept(far), "newer");
  assert.equal(w.accept(6n), null, "fell out of the window");
  assert.equal(w.accept(far - 1n), "old");
  assert.equal(w.newest, far);
});

Deno.test("RelayState: follows the client only on an authentic, newer envelope; replays, forgeries and reordered envelopes never move it", () => {
  const key = generateKey();
  const path = new RelayPath([key]);
  const relay = new RelayState(key);
  const e0 = path.wrap(bytes(10));
  const e1 = path.wrap(bytes(11));
  const e2 = path.wrap(bytes(12));
  assert.equal(relay.toClient(bytes(1)), null, "no client yet");
  assert.deepEqual(relay.fromClient(e1, A, 100), {
    kind: "forward",
    datagram: bytes(11),
    roamed: true,
  });
  assert.deepEqual(relay.client, A);
  assert.equal(relay.lastHeard, 100);
  // Replayed from elsewhere: dropped, nothing moves.
  assert.deepEqual(relay.fromClient(e1, B, 200), { kind: "drop" });
  // Older but unseen (reordered): forwarded, but the address stays.
  assert.deepEqual(relay.fromClient(e0, B, 300), {
    kind: "forward",
    datagram: bytes(10),
    roamed: false,
  });
  assert.deepEqual(relay.client, A);
  assert.equal(relay.lastHeard, 100);
  // Forgeries of every length, and a flipped tag.
  for (let n = 0; n < 200; n++) {
    const junk = crypto.getRandomValues(new Uint8Array(n));
    assert.deepEqual(relay.fromClient(junk, B, 400), { kind: "drop" });
  }
  const forged = e2.slice();
  forged[forged.length - 1] ^= 0x80;
  assert.deepEqual(relay.fromClient(forged, B, 500), { kind: "drop" });
  assert.deepEqual(relay.client, A);
  // The client really roamed: its newer envelope moves the path.
  assert.deepEqual(relay.fromClient(e2, B, 600), {
    kind: "forward",
    datagram: bytes(12),
    roamed: true,
  });
  assert.deepEqual(relay.client, B);
  const back = relay.toClient(bytes(7, 7));
  assert.deepEqual(back?.to, B);
  assert.deepEqual(path.unwrap(back!.bytes), bytes(7, 7));
  assert.equal(path.unwrap(e2), null, "the client's own direction");
  assert.ok(relay.droppedCount >= 202);
});

Deno.test("RelayPath: nested envelopes through a chain of two relays, both ways, and the bye of each (the last relay's first)", () => {
  const k1 = generateKey(), k2 = generateKey();
  const path = relayPath([encodeKey(k1), encodeKey(k2)])!;
  assert.equal(relayPath([]), undefined);
  assert.equal(relayPath(undefined), undefined);
  assert.equal(path.overhead, 2 * ENVELOPE_OVERHEAD);
  const r1 = new RelayState(k1), r2 = new RelayState(k2);
  const hop1 = r1.fromClient(path.wrap(bytes(1, 2)), A, 0);
  assert.equal(hop1.kind, "forward");
  const hop2 = r2.fromClient((hop1 as { datagram: Uint8Array }).datagram, B, 0);
  assert.deepEqual(hop2, {
    kind: "forward",
    datagram: bytes(1, 2),
    roamed: true,
  });
  const back2 = r2.toClient(bytes(9))!;
  const back1 = r1.toClient(back2.bytes)!;
  assert.deepEqual(path.unwrap(back1.bytes), bytes(9));
  assert.equal(path.unwrap(back2.bytes), null, "the inner envelope alone");
  const bye = path.farewell();
  assert.equal(bye.length, 6);
  const first = r1.fromClient(bye[0], A, 1);
  assert.equal(first.kind, "forward", "relay 1 forwards relay 2's bye");
  assert.deepEqual(
    r2.fromClient((first as { datagram: Uint8Array }).datagram, B, 1),
    { kind: "bye" },
  );
  assert.deepEqual(r1.fromClient(bye[3], A, 2), { kind: "bye" });
});

Deno.test("Connection with a relay path: datagrams cross loopback UDP through a RelayState relay both ways; the MTU shrinks by the envelope; close sends the bye", async () => {
  const sessionKey = generateKey(), relayKey = generateKey();
  const server = await Connection.listen(sessionKey, {
    ip: "127.0.0.1",
    portRange: [0, 0],
  });
  const relay = new RelayState(relayKey);
  const front = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const back = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  let byes = 0;
  const pump = async (
    from: Deno.DatagramConn,
    handle: (b: Uint8Array, a: Deno.NetAddr) => Promise<void>,
  ) => {
    try {
      for await (const [b, a] of from) await handle(b, a as Deno.NetAddr);
    } catch {
      // closed
    }
  };
  const serverAddr = {
    transport: "udp" as const,
    hostname: "127.0.0.1",
    port: server.port,
  };
  const loops = [
    pump(front, async (b, a) => {
      const v = relay.fromClient(b, a, performance.now());
      if (v.kind === "bye") byes++;
      if (v.kind === "forward") await back.send(v.datagram, serverAddr);
    }),
    pump(back, async (b) => {
      const out = relay.toClient(b);
      if (out !== null) {
        await front.send(out.bytes, { transport: "udp", ...out.to });
      }
    }),
  ];
  const client = Connection.connect(sessionKey, {
    ip: "127.0.0.1",
    port: (front.addr as Deno.NetAddr).port,
    path: relayPath([encodeKey(relayKey)]),
  });
  try {
    assert.equal(client.mtu, DEFAULT_IPV4_MTU - ENVELOPE_OVERHEAD);
    const atServer = new Promise<Uint8Array>((r) => server.onPayload(r));
    client.send(bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    assert.deepEqual(await atServer, bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    assert.equal(server.remoteAddr?.port, (back.addr as Deno.NetAddr).port);
    const atClient = new Promise<Uint8Array>((r) => client.onPayload(r));
    server.send(bytes(5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5));
    assert.deepEqual(await atClient, bytes(5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5));
    assert.equal(client.droppedCount, 0);
    await client.close();
    const deadline = Date.now() + 2000;
    while (byes === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(byes >= 1, "the relay got the bye");
  } finally {
    await client.close();
    await server.close();
    front.close();
    back.close();
    await Promise.all(loops);
  }
});
