/**
 * The channel datagram size search (docs/wire.md §17.8): the sizer's ladder,
 * failed probes, black holes and new paths; then two multiplexers on
 * simulated paths that carry only datagrams up to some size, or stop
 * carrying large ones mid-transfer: the streams arrive whole and the size
 * settles at what the path carries.
 */
import assert from "node:assert/strict";
import { DatagramSizer } from "../../protocol/network/channel_size.ts";
import {
  isLocalAddress,
  pathLimits,
} from "../../protocol/network/channel_path.ts";
import {
  CHANNEL_BLACK_HOLE_LOSSES,
  CHANNEL_LOCAL_DATAGRAM_MAX,
  CHANNEL_LOCAL_WINDOW,
  CHANNEL_PROBE_RAISE_MS,
  CHANNEL_PROBE_TRIES,
} from "../../protocol/network/constants.ts";
import { SIM_MTU, transfer } from "../../harness/channel_world.ts";

const always = () => true;

/** Sends a probe as the multiplexer would (packet `pn`, full size); returns its size. */
function probe(s: DatagramSizer, pn: number, now = 0): number {
  const size = s.capacity(now, always);
  s.onSent(pn, size);
  return size;
}

Deno.test("channel size: the search climbs while probes are acknowledged, up to the ceiling", () => {
  const s = new DatagramSizer();
  s.limits(1252, 32768);
  assert.equal(s.size, 1252);
  const seen: number[] = [];
  for (let pn = 0; pn < 10; pn++) {
    const size = probe(s, pn);
    if (size === s.size) break;
    assert.ok(s.isProbe(pn));
    // One probe at a time: the next packet has the confirmed size.
    assert.equal(s.capacity(0, always), s.size);
    s.onAcked(pn, size);
    seen.push(s.size);
  }
  assert.deepEqual(seen, [2048, 4096, 8192, 16384, 32768]);
  assert.equal(s.target, 0, "the search is over at the ceiling");
  // No room in the congestion window for a probe: the confirmed size.
  const t = new DatagramSizer();
  t.limits(1252, 32768);
  assert.equal(t.capacity(0, (bytes) => bytes <= 1252), 1252);
});

Deno.test("channel size: a partly filled probe confirms what it carried", () => {
  const s = new DatagramSizer();
  s.limits(1252, 8192);
  s.onSent(0, 1500); // a probe that had only 1500 bytes to carry
  s.onAcked(0, 1500);
  assert.equal(s.size, 1500);
  assert.equal(s.target, 2048, "the same step is tried again");
  // A packet no larger than the confirmed size is no probe.
  s.onSent(1, 1400);
  assert.ok(!s.isProbe(1));
});

Deno.test("channel size: probes of a step lost CHANNEL_PROBE_TRIES times end the search until the raise timer", () => {
  const s = new DatagramSizer();
  s.limits(1252, 32768);
  s.onAcked(0, probe(s, 0)); // 2048
  s.onAcked(1, probe(s, 1)); // 4096
  for (let i = 0; i < CHANNEL_PROBE_TRIES; i++) {
    const pn = 10 + i;
    assert.equal(probe(s, pn, 100), 8192);
    s.onLost(pn, 8192, 100);
  }
  assert.equal(s.size, 4096);
  assert.equal(s.target, 0);
  assert.equal(s.capacity(100 + CHANNEL_PROBE_RAISE_MS - 1, always), 4096);
  assert.equal(s.capacity(100 + CHANNEL_PROBE_RAISE_MS, always), 8192);
  assert.equal(s.stats.probesLost, CHANNEL_PROBE_TRIES);
});

Deno.test("channel size: a black hole brings the size back to the base; random losses do not", () => {
  const s = new DatagramSizer();
  s.limits(1252, 8192);
  for (let pn = 0; pn < 3; pn++) s.onAcked(pn, probe(s, pn));
  assert.equal(s.size, 8192);
  // Random losses: a later large packet was acknowledged each time.
  for (let pn = 100; pn < 200; pn += 2) {
    s.onSent(pn, 8192);
    s.onSent(pn + 1, 8192);
    s.onAcked(pn + 1, 8192);
    s.onLost(pn, 8192, pn);
  }
  assert.equal(s.size, 8192);
  // Small packets lost say nothing about the size.
  for (let pn = 200; pn < 210; pn++) s.onLost(pn, 1000, pn);
  assert.equal(s.size, 8192);
  // Large ones lost with nothing acknowledged after them: a black hole.
  for (let i = 0; i < CHANNEL_BLACK_HOLE_LOSSES - 1; i++) {
    s.onLost(300 + i, 8192, 300);
  }
  assert.equal(s.size, 8192);
  s.onLost(310, 8192, 300);
  assert.equal(s.size, 1252);
  assert.equal(s.stats.blackHoles, 1);
  assert.equal(s.target, 2048, "the search starts again");
  // Probe timeouts count one loss each.
  for (let pn = 400; pn < 403; pn++) s.onAcked(pn, probe(s, pn, 400));
  assert.equal(s.size, 8192);
  for (let i = 0; i < CHANNEL_BLACK_HOLE_LOSSES; i++) s.onTimeout(500);
  assert.equal(s.size, 1252);
});

Deno.test("channel size: a new path (limits or reset) starts from the base", () => {
  const s = new DatagramSizer();
  s.limits(1252, 4096);
  s.onAcked(0, probe(s, 0));
  assert.equal(s.size, 2048);
  s.limits(1252, 4096);
  assert.equal(s.size, 2048, "the same limits change nothing");
  s.limits(1216, 4096);
  assert.equal(s.size, 1216);
  s.onAcked(1, probe(s, 1));
  s.reset();
  assert.equal(s.size, 1216);
  // No ceiling above the base: no search.
  s.limits(1252, 1000);
  assert.equal(probe(s, 2), 1252);
  assert.ok(!s.isProbe(2));
});

Deno.test("channel path: limits by the peer's address", () => {
  assert.ok(isLocalAddress("127.0.0.1"));
  assert.ok(isLocalAddress("127.3.2.1"));
  assert.ok(isLocalAddress("::1"));
  assert.ok(isLocalAddress("::ffff:127.0.0.1"));
  assert.ok(!isLocalAddress("192.0.2.7"));
  assert.ok(!isLocalAddress("2001:db8::1"));
  assert.deepEqual(pathLimits("127.0.0.1", 0), {
    ceiling: CHANNEL_LOCAL_DATAGRAM_MAX,
    window: CHANNEL_LOCAL_WINDOW,
  });
  assert.equal(
    pathLimits("127.0.0.1", 25).ceiling,
    CHANNEL_LOCAL_DATAGRAM_MAX - 25,
  );
  assert.equal(pathLimits("192.0.2.7", 0).ceiling, 1472);
  assert.equal(pathLimits("2001:db8::1", 0).ceiling, 1452);
  assert.equal(pathLimits("::ffff:192.0.2.7", 25).ceiling, 1447);
});

Deno.test("channel size: a path that drops datagrams over 5000 bytes: the size settles at 4096, nothing lost", async () => {
  let probesAbove = 0;
  const w = await transfer(
    {
      loss: 0,
      delayMs: 5,
      jitterMs: 0,
      duplicate: 0,
      seed: 11,
      dropAbove: 5000,
      path: { ceiling: 32768 },
    },
    4 << 20,
    (w) => {
      probesAbove = w.a.mux.sizeStats.probesLost;
    },
  );
  assert.equal(w.a.mux.datagramSize, 4096);
  assert.equal(w.b.mux.datagramSize, 4096);
  assert.ok(probesAbove >= CHANNEL_PROBE_TRIES, "8192 was tried");
  assert.equal(w.a.mux.sizeStats.blackHoles, 0);
});

Deno.test("channel size: at 2% loss with reordering the size still climbs and the stream arrives whole", async () => {
  const w = await transfer(
    {
      loss: 0.02,
      delayMs: 20,
      jitterMs: 10,
      duplicate: 0.01,
      seed: 5,
      path: { ceiling: 16384 },
    },
    4 << 20,
  );
  assert.equal(w.a.mux.datagramSize, 16384);
  assert.ok(w.a.mux.stats.lost > 0, "the test did lose packets");
});

Deno.test("channel size: a black hole mid-transfer (the path's limit drops to 1400): back to the base, nothing lost", async () => {
  let before = 0;
  const w = await transfer(
    {
      loss: 0,
      delayMs: 5,
      jitterMs: 0,
      duplicate: 0,
      seed: 3,
      changeAt: 300,
      dropAbove: 40000,
      laterDropAbove: 1400,
      path: { ceiling: 32768 },
    },
    8 << 20,
    (w) => {
      if (w.time() < 300) before = w.a.mux.datagramSize;
    },
  );
  assert.equal(before, 32768, "the size had climbed before the change");
  assert.ok(w.a.mux.sizeStats.blackHoles >= 1);
  assert.equal(w.a.mux.datagramSize, SIM_MTU);
  assert.ok(w.time() > 300, "the transfer outlasted the change");
});

Deno.test("channel size: the path's window caps the bytes in flight", async () => {
  let most = 0;
  await transfer(
    {
      loss: 0,
      delayMs: 5,
      jitterMs: 0,
      duplicate: 0,
      seed: 9,
      path: { ceiling: 32768, window: 160 * 1024 },
    },
    4 << 20,
    (w) => {
      most = Math.max(most, w.a.mux.inFlight);
    },
  );
  assert.ok(most <= 160 * 1024, `${most}`);
  assert.ok(most > 100 * 1024, `${most}`);
});
