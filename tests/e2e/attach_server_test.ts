/**
 * Attaching to a running `tmosh serve` session with a fresh key
 * (docs/wire.md §15), with real processes: `tmosh serve attach ID` and
 * `tmosh serve --attach=ID new ...` print `MOSH CONNECT` with the session's
 * port and a new key; the first client that speaks under it takes the session
 * over and gets the whole screen; the replaced client gets the `detached`
 * notice (tmosh) and the shutdown (tmosh and stock mosh-client); datagrams
 * under the old key change nothing; an attach nobody completes expires and
 * the attached client keeps working. Stock mosh-client, and the stock mosh
 * wrapper with `--server="tmosh serve --attach=ID"`, attach too.
 * @module
 */

import assert from "node:assert/strict";
import { HeadlessClient } from "../../harness/headless_client.ts";
import {
  type Daemon,
  delay,
  MAIN,
  SHELL,
  startServe,
} from "../../harness/serve_process.ts";
import {
  findPidsWithEnv,
  killPidsWithEnv,
  processAlive,
  waitGone,
} from "../../harness/stock_mosh.ts";
import { peers } from "../../harness/require_peer.ts";
import { startTmux, type TmuxSession } from "../../harness/tmux.ts";
import { startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import {
  attachGrant as attach,
  forgedDatagram,
  onlySession,
  sendRaw,
  stateHome,
} from "../../harness/attach_tools.ts";
import { decodeKey, generateKey } from "../../protocol/crypto/key.ts";
import { PENDING_KEY_TIMEOUT } from "../../protocol/network/constants.ts";
import { blockLines } from "../../protocol/terminal/scroll_record.ts";

const stockClient = peers("mosh-client", "tmux");
const stockWrapper = peers("sshd", "ssh", "mosh", "mosh-client", "tmux");

/** A headless client of `port` with `key`, at `width`x`height`. */
function headless(
  port: number,
  key: string,
  size = { width: 100, height: 30 },
): HeadlessClient {
  return HeadlessClient.connect({ ip: "127.0.0.1", port, key, ...size });
}

/** Whether a row of `c`'s screen is exactly `text`. */
function shows(c: HeadlessClient, text: string): boolean {
  return c.screenText().some((l) => l === text);
}

/** Types `line` and Enter, then waits until a row reads `expect`. */
async function run(
  c: HeadlessClient,
  line: string,
  expect: string,
): Promise<void> {
  c.type(`${line}\r`);
  await c.waitFor(() => shows(c, expect), JSON.stringify(expect), 10_000);
}

/** Closes clients and tmux sessions, stops the server, removes the state directory. */
async function cleanUp(
  things: {
    clients?: (HeadlessClient | null)[];
    tmux?: (TmuxSession | null)[];
    daemon?: Daemon | null;
    dir: string;
  },
): Promise<void> {
  for (const c of things.clients ?? []) await c?.close();
  for (const t of things.tmux ?? []) await t?.kill();
  await things.daemon?.stop();
  await Deno.remove(things.dir, { recursive: true }).catch(() => {});
}

Deno.test("attach: a second client takes over with a fresh key and gets the whole screen; the first is told and shut down; the old key is dead", async () => {
  const { dir, env } = await stateHome();
  const d = await startServe(["--name", "att", ...SHELL], env);
  const clients: HeadlessClient[] = [];
  try {
    const a = headless(d.port, d.key);
    clients.push(a);
    await a.waitFor(() => shows(a, "$"), "prompt", 10_000);
    await run(a, "X=42; echo set-$X", "set-42");
    assert.ok(a.capabilities?.has("attach.v1"), "the client speaks attach.v1");
    assert.ok(a.capabilities?.has("scrollback.v1"));
    // History that scrolls off a's screen (30 rows) before anyone attaches.
    await run(a, "seq -f 'hist-%g' 1 80", "hist-80");
    const { id } = await onlySession(env);

    // Two attaches: the second replaces the first's key. Neither disturbs a.
    const first = await attach(["attach", id], env);
    const second = await attach(["attach", "att"], env); // by name
    assert.equal(first.port, d.port);
    assert.equal(second.port, d.port);
    assert.notEqual(first.key, d.key);
    assert.notEqual(second.key, first.key);
    await run(a, "echo still-$X", "still-42");

    // A client with the replaced key gets nothing.
    const stale = headless(d.port, first.key);
    clients.push(stale);
    await delay(1500);
    assert.equal(
      stale.transport.remoteStateNum,
      0n,
      "no state for a stale key",
    );
    await run(a, "echo yet-$X", "yet-42");

    // The new key: b gets the whole screen at its own size, and the shell.
    const b = headless(d.port, second.key, { width: 90, height: 25 });
    clients.push(b);
    await b.waitFor(
      () => shows(b, "hist-80") && shows(b, "yet-42") && b.fb.width === 90,
      "the whole screen on the new client",
      10_000,
    );
    await run(b, "echo $X", "42");
    await run(b, "stty size", "25 90");
    // With scrollback.v1 b's log starts with the recent history, numbered from 0.
    const log = b.transport.remoteState.scroll.since(0);
    assert.equal(log.first, 0);
    // Lines that left the screen in one pty read may come as a block record.
    const lines = log.records.flatMap((r) =>
      r.kind === "block"
        ? blockLines(r).map((l) => l.text)
        : [r.kind === "line" ? r.text : ""]
    );
    const hist = lines.filter((t) => /^hist-\d+$/.test(t)).map((t) =>
      Number(t.slice(5))
    );
    // Lines 1..50 had left a's 30 rows before the attach (b's smaller
    // window then cut the top of the screen: not scrollback, as in Mosh).
    assert.deepEqual(
      hist.slice(0, 50),
      Array.from({ length: 50 }, (_, i) => i + 1),
      JSON.stringify(lines),
    );
    assert.ok(hist.every((n, i) => i === 0 || n > hist[i - 1]), "each once");
    const bAddr = `127.0.0.1:${b.transport.connection.port}`;

    // a: the detached notice with b's address, then the server's shutdown.
    assert.equal(await a.finished, "counterparty");
    assert.equal(a.transport.remoteState.detachedBy, bAddr);
    assert.equal(b.transport.remoteState.detachedBy, null);
    // The registry follows the switch.
    const rec = await onlySession(env);
    assert.equal(rec.client, bAddr);
    assert.equal(rec.attached, true);
    assert.equal(rec.cols, 90);

    // Datagrams under the old key (and under no key) change nothing.
    const oldKey = decodeKey(d.key);
    await sendRaw(d.port, forgedDatagram(oldKey, "echo FORGED-$X\r", 3000));
    await sendRaw(d.port, forgedDatagram(oldKey, "echo FORGED-$X\r"));
    await sendRaw(d.port, forgedDatagram(generateKey(), "echo FORGED-$X\r"));
    await delay(500);
    assert.ok(await processAlive(d.pid), "the server keeps running");
    await run(b, "echo after-$X", "after-42");
    assert.ok(
      !b.screenText().some((l) => l.includes("FORGED")),
      b.describe(),
    );
    assert.equal(stale.transport.remoteStateNum, 0n);
    b.shutdown();
    assert.equal(await b.finished, "acknowledged");
    assert.ok(await waitGone(d.pid, 5000), "the session ended with b's quit");
  } finally {
    await cleanUp({ clients, daemon: d, dir });
  }
});

Deno.test("attach: an attach nobody completes expires after 60 s; the attached client keeps working", async () => {
  const { dir, env } = await stateHome();
  const d = await startServe(SHELL, env);
  const clients: HeadlessClient[] = [];
  try {
    const a = headless(d.port, d.key);
    clients.push(a);
    await a.waitFor(() => shows(a, "$"), "prompt", 10_000);
    const { id } = await onlySession(env);
    const grant = await attach(["attach", id], env);
    // The server times the key with its monotonic clock; so does this test
    // (a fresh machine's wall clock may be stepped forward meanwhile).
    const expires = performance.now() + PENDING_KEY_TIMEOUT + 1000;
    let n = 0;
    while (performance.now() < expires) {
      await run(a, `echo tick-${++n}`, `tick-${n}`);
      await delay(Math.min(10_000, Math.max(0, expires - performance.now())));
    }
    const late = headless(d.port, grant.key);
    clients.push(late);
    await delay(2000);
    assert.equal(late.transport.remoteStateNum, 0n, "the key expired");
    await run(a, "echo still-here", "still-here");
    assert.equal(a.finishReason, null);
    const rec = await onlySession(env);
    assert.equal(rec.client, `127.0.0.1:${a.transport.connection.port}`);
  } finally {
    await cleanUp({ clients, daemon: d, dir });
  }
});

stockClient.test("attach: stock mosh-client is replaced (it exits) and attaches with the printed key (serve --attach=ID new ...)", async () => {
  const { dir, env } = await stateHome();
  const d = await startServe(SHELL, env);
  const clients: HeadlessClient[] = [];
  const tmuxes: TmuxSession[] = [];
  const tmuxEnv = { LANG: "C.UTF-8", TERM: "xterm-256color" };
  try {
    // A stock client first: replaced by a tmosh client, it exits on the shutdown.
    const stock = await startTmux(`exec mosh-client 127.0.0.1 ${d.port}`, {
      env: { ...tmuxEnv, MOSH_KEY: d.key },
    });
    tmuxes.push(stock);
    await stock.waitFor(/^\$\s*$/m, 10_000);
    await stock.sendKeys("X=42; echo set-$X", { literal: true });
    await stock.sendKeys("Enter");
    await stock.waitFor(/^set-42$/m, 5000);
    const { id } = await onlySession(env);
    const grant = await attach(["attach", id], env);
    const b = headless(d.port, grant.key);
    clients.push(b);
    await b.waitFor(() => shows(b, "set-42"), "the screen on b", 10_000);
    assert.equal(await stock.waitForExit(15_000), 0);
    await run(b, "echo b-$X", "b-42");

    // Then a stock client attaches, as mosh --server="tmosh serve --attach=ID" would run it.
    const again = await attach([
      `--attach=${id}`,
      "new",
      "-s",
      "-c",
      "256",
      "-l",
      "LANG=C.UTF-8",
    ], env);
    assert.equal(again.port, d.port);
    const c = await startTmux(`exec mosh-client 127.0.0.1 ${again.port}`, {
      env: { ...tmuxEnv, MOSH_KEY: again.key },
    });
    tmuxes.push(c);
    await c.waitFor(/^b-42$/m, 10_000);
    await c.sendKeys("echo stock-$X", { literal: true });
    await c.sendKeys("Enter");
    await c.waitFor(/^stock-42$/m, 5000);
    assert.equal(await b.finished, "counterparty");
    assert.match(
      b.transport.remoteState.detachedBy ?? "",
      /^127\.0\.0\.1:\d+$/,
    );
    await c.sendKeys("exit", { literal: true });
    await c.sendKeys("Enter");
    assert.equal(await c.waitForExit(10_000), 0);
    assert.ok(await waitGone(d.pid, 5000), "the session ended with its shell");
  } finally {
    await cleanUp({ clients, tmux: tmuxes, daemon: d, dir });
  }
});

stockWrapper.test("attach: the stock mosh wrapper with --server='tmosh serve --attach=ID' takes a session over", async () => {
  const { dir, env } = await stateHome();
  const d = await startServe(["--name", "wrapped", ...SHELL], env);
  const sshd = await startSshd();
  const mark = `attach-${crypto.randomUUID()}`;
  const clients: HeadlessClient[] = [];
  let tmux: TmuxSession | null = null;
  try {
    const a = headless(d.port, d.key);
    clients.push(a);
    await a.waitFor(() => shows(a, "$"), "prompt", 10_000);
    await run(a, "X=42; echo set-$X", "set-42");
    // The server command runs over ssh in the same registry.
    const server =
      `env ${TEST_MARK_VAR}=${mark} XDG_STATE_HOME=${dir} ${Deno.execPath()} run -A ${MAIN} serve --attach=wrapped`;
    const command = [
      "mosh",
      `--ssh=${sshd.sshCommand}`,
      `--server=${server}`,
      "127.0.0.1",
    ].map(shellQuote).join(" ");
    tmux = await startTmux(command, {
      env: { LANG: "C.UTF-8", TERM: "xterm-256color" },
    });
    await tmux.waitFor(/^set-42$/m, 20_000);
    await tmux.sendKeys("echo wrapped-$X", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^wrapped-42$/m, 5000);
    assert.equal(await a.finished, "counterparty");
    assert.match(a.transport.remoteState.detachedBy ?? "", /^127\.0\.0\.1:/);
    assert.deepEqual(
      await findPidsWithEnv(TEST_MARK_VAR, mark),
      [],
      "serve --attach did not leave a process behind",
    );
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    assert.equal(await tmux.waitForExit(10_000), 0);
    assert.ok(await waitGone(d.pid, 5000), "the session ended with its shell");
  } finally {
    await cleanUp({ clients, tmux: [tmux], daemon: d, dir });
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    await sshd.stop();
  }
});

/** Quotes a word for sh. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
