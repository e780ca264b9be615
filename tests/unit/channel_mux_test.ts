/**
 * The channel multiplexer on a simulated network in virtual time: streams
 * arrive whole, in order and once under loss, reordering, duplication and an
 * outage; windows bound memory; priority; resets; the frame codec.
 */
import assert from "node:assert/strict";
import { ChannelMux } from "../../protocol/network/channel_mux.ts";
import {
  CHANNEL_KIND,
  decodeChannelPacket,
  FRAME,
  isChannelPayload,
  PacketWriter,
  RESET_CODE,
} from "../../protocol/network/channel_frames.ts";
import { mulberry32 } from "../../harness/prng.ts";
import { randomBytes, transfer } from "../../harness/channel_world.ts";

Deno.test("channel mux: a stream arrives whole on a clean link", async () => {
  await transfer(
    { loss: 0, delayMs: 5, jitterMs: 0, duplicate: 0, seed: 1 },
    1 << 20,
  );
});

Deno.test("channel mux: 10% loss, reordering and duplicates lose and repeat nothing", async () => {
  const w = await transfer(
    { loss: 0.1, delayMs: 25, jitterMs: 20, duplicate: 0.05, seed: 7 },
    1 << 20,
  );
  assert(w.a.mux.stats.lost > 0, "the test did lose packets");
});

Deno.test("channel mux: data resumes after a 5 s outage", async () => {
  const w = await transfer(
    {
      loss: 0.02,
      delayMs: 25,
      jitterMs: 0,
      duplicate: 0,
      seed: 3,
      outage: [300, 5300],
    },
    4 << 20,
  );
  assert(w.time() > 5300, "the transfer outlasted the outage");
});

Deno.test("channel mux: a refused open resets the opener with the reason", () => {
  const a = new ChannelMux({ role: "client" });
  const resets: string[] = [];
  const b = new ChannelMux({
    role: "server",
    events: {
      open: (ch) =>
        b.reset(
          ch,
          RESET_CODE.refused,
          "connect 127.0.0.1:9: Connection refused",
        ),
    },
  });
  const a2 = new ChannelMux({
    role: "client",
    events: { reset: (_ch, code, reason) => resets.push(`${code} ${reason}`) },
  });
  void a;
  a2.open(CHANNEL_KIND.tcp, "127.0.0.1:9");
  b.receive(a2.nextPacket(0, 1252)!, 1);
  a2.receive(b.nextPacket(1, 1252)!, 2);
  assert.deepEqual(resets, [
    `${RESET_CODE.refused} connect 127.0.0.1:9: Connection refused`,
  ]);
  assert.deepEqual(a2.channelCount, 0);
});

Deno.test("channel mux: a channel may not send beyond the peer's window", () => {
  const a = new ChannelMux({ role: "client", window: 10_000 });
  const b = new ChannelMux({
    role: "server",
    window: 10_000,
    events: { open: (ch) => b.accept(ch) },
  });
  const ch = a.open(CHANNEL_KIND.tcp, "x:1")!;
  b.receive(a.nextPacket(0, 1252)!, 1);
  a.receive(b.nextPacket(1, 1252)!, 2);
  a.write(ch, new Uint8Array(50_000));
  let sent = 0;
  for (let p = a.nextPacket(3, 1252); p !== null; p = a.nextPacket(3, 1252)) {
    for (const f of decodeChannelPacket(p)!.frames) {
      if (f.type === FRAME.data) sent += f.bytes.length;
    }
  }
  assert.deepEqual(sent, 10_000);
});

Deno.test("channel mux: agent channels go before bulk ones", () => {
  const client = new ChannelMux({ role: "client" });
  const server = new ChannelMux({
    role: "server",
    events: { open: (ch) => server.accept(ch) },
  });
  const bulk = client.open(CHANNEL_KIND.tcp, "x:1")!;
  server.receive(client.nextPacket(0, 1252)!, 0);
  client.receive(server.nextPacket(0, 1252)!, 0);
  // The server opens an agent channel towards the client.
  const agentMux = server;
  const agent = agentMux.open(CHANNEL_KIND.agent, "")!;
  const c2 = client;
  c2.receive(agentMux.nextPacket(0, 1252)!, 0);
  // The client accepts it (no handler: accept by hand) and queues both.
  c2.accept(agent);
  server.receive(c2.nextPacket(0, 1252)!, 0);
  // Both directions now: the server writes bulk and agent data to the client.
  const ids: number[] = [];
  server.write(bulk, new Uint8Array(20_000));
  server.write(agent, new Uint8Array(3_000));
  for (let i = 0; i < 4; i++) {
    const p = server.nextPacket(1, 1252);
    if (p === null) break;
    for (const f of decodeChannelPacket(p)!.frames) {
      if (f.type === FRAME.data) ids.push(f.channel);
    }
  }
  assert.deepEqual(ids.slice(0, 3), [agent, agent, agent]);
});

Deno.test("channel frames: the marker, round trips and garbage", () => {
  const w = new PacketWriter(2 ** 40 + 5, 1200);
  w.add({ type: FRAME.ack, ranges: [[90, 100], [10, 80], [0, 3]], delayMs: 7 });
  w.add({
    type: FRAME.open,
    channel: 4,
    kind: 1,
    window: 1 << 22,
    target: "example.org:443",
  });
  w.add({
    type: FRAME.data,
    channel: 4,
    offset: 2 ** 33,
    fin: true,
    bytes: Uint8Array.of(1, 2, 3),
  });
  w.add({
    type: FRAME.listenResult,
    listen: 1,
    code: 0,
    port: 8080,
    message: "ok",
  });
  const bytes = w.finish();
  assert(isChannelPayload(bytes));
  const p = decodeChannelPacket(bytes)!;
  assert.deepEqual(p.number, 2 ** 40 + 5);
  assert.deepEqual(p.frames[0], {
    type: FRAME.ack,
    ranges: [[90, 100], [10, 80], [0, 3]],
    delayMs: 7,
  });
  assert.deepEqual(p.frames[2], {
    type: FRAME.data,
    channel: 4,
    offset: 2 ** 33,
    fin: true,
    bytes: Uint8Array.of(1, 2, 3),
  });
  // An SSP fragment (id below 2^63, or another fragment word) is never taken for one.
  const ssp = bytes.slice();
  ssp[0] = 0x00;
  assert(!isChannelPayload(ssp));
  ssp[0] = 0x80;
  ssp[9] = 0xfe;
  assert(!isChannelPayload(ssp));
  // Truncations and random garbage decode to null, never throw.
  for (let n = 10; n < bytes.length; n++) {
    decodeChannelPacket(bytes.subarray(0, n));
  }
  const rng = { next: mulberry32(5) };
  for (let i = 0; i < 2000; i++) {
    const junk = randomBytes(10 + Math.floor(rng.next() * 60), i);
    junk[0] |= 0x80;
    junk[8] = 0x7f;
    junk[9] = 0xff;
    decodeChannelPacket(junk);
  }
});

Deno.test("channel frames: the example datagram of docs/wire.md §17.2", () => {
  const w = new PacketWriter(5, 1224);
  w.add({
    type: FRAME.data,
    channel: 0,
    offset: 0,
    fin: true,
    bytes: new TextEncoder().encode("abc"),
  });
  const hex = [...w.finish()].map((b) => b.toString(16).padStart(2, "0"))
    .join(" ");
  assert.equal(hex, "80 00 00 00 00 00 00 05 7f ff 04 00 00 01 03 61 62 63");
});

Deno.test("channel mux: receive memory stays bounded (windows shared, overlapping segments capped)", () => {
  const b = new ChannelMux({
    role: "server",
    events: { open: (ch) => b.accept(ch) },
  });
  const a = new ChannelMux({ role: "client" });
  // 256 channels share the connection's receive budget.
  const ids: number[] = [];
  for (let i = 0; i < 256; i++) ids.push(a.open(CHANNEL_KIND.tcp, "x:1")!);
  for (let p = a.nextPacket(0, 1252); p !== null; p = a.nextPacket(0, 1252)) {
    b.receive(p, 0);
  }
  let windows = 0;
  for (let p = b.nextPacket(0, 1252); p !== null; p = b.nextPacket(0, 1252)) {
    for (const f of decodeChannelPacket(p)!.frames) {
      if (f.type === FRAME.accept) windows += f.window;
    }
  }
  // Together they promise at most the budget plus the minimum window each.
  assert.ok(windows <= 64 * 1024 * 1024 + 256 * 128 * 1024, `${windows}`);
  assert.ok(windows >= 64 * 1024 * 1024, `${windows}`);
  // A hostile sender's overlapping segments cannot pile up past the window.
  let held = 0;
  for (let off = 1; off < 5000; off++) {
    const pw = new PacketWriter(1000 + off, 1252);
    pw.add({
      type: FRAME.data,
      channel: ids[0],
      offset: off,
      fin: false,
      bytes: new Uint8Array(1000),
    });
    b.receive(pw.finish(), 1);
    held = off;
  }
  assert.equal(held, 4999);
  // 4999 overlapping 1000-byte segments (5 MB) were offered; the first
  // channel's window (4 MiB) bounds what is kept.
  assert.ok(b.heldBytes <= 4 * 1024 * 1024, `${b.heldBytes}`);
  assert.ok(b.heldBytes > 0);
  assert.equal(b.channelCount, 256);
});
