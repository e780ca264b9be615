/**
 * tmosh's private protobuf extensions (docs/wire.md §13) on the wire, seen by
 * a decrypting relay (harness/wire_tap.ts) that knows the session key:
 *
 * - stock mosh-server <- headless tmosh client: the server gets the client's
 *   hello exactly once (only in diffs from state 0), skips it, and keys typed
 *   after it still echo; its diffs hold no tmosh extension, and the client,
 *   never answered, stays a stock client.
 * - stock mosh-client -> tmosh serve: no tmosh extension either way.
 * - tmosh <-> tmosh: the hello is answered with a welcome carrying the
 *   negotiated capabilities, sent until acked, then never again; a client
 *   that sends no hello gets no extension from tmosh serve.
 * @module
 */

import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import { startStockServer, waitGone } from "../../harness/stock_mosh.ts";
import { startTmoshServer } from "../../harness/tmosh_server.ts";
import { startTmux, type TmuxSession } from "../../harness/tmux.ts";
import { HeadlessClient } from "../../harness/headless_client.ts";
import { type TapDirection, WireTap } from "../../harness/wire_tap.ts";
import { EXT_FIRST, EXT_LAST } from "../../protocol/protobufs/messages.ts";
import { CAPABILITIES } from "../../protocol/statesync/capabilities.ts";

/** Longest wait for one step, ms (a machine shared with other tests). */
const STEP_MS = 15_000;
/** Mosh's own extension numbers: keystroke/hostbytes 2, resize 3, echo ack 7 (docs/wire.md §5). */
const STOCK_USER = [2, 3];
const STOCK_HOST = [2, 3, 7];
/** tmosh's hello and welcome (protocol/protobufs/tmoshext.proto). */
const HELLO = 4000, WELCOME = 4000;

/** Extension numbers in tmosh's private range seen in one direction. */
function privateNumbers(tap: WireTap, dir: TapDirection): number[] {
  return [...tap.extensionNumbers(dir)].filter((n) =>
    n >= EXT_FIRST && n <= EXT_LAST
  );
}

/** Checks what every well-formed peer sends: version 2, only fields 1-7, nothing undecryptable. */
function assertWellFormed(dir: TapDirection, what: string): void {
  assert.ok(dir.instructions.length > 0, `${what}: instructions seen`);
  assert.equal(dir.undecryptable, 0, `${what}: all datagrams decrypt`);
  assert.equal(dir.malformed, 0, `${what}: all instructions parse`);
  for (const t of dir.instructions) {
    assert.equal(t.instruction.protocolVersion, 2, `${what}: version`);
    for (const f of t.transportFields) {
      assert.ok(f >= 1 && f <= 7, `${what}: transport field ${f}`);
    }
  }
}

/** The instructions of a direction whose diff carries extension `n`. */
function carrying(dir: TapDirection, n: number) {
  return dir.instructions.filter((t) =>
    t.diffFields.some((fields) => fields.includes(n))
  );
}

/** A headless 80x24 client of the server on `port`, through a decrypting tap. */
function tappedClient(
  server: { port: number; key: string },
  options: { hello?: null } = {},
): { tap: WireTap; client: HeadlessClient } {
  const tap = WireTap.start({ port: server.port, key: server.key });
  const client = HeadlessClient.connect({
    ip: "127.0.0.1",
    port: tap.port,
    key: server.key,
    width: 80,
    height: 24,
    ...options,
  });
  return { tap, client };
}

/** Types `command` (with Enter) and waits for `expected` on the screen. */
async function echo(
  c: HeadlessClient,
  command: string,
  expected: string,
  what: string,
): Promise<void> {
  c.type(`${command}\r`);
  await c.waitFor(() => c.screenText().includes(expected), what, STEP_MS);
}

/** Types `exit` and waits for the shutdown handshake to end. */
async function exitSession(c: HeadlessClient): Promise<void> {
  c.type("exit\r");
  await c.waitFor(() => c.finishReason !== null, "the shutdown", STEP_MS);
}

const stockServer = peers("mosh-server");
const stockClient = peers("mosh-client", "tmux");

stockServer.test("stock mosh-server skips the tmosh hello and never sends an extension; keys after it echo", async () => {
  const server = await startStockServer({
    command: ["env", "PS1=$ ", "/bin/sh"],
  });
  const { tap, client: c } = tappedClient(server);
  try {
    await c.waitFor(() => c.screenText().includes("$"), "the prompt", STEP_MS);
    await echo(
      c,
      "echo after-hello-$((6*7))",
      "after-hello-42",
      "the echo of keys typed after the hello",
    );
    await echo(c, "echo again-$((7*7))", "again-49", "a second echo");
    // Let the last acks cross the relay.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.capabilities, null, "no answer from a stock server");

    assertWellFormed(tap.toServer, "to the stock server");
    assertWellFormed(tap.toClient, "from the stock server");
    // The stock server's diffs: only Mosh's own extensions.
    for (const n of tap.extensionNumbers(tap.toClient)) {
      assert.ok(STOCK_HOST.includes(n), `stock server sent extension ${n}`);
    }
    // Toward it: Mosh's extensions plus the hello, nothing else of ours.
    assert.deepEqual(privateNumbers(tap, tap.toServer), [HELLO]);
    for (const n of tap.extensionNumbers(tap.toServer)) {
      assert.ok(STOCK_USER.includes(n) || n === HELLO, `extension ${n}`);
    }
    // The hello is the first event of state 1: only diffs from state 0 hold
    // it (resends included); once state 1 is acked it is never sent again.
    const hellos = carrying(tap.toServer, HELLO);
    assert.ok(hellos.length >= 1, "the hello was sent");
    for (const t of hellos) {
      assert.equal(t.instruction.oldNum, 0n, "hello only in diffs from 0");
      const events = t.events ?? [];
      assert.equal(events[0]?.type, "hello", "the hello comes first");
    }
    assert.ok(
      tap.toServer.instructions.some((t) =>
        t.instruction.oldNum > 0n && t.instruction.diff.length > 0
      ),
      "later diffs were sent (without the hello)",
    );
    await exitSession(c);
    assert.ok(await waitGone(server.pid, STEP_MS), "mosh-server exited");
  } finally {
    await c.close();
    await tap.close();
    await server.stop();
  }
});

stockClient.test("stock mosh-client and tmosh serve: no tmosh extension either way", async () => {
  const d = await startTmoshServer([
    "/bin/sh",
    "-c",
    "PS1='ext$ ' exec /bin/sh -i",
  ]);
  const tap = WireTap.start({ port: d.port, key: d.key });
  let tmux: TmuxSession | null = null;
  try {
    tmux = await startTmux(`exec mosh-client 127.0.0.1 ${tap.port}`, {
      width: 80,
      height: 24,
      env: { MOSH_KEY: d.key, LANG: "C.UTF-8", TERM: "xterm-256color" },
    });
    await tmux.waitFor(/^ext\$\s*$/m, STEP_MS);
    await tmux.sendKeys("echo stock-$((40+2))-ok", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^stock-42-ok$/m, STEP_MS);
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    assert.equal(await tmux.waitForExit(STEP_MS), 0, "mosh-client exit");
    assert.ok(await waitGone(d.pid, STEP_MS), "tmosh serve exits");

    assertWellFormed(tap.toServer, "from the stock client");
    assertWellFormed(tap.toClient, "to the stock client");
    assert.deepEqual(privateNumbers(tap, tap.toClient), []);
    assert.deepEqual(privateNumbers(tap, tap.toServer), []);
    for (const n of tap.extensionNumbers(tap.toClient)) {
      assert.ok(STOCK_HOST.includes(n), `tmosh serve sent extension ${n}`);
    }
  } finally {
    await tmux?.kill();
    await tap.close();
    await d.stop();
  }
});

Deno.test("tmosh client and tmosh serve negotiate: the welcome is sent until acked, then never again", async () => {
  const d = await startTmoshServer(["env", "PS1=$ ", "/bin/sh"]);
  const { tap, client: c } = tappedClient(d);
  try {
    await c.waitFor(() => c.capabilities !== null, "the welcome", STEP_MS);
    assert.deepEqual([...c.capabilities!], [...CAPABILITIES]);
    assert.ok(c.capabilities!.has("ext.v1"));
    assert.equal(c.transport.remoteState.capabilities?.[0], "ext.v1");
    await c.waitFor(() => c.screenText().includes("$"), "the prompt", STEP_MS);
    for (let i = 0; i < 3; i++) {
      await echo(c, `echo neg-$((${i}+10))`, `neg-${i + 10}`, `echo ${i}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    assertWellFormed(tap.toServer, "to tmosh serve");
    assertWellFormed(tap.toClient, "from tmosh serve");
    const welcomes = carrying(tap.toClient, WELCOME);
    assert.ok(welcomes.length >= 1, "the welcome was sent");
    // Every welcome produces the same state; a diff from a state that already
    // holds the welcome (acked by the client) never repeats it.
    const first = welcomes.map((t) => t.instruction.newNum).reduce((a, b) =>
      a < b ? a : b
    );
    for (const t of welcomes) {
      assert.ok(t.instruction.oldNum < first, "welcome resent after its ack");
    }
    const welcomed = tap.toClient.instructions.filter((t) =>
      t.instruction.oldNum >= first && t.instruction.diff.length > 0
    );
    assert.ok(welcomed.length > 0, "later diffs from welcomed states");
    // The server's diffs before the hello reached it hold no extension: the
    // welcome is the only private extension it ever sends.
    assert.deepEqual(privateNumbers(tap, tap.toClient), [WELCOME]);
    await exitSession(c);
  } finally {
    await c.close();
    await tap.close();
    await d.stop();
  }
});

Deno.test("tmosh serve without a hello behaves as stock mosh-server: no extension in its diffs", async () => {
  const d = await startTmoshServer(["env", "PS1=$ ", "/bin/sh"]);
  const { tap, client: c } = tappedClient(d, { hello: null });
  try {
    await c.waitFor(() => c.screenText().includes("$"), "the prompt", STEP_MS);
    await echo(c, "echo plain-$((6*7))", "plain-42", "the echo");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.capabilities, null);
    assert.equal(c.transport.remoteState.capabilities, null);
    assertWellFormed(tap.toClient, "from tmosh serve");
    assert.deepEqual(privateNumbers(tap, tap.toServer), []);
    assert.deepEqual(privateNumbers(tap, tap.toClient), []);
    await exitSession(c);
  } finally {
    await c.close();
    await tap.close();
    await d.stop();
  }
});
