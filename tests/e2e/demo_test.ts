/**
 * `tmosh demo` (docs/architecture.md §6.2), the README's run command: a local tmosh server
 * behind the impairment relay, with the client in a real terminal (tmux).
 * An echo round trip through 50 ms of delay with jitter, then Ctrl-^ .
 * quits the client with status 0 and the server does not outlive it.
 *
 * The demo owns its server (and its relay runs inside the demo), so they end
 * with the demo however it ends: Ctrl-^ . (also on a lossy link, where the
 * server may never acknowledge the shutdown), its terminal closing (SIGHUP),
 * SIGTERM, SIGINT and SIGKILL (the server notices that its owner is gone).
 * @module
 */

import assert from "node:assert/strict";
import { TEST_MARK_VAR } from "../../harness/sshd.ts";
import { peers } from "../../harness/require_peer.ts";
import { startTmux, type TmuxSession } from "../../harness/tmux.ts";
import {
  assertServerRunning,
  markedCommands,
  PS1,
  roundTrip,
  shq,
  STEP_MS,
  waitPrompt,
  waitServerGone,
} from "../../harness/client_session.ts";
import { killPidsWithEnv } from "../../harness/stock_mosh.ts";
import { selfCommand } from "../../self_command.ts";

const terminal = peers("tmux");

/** Longest wait for the server to go once the demo has ended, ms (it checks its owner 5 times a second). */
const DEMO_GONE_MS = 10_000;

/** A demo running in tmux; `mark` is carried by the demo and everything it starts. */
interface Demo {
  tmux: TmuxSession;
  mark: string;
}

/** Starts `tmosh demo ARGS -- bash` in tmux, waits for the prompt and for one echo round trip. */
async function startDemo(args: string[]): Promise<Demo> {
  const mark = `demo-${crypto.randomUUID()}`;
  // Only the demo process (client and the server it starts) carries the mark.
  const command = [
    "env",
    `${TEST_MARK_VAR}=${mark}`,
    `XDG_STATE_HOME=${stateHome(mark)}`, // its own registry, so its own daemon
    ...selfCommand(),
    "demo",
    ...args,
    "--",
    "env",
    `PS1=${PS1}`,
    "bash",
    "--norc",
    "--noprofile",
    "-i",
  ].map(shq).join(" ");
  const tmux = await startTmux(command, {
    env: { LANG: "C.UTF-8", TERM: "xterm-256color" },
  });
  try {
    await waitPrompt(tmux);
    await roundTrip(tmux, "echo demo-$((6*7))", { expect: "demo-42" });
    await assertServerRunning(mark);
  } catch (err) {
    await stopDemo({ tmux, mark });
    throw err;
  }
  return { tmux, mark };
}

/** Kills tmux and whatever still carries the mark. */
async function stopDemo(demo: Demo): Promise<void> {
  await demo.tmux.kill();
  await killPidsWithEnv(TEST_MARK_VAR, demo.mark);
  await Deno.remove(stateHome(demo.mark), { recursive: true }).catch(() => {});
}

/** The demo server's registry directory (XDG_STATE_HOME). */
function stateHome(mark: string): string {
  return `/tmp/tmosh_state_${mark}`;
}

/** The pid of the marked process whose argv matches (`main.ts demo`: the demo, `main.ts serve`: its server). */
async function markedPid(mark: string, argv: RegExp): Promise<number> {
  const line = (await markedCommands(mark)).find((c) => argv.test(c));
  assert.ok(line !== undefined, `no process ${argv} carries the mark ${mark}`);
  return Number(line.split(":")[0]);
}

/** Quits with Ctrl-^ . and checks the exit status, the absence of the unclean-shutdown notice and that nothing is left. */
async function quitCleanly(demo: Demo): Promise<void> {
  await demo.tmux.sendKeys("C-^");
  await demo.tmux.sendKeys(".", { literal: true });
  assert.equal(await demo.tmux.waitForExit(STEP_MS), 0);
  const screen = await demo.tmux.capture();
  assert.doesNotMatch(screen, /did not shut down cleanly/);
  await waitServerGone(demo.mark, DEMO_GONE_MS);
}

terminal.test("tmosh demo: a session through the relay, then Ctrl-^ . quits and the server goes", async () => {
  const demo = await startDemo(["--delay", "50", "--jitter", "10"]);
  try {
    // The owner variable is the server's, not the shell's.
    await roundTrip(demo.tmux, "echo owner-[$TMOSH_OWNER_PID]", {
      expect: "owner-[]",
    });
    await quitCleanly(demo);
  } finally {
    await stopDemo(demo);
  }
});

terminal.test("tmosh demo --delay 150 --loss 0.2: Ctrl-^ . exits 0 and ends the server, acknowledged or not", async () => {
  const demo = await startDemo(["--delay", "150", "--loss", "0.2"]);
  try {
    // On a lossy link the server's acknowledgement of the shutdown may be
    // lost; make that certain by stopping the server until the demo is gone.
    const server = await markedPid(demo.mark, /main\.ts serve/);
    Deno.kill(server, "SIGSTOP");
    await demo.tmux.sendKeys("C-^");
    await demo.tmux.sendKeys(".", { literal: true });
    const status = await demo.tmux.waitForExit(STEP_MS);
    Deno.kill(server, "SIGCONT");
    assert.equal(status, 0);
    assert.doesNotMatch(await demo.tmux.capture(), /did not shut down cleanly/);
    await waitServerGone(demo.mark, DEMO_GONE_MS);
  } finally {
    await stopDemo(demo);
  }
});

terminal.test("tmosh demo: closing its terminal (SIGHUP) ends the server", async () => {
  const demo = await startDemo(["--delay", "20"]);
  try {
    // What closing the tmux window does: the pane's processes get SIGHUP.
    await demo.tmux.kill();
    await waitServerGone(demo.mark, DEMO_GONE_MS);
  } finally {
    await stopDemo(demo);
  }
});

for (const signal of ["SIGTERM", "SIGINT", "SIGKILL"] as const) {
  terminal.test(`tmosh demo: ${signal} to the demo ends the server`, async () => {
    const demo = await startDemo(["--delay", "20"]);
    try {
      Deno.kill(await markedPid(demo.mark, /main\.ts demo/), signal);
      await waitServerGone(demo.mark, DEMO_GONE_MS);
    } finally {
      await stopDemo(demo);
    }
  });
}
