/**
 * -L over the roaming link (docs/wire.md §17): a tmosh client under tmux
 * with `-L`, through the impairment relay, to `tmosh serve`; curl downloads
 * from a local HTTP server through the forwarded port and the body must be
 * byte-identical (sha256): on a clean link, and 50 MB at 2% loss with 50 ms
 * delay each way across a roam and a 5 s blackout. Machine-saturating: in
 * tools/test_run.ts's HEAVY list.
 * @module
 */

import assert from "node:assert/strict";
import { Relay } from "../../demo/impairment_relay.ts";
import { peers } from "../../harness/require_peer.ts";
import { startTmoshServer } from "../../harness/tmosh_server.ts";
import { startTmux, type TmuxSession } from "../../harness/tmux.ts";
import {
  clearScreen,
  delay,
  shellCommand,
  waitPrompt,
} from "../../harness/client_session.ts";
import { freeTcpPort } from "../../harness/ports.ts";
import {
  type BlobServer,
  curlSha256,
  echoLatency,
  forwardClientCommand,
  startBlobServer,
  waitListening,
} from "../../harness/forward_client.ts";

const needs = peers("tmux", "curl", "sha256sum");

interface Run {
  relay: Relay;
  tmux: TmuxSession;
  blob: BlobServer;
  local: number;
  stop(): Promise<void>;
}

async function start(size: number): Promise<Run> {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_fwd_" });
  const blob = await startBlobServer(size);
  const server = await startTmoshServer(shellCommand());
  const relay = await Relay.start({
    listen: { hostname: "127.0.0.1" },
    upstream: { hostname: "127.0.0.1", port: server.port },
    seed: 42,
  });
  const local = await freeTcpPort();
  const command = await forwardClientCommand(dir, {
    ip: "127.0.0.1",
    port: relay.port,
    words: ["-L", `${local}:127.0.0.1:${blob.port}`],
  });
  const tmux = await startTmux(command, {
    env: { TERM: "xterm-256color", LANG: "C.UTF-8", MOSH_KEY: server.key },
  });
  const stop = async () => {
    await tmux.kill();
    await relay.close();
    await server.stop();
    await blob.stop();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitPrompt(tmux);
    await waitListening(local);
  } catch (e) {
    await stop();
    throw e;
  }
  return { relay, tmux, blob, local, stop };
}

needs.test("-L through the relay: 4 MB arrive byte-identical on a clean link", async () => {
  const run = await start(4 << 20);
  try {
    const got = await curlSha256(
      [`http://127.0.0.1:${run.local}/blob`],
      60_000,
    );
    assert.equal(got.stderr, "");
    assert.equal(got.sha256, run.blob.sha256);
  } finally {
    await run.stop();
  }
});

needs.test("-L through the relay: 50 MB at 2% loss and 50 ms delay, across a roam and a 5 s blackout, byte-identical", async () => {
  const run = await start(50 << 20);
  try {
    run.relay.set({ loss: 0.02, delayMs: 50 });
    const started = performance.now();
    const download = curlSha256(
      [`http://127.0.0.1:${run.local}/blob`],
      600_000,
    );
    await delay(4000);
    await run.relay.roam();
    await delay(3000);
    run.relay.set({ blackhole: true });
    await delay(5000);
    run.relay.set({ blackhole: false });
    const got = await download;
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `50 MB through -L at 2% loss, 50 ms delay, a roam and a 5 s blackout: ${
        seconds.toFixed(1)
      } s (${(50 / seconds).toFixed(2)} MB/s)`,
    );
    assert.equal(got.stderr, "");
    assert.equal(got.code, 0);
    assert.equal(got.sha256, run.blob.sha256);
  } finally {
    await run.stop();
  }
});

needs.test("-L: keystroke-to-screen latency during a bulk transfer stays within 2x of idle", async () => {
  const run = await start(60 << 20);
  try {
    run.relay.set({ delayMs: 50 });
    await clearScreen(run.tmux);
    const idle = await echoLatency(run.tmux, { rounds: 7, gapMs: 200 });
    const download = curlSha256(
      [`http://127.0.0.1:${run.local}/blob`],
      120_000,
    );
    await delay(3000); // the transfer is at full speed
    const busy = await echoLatency(run.tmux, { rounds: 7, gapMs: 200 });
    const got = await download;
    console.log(
      `echo round trip at 50 ms delay: idle ${
        idle.toFixed(0)
      } ms, during the -L transfer ${busy.toFixed(0)} ms`,
    );
    assert.equal(got.sha256, run.blob.sha256, "the transfer completed");
    assert.ok(
      busy <= 2 * idle,
      `latency during the transfer ${busy.toFixed(0)} ms > 2 x idle ${
        idle.toFixed(0)
      } ms`,
    );
  } finally {
    await run.stop();
  }
});
