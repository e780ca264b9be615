/**
 * More of attaching (docs/wire.md §15, docs/architecture.md §8), with real
 * processes: a new client attaching through a lossy link; a new client
 * attaching after the old one roamed to 127.0.0.2; an old client suspended
 * (Ctrl-^ Ctrl-Z) during the attach, told once resumed (`fg`), while packets
 * under its key are refused; a background job that keeps running across
 * `kill -9` of the client and `tmosh connect --attach`, whose restored screen
 * equals the server's; and another local account that cannot attach.
 * @module
 */

import assert from "node:assert/strict";
import { Relay } from "../../demo/impairment_relay.ts";
import { HeadlessClient } from "../../harness/headless_client.ts";
import { type Daemon, delay, startServe } from "../../harness/serve_process.ts";
import { findPids, processAlive, waitGone } from "../../harness/stock_mosh.ts";
import { peers } from "../../harness/require_peer.ts";
import { startTmux, type TmuxSession } from "../../harness/tmux.ts";
import {
  attachGrant,
  forgedDatagram,
  listSessions,
  onlySession,
  sendRaw,
  stateHome,
} from "../../harness/attach_tools.ts";
import {
  CONNECT_MS,
  lines,
  roundTrip,
  shellCommand,
  shq,
  STEP_MS,
  tmoshCommand,
  typeLine,
  waitPrompt,
  waitServerGone,
} from "../../harness/client_session.ts";
import {
  IMPAIRED_STEP_MS,
  trimmedScreen,
} from "../../harness/client_network.ts";
import { startRegistryRemote } from "../../harness/registry_remote.ts";
import {
  otherAccount,
  otherAccountTests,
} from "../../harness/other_account.ts";
import { decodeKey, generateKey } from "../../protocol/crypto/key.ts";
import { FAREWELL_MAX_MS } from "../../server/epoch.ts";

const tmuxTests = peers("tmux");
const sshTests = peers("sshd", "ssh", "tmux");

/** The terminal of every client pane. */
const TERM_ENV = { TERM: "xterm-256color", LANG: "C.UTF-8" };

/** Starts `tmosh serve --name NAME -- <test shell>` with a private registry. */
async function startSession(
  name: string,
): Promise<{ d: Daemon; dir: string; env: Record<string, string> }> {
  const { dir, env } = await stateHome();
  const d = await startServe(["--name", name, "--", ...shellCommand()], env);
  return { d, dir, env };
}

/** A relay on 127.0.0.1 in front of the server's `port`, with `impairments`. */
function relayTo(
  port: number,
  impairments: { loss?: number; delayMs?: number } = {},
): Promise<Relay> {
  return Relay.start({
    listen: { hostname: "127.0.0.1" },
    upstream: { hostname: "127.0.0.1", port },
    seed: 12,
    ...impairments,
  });
}

/** `tmosh client` of 127.0.0.1:`port` with `key`, in a fresh tmux (80x24). */
async function clientPane(port: number, key: string): Promise<TmuxSession> {
  return await startTmux(`${tmoshCommand("client")} 127.0.0.1 ${port}`, {
    env: { ...TERM_ENV, MOSH_KEY: key },
  });
}

/** Waits for the client in `pane` to exit 0 saying who took its session over. */
async function assertToldAndGone(
  pane: TmuxSession,
  by: string,
  timeoutMs = STEP_MS,
): Promise<void> {
  const pattern = new RegExp(
    `\\[tmosh is exiting\\.\\]\\ntmosh: another client attached from ${
      by.replaceAll(".", "\\.")
    }$`,
    "m",
  );
  await pane.waitFor(pattern, timeoutMs);
}

/** Whether a row of the headless client's screen is exactly `text`. */
function shows(c: HeadlessClient, text: string): boolean {
  return c.screenText().some((l) => l === text);
}

/** Types `line` and Enter on a headless client, then waits until a row reads `expect`. */
async function run(
  c: HeadlessClient,
  line: string,
  expect: string,
): Promise<void> {
  c.type(`${line}\r`);
  await c.waitFor(() => shows(c, expect), JSON.stringify(expect), STEP_MS);
}

/** A headless 80x24 client of 127.0.0.1:`port` with `key`. */
function headless(port: number, key: string): HeadlessClient {
  return HeadlessClient.connect({
    ip: "127.0.0.1",
    port,
    key,
    width: 80,
    height: 24,
  });
}

tmuxTests.test("attach more: a new client attaches through a lossy link (20% loss, 50 ms delay), gets the screen and runs a command", async () => {
  const { d, dir, env } = await startSession("lossy");
  const relays: Relay[] = [];
  const panes: TmuxSession[] = [];
  try {
    const near = await relayTo(d.port);
    relays.push(near);
    const old = await clientPane(near.port, d.key);
    panes.push(old);
    await waitPrompt(old);
    await typeLine(old, "KEPT=$((40+2))");
    await roundTrip(old, "echo set-$KEPT", { expect: "set-42" });

    const grant = await attachGrant(["attach", "lossy"], env);
    const far = await relayTo(d.port, { loss: 0.2, delayMs: 50 });
    relays.push(far);
    const fresh = await clientPane(far.port, grant.key);
    panes.push(fresh);
    await fresh.waitFor((s) => lines(s).includes("set-42"), IMPAIRED_STEP_MS);
    await roundTrip(fresh, "echo lossy-$KEPT", {
      expect: "lossy-42",
      timeoutMs: IMPAIRED_STEP_MS,
    });
    assert.ok(far.stats.dropped > 0, "the relay dropped datagrams");
    const by = `127.0.0.1:${far.upstreamAddr.port}`;
    await assertToldAndGone(old, by);
    assert.equal(await old.exitStatus(), 0);
    assert.equal((await onlySession(env)).client, by);

    far.set({ loss: 0, delayMs: 0 });
    await typeLine(fresh, "exit");
    assert.equal(await fresh.waitForExit(STEP_MS), 0);
    assert.ok(await waitGone(d.pid, 5000), "the session ended with its shell");
  } finally {
    for (const p of panes) await p.kill();
    for (const r of relays) await r.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

tmuxTests.test("attach more: after the old client roamed to 127.0.0.2 a new client attaches; the old one still hears who took over", async () => {
  const { d, dir, env } = await startSession("roamed");
  let relay: Relay | null = null;
  let old: TmuxSession | null = null;
  let fresh: HeadlessClient | null = null;
  try {
    relay = await relayTo(d.port);
    old = await clientPane(relay.port, d.key);
    await waitPrompt(old);
    await typeLine(old, "KEPT=$((40+2))");
    await roundTrip(old, "echo set-$KEPT", { expect: "set-42" });
    await relay.roam({ hostname: "127.0.0.2" });
    await roundTrip(old, "echo moved-$KEPT", { expect: "moved-42" });
    const roamedTo = `127.0.0.2:${relay.upstreamAddr.port}`;
    assert.equal((await onlySession(env)).client, roamedTo);

    const grant = await attachGrant(["attach", "roamed"], env);
    const c = fresh = headless(grant.port, grant.key);
    await c.waitFor(() => shows(c, "moved-42"), "the screen", STEP_MS);
    await run(c, "echo new-$KEPT", "new-42");
    // The farewell went to the roamed address, through the relay.
    const by = `127.0.0.1:${c.transport.connection.port}`;
    await assertToldAndGone(old, by);
    assert.equal(await old.exitStatus(), 0);
    assert.equal((await onlySession(env)).client, by);
    c.shutdown();
    assert.equal(await c.finished, "acknowledged");
    assert.ok(await waitGone(d.pid, 5000), "the session ended with the quit");
  } finally {
    await fresh?.close();
    await old?.kill();
    await relay?.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

tmuxTests.test("attach more: a client suspended (Ctrl-^ Ctrl-Z) during the attach is told once resumed (fg) and exits; the new one works; its key is dead", async () => {
  const { d, dir, env } = await startSession("paused");
  let local: TmuxSession | null = null;
  let fresh: HeadlessClient | null = null;
  try {
    // A local shell with job control runs the client, as a user's would.
    local = await startTmux("env PS1='local$ ' bash --norc --noprofile -i", {
      env: { ...TERM_ENV, MOSH_KEY: d.key },
    });
    const pane = local;
    await pane.waitFor(/^local\$/m, STEP_MS);
    await typeLine(pane, `${tmoshCommand("client")} 127.0.0.1 ${d.port}`);
    await waitPrompt(pane);
    await typeLine(pane, "KEPT=$((40+2))");
    await roundTrip(pane, "echo set-$KEPT", { expect: "set-42" });
    await pane.sendKeys("C-^");
    await pane.sendKeys("C-z");
    await pane.waitFor(
      (s) => /\[tmosh is suspended\.\]/.test(s) && /Stopped/.test(s),
      STEP_MS,
    );

    const grant = await attachGrant(["attach", "paused"], env);
    const c = fresh = headless(grant.port, grant.key);
    await c.waitFor(() => shows(c, "set-42"), "the screen", STEP_MS);
    await run(c, "echo new-$KEPT", "new-42");
    // Datagrams under the old key, fresh or replayed, change nothing.
    const oldKey = decodeKey(d.key);
    await sendRaw(d.port, forgedDatagram(oldKey, "echo FORGED-$KEPT\r", 5000));
    await sendRaw(d.port, forgedDatagram(oldKey, "echo FORGED-$KEPT\r"));
    await sendRaw(d.port, forgedDatagram(generateKey(), "echo FORGED\r"));
    await delay(500);
    await run(c, "echo after-$KEPT", "after-42");
    assert.ok(!c.screenText().some((l) => l.includes("FORGED")), c.describe());

    // Resumed only once the server has stopped saying goodbye: what it
    // said waited in the stopped client's socket.
    await delay(FAREWELL_MAX_MS + 1000);
    await typeLine(pane, "fg");
    await assertToldAndGone(pane, `127.0.0.1:${c.transport.connection.port}`);
    await roundTrip(pane, "echo status-$?", { expect: "status-0" });
    // The resumed client's own datagrams (old key) did not disturb the new one.
    await run(c, "echo still-$KEPT", "still-42");
    assert.ok(!c.screenText().some((l) => l.includes("FORGED")), c.describe());
    assert.equal(c.finishReason, null);
    assert.equal(
      (await onlySession(env)).client,
      `127.0.0.1:${c.transport.connection.port}`,
    );
    c.shutdown();
    assert.equal(await c.finished, "acknowledged");
    assert.ok(await waitGone(d.pid, 5000), "the session ended with the quit");
  } finally {
    await fresh?.close();
    await local?.kill();
    await d.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** The counter's value, retried while the file is being rewritten. */
async function readCounter(path: string): Promise<number> {
  const deadline = Date.now() + STEP_MS;
  while (true) {
    const text = (await Deno.readTextFile(path).catch(() => "")).trim();
    if (/^\d+$/.test(text)) return Number(text);
    if (Date.now() > deadline) {
      throw new Error(`tmosh test: no counter in ${path}: "${text}"`);
    }
    await delay(20);
  }
}

/** Waits until the counter passes `than`; returns its value. */
async function counterPasses(path: string, than: number): Promise<number> {
  const deadline = Date.now() + STEP_MS;
  while (true) {
    const n = await readCounter(path);
    if (n > than) return n;
    if (Date.now() > deadline) {
      throw new Error(`tmosh test: the counter stayed at ${n}`);
    }
    await delay(100);
  }
}

sshTests.test("attach more: a background counter keeps counting across kill -9 of the client and tmosh connect --attach; the restored screen is the server's", async () => {
  const remote = await startRegistryRemote();
  const panes: TmuxSession[] = [];
  let witness: HeadlessClient | null = null;
  try {
    const counter = `${remote.dir}/counter`;
    const first = await startTmux(
      remote.connectCommand(["--name", "count"]),
      { env: TERM_ENV },
    );
    panes.push(first);
    await waitPrompt(first);
    await typeLine(
      first,
      `(i=0; while :; do i=$((i+1)); echo $i > ${
        shq(counter)
      }; sleep 0.2; done) &`,
    );
    await roundTrip(first, "echo started-$((1+1))", { expect: "started-2" });
    const before = await counterPasses(counter, 0);
    const clients = await findPids(
      new RegExp(`main\\.ts connect .*${remote.mark}.*--name count`),
    );
    assert.equal(clients.length, 1, "one tmosh client process");
    Deno.kill(clients[0], "SIGKILL");
    await first.waitForExit(STEP_MS);
    // Nobody attached: it counts on.
    const detached = await counterPasses(counter, before + 3);

    const second = await startTmux(
      remote.connectCommand(["--attach=count"]),
      { env: TERM_ENV },
    );
    panes.push(second);
    await second.waitFor((s) => lines(s).includes("started-2"), CONNECT_MS);
    await roundTrip(second, "echo again-$((2+2))", { expect: "again-4" });
    const attached = await counterPasses(counter, detached);
    await counterPasses(counter, attached + 3);

    // The attached client's screen against the server's, as a further attach
    // receives it (nothing draws meanwhile: the job writes to a file).
    await delay(500);
    const screen = trimmedScreen(await second.capture());
    const cursor = await second.cursor();
    const grant = await attachGrant(["attach", "count"], remote.serveEnv);
    const w = witness = headless(grant.port, grant.key);
    await w.waitFor(() => shows(w, "again-4"), "the screen", STEP_MS);
    const served = w.screenText();
    while (served.length > 0 && served.at(-1) === "") served.pop();
    assert.deepEqual(screen, served);
    assert.deepEqual(cursor, { x: w.fb.cursorCol, y: w.fb.cursorRow });
    await assertToldAndGone(second, `127.0.0.1:${w.transport.connection.port}`);
    assert.equal(await second.waitForExit(STEP_MS), 0);

    await counterPasses(counter, await readCounter(counter));
    await run(w, "kill %1; echo killed-$((3+3))", "killed-6");
    w.type("exit\r");
    assert.equal(await w.finished, "counterparty");
    await waitServerGone(remote.mark);
  } finally {
    await witness?.close();
    for (const p of panes) await p.kill();
    await remote.stop();
  }
});

otherAccountTests().test(
  "attach more: another local account cannot attach to the session (its registry is per user, the socket refuses)",
  async () => {
    const other = await otherAccount();
    const { d, dir, env } = await startSession("mine");
    // Let the other account look into the state home, to reach the checks below it.
    Deno.chmodSync(dir, 0o711);
    let owner: HeadlessClient | null = null;
    try {
      const c = owner = headless(d.port, d.key);
      await c.waitFor(() => c.screenText()[0] !== "", "prompt", STEP_MS);
      const [s] = await listSessions(env);
      // In their own registry there is no such session.
      for (const args of [["attach", s.id], ["attach", "mine"]]) {
        const theirs = await other.serve(args);
        assert.equal(theirs.code, 1, args.join(" "));
        assert.equal(theirs.stdout, "", "no MOSH CONNECT");
        assert.match(
          theirs.stderr,
          /^tmosh: no session has the id or name "(\w+)"/,
        );
      }
      // Pointed at ours, both forms are refused: the directory is not theirs.
      for (
        const args of [
          ["attach", s.id],
          [`--attach=${s.id}`, "new", "-c", "256"],
        ]
      ) {
        const run = await other.serve(args, { XDG_STATE_HOME: dir });
        assert.equal(run.code, 1, args.join(" "));
        assert.equal(run.stdout, "", "no MOSH CONNECT");
        assert.match(
          run.stderr,
          new RegExp(
            `^tmosh: ${dir}/tmosh belongs to uid ${Deno.uid()}, not to you \\(uid ${other.uid}\\)`,
          ),
        );
      }
      // The socket itself refuses them, with its directory closed or opened up.
      assert.equal(await other.connect(s.socket), "PermissionDenied");
      Deno.chmodSync(`${dir}/tmosh`, 0o711);
      try {
        assert.equal(await other.connect(s.socket), "PermissionDenied");
      } finally {
        Deno.chmodSync(`${dir}/tmosh`, 0o700);
      }
      // The session is still the owner's alone.
      assert.ok(await processAlive(d.pid));
      c.type("echo owner-$((1+1))\r");
      await c.waitFor(
        () => c.screenText().includes("owner-2"),
        "owner-2",
        STEP_MS,
      );
      assert.equal(c.finishReason, null);
      assert.equal(
        (await onlySession(env)).client,
        `127.0.0.1:${c.transport.connection.port}`,
      );
    } finally {
      await owner?.close();
      await d.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await other.close();
    }
  },
);
