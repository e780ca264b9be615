/**
 * The interactive client's loop boundaries (the protocol and server ones are
 * in tests/unit/loop_boundary_test.ts): a client whose every frame throws
 * right after it reached the terminal (harness/faulty_client.ts) still
 * echoes keystrokes, draws the server's output and quits cleanly with
 * Ctrl-^ . Drawing runs in microtasks, on timers and inside keyboard input
 * (local echo), so each of those boundaries is crossed by the exception.
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { peers } from "../../harness/require_peer.ts";
import { startTmux } from "../../harness/tmux.ts";
import { startTmoshServer } from "../../harness/tmosh_server.ts";
import {
  PS1,
  roundTrip,
  shq,
  STEP_MS,
  waitPrompt,
  waitServerGone,
} from "../../harness/client_session.ts";

const FAULTY_CLIENT = fileURLToPath(
  new URL("../../harness/faulty_client.ts", import.meta.url),
);

peers("tmux").test(
  "a client whose drawing throws keeps its session and quits cleanly",
  async () => {
    const server = await startTmoshServer([
      "env",
      `PS1=${PS1}`,
      "bash",
      "--norc",
      "--noprofile",
      "-i",
    ]);
    const command = [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      FAULTY_CLIENT,
      "127.0.0.1",
      `${server.port}`,
    ].map(shq).join(" ");
    const tmux = await startTmux(command, {
      env: { LANG: "C.UTF-8", TERM: "xterm-256color", MOSH_KEY: server.key },
    });
    try {
      await waitPrompt(tmux);
      await roundTrip(tmux, "echo faulty-$((6*7))", { expect: "faulty-42" });
      await roundTrip(tmux, "echo faulty-$((6*8))", { expect: "faulty-48" });
      await tmux.sendKeys("C-^");
      await tmux.sendKeys(".", { literal: true });
      assert.equal(await tmux.waitForExit(STEP_MS), 0);
      await waitServerGone(server.mark);
    } finally {
      await tmux.kill();
      await server.stop();
    }
  },
);
