/**
 * Jump hosts (docs/wire.md §16): start-to-prompt time and keystroke echo
 * latency through a bastion, in one run, side by side: tmosh through the
 * bastion's relay (`tmosh connect -J bastion target`), tmosh straight to the
 * target (the bastion routes in the kernel), stock mosh straight to the
 * target, and plain `ssh -J bastion target`. Three network namespaces
 * (harness/netns.ts, routed so the direct rows are possible); every client
 * runs in the client's namespace under tmux. Keystrokes: prediction off,
 * one letter at a time typed at the prompt, the time until it is on the
 * screen (tmux control mode); "probe" is the time of a bare tmux round trip.
 * Takes about a minute. `deno run -A bench/jump_bench.ts`.
 * @module
 */

import { findBinary } from "../harness/require_peer.ts";
import { type JumpStage, prepareJumpStage } from "../harness/jump_session.ts";
import { startWatchedTmux } from "../harness/tmux_watch.ts";
import { killPidsWithEnv } from "../harness/stock_mosh.ts";
import { TEST_MARK_VAR } from "../harness/sshd.ts";
import { PS1, shellCommand, shq } from "../harness/client_session.ts";
import { summary, timePrompt } from "./connect_bench.ts";

/** Start-to-prompt runs per route. */
const RUNS = 5;
/** Keys typed per route. */
const KEYS = 40;
/** Gap between keys, ms (a brisk typist; each key waits for its echo first). */
const KEY_GAP_MS = 120;
/** Longest wait for one key's echo, ms. */
const KEY_TIMEOUT_MS = 5000;

/** The routes compared. */
type Route = "tmosh-jump" | "tmosh-direct" | "mosh-direct" | "ssh-jump";

/** Labels, in the order printed. */
const ROUTES: [Route, string][] = [
  ["tmosh-jump", "tmosh connect -J bastion (relay)"],
  ["tmosh-direct", "tmosh connect, direct (kernel route)"],
  ["mosh-direct", "stock mosh, direct (kernel route)"],
  ["ssh-jump", "ssh -J bastion"],
];

/** Resolves after `ms` milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The sh command line of a route (in the client's namespace), predictions off. */
function routeCommand(stage: JumpStage, route: Route): string {
  const inClient = stage.net.exec(stage.net.ns.client, []).map(shq).join(" ");
  const ssh = `env ${TEST_MARK_VAR}=${stage.mark} ssh -F ${stage.config}`;
  const shell = shellCommand().map(shq).join(" ");
  switch (route) {
    case "tmosh-jump":
    case "tmosh-direct":
      // Predictions: MOSH_PREDICTION_DISPLAY=never in the keystroke runs.
      return stage.connectArgv({
        jump: route === "tmosh-jump" ? "bastion" : null,
      }).map(shq).join(" ");
    case "mosh-direct":
      return `${inClient} mosh --predict=never --ssh=${
        shq(ssh)
      } target -- ${shell}`;
    case "ssh-jump":
      return `${inClient} ${ssh} -tt -J bastion target ${shq(shell)}`;
  }
}

/** Milliseconds from typing each letter at the prompt to seeing it, for `KEYS` letters. */
async function keystrokes(stage: JumpStage, route: Route): Promise<{
  samples: number[];
  probe: number;
}> {
  const term = await startWatchedTmux(routeCommand(stage, route), {
    env: {
      TERM: "xterm-256color",
      LANG: "C.UTF-8",
      MOSH_PREDICTION_DISPLAY: "never",
    },
  });
  try {
    await term.waitFor(
      (s) => s.rows.some((r) => r.startsWith(PS1.trimEnd())),
      30_000,
    );
    await sleep(500);
    const probeStart = performance.now();
    await term.capture();
    const probe = performance.now() - probeStart;
    const samples: number[] = [];
    let typed = "";
    for (let i = 0; i < KEYS; i++) {
      const letter = "abcdefghij"[i % 10];
      typed += letter;
      const want = `${PS1}${typed}`;
      const sent = await term.sendKeys(letter, { literal: true });
      const seen = await term.waitFor(
        (s) => s.rows[s.y] === want,
        KEY_TIMEOUT_MS,
      );
      samples.push(Math.max(0, seen.time - sent));
      await sleep(KEY_GAP_MS);
    }
    return { samples, probe };
  } finally {
    await term.sendKeys("C-u").catch(() => {});
    await term.sendKeys("exit", { literal: true }).catch(() => {});
    await term.sendKeys("Enter").catch(() => {});
    await sleep(300);
    await term.kill();
    await killPidsWithEnv(TEST_MARK_VAR, stage.mark);
  }
}

/** Times every route's start-to-prompt and keystrokes through one set of namespaces; prints them side by side. */
export async function benchJump(): Promise<void> {
  for (const name of ["ip", "sshd", "ssh", "tmux", "mosh", "mosh-server"]) {
    if (await findBinary(name) === null) {
      console.log(`jump: skipped ('${name}' is not installed)`);
      return;
    }
  }
  if (Deno.uid() !== 0) {
    console.log("jump: skipped (network namespaces need root)");
    return;
  }
  const stage = await prepareJumpStage({ routed: true });
  try {
    const prompt = new Map<Route, number[]>(ROUTES.map(([r]) => [r, []]));
    // Interleaved, so drifting machine load hits every route alike.
    for (let run = 0; run < RUNS; run++) {
      for (const [route] of ROUTES) {
        prompt.get(route)!.push(
          await timePrompt(routeCommand(stage, route), {
            mark: stage.mark,
            dir: stage.dir,
          }),
        );
      }
    }
    console.log(`start to prompt, ${RUNS} runs each:`);
    for (const [route, label] of ROUTES) {
      console.log(`  ${label.padEnd(38)} ${summary(prompt.get(route)!)}`);
    }
    console.log(
      `keystroke echo, prediction off, ${KEYS} keys each (ms from send-keys to screen):`,
    );
    for (const [route, label] of ROUTES) {
      const { samples, probe } = await keystrokes(stage, route);
      const sorted = [...samples].sort((a, b) => a - b);
      const p90 = sorted[Math.floor(sorted.length * 0.9)];
      console.log(
        `  ${label.padEnd(38)} median ${
          sorted[Math.floor(sorted.length / 2)].toFixed(1).padStart(5)
        }  p90 ${p90.toFixed(1).padStart(5)}  max ${
          sorted.at(-1)!.toFixed(1).padStart(5)
        }  (probe ${probe.toFixed(1)})`,
      );
    }
  } finally {
    await stage.stop();
  }
}

if (import.meta.main) await benchJump();
