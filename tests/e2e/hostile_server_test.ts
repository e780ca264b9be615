/**
 * A hostile server must not exhaust `tmosh client`: a fake server that sends
 * full 1024x1024 screens as fast as it can, never letting the client throw
 * any away, leaves the client's resident memory bounded, and the client still
 * draws the newest screen (the receiver bounds its held states by bytes,
 * dropping the oldest first; stock mosh would hold up to 1024 screens, and
 * tmosh without the bound reached 2.6 GB within the 12 s flood).
 *
 * What keeps it under 200 MB: held states are bounded by bytes (16 MB); a
 * received screen is applied only when drawn (lazily), and frames are drawn
 * at most half the time, so the client applies a few screens per second, not
 * hundreds; drawing is clipped to the window; and the megabytes inflated per
 * datagram are collected promptly (protocol/network/garbage_valve.ts).
 * @module
 */
import assert from "node:assert/strict";
import { HostileServer } from "../../harness/hostile_server.ts";
import { mib, procMemory } from "../../harness/proc_memory.ts";
import { spawnClient } from "../../harness/serve_process.ts";

/** Client resident memory allowed at any time, bytes (issue: 200 MB). */
const RSS_MAX = 200 * 1024 * 1024;
/** How long the server floods, ms. */
const FLOOD_MS = 12_000;
/** Longest wait for the client to start, ms. */
const WAIT_MS = 20_000;
/**
 * Longest wait for the newest screen after the flood, ms: the client first
 * reads the screens its socket buffer still holds (it applies none of them),
 * which takes a few seconds.
 */
const CATCH_UP_MS = 20_000;
/** Start of the final screen's third row (the only screen that shows it). */
// Lower case: no letter of it is a flood screen's fill (A-Z), so the final
// frame redraws all of it in one run.
const MARKER = "newest-screen";
/** How often the client's memory is read, ms. */
const SAMPLE_MS = 100;

Deno.test("a server flooding maximal screens: client RSS stays bounded and it draws the newest", async () => {
  const server = new HostileServer();
  const client = spawnClient(server.port, {
    TERM: "xterm",
    MOSH_KEY: server.key,
  });
  // What the client draws: the marker is only on the final screen.
  let drawnTail = "";
  const decoder = new TextDecoder();
  const drawn = client.stdout.pipeTo(
    new WritableStream({
      write: (chunk) => {
        const seen = drawnTail + decoder.decode(chunk, { stream: true });
        if (seen.includes(MARKER)) markerDrawn = true;
        drawnTail = seen.slice(-4096);
      },
    }),
  ).catch(() => {});
  let markerDrawn = false;
  const stderr = new Response(client.stderr).text();
  let peak = 0, sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        peak = Math.max(peak, (await procMemory(client.pid)).rss);
      } catch {
        break; // exited
      }
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  })();
  try {
    const start = performance.now();
    while (!server.connected && performance.now() - start < WAIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(server.connected, "the client never reached the server");
    await server.flood(FLOOD_MS);
    let final = 0n;
    const shown = performance.now();
    while (!markerDrawn && performance.now() - shown < CATCH_UP_MS) {
      final = await server.sendFinal(MARKER);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const drawMs = performance.now() - shown;
    console.log(
      `${final} screens sent in ${FLOOD_MS} ms; client peak RSS ${
        mib(peak)
      }; newest drawn after ${drawMs.toFixed(0)} ms`,
    );
    assert.ok(peak < RSS_MAX, `client RSS reached ${mib(peak)}`);
    assert.ok(
      markerDrawn,
      `the newest screen is not drawn; last output: ${
        JSON.stringify(drawnTail.slice(-200))
      }`,
    );
  } finally {
    sampling = false;
    await sampler;
    try {
      client.kill("SIGKILL");
    } catch {
      // already gone
    }
    await client.status;
    await client.stdin.close().catch(() => {});
    await drawn;
    await stderr;
    await server.close();
  }
});
