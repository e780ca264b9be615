/**
 * Channels on real UDP connections (docs/wire.md §17): they ride beside SSP
 * on the same connection without disturbing it, nothing goes out before
 * chan.v1 is negotiated, and a client facing a server without chan.v1 tells
 * the user and closes its local connections.
 */
import assert from "node:assert/strict";
import { Connection } from "../../protocol/network/connection.ts";
import { ChannelLink } from "../../protocol/network/channel_link.ts";
import {
  CHANNEL_KIND,
  FRAME,
  PacketWriter,
} from "../../protocol/network/channel_frames.ts";
import { generateKey } from "../../protocol/crypto/key.ts";
import { ClientForwarding } from "../../client/forward.ts";
import {
  type ForwardRequest,
  parseForwards,
} from "../../client/bootstrap/forward_args.ts";
import { ErrorGuard } from "../../protocol/network/guard.ts";
import { xorshiftBytes } from "../../harness/prng.ts";
import { connectionPair, sessionTransports } from "../../harness/ssp_pair.ts";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("channel link: a stream beside SSP on one connection; SSP sees no channel datagram", async () => {
  const { server, client } = await connectionPair();
  const { server: sT, client: cT } = sessionTransports({ server, client });
  const got: Uint8Array[] = [];
  let fin = false;
  const sLink: ChannelLink = new ChannelLink(server, {
    role: "server",
    events: {
      open: (ch) => sLink.mux.accept(ch),
      data: (ch, b) => {
        got.push(b.slice());
        sLink.mux.consumed(ch, b.length);
      },
      fin: () => fin = true,
    },
  });
  const cLink = new ChannelLink(client, { role: "client", events: {} });
  sLink.enable();
  cLink.enable();
  const data = xorshiftBytes(9)(3 << 20);
  const ch = cLink.mux.open(CHANNEL_KIND.tcp, "127.0.0.1:1")!;
  cLink.mux.write(ch, data);
  cLink.mux.finish(ch);
  cLink.kick();
  // Keystrokes keep flowing meanwhile.
  let state = cT.currentState;
  for (let i = 0; i < 20 && !fin; i++) {
    state = state.pushKeys(new TextEncoder().encode(`k${i}`));
    cT.setCurrentState(state);
    await wait(50);
  }
  for (let i = 0; i < 100 && !fin; i++) await wait(50);
  assert.ok(fin, "the stream ended");
  const joined = new Uint8Array(data.length);
  let at = 0;
  for (const b of got) {
    joined.set(b, at);
    at += b.length;
  }
  assert.equal(at, data.length);
  assert.deepEqual(joined, data);
  assert.ok(sT.remoteStateNum > 0n, "SSP states arrived");
  assert.equal(sT.instructionsDropped, 0);
  assert.equal(cT.instructionsDropped, 0);
  // On loopback the datagrams grew past the MTU (docs/wire.md §17.8).
  assert.ok(
    cLink.mux.datagramSize > client.mtu,
    `datagram size ${cLink.mux.datagramSize}`,
  );
  assert.equal(server.droppedCount, 0);
  cLink.close();
  sLink.close();
  await cT.close();
  await sT.close();
});

Deno.test("connection: only a channel datagram may exceed Mosh's RECEIVE_MTU", async () => {
  const { server, client } = await connectionPair();
  const ssp: number[] = [], chan: number[] = [];
  server.onPayload((p) => ssp.push(p.length));
  server.onChannelPayload((p) => chan.push(p.length));
  try {
    const big = new PacketWriter(7, 20_000);
    big.add({
      type: FRAME.data,
      channel: 0,
      offset: 0,
      fin: false,
      bytes: new Uint8Array(19_000),
    });
    client.send(big.finish());
    client.send(new Uint8Array(20_000)); // not a channel datagram
    client.send(new Uint8Array(1_000));
    for (let i = 0; i < 100 && ssp.length + chan.length < 2; i++) {
      await wait(10);
    }
    await wait(50);
    assert.deepEqual(chan, [big.finish().length]);
    assert.deepEqual(ssp, [1_000]);
    assert.equal(server.droppedCount, 1);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("connection: large datagrams sealed into reused send buffers arrive intact", async () => {
  const { server, client } = await connectionPair();
  const got: Uint8Array[] = [];
  server.onChannelPayload((p) => got.push(p.slice()));
  try {
    const sent: Uint8Array[] = [];
    // Bursts larger than the spare pool, each sent once the last arrived, so
    // later ones are sealed into buffers of earlier sends.
    for (let burst = 0; burst < 4; burst++) {
      for (let i = 0; i < 10; i++) {
        const w = new PacketWriter(burst * 10 + i, 16_000);
        w.add({
          type: FRAME.data,
          channel: 0,
          offset: 0,
          fin: false,
          bytes: xorshiftBytes(burst * 10 + i + 1)(15_000),
        });
        const packet = w.finish().slice();
        sent.push(packet);
        client.send(packet);
      }
      for (let i = 0; i < 200 && got.length < sent.length; i++) await wait(5);
    }
    assert.equal(server.droppedCount, 0);
    assert.equal(got.length, sent.length);
    // The index of the first datagram that differs (no diff of 600 KB printed).
    const differs = sent.findIndex((p, i) =>
      p.length !== got[i].length || p.some((b, j) => b !== got[i][j])
    );
    assert.equal(differs, -1, "a datagram arrived changed");
  } finally {
    await client.close();
    await server.close();
  }
});

/** A UDP socket on loopback that only counts the datagrams it receives. */
function countingPeer(): {
  port: number;
  readonly received: number;
  close(): Promise<void>;
} {
  const raw = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  let received = 0;
  const loop = (async () => {
    try {
      for (;;) {
        await raw.receive();
        received++;
      }
    } catch {
      // closed
    }
  })();
  return {
    port: (raw.addr as Deno.NetAddr).port,
    get received() {
      return received;
    },
    async close() {
      raw.close();
      await loop;
    },
  };
}

Deno.test("channel link: nothing is sent before enable()", async () => {
  const peer = countingPeer();
  const client = Connection.connect(generateKey(), {
    ip: "127.0.0.1",
    port: peer.port,
  });
  const link = new ChannelLink(client, { role: "client", events: {} });
  const ch = link.mux.open(CHANNEL_KIND.tcp, "x:1")!;
  link.mux.write(ch, new Uint8Array(5000));
  link.kick();
  await wait(300);
  assert.equal(peer.received, 0);
  link.close();
  await client.close();
  await peer.close();
});

Deno.test("client forwarding: a server without chan.v1 gets nothing; the user is told; local connections close", async () => {
  const peer = countingPeer();
  const client = Connection.connect(generateKey(), {
    ip: "127.0.0.1",
    port: peer.port,
  });
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const reports: string[] = [];
  const fwd = new ClientForwarding(
    client,
    parseForwards({ L: [`${port}:127.0.0.1:22`] }) as ForwardRequest,
    { guard: new ErrorGuard(), report: (l) => reports.push(l), env: {} },
  );
  fwd.listen();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
  fwd.negotiated(new Set(["ext.v1", "scrollback.v1"]));
  const n = await conn.read(new Uint8Array(10));
  assert.equal(n, null, "the local connection was closed");
  conn.close();
  await wait(200);
  assert.equal(peer.received, 0, "no datagram reached the server");
  assert.deepEqual(reports, [
    "tmosh: -L refused: the server does not speak chan.v1 (stock mosh-server or an older tmosh); nothing was forwarded; install tmosh serve on the host",
  ]);
  fwd.close();
  await wait(100);
  await client.close();
  await peer.close();
});

Deno.test("server forwarding: another client attaching ends the channels and target connections, sending nothing", async () => {
  const { server, client } = await connectionPair();
  const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const targetPort = (target.addr as Deno.NetAddr).port;
  const accepted = target.accept();
  const logs: string[] = [];
  const { ServerForwarding } = await import("../../server/forward.ts");
  const fwd = new ServerForwarding(server, {
    log: (l) => logs.push(l),
    guard: new ErrorGuard(),
    policy: {
      tcp: "yes",
      streamLocal: "yes",
      agent: true,
      gatewayPorts: "no",
      permitListen: ["any"],
      permitOpen: ["any"],
      source: "test",
    },
  });
  fwd.hello(["ext.v1", "chan.v1"]);
  const resets: string[] = [];
  let opened = false;
  const link = new ChannelLink(client, {
    role: "client",
    events: {
      accepted: () => opened = true,
      reset: (_ch, _code, reason) => resets.push(reason),
    },
  });
  link.enable();
  link.mux.open(CHANNEL_KIND.tcp, `127.0.0.1:${targetPort}`);
  link.kick();
  const conn = await accepted;
  for (let i = 0; i < 50 && !opened; i++) await wait(20);
  assert.ok(opened, "the channel was accepted");
  // Nothing more reaches the old client's address: the connection now
  // belongs to the new client, which may be stock Mosh.
  const before = link.mux.stats.received;
  fwd.newEpoch();
  const n = await conn.read(new Uint8Array(16));
  assert.equal(n, null, "the server closed its connection to the target");
  link.mux.write(0, new Uint8Array(100));
  link.kick();
  await wait(300);
  assert.equal(
    link.mux.stats.received,
    before,
    "no channel datagram after the switch",
  );
  assert.deepEqual(resets, []);
  conn.close();
  target.close();
  fwd.close();
  link.close();
  await wait(80);
  await client.close();
  await server.close();
});
