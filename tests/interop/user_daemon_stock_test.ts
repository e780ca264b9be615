/**
 * Stock mosh-client against a session in the user's daemon
 * (server/user_daemon.ts): the second of two sessions in one process works
 * as a session of its own (echo, resize, exit), and its end leaves the
 * first session and the daemon running.
 * @module
 */
import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import {
  delay,
  removeStateHome,
  SHELL,
  startServe,
} from "../../harness/serve_process.ts";
import { processAlive } from "../../harness/stock_mosh.ts";
import { startTmux } from "../../harness/tmux.ts";
import { listSessions, stateHome } from "../../harness/attach_tools.ts";

const stockClient = peers("mosh-client", "tmux");

stockClient.test("stock mosh-client drives the second session of a user daemon: echo, resize, exit; the first session goes on", async () => {
  const { dir, env } = await stateHome();
  const first = await startServe(SHELL, env);
  const second = await startServe(SHELL, env);
  let tmux: Awaited<ReturnType<typeof startTmux>> | null = null;
  try {
    assert.equal(first.pid, second.pid, "one daemon hosts both");
    tmux = await startTmux(`exec mosh-client 127.0.0.1 ${second.port}`, {
      width: 90,
      height: 20,
      env: { MOSH_KEY: second.key, LANG: "C.UTF-8", TERM: "xterm-256color" },
    });
    await tmux.waitFor(/^\$\s*$/m, 10_000);
    await tmux.sendKeys("stty size", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^20 90$/m, 5000);
    await tmux.sendKeys("echo hi-from-$$", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^hi-from-\d+$/m, 5000);
    await tmux.resize(100, 30);
    await delay(300);
    await tmux.sendKeys("stty size", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^30 100$/m, 5000);
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    assert.equal(await tmux.waitForExit(10_000), 0);
    // Only the second session ended.
    const deadline = Date.now() + 5000;
    while ((await listSessions(env)).length > 1 && Date.now() < deadline) {
      await delay(50);
    }
    assert.deepEqual((await listSessions(env)).map((s) => s.port), [
      first.port,
    ]);
    assert.ok(await processAlive(first.pid), "the daemon goes on");
  } finally {
    await tmux?.kill();
    await first.stop();
    await second.stop();
    await removeStateHome(dir);
  }
});
