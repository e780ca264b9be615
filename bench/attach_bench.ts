/**
 * Attach time (issue 12): from starting `tmosh connect --attach=NAME` to the
 * restored screen (the session's last output and its prompt) in tmux, side by
 * side with a fresh `tmosh connect` to a prompt, through the private loopback
 * sshd. Each run starts a named session (the fresh sample), prints a marker,
 * kills the client with SIGKILL (the session lives on, detached) and
 * attaches to it (the attach sample), then exits the shell. As in
 * bench/connect_bench.ts the command records its own start time and the
 * screen is polled every 10 ms.
 * @module
 */

import { startTmux, type TmuxSession } from "../harness/tmux.ts";
import { findBinary } from "../harness/require_peer.ts";
import { findPids } from "../harness/stock_mosh.ts";
import { PS1, shq } from "../harness/client_session.ts";
import {
  type RegistryRemote,
  startRegistryRemote,
} from "../harness/registry_remote.ts";

/** Runs of each kind. */
const RUNS = 5;
/** Screen poll interval, ms. */
const POLL_MS = 10;
/** Longest wait for a screen, ms. */
const TIMEOUT_MS = 30_000;

/** Resolves after `ms` milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a row of `screen` is the prompt. */
function hasPrompt(screen: string): boolean {
  return screen.split("\n").some((l) => l.startsWith(PS1.trimEnd()));
}

/** Starts `command` in tmux (it stamps its own start) and polls until `done(screen)`; returns the pane and the ms it took. */
async function timeToScreen(
  command: string,
  dir: string,
  done: (screen: string) => boolean,
): Promise<{ tmux: TmuxSession; ms: number }> {
  const stamp = `${dir}/start-${crypto.randomUUID()}`;
  const tmux = await startTmux(`date +%s%N > ${shq(stamp)}; ${command}`, {
    env: { TERM: "xterm-256color", LANG: "C.UTF-8" },
  });
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    while (true) {
      const screen = await tmux.capture();
      const seen = Date.now();
      if (done(screen)) {
        const startNs = BigInt((await Deno.readTextFile(stamp)).trim());
        return { tmux, ms: seen - Number(startNs / 1_000_000n) };
      }
      if (seen > deadline) {
        throw new Error(
          `tmosh: the screen was not there within ${TIMEOUT_MS} ms:\n${screen}`,
        );
      }
      await sleep(POLL_MS);
    }
  } catch (error) {
    await tmux.kill();
    throw error;
  }
}

/** Types `line` and Enter. */
async function typeLine(tmux: TmuxSession, line: string): Promise<void> {
  await tmux.sendKeys(line, { literal: true });
  await tmux.sendKeys("Enter");
}

/** One fresh connect and one attach to the session it started: their times, ms. */
async function oneRun(
  remote: RegistryRemote,
  run: number,
): Promise<{ fresh: number; attach: number }> {
  const name = `bench-${run}`;
  const marker = `restored-${run}`;
  const first = await timeToScreen(
    remote.connectCommand(["--name", name]),
    remote.dir,
    hasPrompt,
  );
  try {
    await typeLine(first.tmux, `seq 1 15; echo restored-$((${run}+0))`);
    await first.tmux.waitFor(
      (s) => s.split("\n").includes(marker),
      TIMEOUT_MS,
    );
    const pids = await findPids(
      new RegExp(`main\\.ts connect .*${remote.mark}.*--name ${name}`),
    );
    for (const pid of pids) Deno.kill(pid, "SIGKILL");
    await first.tmux.waitForExit(TIMEOUT_MS);
  } finally {
    await first.tmux.kill();
  }
  const second = await timeToScreen(
    remote.connectCommand([`--attach=${name}`]),
    remote.dir,
    (s) => s.split("\n").includes(marker) && hasPrompt(s),
  );
  try {
    await typeLine(second.tmux, "exit");
    await second.tmux.waitForExit(TIMEOUT_MS).catch(() => {});
  } finally {
    await second.tmux.kill();
  }
  return { fresh: first.ms, attach: second.ms };
}

/** Median, min and max of `samples`, each right-aligned. */
function row(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const cells = [median, sorted[0], sorted.at(-1)!].map((v) =>
    v.toFixed(0).padStart(7)
  );
  return `  ${label.padEnd(46)}${cells.join("")}   (${sorted.join(" ")})`;
}

/** Times fresh connects and attaches, and prints one table. */
export async function benchAttach(): Promise<void> {
  for (const name of ["sshd", "ssh", "tmux"]) {
    if (await findBinary(name) === null) {
      console.log(`attach: skipped ('${name}' is not installed)`);
      return;
    }
  }
  const remote = await startRegistryRemote();
  try {
    const fresh: number[] = [];
    const attach: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const t = await oneRun(remote, run);
      fresh.push(t.fresh);
      attach.push(t.attach);
    }
    console.log(`loopback sshd, ${RUNS} runs each, ms:`);
    console.log(`  ${"".padEnd(46)} median    min    max`);
    console.log(row("tmosh connect (new session, to a prompt)", fresh));
    console.log(row("tmosh connect --attach=NAME (restored screen)", attach));
  } finally {
    await remote.stop();
  }
}

if (import.meta.main) {
  await benchAttach();
}
