/**
 * The channel multiplexer on a simulated network in virtual time: streams
 * arrive whole, in order and once under loss, reordering, duplication and an
 * outage; windows bound memory; priority; resets; the frame codec.
 */
import assert from "node:assert/strict";
import {
  ChannelMux,
  type MuxEvents,
} from "../../protocol/network/channel_mux.ts";
import {
  CHANNEL_KIND,
  decodeChannelPacket,
  FRAME,
  isChannelPayload,
  PacketWriter,
  RESET_CODE,
} from "../../protocol/network/channel_frames.ts";
import { mulberry32, xorshiftBytes } from "../../harness/prng.ts";

interface Side {
  mux: ChannelMux;
  got: Map<number, Uint8Array[]>;
  fins: Set<number>;
  closed: Set<number>;
  resets: Map<number, string>;
  opened: number[];
}

interface NetOptions {
  loss: number;
  delayMs: number;
  jitterMs: number;
  duplicate: number;
  seed: number;
  /** [from, to) in ms of virtual time when nothing gets through. */
  outage?: [number, number];
}

/** Two multiplexers joined by a lossy, delaying, reordering virtual network. */
function world(net: NetOptions) {
  const rng = { next: mulberry32(net.seed) };
  let now = 0;
  const queue: { at: number; to: Side; bytes: Uint8Array }[] = [];
  const mk = (role: "client" | "server"): Side => {
    const side: Side = {
      mux: null as unknown as ChannelMux,
      got: new Map(),
      fins: new Set(),
      closed: new Set(),
      resets: new Map(),
      opened: [],
    };
    const events: Partial<MuxEvents> = {
      open: (ch) => {
        side.opened.push(ch);
        side.mux.accept(ch);
      },
      data: (ch, bytes) => {
        const list = side.got.get(ch) ?? [];
        list.push(bytes.slice());
        side.got.set(ch, list);
        side.mux.consumed(ch, bytes.length);
      },
      fin: (ch) => side.fins.add(ch),
      closed: (ch) => side.closed.add(ch),
      reset: (ch, _code, reason) => side.resets.set(ch, reason),
    };
    side.mux = new ChannelMux({ role, events, window: 256 * 1024 });
    return side;
  };
  const a = mk("client"), b = mk("server");
  const pump = (from: Side, to: Side) => {
    for (let i = 0; i < 10000; i++) {
      const p = from.mux.nextPacket(now, 1252);
      if (p === null) break;
      const blocked = net.outage && now >= net.outage[0] && now < net.outage[1];
      if (blocked || rng.next() < net.loss) continue;
      const copies = rng.next() < net.duplicate ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        queue.push({
          at: now + net.delayMs + rng.next() * net.jitterMs,
          to,
          bytes: p.slice(),
        });
      }
    }
  };
  const step = () => {
    pump(a, b);
    pump(b, a);
    queue.sort((x, y) => x.at - y.at);
    const wake = Math.min(a.mux.nextWake(), b.mux.nextWake());
    const next = Math.min(queue[0]?.at ?? Infinity, wake, now + 50);
    now = Math.max(now + 0.1, next);
    while (queue.length > 0 && queue[0].at <= now) {
      const d = queue.shift()!;
      d.to.mux.receive(d.bytes, now);
    }
    for (const s of [a, b]) if (now >= s.mux.nextWake()) s.mux.onTimer(now);
  };
  return { a, b, step, time: () => now };
}

function join(parts: Uint8Array[] | undefined): Uint8Array {
  const list = parts ?? [];
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of list) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  return xorshiftBytes(seed)(n);
}

/** Writes `data` on `channel` as the pipes do: only while the buffer has room. */
function feeder(side: Side, channel: number, data: Uint8Array) {
  let at = 0;
  return () => {
    while (at < data.length && side.mux.buffered(channel) < 512 * 1024) {
      const n = Math.min(60_000, data.length - at);
      side.mux.write(channel, data.subarray(at, at + n));
      at += n;
    }
    if (at === data.length) {
      side.mux.finish(channel);
      at++;
    }
  };
}

async function transfer(net: NetOptions, size: number) {
  const w = world(net);
  const ch = w.a.mux.open(CHANNEL_KIND.tcp, "127.0.0.1:80")!;
  const up = randomBytes(size, 1), down = randomBytes(size / 2, 2);
  const feedUp = feeder(w.a, ch, up);
  let feedDown: (() => void) | null = null;
  for (let i = 0; i < 2_000_000; i++) {
    feedUp();
    if (feedDown === null && w.b.opened.includes(ch)) {
      feedDown = feeder(w.b, ch, down);
    }
    feedDown?.();
    w.step();
    if (w.a.closed.has(ch) && w.b.closed.has(ch)) break;
    if (i % 5000 === 0) await Promise.resolve();
  }
  assert.deepEqual(join(w.b.got.get(ch)), up, "client → server stream");
  assert.deepEqual(join(w.a.got.get(ch)), down, "server → client stream");
  assert(w.a.fins.has(ch) && w.b.fins.has(ch), "both fins delivered");
  assert(w.a.closed.has(ch) && w.b.closed.has(ch), "closed on both sides");
  assert.deepEqual(w.a.mux.channelCount + w.b.mux.channelCount, 0);
  return w;
}

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
