/**
 * Port forwarding: `tmosh -L` against `ssh -L`, side by side in one run.
 * A local HTTP server serves a seeded body; curl downloads it through the
 * forwarded port and reports the rate.
 *
 * - No loss: ssh -L through the private sshd on loopback, and tmosh -L with
 *   the client talking straight to `tmosh serve` on loopback (no relay).
 * - 1% loss and 50 ms delay each way: tmosh -L through the impairment relay.
 *   ssh cannot be measured on that path here: the kernel has no netem, and a
 *   userspace TCP proxy would terminate TCP, hiding both the loss and the
 *   round trip from ssh's congestion control (its figure would be the
 *   loopback one). So ssh's figure is TCP's throughput model on that path
 *   (Mathis et al.: MSS / RTT x 1.22 / sqrt(p), Reno; CUBIC does somewhat
 *   better), printed as a model, not a measurement;
 *   `bench/forward_loss_bench.ts` measures both on a lossy TUN path.
 * - Keystroke latency: the echo round trip of a command typed in the
 *   session, idle and while the transfer runs, for tmosh (relay, 50 ms delay
 *   each way, the transfer on -L) and for ssh (`ssh -tt -L` on loopback: the
 *   keystrokes share the TCP connection with the transfer).
 *
 * `deno run -A bench/forward_bench.ts` (`--clean`: only the no-loss figures)
 * @module
 */

import { Relay } from "../demo/impairment_relay.ts";
import { startSshd } from "../harness/sshd.ts";
import { startTmoshServer } from "../harness/tmosh_server.ts";
import { startTmux } from "../harness/tmux.ts";
import {
  clearScreen,
  delay,
  shellCommand,
  shq,
  waitPrompt,
} from "../harness/client_session.ts";
import { freeTcpPort } from "../harness/ports.ts";
import {
  type BlobServer,
  echoLatency,
  forwardClientCommand,
  startBlobServer,
  waitListening,
} from "../harness/forward_client.ts";
import { findBinary } from "../harness/require_peer.ts";

/** Body size of the no-loss runs, bytes. */
const CLEAN_BYTES = 100 << 20;
/** Body size of the lossy run, bytes. */
const LOSSY_BYTES = 20 << 20;
/** Loss and one-way delay of the lossy run. */
const LOSS = 0.01, DELAY_MS = 50;
/** TCP's segment size on that path for the model, bytes. */
const MSS = 1448;

/** Downloads `url` with curl (extra args first); returns MB/s. */
async function download(url: string, extra: string[] = []): Promise<number> {
  const out = await new Deno.Command("curl", {
    args: [...extra, "-sS", "-o", "/dev/null", "-w", "%{speed_download}", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`curl failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return Number(new TextDecoder().decode(out.stdout)) / 1e6;
}

/** A tmosh client with -L to the blob server, under tmux; `relay`: through the relay with these impairments. */
async function tmoshRun(
  blob: BlobServer,
  impair: { loss: number; delayMs: number } | null,
) {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_fwd_bench_" });
  const server = await startTmoshServer(shellCommand());
  const relay = impair === null ? null : await Relay.start({
    listen: { hostname: "127.0.0.1" },
    upstream: { hostname: "127.0.0.1", port: server.port },
    seed: 7,
  });
  const local = await freeTcpPort();
  const command = await forwardClientCommand(dir, {
    ip: "127.0.0.1",
    port: relay?.port ?? server.port,
    words: ["-L", `${local}:127.0.0.1:${blob.port}`],
  });
  const tmux = await startTmux(command, {
    env: { TERM: "xterm-256color", LANG: "C.UTF-8", MOSH_KEY: server.key },
  });
  await waitPrompt(tmux);
  await waitListening(local);
  if (impair !== null) relay!.set(impair);
  return {
    url: `http://127.0.0.1:${local}/blob`,
    tmux,
    async stop() {
      await tmux.kill();
      await relay?.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs the comparison and prints the figures. */
export async function benchForward(): Promise<void> {
  for (const tool of ["ssh", "sshd", "curl", "tmux"]) {
    if (await findBinary(tool) === null) {
      console.log(`skipped: ${tool} is not installed`);
      return;
    }
  }
  const blob = await startBlobServer(CLEAN_BYTES);
  const sshd = await startSshd();
  try {
    // ssh -L (and a terminal on the same connection for the latency part).
    const sshPort = await freeTcpPort();
    const sshTmux = await startTmux(
      `ssh -F ${
        shq(sshd.configPath)
      } -tt -o ExitOnForwardFailure=yes -L ${sshPort}:127.0.0.1:${blob.port} root@127.0.0.1 ${
        shellCommand().map(shq).join(" ")
      }`,
      { env: { TERM: "xterm-256color", LANG: "C.UTF-8" } },
    );
    let ssh = 0, sshIdle = 0, sshBusy = 0;
    try {
      await waitPrompt(sshTmux);
      await waitListening(sshPort);
      const url = `http://127.0.0.1:${sshPort}/blob`;
      ssh = await download(url);
      await clearScreen(sshTmux);
      sshIdle = await echoLatency(sshTmux, { rounds: 7, gapMs: 150 });
      const bulk = download(url, ["--limit-rate", "0"]);
      await delay(200);
      sshBusy = await echoLatency(sshTmux, { rounds: 5, gapMs: 150 });
      await bulk;
    } finally {
      await sshTmux.kill();
    }
    if (Deno.args.includes("--clean")) {
      const clean = await tmoshRun(blob, null);
      try {
        const tmosh = await download(clean.url);
        console.log(`ssh ${ssh.toFixed(1)} tmosh ${tmosh.toFixed(1)} MB/s`);
      } finally {
        await clean.stop();
      }
      return;
    }
    const clean = await tmoshRun(blob, null);
    let tmosh = 0;
    try {
      tmosh = await download(clean.url);
    } finally {
      await clean.stop();
    }
    console.log("no loss, loopback, 100 MB through -L:");
    console.log(
      `  ssh -L   ${ssh.toFixed(1)} MB/s\n  tmosh -L ${
        tmosh.toFixed(1)
      } MB/s (${(tmosh / ssh).toFixed(2)}x ssh)`,
    );
    // The lossy path: tmosh measured, ssh modelled.
    const small = await startBlobServer(LOSSY_BYTES);
    const lossy = await tmoshRun(small, { loss: LOSS, delayMs: DELAY_MS });
    let lossyRate = 0, idle = 0, busy = 0;
    try {
      await clearScreen(lossy.tmux);
      idle = await echoLatency(lossy.tmux, { rounds: 7, gapMs: 150 });
      const bulk = download(lossy.url);
      await delay(2000);
      busy = await echoLatency(lossy.tmux, { rounds: 5, gapMs: 150 });
      lossyRate = await bulk;
    } finally {
      await lossy.stop();
      await small.stop();
    }
    const rtt = 2 * DELAY_MS / 1000;
    const model = MSS / rtt * 1.22 / Math.sqrt(LOSS) / 1e6;
    console.log(
      `${LOSS * 100}% loss, ${DELAY_MS} ms delay each way, 20 MB through -L:`,
    );
    console.log(
      `  tmosh -L ${lossyRate.toFixed(2)} MB/s (measured, impairment relay)`,
    );
    console.log(
      `  TCP      ${
        model.toFixed(2)
      } MB/s (model: MSS/RTT x 1.22/sqrt(p); ssh measured: bench/forward_loss_bench.ts) -> tmosh ${
        (lossyRate / model).toFixed(1)
      }x`,
    );
    console.log("echo round trip, median (idle -> during the transfer):");
    console.log(
      `  ssh -tt -L, loopback:         ${sshIdle.toFixed(0)} -> ${
        sshBusy.toFixed(0)
      } ms`,
    );
    console.log(
      `  tmosh, ${DELAY_MS} ms each way + ${LOSS * 100}% loss: ${
        idle.toFixed(0)
      } -> ${busy.toFixed(0)} ms`,
    );
  } finally {
    await sshd.stop();
    await blob.stop();
  }
}

if (import.meta.main) await benchForward();
