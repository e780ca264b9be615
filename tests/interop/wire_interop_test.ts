/**
 * Proof against a real peer: tmosh's wire modules (datagram, fragment,
 * messages), driven by a minimal test client, hold a session with Debian's
 * stock mosh-server (docs/wire.md §1.3, §2–§8, §11).
 * @module
 */

import assert from "node:assert/strict";
import { decodeKey } from "../../protocol/crypto/key.ts";
import { fragmentPayloadSize } from "../../protocol/network/fragment.ts";
import { decodeUserMessage } from "../../protocol/protobufs/messages.ts";
import {
  DEFAULT_IPV4_MTU,
  SHUTDOWN_NUM,
} from "../../protocol/network/constants.ts";
import { peers } from "../../harness/require_peer.ts";
import { startStockServer } from "../../harness/stock_mosh.ts";
import { type Screen, WireClient } from "../../harness/wire_client.ts";
import { toHex } from "../../harness/hex.ts";

const stockServer = peers("mosh-server");

/** UserMessage of Resize(80, 24), as stock mosh-client sends it (docs/wire.md §8.1, §11). */
const RESIZE_80X24 = "0a061a0428503018";
/** Longest wait for one step of the session, ms. */
const STEP_MS = 4000;
/** Longest wait for the server process to exit after the shutdown handshake, ms. */
const EXIT_MS = 5000;

/** Returns random base64 lines: they barely compress, so a screen of them needs many fragments. */
function randomLines(count: number, width: number): string[] {
  return Array.from({ length: count }, () => {
    const bytes = crypto.getRandomValues(new Uint8Array(width));
    return btoa(String.fromCharCode(...bytes)).slice(0, width);
  });
}

/** Index of the last row that is not blank, or -1. */
function lastNonBlank(screen: Screen): number {
  for (let i = screen.lines.length - 1; i >= 0; i--) {
    if (screen.lines[i].trim() !== "") return i;
  }
  return -1;
}

stockServer.test("stock mosh-server: session, multi-fragment frame and shutdown with tmosh's wire modules", async () => {
  const server = await startStockServer({
    command: ["env", "PS1=$ ", "/bin/sh"],
  });
  const dir = await Deno.makeTempDir({ prefix: "tmosh-wire-" });
  let client: WireClient | null = null;
  try {
    client = new WireClient({
      port: server.port,
      key: decodeKey(server.key),
      width: 80,
      height: 24,
    });
    const c = client;

    // State 1 = Resize(80,24): old 0, new 1, ack 0, throwaway 0 (docs/wire.md §11).
    const first = c.sent[0];
    assert.deepEqual(
      [first.oldNum, first.newNum, first.ackNum, first.throwawayNum],
      [0n, 1n, 0n, 0n],
    );
    assert.equal(toHex(first.diff), RESIZE_80X24);

    await c.waitFor(() => c.acked >= 1n, "the server to ack state 1", STEP_MS);
    await c.waitForScreen(
      (s) => s.lines.some((l) => l.startsWith("$")),
      "the shell prompt",
      STEP_MS,
    );

    // Keystrokes as the next state; the diff holds only the new events.
    const echoState = c.type("echo wire-ok\r");
    const echoSent = c.sent.at(-1)!;
    assert.equal(echoSent.newNum, echoState);
    assert.ok(echoSent.oldNum >= 1n, "diff is relative to the acked state");
    assert.deepEqual(decodeUserMessage(echoSent.diff), [
      { type: "keys", keys: new TextEncoder().encode("echo wire-ok\r") },
    ]);
    const echoed = await c.waitForScreen(
      (s) => s.lines.some((l) => l === "wire-ok"),
      "the output line 'wire-ok'",
      STEP_MS,
    );
    assert.ok(
      echoed.lines.some((l) => l === "$ echo wire-ok"),
      `command line echoed:\n${echoed.lines.join("\n")}`,
    );
    await c.waitFor(
      () => c.stats.echoAck >= echoState,
      `echo ack of state ${echoState}`,
      STEP_MS,
    );

    // A bigger terminal full of random text: its frame needs several fragments.
    const lines = randomLines(100, 150);
    const file = `${dir}/random.txt`;
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    c.input([
      { type: "resize", width: 200, height: 60 },
      { type: "keys", keys: new TextEncoder().encode(`cat ${file}\r`) },
    ]);
    const big = await c.waitForScreen(
      (s) => s.lines.some((l) => l === lines[lines.length - 1]),
      "the random file's last line",
      STEP_MS,
    );
    assert.equal(big.cols, 200);
    assert.equal(big.rows, 60);
    // The model screen is exactly what cat printed: rows above the prompt
    // are the file's last lines, in order.
    const prompt = lastNonBlank(big);
    assert.equal(big.lines[prompt], "$");
    for (let i = 1; i <= 50; i++) {
      assert.equal(
        big.lines[prompt - i],
        lines[lines.length - i],
        `row ${prompt - i}`,
      );
    }
    const multi = c.received.filter((r) => r.fragments >= 2);
    assert.ok(
      multi.length >= 1,
      `an instruction in >= 2 fragments: ${await c.describe()}`,
    );
    // Stock mosh cuts fragments to MTU 1252 - 38 bytes (docs/wire.md §3.4, §4.2).
    assert.ok(c.nonFinalFragmentSizes.length >= 1);
    for (const size of c.nonFinalFragmentSizes) {
      assert.equal(size, fragmentPayloadSize(DEFAULT_IPV4_MTU));
    }

    // The shell exits; the server initiates shutdown and we ack 2^64-1.
    c.type("exit\r");
    await c.waitFor(
      () => c.serverState === SHUTDOWN_NUM && c.shutdownAckSent,
      "the server's shutdown and our ack",
      STEP_MS,
    );
    const shutdown = c.received.find((r) => r.newNum === SHUTDOWN_NUM)!;
    assert.ok(shutdown.oldNum < SHUTDOWN_NUM);
    assert.equal(c.sent.at(-1)!.ackNum, SHUTDOWN_NUM);
    const end = performance.now() + EXIT_MS;
    while (!await server.exited()) {
      if (performance.now() > end) {
        assert.fail(
          `mosh-server (pid ${server.pid}) still running ${EXIT_MS} ms after the shutdown ack`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    // The session was lossless: every server diff applied to a state we held.
    assert.deepEqual(
      {
        undecryptable: c.stats.undecryptable,
        unparsable: c.stats.unparsable,
        badVersion: c.stats.badVersion,
        missingBase: c.stats.missingBase,
        echoAckDecreased: c.stats.echoAckDecreased,
      },
      {
        undecryptable: 0,
        unparsable: 0,
        badVersion: 0,
        missingBase: 0,
        echoAckDecreased: false,
      },
    );
    assert.deepEqual(c.errors, []);
  } finally {
    await client?.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
