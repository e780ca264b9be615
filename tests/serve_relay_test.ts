/**
 * Stock `mosh-client` (run directly with MOSH_KEY, in tmux 80x24) drives a
 * directly started `tmosh serve` through the impairment relay: 30% loss and
 * 100 ms delay in each direction. The echo still arrives and `exit` still
 * ends both sides.
 */
import assert from "node:assert/strict";
import { Relay } from "../client/relay.ts";
import { freeUdpPort } from "./helpers/ports.ts";
import { requireBinary } from "./helpers/require_peer.ts";
import { descendants, processAlive } from "./helpers/stock_mosh.ts";
import { startTmux, type TmuxSession } from "./helpers/tmux.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** Limits for a lossy, slow link on a machine shared with other tests. */
const START_MS = 20_000;
const STEP_MS = 20_000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A detached `tmosh serve` daemon. */
interface Daemon {
  port: number;
  key: string;
  pid: number;
}

/** Runs `tmosh serve new -i 127.0.0.1 -p PORT -- ARGS` and parses MOSH CONNECT and the daemon pid. */
async function startServe(command: string[]): Promise<Daemon> {
  const port = await freeUdpPort();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "serve",
      "new",
      "-i",
      "127.0.0.1",
      "-p",
      `${port}`,
      "--",
      ...command,
    ],
    env: { LANG: "C.UTF-8" },
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const connect = /^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})$/m.exec(stdout);
  const detached = /\[tmosh-server detached, pid = (\d+)\]/.exec(stderr);
  if (connect === null || detached === null) {
    if (detached !== null) await stopAll([Number(detached[1])]);
    throw new Error(
      `tmosh: tmosh serve did not start (exit ${out.code}): ${stderr}`,
    );
  }
  return {
    port: Number(connect[1]),
    key: connect[2],
    pid: Number(detached[1]),
  };
}

/** SIGTERMs the processes, SIGKILLs what is left after 3 s. */
async function stopAll(pids: number[]): Promise<void> {
  const send = (pid: number, sig: Deno.Signal) => {
    try {
      Deno.kill(pid, sig);
    } catch {
      // gone
    }
  };
  for (const pid of pids) send(pid, "SIGTERM");
  for (let i = 0; i < 60; i++) {
    if (!(await Promise.all(pids.map(processAlive))).some(Boolean)) return;
    await delay(50);
  }
  for (const pid of pids) send(pid, "SIGKILL");
}

/** Waits until `pid` is gone; false if it is still alive after `ms`. */
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!await processAlive(pid)) return true;
    await delay(50);
  }
  return false;
}

Deno.test("stock mosh-client through a 30% loss, 100 ms relay: tmosh serve's echo arrives, exit ends both", async () => {
  if (!await requireBinary("mosh-client") || !await requireBinary("tmux")) {
    return;
  }
  const d = await startServe([
    "/bin/sh",
    "-c",
    "PS1='relay$ ' exec /bin/sh -i",
  ]);
  let shells: number[] = [];
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
    shells = await descendants(d.pid);
    assert.ok(shells.length > 0, "the shell runs under tmosh serve");
    // The output line differs from the typed (possibly predicted) command.
    await tmux.sendKeys("echo relay-$((40+2))-ok", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^relay-42-ok$/m, STEP_MS);
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
    await stopAll([d.pid, ...await descendants(d.pid), ...shells]);
  }
});
