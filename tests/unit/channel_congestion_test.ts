/**
 * The channel layer's congestion window (docs/wire.md §17.6): isolated
 * random losses neither shrink it nor end slow start; a round with heavy
 * loss halves it and ends slow start; a building queue shrinks it.
 * @module
 */
import assert from "node:assert/strict";
import { CongestionControl } from "../../protocol/network/channel_congestion.ts";
import { CWND_INITIAL } from "../../protocol/network/constants.ts";

const MSS = 1400;

/**
 * Sends one window of packets, spread over the first part of the round trip,
 * and acknowledges them one RTT later, losing every `lossEvery`-th; returns
 * the time the next round starts.
 */
function round(
  cc: CongestionControl,
  now: number,
  options: { rtt: number; lossEvery?: number },
): number {
  const n = Math.max(1, Math.floor(cc.window / MSS));
  for (let i = 0; i < n; i++) cc.onSent(MSS);
  for (let i = 0; i < n; i++) {
    const sentAt = now + i * 0.01;
    const context = { sentAt, now: sentAt + options.rtt };
    cc.onRtt(options.rtt, context.now);
    const every = options.lossEvery ?? 0;
    if (every > 0 && i % every === every - 1) cc.onLost(MSS, context);
    else cc.onAcked(MSS, context);
  }
  return now + options.rtt + n * 0.01;
}

Deno.test("channel congestion: slow start goes on through isolated 1% losses, doubling each round trip", () => {
  const cc = new CongestionControl();
  assert.equal(cc.window, CWND_INITIAL);
  let now = 0;
  for (let r = 0; r < 6; r++) {
    now = round(cc, now, { rtt: 100, lossEvery: 100 });
  }
  // Without losses slow start doubles per round: 32 KiB -> ~2 MiB in 6.
  assert.ok(cc.window >= CWND_INITIAL * 32, `window ${cc.window}`);
});

Deno.test("channel congestion: towards a peer on this host (a capped path) the first loss ends slow start", () => {
  const cc = new CongestionControl();
  cc.setPath(MSS, 4 * 1024 * 1024);
  let now = 0;
  for (let r = 0; r < 6; r++) now = round(cc, now, { rtt: 1, lossEvery: 100 });
  // Slow start would pass 1 MiB (the test above); from the first loss, at
  // about 140 KiB, it grows by an eighth a round.
  assert.ok(cc.window < CWND_INITIAL * 16, `window ${cc.window}`);
});

Deno.test("channel congestion: a round with heavy loss halves the window and ends slow start", () => {
  const cc = new CongestionControl();
  let now = 0;
  for (let r = 0; r < 4; r++) now = round(cc, now, { rtt: 100 });
  const before = cc.window;
  now = round(cc, now, { rtt: 100, lossEvery: 5 }); // 20% lost
  // The round is judged when the next one's first packet is acknowledged.
  now = round(cc, now, { rtt: 100 });
  const after = cc.window;
  // Slow start would have doubled it twice (4x).
  assert.ok(after < before * 1.5, `${before} -> ${after}`);
  now = round(cc, now, { rtt: 100 });
  // Congestion avoidance: an eighth per round, not doubling.
  assert.ok(cc.window <= after * 1.2, `${after} -> ${cc.window}`);
});

Deno.test("channel congestion: a building queue (RTT well above its minimum) shrinks the window", () => {
  const cc = new CongestionControl();
  let now = 0;
  for (let r = 0; r < 4; r++) now = round(cc, now, { rtt: 50 });
  const before = cc.window;
  for (let r = 0; r < 8; r++) now = round(cc, now, { rtt: 200 });
  assert.ok(cc.window < before, `${before} -> ${cc.window}`);
});
