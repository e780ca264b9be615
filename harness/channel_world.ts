/**
 * Two channel multiplexers joined by a simulated network in virtual time
 * (tests/unit/channel_mux_test.ts, channel_size_test.ts): loss, delay,
 * jitter (reordering), duplication, an outage, and a largest datagram the
 * path carries (bigger ones vanish, as in a black hole), which may change
 * at a given time.
 * @module
 */

import assert from "node:assert/strict";
import { ChannelMux, type MuxEvents } from "../protocol/network/channel_mux.ts";
import { CHANNEL_KIND } from "../protocol/network/channel_frames.ts";
import type { PathLimits } from "../protocol/network/channel_path.ts";
import { mulberry32, xorshiftBytes } from "./prng.ts";

/** One end: its multiplexer and what it heard. */
export interface Side {
  mux: ChannelMux;
  got: Map<number, Uint8Array[]>;
  fins: Set<number>;
  closed: Set<number>;
  resets: Map<number, string>;
  opened: number[];
  /** Largest datagram this side sent, bytes of UDP payload (payload + 28). */
  largest: number;
}

/** The simulated network. */
export interface NetOptions {
  loss: number;
  delayMs: number;
  jitterMs: number;
  duplicate: number;
  seed: number;
  /** [from, to) in ms of virtual time when nothing gets through. */
  outage?: [number, number];
  /** Datagrams larger than this (bytes of UDP payload) vanish; default: none do. */
  dropAbove?: number;
  /** From this time (ms) on, `dropAbove` becomes `laterDropAbove`. */
  changeAt?: number;
  laterDropAbove?: number;
  /** The path limits both sides pass to nextPacket (default: none, 1252-byte datagrams). */
  path?: Partial<PathLimits>;
}

/** Bytes a datagram adds to the channel payload (nonce, tag, timestamps). */
export const DATAGRAM_OVERHEAD = 8 + 16 + 4;
/** The base datagram size of the simulation, bytes. */
export const SIM_MTU = 1252;

/** Builds the two sides and the network; `step()` advances virtual time. */
export function world(net: NetOptions) {
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
      largest: 0,
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
  const limit = () =>
    net.changeAt !== undefined && now >= net.changeAt
      ? net.laterDropAbove ?? Infinity
      : net.dropAbove ?? Infinity;
  const pump = (from: Side, to: Side) => {
    for (let i = 0; i < 10000; i++) {
      const p = from.mux.nextPacket(now, SIM_MTU, net.path);
      if (p === null) break;
      const size = p.length + DATAGRAM_OVERHEAD;
      from.largest = Math.max(from.largest, size);
      const blocked = net.outage && now >= net.outage[0] && now < net.outage[1];
      if (blocked || size > limit() || rng.next() < net.loss) continue;
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

/** Concatenates chunks. */
export function join(parts: Uint8Array[] | undefined): Uint8Array {
  const list = parts ?? [];
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of list) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Seeded random bytes. */
export function randomBytes(n: number, seed: number): Uint8Array {
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

/**
 * Sends `size` bytes up and `size / 2` down one channel and checks that both
 * arrive whole, in order, once, with their fins, and the channel closes.
 * `watch` runs after every step.
 */
export async function transfer(
  net: NetOptions,
  size: number,
  watch?: (w: ReturnType<typeof world>) => void,
) {
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
    watch?.(w);
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
