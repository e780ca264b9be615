/**
 * Idle heartbeats on the grid (protocol/network/transport.ts schedule,
 * HEARTBEAT_GRID_MS): two sessions of one process, started at different
 * moments, send their idle heartbeats on multiples of the grid of the
 * process's clock, so the user's daemon wakes once for every session whose
 * beat falls in the same step; each still beats every ACK_INTERVAL.
 */
import assert from "node:assert/strict";
import { connectionPair, sessionTransports } from "../../harness/ssp_pair.ts";
import {
  ACK_INTERVAL,
  HEARTBEAT_GRID_MS,
} from "../../protocol/network/constants.ts";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server and client Transport over loopback; the server's send times are noted. */
async function session(sends: number[]) {
  const pair = await connectionPair();
  const send = pair.server.send.bind(pair.server);
  pair.server.send = (payload: Uint8Array) => {
    sends.push(performance.now());
    send(payload);
  };
  const { server, client } = sessionTransports(pair);
  client.tick(); // the client speaks first: the server learns its address
  return { close: () => Promise.all([client.close(), server.close()]) };
}

Deno.test("heartbeats: idle beats of every session of a process go out on the grid, every ACK_INTERVAL", async () => {
  const a: number[] = [];
  const b: number[] = [];
  const first = await session(a);
  await wait(HEARTBEAT_GRID_MS / 2 + 137); // another phase
  const second = await session(b);
  try {
    await wait(2 * ACK_INTERVAL + HEARTBEAT_GRID_MS);
  } finally {
    await first.close();
    await second.close();
  }
  for (const [name, sends] of [["first", a], ["second", b]] as const) {
    // The beats after the start's exchange: a second apart or more.
    const beats = sends.filter((t, i) => i > 0 && t - sends[i - 1] > 1000);
    assert.ok(beats.length >= 2, `${name}: ${beats.length} idle beats`);
    for (const t of beats) {
      const off = t % HEARTBEAT_GRID_MS;
      assert.ok(
        off < 150, // a loaded machine runs timers late
        `${name}: a beat ${off.toFixed(1)} ms after a grid step`,
      );
    }
    for (let i = 1; i < beats.length; i++) {
      const gap = beats[i] - beats[i - 1];
      assert.ok(
        Math.abs(gap - ACK_INTERVAL) < 150,
        `${name}: beats ${gap.toFixed(0)} ms apart`,
      );
    }
  }
});
