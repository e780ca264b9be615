/**
 * The server connection's prepared key (tmosh's attach, docs/wire.md §15):
 * a datagram that fails under the current key is tried under the prepared
 * one; the first authentic one commits it (new key, sequence numbers from 0,
 * the new client's address), after which the old key's datagrams, fresh or
 * replayed, are dropped; an unused prepared key expires after 60 s; forged
 * datagrams under neither key change nothing. Real loopback UDP, an injected
 * clock.
 * @module
 */
import assert from "node:assert/strict";
import { Connection } from "../../protocol/network/connection.ts";
import { DatagramCodec } from "../../protocol/network/datagram.ts";
import { generateKey } from "../../protocol/crypto/key.ts";
import {
  PENDING_KEY_TIMEOUT,
  TIMESTAMP_NONE,
  TO_CLIENT,
  TO_SERVER,
} from "../../protocol/network/constants.ts";
import { inFreeUdpPortRun } from "../../harness/ports.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A hand-settable clock, ms. */
class FakeClock {
  t = 1000;
  now = (): number => this.t;
}

/** A raw client: its own socket and a codec for `key`, sending towards the server. */
class RawClient {
  readonly sock = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  readonly codec: DatagramCodec;
  /** Opens what the server sends under the same key. */
  readonly opener: DatagramCodec;
  constructor(key: Uint8Array) {
    this.codec = new DatagramCodec(key, { direction: TO_SERVER });
    this.opener = new DatagramCodec(key, { direction: TO_SERVER });
  }
  get port(): number {
    return (this.sock.addr as Deno.NetAddr).port;
  }
  seal(text: string): Uint8Array {
    return this.codec.seal({
      timestamp: 7,
      timestampReply: TIMESTAMP_NONE,
      payload: enc.encode(text),
    });
  }
  async send(bytes: Uint8Array, port: number): Promise<void> {
    await this.sock.send(bytes, {
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
  }
  /** The next datagram's bytes (fails after `ms`). */
  async receiveRaw(ms = 2000): Promise<Uint8Array> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const [bytes] = await Promise.race([
        this.sock.receive(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("no datagram arrived")),
            ms,
          );
        }),
      ]);
      return bytes;
    } finally {
      clearTimeout(timer);
    }
  }
  close(): void {
    this.sock.close();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` until true; fails after `ms`. */
async function waitFor(cond: () => boolean, what: string, ms = 2000) {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`);
    await delay(2);
  }
}

/** A loopback server with an injected clock, its payloads as text, the farewells it handed out, and its log. */
async function server(key: Uint8Array, clock: FakeClock) {
  const logs: string[] = [];
  const conn = await inFreeUdpPortRun(8, (base) =>
    Connection.listen(key, {
      ip: "127.0.0.1",
      portRange: [base, base + 7],
      now: clock.now,
      log: (l) => logs.push(l),
    }));
  const got: string[] = [];
  conn.onPayload((p) => got.push(dec.decode(p)));
  const farewells: Connection[] = [];
  conn.onRekey((f) => {
    // Before the committing datagram's payload is delivered.
    farewells.push(f);
    got.push("<rekey>");
  });
  return { conn, got, farewells, logs };
}

Deno.test("pending key: an authentic datagram under it commits; the old key is dropped after, fresh or replayed", async () => {
  const clock = new FakeClock();
  const oldKey = generateKey(), newKey = generateKey();
  const s = await server(oldKey, clock);
  const a = new RawClient(oldKey); // the attached client
  const b = new RawClient(newKey); // the one that attaches
  try {
    const replay = a.seal("a0");
    await a.send(replay, s.conn.port);
    await waitFor(() => s.got.length === 1, "a0");
    assert.equal(s.conn.remoteAddr?.port, a.port);
    s.conn.send(enc.encode("to a"));
    const first = a.opener.open(await a.receiveRaw())!;
    assert.equal(first.seq, 0n);

    s.conn.prepareKey(newKey);
    assert.equal(s.conn.hasPendingKey, true);
    // Until the commit the old client works as before.
    await a.send(a.seal("a1"), s.conn.port);
    await waitFor(() => s.got.length === 2, "a1 while a key is pending");
    assert.equal(s.conn.remoteAddr?.port, a.port);
    s.conn.send(enc.encode("still to a"));
    const second = a.opener.open(await a.receiveRaw())!;
    assert.equal(dec.decode(second.payload), "still to a");
    assert.equal(second.seq, 1n);

    // b's first datagram commits the key: the handler runs before its payload.
    await b.send(b.seal("b0"), s.conn.port);
    await waitFor(() => s.got.length === 4, "b0");
    assert.deepEqual(s.got.slice(2), ["<rekey>", "b0"]);
    assert.equal(s.conn.hasPendingKey, false);
    assert.equal(s.conn.remoteAddr?.port, b.port);
    assert.ok(
      s.logs.includes(
        `Server now attached to client at 127.0.0.1:${b.port} (another client, new key)`,
      ),
      s.logs.join("\n"),
    );
    // The server now seals under the new key from sequence number 0, to b.
    s.conn.send(enc.encode("to b"));
    const raw = await b.receiveRaw();
    assert.equal(a.opener.open(raw), null, "not under the old key");
    const toB = b.opener.open(raw)!;
    assert.equal(toB.seq, 0n);
    assert.equal(toB.direction, TO_CLIENT);
    assert.equal(dec.decode(toB.payload), "to b");

    // The old key's datagrams are dropped now: a fresh one and a replay.
    const dropped = s.conn.droppedCount;
    await a.send(a.seal("a2"), s.conn.port);
    await a.send(replay, s.conn.port);
    await waitFor(() => s.conn.droppedCount === dropped + 2, "old key drops");
    assert.equal(s.got.length, 4);
    assert.equal(s.conn.remoteAddr?.port, b.port, "a did not take it back");

    // The farewell: send-only, old key, a's address, a's sequence numbers go on.
    assert.equal(s.farewells.length, 1);
    const farewell = s.farewells[0];
    assert.equal(farewell.remoteAddr?.port, a.port);
    assert.equal(farewell.hasPendingKey, false);
    assert.throws(() => farewell.prepareKey(generateKey()), /tmosh: /);
    farewell.send(enc.encode("goodbye a"));
    const bye = a.opener.open(await a.receiveRaw())!;
    assert.equal(dec.decode(bye.payload), "goodbye a");
    assert.equal(bye.seq, 2n, "the old key's sequence numbers continue");
    await farewell.close();
    // Closing the farewell leaves the server's socket open.
    await b.send(b.seal("b1"), s.conn.port);
    await waitFor(() => s.got.length === 5, "b1 after the farewell closed");
  } finally {
    a.close();
    b.close();
    await s.conn.close();
  }
});

Deno.test("pending key: expires after PENDING_KEY_TIMEOUT unused (injected clock); the old client keeps working", async () => {
  const clock = new FakeClock();
  const oldKey = generateKey(), newKey = generateKey();
  const s = await server(oldKey, clock);
  const a = new RawClient(oldKey);
  const b = new RawClient(newKey);
  try {
    await a.send(a.seal("a0"), s.conn.port);
    await waitFor(() => s.got.length === 1, "a0");
    s.conn.prepareKey(newKey);
    clock.t += PENDING_KEY_TIMEOUT - 1;
    assert.equal(s.conn.hasPendingKey, true, "still pending just before");
    clock.t += 1;
    assert.equal(s.conn.hasPendingKey, false, "expired at 60 s");
    assert.ok(s.logs.some((l) => /expired unused/.test(l)), s.logs.join());
    await b.send(b.seal("late b"), s.conn.port);
    await waitFor(() => s.conn.droppedCount === 1, "late b dropped");
    assert.deepEqual(s.farewells, []);
    await a.send(a.seal("a1"), s.conn.port);
    await waitFor(() => s.got.length === 2, "a1");
    assert.deepEqual(s.got, ["a0", "a1"]);
    assert.equal(s.conn.remoteAddr?.port, a.port);

    // Expiry is also noticed on receipt, without anyone asking first.
    s.conn.prepareKey(newKey);
    clock.t += PENDING_KEY_TIMEOUT;
    await b.send(b.seal("later b"), s.conn.port);
    await waitFor(() => s.conn.droppedCount === 2, "later b dropped");
    assert.equal(s.conn.hasPendingKey, false);
    assert.deepEqual(s.farewells, []);
  } finally {
    a.close();
    b.close();
    await s.conn.close();
  }
});

Deno.test("pending key: a datagram under neither key is dropped and leaves the prepared key pending; a second prepareKey replaces the first", async () => {
  const clock = new FakeClock();
  const oldKey = generateKey();
  const s = await server(oldKey, clock);
  const a = new RawClient(oldKey);
  const forger = new RawClient(generateKey());
  const first = new RawClient(generateKey());
  const firstKey = generateKey(), secondKey = generateKey();
  const b1 = new RawClient(firstKey), b2 = new RawClient(secondKey);
  try {
    await a.send(a.seal("a0"), s.conn.port);
    await waitFor(() => s.got.length === 1, "a0");
    s.conn.prepareKey(firstKey);
    await forger.send(forger.seal("forged"), s.conn.port);
    // Garbage of every size, and a datagram with the wrong direction bit under the prepared key.
    await forger.send(new Uint8Array(30), s.conn.port);
    await forger.send(new Uint8Array(5), s.conn.port);
    const reflected = new DatagramCodec(firstKey, { direction: TO_CLIENT })
      .seal({ timestamp: 0, timestampReply: 0, payload: enc.encode("r") });
    await first.send(reflected, s.conn.port);
    await waitFor(() => s.conn.droppedCount === 4, "four drops");
    assert.equal(s.conn.hasPendingKey, true);
    assert.deepEqual(s.farewells, []);
    assert.equal(s.conn.remoteAddr?.port, a.port);

    s.conn.prepareKey(secondKey); // replaces the first
    await b1.send(b1.seal("b1"), s.conn.port);
    await waitFor(
      () => s.conn.droppedCount === 5,
      "the replaced key is dropped",
    );
    await b2.send(b2.seal("b2"), s.conn.port);
    await waitFor(() => s.got.length === 3, "b2 commits");
    assert.deepEqual(s.got, ["a0", "<rekey>", "b2"]);
    assert.equal(s.conn.remoteAddr?.port, b2.port);
  } finally {
    for (const c of [a, forger, first, b1, b2]) c.close();
    await s.conn.close();
  }
});

Deno.test("pending key: closeRekey drops it and refuses more; a client connection never takes one", async () => {
  const clock = new FakeClock();
  const oldKey = generateKey(), newKey = generateKey();
  const s = await server(oldKey, clock);
  const b = new RawClient(newKey);
  const client = Connection.connect(oldKey, { ip: "127.0.0.1", port: 9 });
  try {
    s.conn.prepareKey(newKey);
    s.conn.closeRekey();
    assert.equal(s.conn.hasPendingKey, false);
    assert.throws(
      () => s.conn.prepareKey(generateKey()),
      /^Error: tmosh: the session is ending/,
    );
    await b.send(b.seal("b"), s.conn.port);
    await waitFor(() => s.conn.droppedCount === 1, "b dropped");
    assert.throws(() => client.prepareKey(newKey), /tmosh: only a server/);
  } finally {
    b.close();
    await client.close();
    await s.conn.close();
  }
});
