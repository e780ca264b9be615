/**
 * `tmosh serve` with stock Mosh on the other side: mosh-client under tmux (a
 * full session, resize, arrow keys; SIGTERM and the client's quit), and the
 * stock mosh wrapper over the private sshd with --server='tmosh serve'.
 * @module
 */
import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import {
  type Daemon,
  delay,
  SHELL,
  signal,
  startServe,
} from "../../harness/serve_process.ts";
import { startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import { shq, tmoshCommand } from "../../harness/client_session.ts";
import {
  descendants,
  findPidsWithEnv,
  killPidsWithEnv,
  waitGone,
} from "../../harness/stock_mosh.ts";
import { startTmux } from "../../harness/tmux.ts";

const stockClient = peers("mosh-client", "tmux");
const stockWrapper = peers("sshd", "ssh", "mosh", "mosh-client", "tmux");

/** Runs stock mosh-client in tmux against a fresh `tmosh serve`; returns both. */
async function startClient(
  size: { width: number; height: number },
): Promise<{ d: Daemon; tmux: Awaited<ReturnType<typeof startTmux>> }> {
  const d = await startServe(SHELL);
  try {
    const tmux = await startTmux(`exec mosh-client 127.0.0.1 ${d.port}`, {
      ...size,
      env: { MOSH_KEY: d.key, LANG: "C.UTF-8", TERM: "xterm-256color" },
    });
    return { d, tmux };
  } catch (err) {
    await d.stop();
    throw err;
  }
}

stockClient.test("stock mosh-client drives tmosh serve: echo hi, resize, exit", async () => {
  const { d, tmux } = await startClient({ width: 90, height: 20 });
  try {
    await tmux.waitFor(/^\$\s*$/m, 10_000);
    // The program started at the client's size, not the server's 80x24.
    await tmux.sendKeys("stty size", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^20 90$/m, 5000);
    await tmux.sendKeys("echo hi", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^hi$/m, 5000);
    // The client's window size reaches the program through the pty.
    await tmux.resize(100, 30);
    await delay(300);
    await tmux.sendKeys("stty size", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^30 100$/m, 5000);
    // The client sends arrows as ESC O A; the server passes ESC [ A unless the
    // application turned on application cursor keys (docs/wire.md §8.4).
    await tmux.sendKeys("cat -v", { literal: true });
    await tmux.sendKeys("Enter");
    await delay(200);
    await tmux.sendKeys("Up");
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^\^\[\[A$/m, 5000);
    await tmux.sendKeys("C-d");
    await tmux.sendKeys("printf '\\033[?1h'; cat -v", { literal: true });
    await tmux.sendKeys("Enter");
    await delay(200);
    await tmux.sendKeys("Up");
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^\^\[OA$/m, 5000);
    await tmux.sendKeys("C-d");
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    // Server-initiated shutdown: the client exits 0 and the daemon goes away.
    assert.equal(await tmux.waitForExit(10_000), 0);
    assert.ok(await waitGone(d.pid, 5000), "daemon exits after the shell");
  } finally {
    await tmux.kill();
    await d.stop();
  }
});

stockClient.test("stock mosh-client: SIGTERM and the client's own quit both end the session cleanly", async (t) => {
  await t.step(
    "SIGTERM to the server: shutdown handshake, client exits 0",
    async () => {
      const { d, tmux } = await startClient({ width: 80, height: 24 });
      try {
        await tmux.waitFor(/^\$\s*$/m, 10_000);
        const shell = await descendants(d.pid);
        assert.ok(shell.length > 0, "the shell runs under the daemon");
        signal(d.pid, "SIGTERM");
        assert.equal(await tmux.waitForExit(10_000), 0);
        assert.ok(await waitGone(d.pid, 5000), "daemon gone");
        for (const pid of shell) {
          assert.ok(await waitGone(pid, 3000), `shell ${pid} hung up`);
        }
      } finally {
        await tmux.kill();
        await d.stop();
      }
    },
  );
  await t.step(
    "Ctrl-^ . in the client: the server acks and exits",
    async () => {
      const { d, tmux } = await startClient({ width: 80, height: 24 });
      try {
        await tmux.waitFor(/^\$\s*$/m, 10_000);
        await tmux.sendKeys("C-^");
        await tmux.sendKeys(".", { literal: true });
        await tmux.waitForExit(10_000);
        assert.ok(await waitGone(d.pid, 5000), "daemon gone");
      } finally {
        await tmux.kill();
        await d.stop();
      }
    },
  );
});

stockWrapper.test("stock mosh wrapper over ssh with --server='tmosh serve'", async () => {
  const sshd = await startSshd();
  const mark = `serve-${crypto.randomUUID()}`;
  // What `mosh --server="tmosh serve"` runs, with tmosh started through deno.
  const server = `env ${TEST_MARK_VAR}=${mark} ${tmoshCommand("serve")}`;
  const command = [
    "mosh",
    `--ssh=${sshd.markedSsh(mark)}`, // its own registry, so its own daemon
    `--server=${server}`,
    "127.0.0.1",
    "--",
    "/bin/sh",
    "-c",
    "PS1='$ ' exec /bin/sh -i",
  ].map(shq).join(" ");
  const tmux = await startTmux(command, {
    env: { LANG: "C.UTF-8", TERM: "xterm-256color" },
  });
  try {
    await tmux.waitFor(/^\$\s*$/m, 15_000);
    await tmux.sendKeys("echo $TERM-$NCURSES_NO_UTF8_ACS", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^xterm-256color-1$/m, 5000);
    const daemons = await findPidsWithEnv(TEST_MARK_VAR, mark);
    assert.ok(daemons.length > 0, "the detached server carries the mark");
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    assert.equal(await tmux.waitForExit(10_000), 0);
    for (const pid of daemons) {
      assert.ok(await waitGone(pid, 5000), `process ${pid} gone after exit`);
    }
  } finally {
    await tmux.kill();
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    await sshd.stop();
  }
});
