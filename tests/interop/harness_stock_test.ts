/**
 * The test harness with stock mosh-server (harness/stock_mosh.ts): it starts
 * on a test port and stop() leaves no process behind.
 * @module
 */
import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import { assertUdpPortTaken } from "../../harness/ports.ts";
import { TEST_MARK_VAR } from "../../harness/sshd.ts";
import {
  descendants,
  findPidsWithEnv,
  processAlive,
  startStockServer,
} from "../../harness/stock_mosh.ts";

const stockServer = peers("mosh-server");

stockServer.test("stock mosh-server starts on a test port and stop() leaves no process", async () => {
  const server = await startStockServer({ command: ["sleep", "60"] });
  try {
    assert.ok(server.port > 0 && server.port < 32768, `port ${server.port}`);
    assert.match(server.key, /^[A-Za-z0-9/+]{22}$/);
    assert.equal(await processAlive(server.pid), true);
    assert.equal(await server.exited(), false);
    // The server really holds the UDP port.
    assertUdpPortTaken(server.port);
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
