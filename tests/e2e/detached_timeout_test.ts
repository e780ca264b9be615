/**
 * The detached timeout with real processes (docs/wire.md §1.7,
 * server/detached_timeout.ts): a session whose client goes silent ends once
 * no client has been heard from for TMOSH_DETACHED_TIMEOUT seconds (as on
 * MOSH_SERVER_NETWORK_TMOUT), and its record and control socket go with it;
 * a client that keeps talking keeps it; `--detached-timeout` beats the
 * variable.
 * @module
 */

import assert from "node:assert/strict";
import { HeadlessClient } from "../../harness/headless_client.ts";
import { delay, SHELL, startServe } from "../../harness/serve_process.ts";
import { processAlive, waitGone } from "../../harness/stock_mosh.ts";
import {
  exists,
  listSessions,
  onlySession,
  stateHome,
} from "../../harness/attach_tools.ts";
import { SHUTDOWN_TIMEOUT } from "../../protocol/network/constants.ts";

/** The detached timeout of these tests, s. */
const TIMEOUT_S = 2;
/** The detached timeout of the test with a client, s (room for a check after 1 s of silence under load). */
const CLIENT_TIMEOUT_S = 3;

Deno.test("detached timeout: a session whose client went silent ends after TMOSH_DETACHED_TIMEOUT, record and socket removed", async () => {
  const { dir, env } = await stateHome({
    TMOSH_DETACHED_TIMEOUT: `${CLIENT_TIMEOUT_S}`,
  });
  const d = await startServe(SHELL, env);
  let client: HeadlessClient | null = null;
  try {
    const rec = await onlySession(env);
    client = HeadlessClient.connect({
      ip: "127.0.0.1",
      port: d.port,
      key: d.key,
      width: 80,
      height: 24,
    });
    const c = client;
    await c.waitFor(() => c.screenText()[0].startsWith("$"), "prompt", 10_000);
    // Talking more often than the timeout keeps the session, well past it.
    let lastTyped = 0;
    for (let i = 0; i < 10; i++) {
      if (i > 0) await delay(500);
      c.type(`echo keep-${i}\r`);
      lastTyped = Date.now();
    }
    assert.ok(await processAlive(d.pid), "alive while the client talks");
    await c.waitFor(
      () => c.screenText().includes("keep-9"),
      "the last echo",
      10_000,
    );
    // The client vanishes without a word (a closed laptop). It was last
    // heard no earlier than its last keystroke.
    await c.close();
    await delay(lastTyped + 1000 - Date.now());
    assert.ok(await processAlive(d.pid), "not yet: 1 s of silence");
    // Then the timeout, and the shutdown a vanished client never acknowledges.
    assert.ok(
      await waitGone(
        d.pid,
        CLIENT_TIMEOUT_S * 1000 + SHUTDOWN_TIMEOUT + 8000,
      ),
      "the server ended",
    );
    assert.ok(Date.now() - lastTyped >= CLIENT_TIMEOUT_S * 1000);
    assert.ok(!exists(rec.socket), "socket removed");
    assert.ok(!exists(`${dir}/tmosh/${rec.id}.json`), "record removed");
    assert.deepEqual(await listSessions(env), []);
  } finally {
    await client?.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("detached timeout: --detached-timeout beats TMOSH_DETACHED_TIMEOUT=0, and applies before any client came", async () => {
  const { dir, env } = await stateHome({ TMOSH_DETACHED_TIMEOUT: "0" });
  const timed = await startServe(
    [`--detached-timeout=${TIMEOUT_S}`, ...SHELL],
    env,
  );
  const never = await startServe(SHELL, env);
  try {
    const before = await listSessions(env);
    assert.equal(before.length, 2);
    // Both live in the user's daemon (one pid): the port tells them apart.
    const rec = before.find((s) => s.port === timed.port)!;
    // No client at all: gone at once when the timeout passes (nothing to shut down).
    const deadline = Date.now() + TIMEOUT_S * 1000 + 5000;
    while (exists(rec.socket) && Date.now() < deadline) await delay(50);
    assert.ok(!exists(rec.socket), "ended: socket removed");
    assert.ok(await processAlive(never.pid), "0 = never");
    assert.deepEqual(
      (await listSessions(env)).map((s) => s.port),
      [never.port],
    );
  } finally {
    await timed.stop();
    await never.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
