import assert from "node:assert/strict";
import { requireBinary } from "../../harness/require_peer.ts";
import { startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import { startTmux } from "../../harness/tmux.ts";
import {
  descendants,
  findPidsWithEnv,
  processAlive,
  startStockServer,
} from "../../harness/stock_mosh.ts";
import { startTmoshServer } from "../../harness/tmosh_server.ts";
import {
  freeTcpPort,
  freeUdpPort,
  freeUdpPortRun,
  TEST_PORT_HIGH,
  TEST_PORT_LOW,
} from "../../harness/ports.ts";

Deno.test("free ports are below the ephemeral range and bindable", async () => {
  const udp = await freeUdpPort();
  const tcp = await freeTcpPort();
  for (const port of [udp, tcp]) {
    assert.ok(port >= TEST_PORT_LOW && port <= TEST_PORT_HIGH, `port ${port}`);
  }
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: udp })
    .close();
  Deno.listen({ hostname: "127.0.0.1", port: tcp }).close();
});

Deno.test("a run of free UDP ports is below the ephemeral range and bindable", () => {
  const base = freeUdpPortRun(4);
  assert.ok(
    base >= TEST_PORT_LOW && base + 3 <= TEST_PORT_HIGH,
    `ports ${base}-${base + 3}`,
  );
  const sockets = [0, 1, 2, 3].map((i) =>
    Deno.listenDatagram({
      transport: "udp",
      hostname: "0.0.0.0",
      port: base + i,
    })
  );
  for (const socket of sockets) socket.close();
});

Deno.test("requireBinary finds installed programs and reports missing ones", async () => {
  assert.equal(await requireBinary("sh"), true);
  const ci = Deno.env.get("CI");
  try {
    Deno.env.set("CI", "true");
    await assert.rejects(
      () => requireBinary("tmosh-no-such-program"),
      /not installed/,
    );
    Deno.env.set("CI", "false");
    assert.equal(await requireBinary("tmosh-no-such-program"), false);
  } finally {
    if (ci === undefined) Deno.env.delete("CI");
    else Deno.env.set("CI", ci);
  }
});

Deno.test("private sshd runs commands and accepts the test mark", async () => {
  if (!await requireBinary("sshd") || !await requireBinary("ssh")) return;
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

Deno.test("tmux shows output and records the exit status", async () => {
  if (!await requireBinary("tmux")) return;
  const session = await startTmux("echo hi; exit 3", { width: 40, height: 10 });
  try {
    const screen = await session.waitFor(/^hi$/m, 3000);
    assert.equal(screen.split("\n").length, 10);
    assert.equal(await session.waitForExit(3000), 3);
  } finally {
    await session.kill();
  }
});

Deno.test("tmux types keys, reports the cursor and resizes", async () => {
  if (!await requireBinary("tmux")) return;
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

Deno.test("stock mosh-server starts on a test port and stop() leaves no process", async () => {
  if (!await requireBinary("mosh-server")) return;
  const server = await startStockServer({ command: ["sleep", "60"] });
  try {
    assert.ok(server.port > 0 && server.port < 32768, `port ${server.port}`);
    assert.match(server.key, /^[A-Za-z0-9/+]{22}$/);
    assert.equal(await processAlive(server.pid), true);
    assert.equal(await server.exited(), false);
    // The server really holds the UDP port.
    assert.throws(
      () =>
        Deno.listenDatagram({
          transport: "udp",
          hostname: "0.0.0.0",
          port: server.port,
        }),
      Deno.errors.AddrInUse,
    );
    const children = await descendants(server.pid);
    assert.ok(
      children.length >= 1,
      "the session command runs under the server",
    );
    assert.deepEqual(
      (await findPidsWithEnv(TEST_MARK_VAR, server.mark)).sort(),
      [server.pid, ...children].sort(),
    );
  } finally {
    await server.stop();
  }
  assert.equal(await server.exited(), true);
  assert.deepEqual(await findPidsWithEnv(TEST_MARK_VAR, server.mark), []);
});

Deno.test("tmosh serve starts on a test port and stop() leaves no process", async () => {
  const server = await startTmoshServer(["sleep", "60"]);
  try {
    assert.ok(server.port > 0 && server.port < 32768, `port ${server.port}`);
    assert.match(server.key, /^[A-Za-z0-9/+]{22}$/);
    assert.equal(await processAlive(server.pid), true);
    // The daemon really holds the UDP port.
    assert.throws(
      () =>
        Deno.listenDatagram({
          transport: "udp",
          hostname: "0.0.0.0",
          port: server.port,
        }),
      Deno.errors.AddrInUse,
    );
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
