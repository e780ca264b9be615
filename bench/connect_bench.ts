/**
 * Connect time: from starting `tmosh connect` to the remote
 * prompt on screen, through the private loopback sshd, side by side with stock
 * `mosh` in the same run. Both run in tmux; the command records its start
 * time itself and the screen is polled every 10 ms for a fixed prompt. Also
 * times the parts of tmosh's bootstrap, to show where the time goes.
 * @module
 */

import { type Sshd, startSshd } from "../harness/sshd.ts";
import { startTmux } from "../harness/tmux.ts";
import { findBinary } from "../harness/require_peer.ts";
import { killPidsWithEnv } from "../harness/stock_mosh.ts";
import { TEST_MARK_VAR } from "../harness/sshd.ts";
import { selfCommand } from "../self_command.ts";
import {
  connectCommand,
  type Connector,
  PS1,
  shq,
} from "../harness/client_session.ts";

/** Runs per connector. */
const RUNS = 5;
/** Screen poll interval, ms. */
const POLL_MS = 10;
/** Longest wait for a prompt, ms. */
const TIMEOUT_MS = 30_000;

/** Connectors compared, with their labels. */
const CONNECTORS: [Connector, string][] = [
  ["stock-mosh", "stock mosh (mosh-client + mosh-server)"],
  ["tmosh", "tmosh connect -> tmosh serve"],
  ["stock-server", "tmosh connect -> mosh-server"],
  ["stock-wrapper", "mosh --client=tmosh client"],
];

/** Resolves after `ms` milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Milliseconds from the command's own start to the prompt on screen, for one connect. */
async function timeConnect(
  connector: Connector,
  sshd: Sshd,
  dir: string,
): Promise<number> {
  const { command, mark } = await connectCommand(connector, { sshd, dir });
  return await timePrompt(command, { mark, dir });
}

/** Milliseconds from the start of sh command line `command` (in tmux) to the prompt on screen; then exits it and ends what carries `mark`. */
export async function timePrompt(
  command: string,
  context: { mark: string; dir: string; env?: Record<string, string> },
): Promise<number> {
  const { mark, dir } = context;
  const stamp = `${dir}/start-${crypto.randomUUID()}`;
  const tmux = await startTmux(`date +%s%N > ${shq(stamp)}; ${command}`, {
    env: { TERM: "xterm-256color", LANG: "C.UTF-8", ...context.env },
  });
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    while (true) {
      const screen = await tmux.capture();
      const seen = Date.now();
      if (screen.split("\n").some((l) => l.startsWith(PS1.trimEnd()))) {
        const startNs = BigInt((await Deno.readTextFile(stamp)).trim());
        return seen - Number(startNs / 1_000_000n);
      }
      if (seen > deadline) {
        throw new Error(`tmosh: no prompt within ${TIMEOUT_MS} ms:\n${screen}`);
      }
      await sleep(POLL_MS);
    }
  } finally {
    await tmux.sendKeys("exit", { literal: true }).catch(() => {});
    await tmux.sendKeys("Enter").catch(() => {});
    await tmux.waitForExit(5000).catch(() => {});
    await tmux.kill();
    await killPidsWithEnv(TEST_MARK_VAR, mark);
  }
}

/** Median, min and max of the samples, ms. */
export function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `median ${median.toFixed(0).padStart(5)} ms  min ${
    sorted[0].toFixed(0).padStart(5)
  }  max ${sorted.at(-1)!.toFixed(0).padStart(5)}  (${sorted.join(" ")})`;
}

/** Milliseconds a command takes to run to completion (median of `runs`). */
async function timeCommand(
  argv: string[],
  env: Record<string, string> = {},
  runs = RUNS,
): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await new Deno.Command(argv[0], {
      args: argv.slice(1),
      env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** Times the parts of tmosh's bootstrap: deno startup, ssh, `tmosh serve new` (which starts the daemon). */
async function breakdown(sshd: Sshd): Promise<void> {
  const self = selfCommand();
  const mark = `bench-${crypto.randomUUID()}`;
  // A registry of its own: the first run starts the user's daemon, the others find it.
  const state = await Deno.makeTempDir({ prefix: "tmosh_bench_state_" });
  const parts: [string, number][] = [
    ["deno run main.ts --version", await timeCommand([...self, "--version"])],
    [
      "ssh -F cfg root@127.0.0.1 true",
      await timeCommand(["sh", "-c", `${sshd.sshCommand} root@127.0.0.1 true`]),
    ],
    [
      "tmosh serve new -- true (the user's daemon runs)",
      await timeCommand([
        ...self,
        "serve",
        "new",
        "-i",
        "127.0.0.1",
        "--",
        "true",
      ], {
        LANG: "C.UTF-8",
        [TEST_MARK_VAR]: mark,
        XDG_STATE_HOME: state,
      }),
    ],
  ];
  const moshServer = await findBinary("mosh-server");
  if (moshServer !== null) {
    parts.push([
      "mosh-server new -- true",
      await timeCommand([moshServer, "new", "-i", "127.0.0.1", "--", "true"], {
        LANG: "C.UTF-8",
        [TEST_MARK_VAR]: mark,
      }),
    ]);
  }
  // The servers above wait for a client that never comes: end them.
  await killPidsWithEnv(TEST_MARK_VAR, mark);
  await Deno.remove(state, { recursive: true }).catch(() => {});
  console.log("\nparts (median of 5):");
  for (const [label, ms] of parts) {
    console.log(`  ${label.padEnd(46)} ${ms.toFixed(0).padStart(5)} ms`);
  }
}

/** Times connects of stock mosh and of tmosh's combinations, and prints median/min/max. */
export async function benchConnect(): Promise<void> {
  for (const name of ["sshd", "ssh", "tmux", "mosh", "mosh-server"]) {
    if (await findBinary(name) === null) {
      console.log(`connect: skipped ('${name}' is not installed)`);
      return;
    }
  }
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_bench_" });
  try {
    const samples = new Map<Connector, number[]>(
      CONNECTORS.map(([c]) => [c, []]),
    );
    // Interleaved, so drifting machine load hits every connector alike.
    for (let run = 0; run < RUNS; run++) {
      for (const [connector] of CONNECTORS) {
        samples.get(connector)!.push(await timeConnect(connector, sshd, dir));
      }
    }
    console.log(`connect to prompt, ${RUNS} runs each:`);
    for (const [connector, label] of CONNECTORS) {
      console.log(`  ${label.padEnd(40)} ${summary(samples.get(connector)!)}`);
    }
    await breakdown(sshd);
  } finally {
    await sshd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await benchConnect();
}
