/**
 * The session registry end to end (docs/architecture.md §8): real detached
 * `tmosh serve` daemons register themselves, `tmosh serve list --json` shows
 * them, a headless client attaches, `tmosh serve kill` ends them through the
 * control socket, a SIGKILLed server's record is cleaned up when listed, and
 * another local account can neither list, kill nor reach them.
 * @module
 */

import assert from "node:assert/strict";
import { HeadlessClient } from "../../harness/headless_client.ts";
import {
  delay,
  runServe,
  SHELL,
  startServe,
} from "../../harness/serve_process.ts";
import { processAlive, waitGone } from "../../harness/stock_mosh.ts";
import {
  otherAccount,
  otherAccountTests,
} from "../../harness/other_account.ts";
import type { SessionRecord } from "../../server/registry.ts";
import {
  exists,
  listSessions,
  serveCommand,
  stateHome,
} from "../../harness/attach_tools.ts";

/** Polls the session list every 100 ms until `pred` holds for it; returns that list. */
async function listUntil(
  env: Record<string, string>,
  pred: (sessions: SessionRecord[]) => boolean,
  what: string,
  ms = 8000,
): Promise<SessionRecord[]> {
  const deadline = Date.now() + ms;
  while (true) {
    const sessions = await listSessions(env);
    if (pred(sessions)) return sessions;
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}: ${JSON.stringify(sessions)}`);
    }
    await delay(100);
  }
}

Deno.test("registry: a real session is listed, attached by a client, and killed by id", async () => {
  const { dir, env } = await stateHome();
  const d = await startServe(["--name", "e2e", ...SHELL], env);
  let client: HeadlessClient | null = null;
  try {
    const [before, ...others] = await listSessions(env);
    assert.deepEqual(others, []);
    assert.equal(before.pid, d.pid);
    assert.equal(before.port, d.port);
    assert.equal(before.name, "e2e");
    assert.equal(before.attached, false);
    assert.equal(before.lastHeard, null);
    assert.deepEqual(before.command, SHELL.slice(1));
    const record = `${dir}/tmosh/${before.id}.json`;
    assert.equal((Deno.lstatSync(`${dir}/tmosh`).mode ?? 0) & 0o777, 0o700);
    assert.equal((Deno.lstatSync(record).mode ?? 0) & 0o777, 0o600);
    assert.equal((Deno.lstatSync(before.socket).mode ?? 0) & 0o777, 0o600);
    assert.ok(!Deno.readTextFileSync(record).includes(d.key));

    client = HeadlessClient.connect({
      ip: "127.0.0.1",
      port: d.port,
      key: d.key,
      width: 100,
      height: 30,
    });
    const c = client;
    await c.waitFor(() => c.screenText()[0].startsWith("$"), "prompt", 10_000);
    const [attached] = await listUntil(
      env,
      (s) => s[0]?.attached === true && s[0].cols === 100,
      "attached at 100x30",
    );
    assert.equal(attached.rows, 30);
    assert.match(attached.client ?? "", /^127\.0\.0\.1:\d+$/);
    // The record on disk follows within a second or so (not on every packet).
    const deadline = Date.now() + 4000;
    while (!JSON.parse(Deno.readTextFileSync(record)).attached) {
      assert.ok(Date.now() < deadline, "the record on disk says attached");
      await delay(100);
    }
    // Last contact moves on as the client keeps talking.
    const first = Date.parse(attached.lastHeard!);
    await delay(1200);
    c.type("echo hi\r");
    const [later] = await listUntil(
      env,
      (s) => Date.parse(s[0]?.lastHeard ?? "") > first + 1000,
      "a later last contact",
    );
    assert.equal(later.attached, true);

    const kill = await serveCommand(["kill", before.id], env);
    assert.equal(kill.code, 0, kill.stderr);
    assert.equal(kill.stdout, `killed ${before.id} (e2e)\n`);
    assert.ok(await waitGone(d.pid, 5000), "the server process ended");
    assert.equal(await c.finished, "counterparty"); // ended with the handshake
    assert.ok(!exists(before.socket), "socket removed");
    assert.ok(!exists(record), "record removed");
    assert.deepEqual(await listSessions(env), []);
  } finally {
    await client?.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registry: kill --detached ends only detached sessions; a shared name is ambiguous", async () => {
  const { dir, env } = await stateHome();
  const a = await startServe(["--name", "twin", ...SHELL], env);
  const b = await startServe(["--name", "twin", ...SHELL], env);
  let client: HeadlessClient | null = null;
  try {
    client = HeadlessClient.connect({
      ip: "127.0.0.1",
      port: a.port,
      key: a.key,
      width: 80,
      height: 24,
    });
    const sessions = await listUntil(
      env,
      (s) => s.some((x) => x.port === a.port && x.attached),
      "a attached",
    );
    // Both sessions live in the user's daemon (one pid): the port tells them apart.
    const idA = sessions.find((x) => x.port === a.port)!.id;
    const idB = sessions.find((x) => x.port === b.port)!.id;

    const ambiguous = await serveCommand(["kill", "twin"], env);
    assert.equal(ambiguous.code, 1);
    assert.match(
      ambiguous.stderr,
      /^tmosh: 2 sessions are named "twin" \(\w+, \w+\); kill one by its id\n$/,
    );
    const unknown = await serveCommand(["kill", "nosuch"], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^tmosh: no session has the id or name/);
    const bad = await serveCommand(["kill"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^tmosh: .*Usage: tmosh serve kill/);

    const detached = await serveCommand(["kill", "--detached"], env);
    assert.equal(detached.code, 0, detached.stderr);
    assert.equal(detached.stdout, `killed ${idB} (twin)\n`);
    assert.ok(await processAlive(a.pid), "the attached session lives on");
    assert.deepEqual((await listSessions(env)).map((s) => s.id), [idA]);

    const byName = await serveCommand(["kill", "twin"], env); // unique now
    assert.equal(byName.code, 0, byName.stderr);
    assert.ok(await waitGone(a.pid, 5000));
    const none = await serveCommand(["kill", "--detached"], env);
    assert.equal(none.code, 0);
    assert.equal(none.stderr, "tmosh: no detached sessions\n");
  } finally {
    await client?.close();
    await a.stop();
    await b.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registry: a SIGKILLed server leaves a stale record that list removes", async () => {
  const { dir, env } = await stateHome();
  const d = await startServe(SHELL, env);
  try {
    const [s] = await listSessions(env);
    const record = `${dir}/tmosh/${s.id}.json`;
    Deno.kill(d.pid, "SIGKILL");
    assert.ok(await waitGone(d.pid, 5000));
    assert.ok(exists(record) && exists(s.socket), "left behind");
    const table = await serveCommand(["list"], env);
    assert.equal(table.stdout, "no tmosh sessions\n");
    assert.ok(!exists(record) && !exists(s.socket), "cleaned up");
  } finally {
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registry: serve refuses to start when the registry directory is unsafe", async () => {
  const { dir, env } = await stateHome();
  try {
    Deno.mkdirSync(`${dir}/elsewhere`, { mode: 0o700 });
    Deno.symlinkSync(`${dir}/elsewhere`, `${dir}/tmosh`);
    const run = await runServe(["new", "-i", "127.0.0.1", ...SHELL], env);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      `tmosh: ${dir}/tmosh is a symbolic link; remove it (tmosh keeps its sessions in a private directory)\n`,
    );
    assert.equal(run.stdout, "");
    assert.deepEqual([...Deno.readDirSync(`${dir}/elsewhere`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

otherAccountTests().test(
  "registry: another account can neither list nor kill the sessions, and their socket refuses it",
  async () => {
    const other = await otherAccount();
    const { dir, env } = await stateHome();
    // Let the other account look into the state home, to reach the checks below it.
    Deno.chmodSync(dir, 0o711);
    const d = await startServe(SHELL, env);
    const as = other.serve;
    const uid = other.uid;
    try {
      const [s] = await listSessions(env);
      // Their own registry (their HOME) does not hold it.
      const theirs = await as(["list", "--json"]);
      assert.equal(theirs.code, 0, theirs.stderr);
      assert.ok(
        !JSON.parse(theirs.stdout).some((x: SessionRecord) => x.id === s.id),
      );
      const kill = await as(["kill", s.id]);
      assert.equal(kill.code, 1);
      assert.match(kill.stderr, /^tmosh: no session has the id or name/);
      // Pointed at ours, they are refused: the directory is not theirs.
      for (const args of [["list"], ["kill", s.id], ["kill", "--detached"]]) {
        const run = await as(args, { XDG_STATE_HOME: dir });
        assert.equal(run.code, 1, args.join(" "));
        assert.match(
          run.stderr,
          new RegExp(
            `^tmosh: ${dir}/tmosh belongs to uid ${Deno.uid()}, not to you \\(uid ${uid}\\)`,
          ),
        );
      }
      // The socket itself: its 0700 directory refuses them, and so does its
      // own 0600 mode when the directory is opened up.
      assert.equal(await other.connect(s.socket), "PermissionDenied");
      Deno.chmodSync(`${dir}/tmosh`, 0o711);
      try {
        assert.equal(await other.connect(s.socket), "PermissionDenied");
      } finally {
        Deno.chmodSync(`${dir}/tmosh`, 0o700);
      }
      assert.ok(await processAlive(d.pid), "the session survived all that");
      assert.deepEqual((await listSessions(env)).map((x) => x.id), [s.id]);
    } finally {
      await d.stop();
      await Deno.remove(dir, { recursive: true });
      await other.close();
    }
  },
);
