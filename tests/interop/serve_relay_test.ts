/**
 * Stock `mosh-client` (run directly with MOSH_KEY, in tmux 80x24) drives a
 * directly started `tmosh serve` through the impairment relay: 30% loss and
 * 100 ms delay in each direction. The echo still arrives and `exit` still
 * ends both sides.
 */
import assert from "node:assert/strict";
import { Relay } from "../../demo/impairment_relay.ts";
import { peers } from "../../harness/require_peer.ts";
import { descendants, waitGone } from "../../harness/stock_mosh.ts";
import { startTmoshServer } from "../../harness/tmosh_server.ts";
import { startTmux, type TmuxSession } from "../../harness/tmux.ts";

const stockClient = peers("mosh-client", "tmux");

/** Limits for a lossy, slow link on a machine shared with other tests. */
const START_MS = 20_000;
const STEP_MS = 20_000;

stockClient.test("stock mosh-client through a 30% loss, 100 ms relay: tmosh serve's echo arrives, exit ends both", async () => {
  const d = await startTmoshServer([
    "/bin/sh",
    "-c",
    "PS1='relay$ ' exec /bin/sh -i",
  ]);
  const relay = await Relay.start({
    upstream: { hostname: "127.0.0.1", port: d.port },
    loss: 0.3,
    delayMs: 100,
  });
  let tmux: TmuxSession | null = null;
  try {
    tmux = await startTmux(`exec mosh-client 127.0.0.1 ${relay.port}`, {
      width: 80,
      height: 24,
      env: { MOSH_KEY: d.key, LANG: "C.UTF-8", TERM: "xterm-256color" },
    });
    await tmux.waitFor(/^relay\$\s*$/m, START_MS);
    const shells = await descendants(d.pid);
    assert.ok(shells.length > 0, "the shell runs under tmosh serve");
    // The output line differs from the typed (possibly predicted) command.
    await tmux.sendKeys("echo relay-$((40+2))-ok", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^relay-42-ok$/m, STEP_MS);
    // A quick session may carry only a dozen datagrams; keep the echoes going
    // until the 30% loss has actually hit some (each must still arrive).
    for (let i = 0; relay.stats.dropped === 0 && i < 10; i++) {
      await tmux.sendKeys(`echo again-$((${i}+100))`, { literal: true });
      await tmux.sendKeys("Enter");
      await tmux.waitFor(new RegExp(`^again-${i + 100}$`, "m"), STEP_MS);
    }
    const stats = relay.stats;
    assert.ok(stats.dropped > 0, "the relay dropped datagrams");
    assert.ok(stats.forwarded > 0, "the relay forwarded datagrams");
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    assert.equal(
      await tmux.waitForExit(STEP_MS),
      0,
      "stock client exit status",
    );
    assert.ok(await waitGone(d.pid, STEP_MS), "tmosh serve exits");
    for (const pid of shells) {
      assert.ok(await waitGone(pid, 5000), `shell ${pid} gone`);
    }
  } finally {
    await tmux?.kill();
    await relay.close();
    await d.stop(); // the shells carry the server's mark
  }
});
