/**
 * The test harness itself: free test ports, finding peer programs and how a
 * missing one is reported (ignored outside CI, failed with CI=true), the
 * private sshd, tmux sessions, and starting `tmosh serve`. Starting stock
 * mosh-server is in tests/interop/harness_stock_test.ts.
 * @module
 */
import assert from "node:assert/strict";
import {
  findBinarySync,
  HIDE_PEERS_VAR,
  missingPeers,
  missingPeersMessage,
  peers,
  peerTestDefinition,
  requirePeers,
} from "../../harness/require_peer.ts";
import { startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import { startTmux } from "../../harness/tmux.ts";
import { findPidsWithEnv, processAlive } from "../../harness/stock_mosh.ts";
import { startTmoshServer } from "../../harness/tmosh_server.ts";
import {
  assertUdpPortTaken,
  freeTcpPort,
  freeUdpPort,
  freeUdpPortRun,
  holdUdpPortRun,
  inFreeUdpPortRun,
  TEST_PORT_HIGH,
  TEST_PORT_LOW,
} from "../../harness/ports.ts";

const sshPeers = peers("sshd", "ssh");
const tmuxPeers = peers("tmux");

Deno.test("free ports are below the ephemeral range and bindable", async () => {
  // Tests beside this one take free ports too: one may take a port between
  // its finding and the bind here, so a port is looked for again, a few times.
  for (let attempt = 1;; attempt++) {
    const udp = await freeUdpPort();
    const tcp = await freeTcpPort();
    for (const port of [udp, tcp]) {
      assert.ok(
        port >= TEST_PORT_LOW && port <= TEST_PORT_HIGH,
        `port ${port}`,
      );
    }
    try {
      Deno.listenDatagram({
        transport: "udp",
        hostname: "127.0.0.1",
        port: udp,
      }).close();
      Deno.listen({ hostname: "127.0.0.1", port: tcp }).close();
      return;
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse) || attempt >= 3) throw err;
    }
  }
});

Deno.test("a run of free UDP ports is below the ephemeral range and bindable", () => {
  const { base, sockets } = holdUdpPortRun(4);
  assert.ok(
    base >= TEST_PORT_LOW && base + 3 <= TEST_PORT_HIGH,
    `ports ${base}-${base + 3}`,
  );
  assert.deepEqual(
    sockets.map((s) => (s.addr as Deno.NetAddr).port),
    [base, base + 1, base + 2, base + 3],
  );
  for (const socket of sockets) socket.close();
  // Let go, the run binds again (freeUdpPortRun's promise).
  const again = freeUdpPortRun(4);
  Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: again })
    .close();
});

Deno.test("inFreeUdpPortRun: a run taken by another process in between is replaced by a new one; other errors go through", async () => {
  const bases: number[] = [];
  const got = await inFreeUdpPortRun(2, (base) => {
    bases.push(base);
    if (bases.length === 1) {
      // What Connection.listen says when another process took the run.
      throw new Error(
        `tmosh: no free UDP port in ${base}-${base + 1}; pass -p PORT`,
      );
    }
    return base;
  });
  assert.equal(bases.length, 2);
  assert.equal(got, bases[1]);
  await assert.rejects(
    inFreeUdpPortRun(2, () => {
      bases.push(-1);
      throw new Error("tmosh: cannot bind UDP on 127.0.0.1: permission denied");
    }),
    /permission denied/,
  );
  assert.equal(bases.length, 3, "not retried");
});

Deno.test("peer lookup: installed programs are found, missing ones named with their package", () => {
  assert.match(findBinarySync("sh") ?? "", /^\/.*\/sh$/);
  assert.equal(findBinarySync("tmosh-no-such-program"), null);
  assert.deepEqual(missingPeers("sh", "tmosh-no-such-program"), [
    "tmosh-no-such-program",
  ]);
  assert.deepEqual(missingPeers("sh"), []);
  assert.equal(
    missingPeersMessage(["mosh-server", "sshd", "mosh-client"]),
    "tmosh test: needs 'mosh-server', 'sshd', 'mosh-client', not installed " +
      "(Debian: apt-get install -y mosh openssh-server)",
  );
  assert.throws(
    () => requirePeers("sh", "tmosh-no-such-program"),
    /^Error: tmosh test: needs 'tmosh-no-such-program', not installed/,
  );
  requirePeers("sh");
});

Deno.test("peer tests outside CI: a missing peer makes the test ignored; present peers run it", async () => {
  let ran = 0;
  const body = () => {
    ran++;
  };
  const missing = peerTestDefinition(
    "t",
    ["sh", "tmosh-no-such-program"],
    body,
    false,
  );
  assert.equal(missing.name, "t");
  assert.equal(missing.ignore, true);
  const present = peerTestDefinition("t", ["sh"], body, false);
  assert.ok(!present.ignore);
  await present.fn({} as Deno.TestContext);
  assert.equal(ran, 1);
});

Deno.test("peer tests under CI: a missing peer fails the test, naming the program", async () => {
  let ran = 0;
  const definition = peerTestDefinition(
    "t",
    ["sh", "tmosh-no-such-program"],
    () => {
      ran++;
    },
    true,
  );
  assert.ok(!definition.ignore);
  await assert.rejects(
    async () => await definition.fn({} as Deno.TestContext),
    /needs 'tmosh-no-such-program', not installed \(Debian: apt-get install -y tmosh-no-such-program\)/,
  );
  assert.equal(ran, 0, "the body does not run");
});

Deno.test("peer tests through deno test: TMOSH_TEST_HIDE_PEERS, ignored outside CI, failed with CI=true", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_peers_" });
  try {
    const file = `${dir}/peer_test.ts`;
    const module = new URL("../../harness/require_peer.ts", import.meta.url);
    await Deno.writeTextFile(
      file,
      `import { peers } from "${module.href}";\n` +
        `peers("sh").test("needs sh", () => {});\n`,
    );
    const run = async (ci: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["test", "--no-config", "--allow-all", file],
        env: { CI: ci, NO_COLOR: "1", [HIDE_PEERS_VAR]: "sh" },
        stdin: "null",
      }).output();
      const decoder = new TextDecoder();
      return {
        code: out.code,
        text: decoder.decode(out.stdout) + decoder.decode(out.stderr),
      };
    };
    const hint = "needs 'sh', not installed (Debian: apt-get install -y sh)";
    const local = await run("");
    assert.equal(local.code, 0, local.text);
    assert.ok(local.text.includes(`IGNORED needs sh: tmosh test: ${hint}`));
    assert.match(local.text, /needs sh \.\.\. ignored/);
    assert.match(local.text, /0 passed \| 0 failed \| 1 ignored/);
    const ci = await run("true");
    assert.equal(ci.code, 1, ci.text);
    assert.match(ci.text, /needs sh \.\.\. FAILED/);
    assert.ok(ci.text.includes(`Error: tmosh test: ${hint}`), ci.text);
    assert.match(ci.text, /0 passed \| 1 failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

sshPeers.test("private sshd runs commands and accepts the test mark", async () => {
  const sshd = await startSshd();
  try {
    const [ssh, ...sshArgs] = sshd.sshCommand.split(" ");
    const echo = await new Deno.Command(ssh, {
      args: [...sshArgs, "root@127.0.0.1", "echo ok"],
      stdin: "null",
    }).output();
    assert.equal(new TextDecoder().decode(echo.stderr), "");
    assert.equal(new TextDecoder().decode(echo.stdout), "ok\n");
    const mark = await new Deno.Command(ssh, {
      args: [...sshArgs, "root@127.0.0.1", `echo "$${TEST_MARK_VAR}"`],
      env: { [TEST_MARK_VAR]: "mark-42" },
      stdin: "null",
    }).output();
    assert.equal(new TextDecoder().decode(mark.stdout), "mark-42\n");
  } finally {
    await sshd.stop();
  }
  // Stopped: the port refuses connections.
  await assert.rejects(() =>
    Deno.connect({ hostname: "127.0.0.1", port: sshd.port })
  );
});

tmuxPeers.test("tmux shows output and records the exit status", async () => {
  const session = await startTmux("echo hi; exit 3", { width: 40, height: 10 });
  try {
    const screen = await session.waitFor(/^hi$/m, 3000);
    assert.equal(screen.split("\n").length, 10);
    assert.equal(await session.waitForExit(3000), 3);
  } finally {
    await session.kill();
  }
});

tmuxPeers.test("tmux types keys, reports the cursor and resizes", async () => {
  const session = await startTmux("PS1='$ ' sh", {
    env: { TMOSH_X: "it's set" },
  });
  try {
    await session.waitFor(/^\$$/m, 3000);
    await session.sendKeys(`echo "$TMOSH_X"; stty size`, { literal: true });
    await session.sendKeys("Enter");
    // Wait for the next prompt too: the cursor is checked right after.
    await session.waitFor(/^24 80\n\$$/m, 3000);
    assert.match(await session.capture(), /^it's set$/m);
    assert.deepEqual(await session.cursor(), { x: 2, y: 3 });
    await session.resize(100, 30);
    await session.sendKeys(
      "clear; printf '\\033[31mred\\033[0m\\n'; stty size",
      { literal: true },
    );
    await session.sendKeys("Enter");
    await session.waitFor(/^30 100$/m, 3000);
    assert.ok(
      (await session.capture({ colors: true })).includes("\x1b[31mred"),
    );
    assert.equal(await session.exitStatus(), null);
    await session.sendKeys("exit 0", { literal: true });
    await session.sendKeys("Enter");
    assert.equal(await session.waitForExit(3000), 0);
  } finally {
    await session.kill();
  }
});

Deno.test("tmosh serve starts on a test port and stop() leaves no process", async () => {
  const server = await startTmoshServer(["sleep", "60"]);
  try {
    assert.ok(server.port > 0 && server.port < 32768, `port ${server.port}`);
    assert.match(server.key, /^[A-Za-z0-9/+]{22}$/);
    assert.equal(await processAlive(server.pid), true);
    // The daemon really holds the UDP port.
    assertUdpPortTaken(server.port);
    assert.ok(
      (await findPidsWithEnv(TEST_MARK_VAR, server.mark)).includes(server.pid),
      "the daemon carries the mark",
    );
  } finally {
    await server.stop();
  }
  assert.equal(await processAlive(server.pid), false);
  assert.deepEqual(await findPidsWithEnv(TEST_MARK_VAR, server.mark), []);
});
