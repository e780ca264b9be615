import assert from "node:assert/strict";
import { Connection } from "../../protocol/network/connection.ts";
import { DatagramCodec, timestamp16 } from "../../protocol/network/datagram.ts";
import { generateKey } from "../../protocol/crypto/key.ts";
import { Ocb } from "../../protocol/crypto/ocb.ts";
import {
  EARLY_PAYLOADS_MAX,
  MAX_PORTS_OPEN,
  TIMESTAMP_NONE,
  TO_CLIENT,
  TO_SERVER,
} from "../../protocol/network/constants.ts";
import { holdUdpPortRun, inFreeUdpPortRun } from "../../harness/ports.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A hand-settable clock, ms. */
class FakeClock {
  t: number;
  constructor(t = 0) {
    this.t = t;
  }
  now = (): number => this.t;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` until true; fails after `ms`. */
async function waitFor(
  cond: () => boolean,
  what: string,
  ms = 2000,
): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await delay(2);
  }
}

/** Collects every payload a connection delivers, as text. */
function collect(conn: Connection): string[] {
  const got: string[] = [];
  conn.onPayload((p) => got.push(dec.decode(p)));
  return got;
}

/** A raw UDP peer with its own codec, for crafting datagrams by hand. */
class RawPeer {
  readonly sock: Deno.DatagramConn;
  readonly codec: DatagramCodec;
  constructor(key: Uint8Array, direction: 0 | 1, hostname = "127.0.0.1") {
    this.sock = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    this.codec = new DatagramCodec(key, { direction });
  }
  get port(): number {
    return (this.sock.addr as Deno.NetAddr).port;
  }
  seal(
    text: string,
    timestamp = 0,
    timestampReply = TIMESTAMP_NONE,
  ): Uint8Array {
    return this.codec.seal({
      timestamp,
      timestampReply,
      payload: enc.encode(text),
    });
  }
  async sendRaw(
    bytes: Uint8Array,
    port: number,
    hostname = "127.0.0.1",
  ): Promise<void> {
    await this.sock.send(bytes, { transport: "udp", hostname, port });
  }
  /** Receives one datagram and opens it with `opener` (null if it does not authenticate). */
  async receive(opener: DatagramCodec) {
    const [bytes] = await this.sock.receive();
    return opener.open(bytes);
  }
  close(): void {
    this.sock.close();
  }
}

async function serverOnLoopback(
  key: Uint8Array,
  extra: { now?: () => number; log?: (l: string) => void } = {},
) {
  return await inFreeUdpPortRun(8, (base) =>
    Connection.listen(key, {
      ip: "127.0.0.1",
      portRange: [base, base + 7],
      ...extra,
    }));
}

/** A loopback server and a client connected to it; `close` closes the client, then the server. */
async function loopbackPair(
  options: {
    server?: { now?: () => number; log?: (l: string) => void };
    clientNow?: () => number;
  } = {},
): Promise<{ server: Connection; client: Connection; close(): Promise<void> }> {
  const key = generateKey();
  const server = await serverOnLoopback(key, options.server);
  const client = Connection.connect(key, {
    ip: "127.0.0.1",
    port: server.port,
    ...(options.clientNow === undefined ? {} : { now: options.clientNow }),
  });
  return {
    server,
    client,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** A loopback server and a raw client-side peer; `close` closes the peer, then the server. */
async function serverWithPeer(
  key: Uint8Array,
  extra: { now?: () => number; log?: (l: string) => void } = {},
): Promise<{ server: Connection; peer: RawPeer; close(): Promise<void> }> {
  const server = await serverOnLoopback(key, extra);
  const peer = new RawPeer(key, TO_SERVER);
  return {
    server,
    peer,
    async close() {
      peer.close();
      await server.close();
    },
  };
}

Deno.test("connection: server binds the first free port of the range, in order", async () => {
  const key = generateKey();
  // The first port stays held (the blocker); the other three are let go.
  const { base, sockets: [blocker, ...free] } = holdUdpPortRun(4);
  for (const socket of free) socket.close();
  const server = await Connection.listen(key, { portRange: [base, base + 3] });
  try {
    assert.equal(server.port, base + 1);
    assert.equal(server.mtu, 1252);
    assert.equal(server.hasRemote, false);
    assert.equal(server.remoteAddr, null);
    assert.equal(server.lastHeard, null);
    assert.deepEqual(server.warnings, []);
    server.send(enc.encode("nobody to send to")); // no remote yet: a no-op
    assert.equal(server.sendError, null);
  } finally {
    blocker.close();
    await server.close();
  }
});

Deno.test("connection: listen fails clearly when every port is taken", async () => {
  const key = generateKey();
  const { base, sockets: blockers } = holdUdpPortRun(2);
  try {
    await assert.rejects(
      Connection.listen(key, { portRange: [base, base + 1] }),
      {
        message: `tmosh: no free UDP port in ${base}-${base + 1}; pass -p PORT`,
      },
    );
  } finally {
    for (const b of blockers) b.close();
  }
});

Deno.test("connection: a requested IP that cannot be bound falls back to any address", async () => {
  const key = generateKey();
  const { base, server } = await inFreeUdpPortRun(2, async (base) => ({
    base,
    server: await Connection.listen(key, {
      ip: "192.0.2.1",
      portRange: [base, base + 1],
    }),
  }));
  try {
    assert.equal(server.port, base);
    assert.equal(server.warnings.length, 1);
    assert.match(server.warnings[0], /cannot bind to IP 192\.0\.2\.1/);
    // reachable through loopback because it is bound to 0.0.0.0
    const client = Connection.connect(key, {
      ip: "127.0.0.1",
      port: server.port,
    });
    const got = collect(server);
    client.send(enc.encode("via any"));
    await waitFor(() => got.length === 1, "payload");
    assert.deepEqual(got, ["via any"]);
    await client.close();
  } finally {
    await server.close();
  }
});

Deno.test("connection: connect rejects non-numeric addresses and bad ports", () => {
  const key = generateKey();
  assert.throws(
    () => Connection.connect(key, { ip: "localhost", port: 60001 }),
    /bad server address "localhost"/,
  );
  assert.throws(
    () => Connection.connect(key, { ip: "127.0.0.1", port: 0 }),
    /bad server port 0/,
  );
  assert.throws(
    () => Connection.connect(key, { ip: "127.0.0.1", port: 70000 }),
    /bad server port 70000/,
  );
});

Deno.test("connection: payloads flow both ways and the server attaches to the client", async () => {
  const logs: string[] = [];
  const { server, client, close } = await loopbackPair({
    server: { log: (l) => logs.push(l) },
  });
  try {
    assert.equal(client.mtu, 1252);
    assert.deepEqual(client.remoteAddr, {
      hostname: "127.0.0.1",
      port: server.port,
    });
    const atServer = collect(server);
    const atClient = collect(client);
    client.send(enc.encode("hello"));
    await waitFor(() => atServer.length === 1, "client→server payload");
    assert.deepEqual(atServer, ["hello"]);
    assert.deepEqual(server.remoteAddr, {
      hostname: "127.0.0.1",
      port: client.port,
    });
    assert.ok(server.hasRemote);
    assert.notEqual(server.lastHeard, null);
    assert.deepEqual(logs, [
      `Server now attached to client at 127.0.0.1:${client.port}`,
    ]);

    server.send(enc.encode("world"));
    await waitFor(() => atClient.length === 1, "server→client payload");
    assert.deepEqual(atClient, ["world"]);
    assert.notEqual(client.lastHeard, null);

    // many in both directions, including a large (MTU-sized) one
    const big = "x".repeat(client.mtu - 28);
    for (let i = 0; i < 20; i++) client.send(enc.encode(`c${i}`));
    client.send(enc.encode(big));
    for (let i = 0; i < 20; i++) server.send(enc.encode(`s${i}`));
    await waitFor(
      () => atServer.length === 22 && atClient.length === 21,
      "bulk payloads",
    );
    assert.equal(atServer[21], big);
    assert.deepEqual(
      atClient.slice(1),
      Array.from({ length: 20 }, (_, i) => `s${i}`),
    );
    assert.equal(logs.length, 1, "no re-attach while the address is unchanged");
    assert.equal(server.droppedCount, 0);
    assert.equal(client.droppedCount, 0);
    assert.equal(client.sendError, null);
  } finally {
    await close();
  }
});

Deno.test("connection: timestamp reply echoes the held peer timestamp once, within 1000 ms", async () => {
  const key = generateKey();
  const clock = new FakeClock(5000);
  const { server, peer, close } = await serverWithPeer(key, { now: clock.now });
  const opener = new DatagramCodec(key, { direction: TO_SERVER }); // opens TO_CLIENT datagrams
  try {
    const got = collect(server);
    await peer.sendRaw(peer.seal("a", 1234), server.port);
    await waitFor(() => got.length === 1, "first datagram");
    clock.t = 5030; // held for 30 ms
    server.send(enc.encode("r1"));
    const d1 = await peer.receive(opener);
    assert.ok(d1);
    assert.equal(d1.direction, TO_CLIENT);
    assert.equal(d1.timestamp, timestamp16(5030));
    assert.equal(d1.timestampReply, 1264);
    assert.equal(dec.decode(d1.payload), "r1");

    server.send(enc.encode("r2")); // echo already used
    const d2 = await peer.receive(opener);
    assert.equal(d2?.timestampReply, TIMESTAMP_NONE);

    // wrap-around: 65530 held for 10 ms echoes 4
    await peer.sendRaw(peer.seal("b", 65530), server.port);
    await waitFor(() => got.length === 2, "second datagram");
    clock.t += 10;
    server.send(enc.encode("r3"));
    assert.equal((await peer.receive(opener))?.timestampReply, 4);

    // a timestamp held 1000 ms or more is not echoed
    await peer.sendRaw(peer.seal("c", 777), server.port);
    await waitFor(() => got.length === 3, "third datagram");
    clock.t += 1000;
    server.send(enc.encode("r4"));
    assert.equal((await peer.receive(opener))?.timestampReply, TIMESTAMP_NONE);

    // a datagram without a timestamp (0xFFFF) leaves nothing to echo
    await peer.sendRaw(peer.seal("d", TIMESTAMP_NONE), server.port);
    await waitFor(() => got.length === 4, "fourth datagram");
    server.send(enc.encode("r5"));
    assert.equal((await peer.receive(opener))?.timestampReply, TIMESTAMP_NONE);
  } finally {
    await close();
  }
});

Deno.test("connection: RTT samples from timestamp replies follow docs/wire.md §3.2; replays and >=5000 ms are ignored", async () => {
  const key = generateKey();
  const clock = new FakeClock(100000);
  const { server, peer, close } = await serverWithPeer(key, { now: clock.now });
  try {
    const got = collect(server);
    assert.equal(server.srtt, 1000);
    assert.equal(server.rttvar, 500);
    assert.equal(server.rto, 1000);
    const first = peer.seal("1", 1, timestamp16(clock.t - 40));
    await peer.sendRaw(first, server.port);
    await waitFor(() => got.length === 1, "sample 1");
    assert.equal(server.srtt, 40);
    assert.equal(server.rttvar, 20);
    assert.equal(server.rto, 120);

    await peer.sendRaw(
      peer.seal("2", 1, timestamp16(clock.t - 80)),
      server.port,
    );
    await waitFor(() => got.length === 2, "sample 2");
    assert.equal(server.rttvar, 25);
    assert.equal(server.srtt, 45);

    await peer.sendRaw(
      peer.seal("3", 1, timestamp16(clock.t - 6000)),
      server.port,
    );
    await waitFor(() => got.length === 3, "ignored sample");
    assert.equal(server.srtt, 45);

    // the first datagram replayed later (older seq): delivered, but no RTT sample
    clock.t += 3000;
    await peer.sendRaw(first, server.port);
    await waitFor(() => got.length === 4, "replay");
    assert.equal(got[3], "1");
    assert.equal(server.srtt, 45);
    assert.equal(server.rttvar, 25);
    assert.equal(
      server.lastHeard,
      100000,
      "a replay does not refresh lastHeard",
    );
  } finally {
    await close();
  }
});

Deno.test("connection: SRTT converges to a loopback RTT in a few real exchanges", async () => {
  const { server, client, close } = await loopbackPair();
  try {
    let atClient = 0;
    server.onPayload(() => server.send(enc.encode("pong")));
    client.onPayload(() => atClient++);
    for (let i = 1; i <= 10; i++) {
      client.send(enc.encode("ping"));
      await waitFor(() => atClient === i, `pong ${i}`);
    }
    assert.ok(
      client.srtt < 100,
      `client SRTT ${client.srtt} should be near 0 on loopback`,
    );
    assert.ok(
      server.srtt < 100,
      `server SRTT ${server.srtt} should be near 0 on loopback`,
    );
    assert.ok(client.rto < 500, `client RTO ${client.rto}`);
  } finally {
    await close();
  }
});

Deno.test("connection: server roams to an in-order datagram's source, not to forged or replayed ones", async () => {
  const key = generateKey();
  const logs: string[] = [];
  const server = await serverOnLoopback(key, { log: (l) => logs.push(l) });
  const a = new RawPeer(key, TO_SERVER); // the real client, first address
  const b = new RawPeer(key, TO_SERVER); // another address
  const forger = new RawPeer(generateKey(), TO_SERVER);
  const opener = new DatagramCodec(key, { direction: TO_SERVER });
  try {
    const got = collect(server);
    const d0 = a.seal("a0");
    await a.sendRaw(d0, server.port);
    await a.sendRaw(a.seal("a1"), server.port);
    await waitFor(() => got.length === 2, "a's datagrams");
    assert.equal(server.remoteAddr?.port, a.port);

    // forged (wrong key) from b: dropped, no move
    await forger.sendRaw(forger.seal("evil"), server.port);
    // authentic but replayed (seq 0) from b: delivered, no move
    await b.sendRaw(d0, server.port);
    await waitFor(
      () => got.length === 3 && server.droppedCount === 1,
      "forged + replay",
    );
    assert.equal(got[2], "a0");
    assert.equal(server.remoteAddr?.port, a.port);
    server.send(enc.encode("still to a"));
    assert.equal(dec.decode((await a.receive(opener))!.payload), "still to a");

    // the client hops: a fresh datagram (higher seq) from b moves the server
    await b.sendRaw(a.seal("a2 via b"), server.port);
    await waitFor(() => got.length === 4, "datagram from new address");
    assert.equal(server.remoteAddr?.port, b.port);
    server.send(enc.encode("now to b"));
    assert.equal(dec.decode((await b.receive(opener))!.payload), "now to b");
    assert.deepEqual(logs, [
      `Server now attached to client at 127.0.0.1:${a.port}`,
      `Server now attached to client at 127.0.0.1:${b.port}`,
    ]);
  } finally {
    a.close();
    b.close();
    forger.close();
    await server.close();
  }
});

Deno.test("connection: garbage, truncated, oversize, reflected and short datagrams are dropped and counted", async () => {
  const key = generateKey();
  const server = await serverOnLoopback(key);
  const peer = new RawPeer(key, TO_SERVER);
  const reflector = new RawPeer(key, TO_CLIENT); // right key, wrong direction
  try {
    const got = collect(server);
    const good = peer.seal("good");
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      crypto.getRandomValues(new Uint8Array(10)),
      crypto.getRandomValues(new Uint8Array(23)),
      crypto.getRandomValues(new Uint8Array(300)),
      good.subarray(0, good.length - 1), // truncated
      (() => { // one flipped ciphertext bit
        const x = good.slice();
        x[10] ^= 1;
        return x;
      })(),
      reflector.seal("reflected"),
      (() => { // authentic but 2-byte plaintext (< 4 bytes of timestamps)
        const nonce = new Uint8Array(12);
        new DataView(nonce.buffer).setBigUint64(4, 999n);
        const sealed = new Ocb(key).seal(nonce, new Uint8Array([1, 2]));
        const out = new Uint8Array(8 + sealed.length);
        out.set(nonce.subarray(4), 0);
        out.set(sealed, 8);
        return out;
      })(),
      peer.codec.seal({
        timestamp: 0,
        timestampReply: TIMESTAMP_NONE,
        payload: new Uint8Array(2100),
      }), // > 2048
    ];
    for (const b of bad) await peer.sendRaw(b, server.port);
    await waitFor(() => server.droppedCount === bad.length, "all drops");
    assert.deepEqual(got, []);
    assert.equal(
      server.hasRemote,
      false,
      "nothing hostile attached the server",
    );
    await peer.sendRaw(good, server.port);
    await waitFor(() => got.length === 1, "good datagram after the garbage");
    assert.deepEqual(got, ["good"]);
    assert.equal(server.droppedCount, bad.length);
  } finally {
    peer.close();
    reflector.close();
    await server.close();
  }
});

Deno.test("connection: client hops to a new port after 10 s without a round trip; server follows", async () => {
  const clock = new FakeClock(1000);
  const { server, client, close } = await loopbackPair({
    clientNow: clock.now,
  });
  try {
    const atServer = collect(server);
    const atClient = collect(client);
    const firstPort = client.port;
    clock.t = 11000; // exactly 10000 since the port choice: not more, no hop
    client.send(enc.encode("1"));
    assert.equal(client.socketCount, 1);
    clock.t = 11001;
    client.send(enc.encode("2")); // goes out of the old socket, then hops
    assert.equal(client.socketCount, 2);
    const secondPort = client.port;
    assert.notEqual(secondPort, firstPort);
    await waitFor(() => atServer.length === 2, "sends before the hop");
    assert.equal(server.remoteAddr?.port, firstPort);
    server.send(enc.encode("to old"));
    await waitFor(() => atClient.length === 1, "old socket still read");

    client.send(enc.encode("3")); // from the new socket
    await waitFor(() => atServer.length === 3, "send after the hop");
    assert.equal(server.remoteAddr?.port, secondPort);
    server.send(enc.encode("to new"));
    await waitFor(() => atClient.length === 2, "reply to the new port");
    assert.deepEqual(atClient, ["to old", "to new"]);

    // a recent round-trip success suppresses hopping
    clock.t = 30000;
    client.setLastRoundtripSuccess(25000);
    client.send(enc.encode("4"));
    assert.equal(client.socketCount, 2);
    // old sockets are closed on a receive once the newest is > 60 s old
    clock.t = 11001 + 60001;
    client.setLastRoundtripSuccess(clock.t);
    await waitFor(() => atServer.length === 4, "send 4");
    server.send(enc.encode("prune"));
    await waitFor(() => atClient.length === 3, "receive that prunes");
    assert.equal(client.socketCount, 1);
    assert.equal(client.port, secondPort);

    // at most MAX_PORTS_OPEN sockets, oldest closed first
    for (let i = 0; i < MAX_PORTS_OPEN + 3; i++) {
      clock.t += 10001;
      client.send(enc.encode(`hop${i}`));
    }
    assert.equal(client.socketCount, MAX_PORTS_OPEN);
    const lastPort = client.port;
    await waitFor(
      () => atServer.length === 4 + MAX_PORTS_OPEN + 3,
      "hop sends",
    );
    client.send(enc.encode("last"));
    await waitFor(
      () => server.remoteAddr?.port === lastPort,
      "server follows the last hop",
    );
  } finally {
    await close();
  }
});

Deno.test("connection: server detaches after 40 s of silence and reattaches when heard", async () => {
  const key = generateKey();
  const clock = new FakeClock(0);
  const logs: string[] = [];
  const { server, peer, close } = await serverWithPeer(key, {
    now: clock.now,
    log: (l) => logs.push(l),
  });
  const opener = new DatagramCodec(key, { direction: TO_SERVER });
  try {
    const got = collect(server);
    await peer.sendRaw(peer.seal("hi"), server.port);
    await waitFor(() => got.length === 1, "first contact");
    clock.t = 40000;
    server.send(enc.encode("a")); // exactly 40000: still attached
    assert.equal(server.hasRemote, true);
    assert.equal(dec.decode((await peer.receive(opener))!.payload), "a");
    clock.t = 40001;
    server.send(enc.encode("b")); // sent, then detached
    assert.equal(server.hasRemote, false);
    assert.equal(server.remoteAddr, null);
    assert.equal(dec.decode((await peer.receive(opener))!.payload), "b");
    server.send(enc.encode("c")); // dropped: no remote
    await peer.sendRaw(peer.seal("back"), server.port);
    await waitFor(() => got.length === 2, "reattach");
    assert.equal(server.hasRemote, true);
    server.send(enc.encode("d"));
    assert.equal(
      dec.decode((await peer.receive(opener))!.payload),
      "d",
      "c was never sent",
    );
    assert.equal(logs[1], "Server now detached from client.");
  } finally {
    await close();
  }
});

Deno.test("connection: send failures are recorded, not thrown; EMSGSIZE drops the MTU to 500", async () => {
  const { server, client, close } = await loopbackPair();
  try {
    client.send(new Uint8Array(70000));
    await waitFor(() => client.sendError !== null, "send error");
    assert.equal(client.sendError, "sendto: Message too long");
    assert.equal(client.mtu, 500);
    client.clearSendError();
    assert.equal(client.sendError, null);
    const got = collect(server);
    client.send(enc.encode("fine"));
    await waitFor(() => got.length === 1, "later send");
    assert.equal(client.mtu, 500, "the MTU stays at 500");
  } finally {
    await close();
  }
});

function ipv6Loopback(): boolean {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("connection: IPv6 loopback, and a dual-stack :: server", async (t) => {
  if (!ipv6Loopback()) {
    console.log("skipped: ::1 is not configured on this host");
    return;
  }
  const key = generateKey();
  await t.step("::1", async () => {
    const server = await inFreeUdpPortRun(
      4,
      (base) =>
        Connection.listen(key, { ip: "::1", portRange: [base, base + 3] }),
    );
    const client = Connection.connect(key, { ip: "::1", port: server.port });
    try {
      assert.equal(server.mtu, 1216);
      assert.equal(client.mtu, 1216);
      const atServer = collect(server);
      const atClient = collect(client);
      client.send(enc.encode("v6 hello"));
      await waitFor(() => atServer.length === 1, "v6 payload");
      assert.deepEqual(server.remoteAddr, {
        hostname: "::1",
        port: client.port,
      });
      server.send(enc.encode("v6 reply"));
      await waitFor(() => atClient.length === 1, "v6 reply");
      assert.deepEqual(atClient, ["v6 reply"]);
    } finally {
      await client.close();
      await server.close();
    }
  });
  await t.step(":: accepts IPv4 clients", async () => {
    const server = await inFreeUdpPortRun(
      4,
      (base) =>
        Connection.listen(key, { ip: "::", portRange: [base, base + 3] }),
    );
    const client = Connection.connect(key, {
      ip: "127.0.0.1",
      port: server.port,
    });
    try {
      assert.equal(server.mtu, 1216);
      const atServer = collect(server);
      const atClient = collect(client);
      client.send(enc.encode("v4 to ::"));
      await waitFor(() => atServer.length === 1, "payload");
      assert.equal(server.remoteAddr?.hostname, "::ffff:127.0.0.1");
      server.send(enc.encode("back"));
      await waitFor(() => atClient.length === 1, "reply");
    } finally {
      await client.close();
      await server.close();
    }
  });
});

Deno.test("connection: close() ends everything; later calls are harmless", async () => {
  const key = generateKey();
  const server = await serverOnLoopback(key);
  const client = Connection.connect(key, {
    ip: "127.0.0.1",
    port: server.port,
    now: new FakeClock(0).now,
  });
  const got = collect(server);
  client.send(enc.encode("x"));
  await waitFor(() => got.length === 1, "payload");
  await client.close();
  await client.close();
  client.send(enc.encode("after close")); // no-op, no throw
  assert.equal(client.sendError, null);
  server.send(enc.encode("to a closed client"));
  await server.close();
  server.send(enc.encode("after close"));
  // the sanitizers of this test verify no socket or pending op is left
});

Deno.test("payloads that arrive before the first consumer reach it in order; the oldest beyond EARLY_PAYLOADS_MAX are dropped; none after a consumer is set", async () => {
  const key = generateKey();
  const { server, peer, close } = await serverWithPeer(key);
  try {
    // The consumer is not registered yet (a user daemon's session code still loading).
    const total = EARLY_PAYLOADS_MAX + 3;
    for (let i = 0; i < total; i++) {
      await peer.sendRaw(peer.seal(`early-${i}`, i), server.port);
    }
    await waitFor(() => server.hasRemote, "the server to hear the peer");
    await delay(50); // every datagram read
    const got = collect(server);
    assert.deepEqual(got, [], "delivered in a microtask, not during onPayload");
    await delay(0);
    assert.deepEqual(
      got,
      Array.from({ length: EARLY_PAYLOADS_MAX }, (_, i) => `early-${i + 3}`),
    );
    await peer.sendRaw(peer.seal("late", total), server.port);
    await waitFor(() => got.length === EARLY_PAYLOADS_MAX + 1, "the late one");
    assert.equal(got.at(-1), "late");
    // A consumer registered later gets nothing of the past.
    const again = collect(server);
    await delay(20);
    assert.deepEqual(again, []);
  } finally {
    await close();
  }
});
