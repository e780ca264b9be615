/**
 * `tmosh demo` (docs/architecture.md §6.2), the README's run command: a local tmosh server
 * behind the impairment relay, with the client in a real terminal (tmux).
 * An echo round trip through 50 ms of delay with jitter, then Ctrl-^ .
 * quits the client with status 0 and the server does not outlive it.
 * @module
 */

import assert from "node:assert/strict";
import { TEST_MARK_VAR } from "../../harness/sshd.ts";
import { peers } from "../../harness/require_peer.ts";
import { startTmux } from "../../harness/tmux.ts";
import {
  assertServerRunning,
  MAIN_TS,
  PS1,
  roundTrip,
  shq,
  STEP_MS,
  waitPrompt,
  waitServerGone,
} from "../../harness/client_session.ts";
import { killPidsWithEnv } from "../../harness/stock_mosh.ts";

const terminal = peers("tmux");

terminal.test("tmosh demo: a session through the relay, then Ctrl-^ . quits and the server goes", async () => {
  const mark = `demo-${crypto.randomUUID()}`;
  // Only the demo process (client and the server it starts) carries the mark.
  const command = [
    "env",
    `${TEST_MARK_VAR}=${mark}`,
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    MAIN_TS,
    "demo",
    "--delay",
    "50",
    "--jitter",
    "10",
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
    await tmux.sendKeys("C-^");
    await tmux.sendKeys(".", { literal: true });
    assert.equal(await tmux.waitForExit(STEP_MS), 0);
    await waitServerGone(mark);
  } finally {
    await tmux.kill();
    await killPidsWithEnv(TEST_MARK_VAR, mark);
  }
});
