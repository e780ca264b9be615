/**
 * An exception never ends a session: whatever a callback throws (the
 * datagram receive path, the transport's timer and handlers, the server's
 * pty reader) is caught at the loop boundary, logged once, and the session
 * goes on. In Deno an uncaught exception in a callback ends the process, which
 * fails these tests. Drawing and keyboard input of the interactive client are
 * in tests/e2e/loop_boundary_test.ts (they need a terminal).
 * @module
 */

import assert from "node:assert/strict";
import { Connection } from "../../protocol/network/connection.ts";
import { ErrorGuard } from "../../protocol/network/guard.ts";
import { encodeKey, generateKey } from "../../protocol/crypto/key.ts";
import { runSession } from "../../server/session.ts";
import { HeadlessClient } from "../../harness/headless_client.ts";
import { inFreeUdpPortRun } from "../../harness/ports.ts";

/** Longest wait for one step, ms. */
const STEP_MS = 10_000;

/** An injected failure. */
class Injected extends Error {
  constructor(where: string) {
    super(`injected failure in ${where}`);
  }
}

/** A tmosh server session (in this process) running `sh`, and a headless client attached to it. */
async function session(
  options: { onOutput?: (chunk: Uint8Array) => void } = {},
): Promise<{
  client: HeadlessClient;
  log: string[];
  close(): Promise<void>;
}> {
  const key = generateKey();
  const log: string[] = [];
  const connection = await inFreeUdpPortRun(
    8,
    (base) =>
      Connection.listen(key, { ip: "127.0.0.1", portRange: [base, base + 7] }),
  );
  const ended = runSession(connection, {
    command: ["sh"],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", PS1: "$ " },
    width: 80,
    height: 24,
    log: (line) => log.push(line),
    onOutput: options.onOutput,
  });
  const client = HeadlessClient.connect({
    ip: "127.0.0.1",
    port: connection.port,
    key: encodeKey(key),
    width: 80,
    height: 24,
  });
  return {
    client,
    log,
    async close() {
      client.shutdown();
      await Promise.race([
        client.finished,
        new Promise((resolve) => setTimeout(resolve, STEP_MS)),
      ]);
      await client.close();
      await ended;
    },
  };
}

/** Types `echo` of an arithmetic result and waits for it on the client's screen. */
async function assertEchoes(client: HeadlessClient, n: number): Promise<void> {
  client.type(`echo boundary-$((${n}*2))\r`);
  await client.waitFor(
    () =>
      client.screenText().some((l) =>
        l.endsWith(` boundary-${n * 2}`) || l === `boundary-${n * 2}`
      ),
    `the echo of ${n}*2`,
    STEP_MS,
  );
}

Deno.test("ErrorGuard: catches, counts, and logs each boundary's first failure once", () => {
  const lines: string[] = [];
  const guard = new ErrorGuard((line) => lines.push(line));
  for (let i = 0; i < 3; i++) {
    guard.run("the timer", () => {
      throw new Injected("the timer");
    });
  }
  guard.wrap("a handler", (n: number) => {
    throw new Injected(`handler ${n}`);
  })(7);
  guard.report("a promise", "rejected");
  let ran = false;
  guard.run("the timer", () => ran = true);
  assert.ok(ran);
  assert.equal(guard.caught, 5);
  assert.equal(lines.length, 3);
  assert.match(lines[0], /internal error in the timer .*injected failure/);
  assert.match(lines[1], /internal error in a handler .*handler 7/);
  assert.match(lines[2], /internal error in a promise .*rejected/);
});

Deno.test("a throwing payload consumer does not stop the connection's receive loop", async () => {
  const key = generateKey();
  const lines: string[] = [];
  const server = await inFreeUdpPortRun(8, (base) =>
    Connection.listen(key, {
      ip: "127.0.0.1",
      portRange: [base, base + 7],
      log: (line) => lines.push(line),
    }));
  const client = Connection.connect(key, {
    ip: "127.0.0.1",
    port: server.port,
  });
  const got: number[] = [];
  server.onPayload((payload) => {
    got.push(payload[0]);
    throw new Injected("the payload consumer");
  });
  try {
    for (let i = 1; i <= 3; i++) {
      client.send(Uint8Array.of(i));
      const deadline = performance.now() + STEP_MS;
      while (!got.includes(i) && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(server.guard.caught, 3);
    assert.equal(
      lines.filter((l) => /internal error/.test(l)).length,
      1,
      "logged once",
    );
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("throwing remote-state and tick handlers (receive path, transport timer) do not end the session", async () => {
  const s = await session();
  try {
    let remote = 0, ticks = 0;
    s.client.transport.onRemoteState(() => {
      remote++;
      throw new Injected("a remote-state handler");
    });
    s.client.transport.onTick(() => {
      ticks++;
      throw new Injected("a tick handler");
    });
    await assertEchoes(s.client, 21);
    await assertEchoes(s.client, 22);
    assert.ok(remote > 0 && ticks > 0, `handlers ran (${remote}, ${ticks})`);
    assert.ok(s.client.transport.connection.guard.caught >= remote + ticks);
  } finally {
    await s.close();
  }
});

Deno.test("a throwing consumer of the pty's output does not end the server session", async () => {
  let thrown = 0;
  const s = await session({
    onOutput: () => {
      thrown++;
      throw new Injected("the pty reader");
    },
  });
  try {
    await assertEchoes(s.client, 31);
    await assertEchoes(s.client, 32);
    assert.ok(thrown >= 2);
    assert.equal(
      s.log.filter((l) => /internal error in the pty reader/.test(l)).length,
      1,
      `logged once: ${JSON.stringify(s.log)}`,
    );
  } finally {
    await s.close();
  }
});
