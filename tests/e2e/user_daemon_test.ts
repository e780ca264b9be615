/**
 * The user's daemon (server/user_daemon.ts, docs/architecture.md §12.3) with
 * real `tmosh serve new` fronts, real ptys and headless clients over UDP:
 * a user's sessions share one process; each ends alone (kill, its program's
 * exit), attach works, SIGTERM ends them all, the daemon exits after its
 * last session, two racing fronts get one daemon, and a further session
 * starts no second daemon (its speed is measured in bench/light_bench.ts).
 * @module
 */

import assert from "node:assert/strict";
import { HeadlessClient } from "../../harness/headless_client.ts";
import {
  delay,
  removeStateHome,
  runServe,
  SHELL,
  signal,
  startServe,
} from "../../harness/serve_process.ts";
import {
  descendants,
  findPidsWithEnv,
  killAndWait,
  processAlive,
  waitGone,
} from "../../harness/stock_mosh.ts";
import {
  attachGrant,
  exists,
  listSessions,
  serveCommand,
  stateHome,
} from "../../harness/attach_tools.ts";
import {
  daemonSocketPath,
  USER_DAEMON_FLAG,
} from "../../server/daemon_protocol.ts";
import { SIGINT, SIGQUIT } from "../../libc.ts";

/** How long a prompt or an echo may take, ms. */
const STEP_MS = 10_000;

/** A registry of the test's own (its own daemon) and its environment. */
async function userState() {
  return await stateHome();
}

/** A headless client on `port` with `key`, once the shell's prompt shows. */
async function client(port: number, key: string): Promise<HeadlessClient> {
  const c = HeadlessClient.connect({
    ip: "127.0.0.1",
    port,
    key,
    width: 80,
    height: 24,
  });
  await c.waitFor(() => c.screenText()[0].startsWith("$"), "prompt", STEP_MS);
  return c;
}

/** Types `echo WORD` and waits for its output on its own line. */
async function echo(c: HeadlessClient, word: string): Promise<void> {
  c.type(`echo ${word}\r`);
  await c.waitFor(
    () => c.screenText().some((l) => l.trim() === word),
    `echo ${word}`,
    STEP_MS,
  );
}

Deno.test("user daemon: two sessions share one process; killing one leaves the other usable; the daemon exits after the last", async () => {
  const { dir, env } = await userState();
  const a = await startServe(SHELL, env);
  const b = await startServe(SHELL, env);
  const clients: HeadlessClient[] = [];
  try {
    assert.equal(a.pid, b.pid, "both sessions in one daemon");
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.key, b.key);
    const sessions = await listSessions(env);
    assert.equal(sessions.length, 2);
    assert.deepEqual(sessions.map((s) => s.pid), [a.pid, a.pid]);
    assert.notEqual(sessions[0].id, sessions[1].id);
    const socket = daemonSocketPath(`${dir}/tmosh`);
    assert.equal(Deno.lstatSync(socket).mode! & 0o777, 0o600);
    const ca = await client(a.port, a.key);
    const cb = await client(b.port, b.key);
    clients.push(ca, cb);
    await echo(ca, "first-a");
    await echo(cb, "first-b");
    const idA = sessions.find((s) => s.port === a.port)!.id;
    const kill = await serveCommand(["kill", idA], env);
    assert.equal(kill.code, 0, kill.stderr);
    assert.equal(kill.stdout, `killed ${idA}\n`);
    assert.notEqual(
      await ended(ca, STEP_MS),
      "timeout",
      "the killed session's client is told",
    );
    assert.ok(await processAlive(a.pid), "the daemon goes on");
    await echo(cb, "still-b");
    assert.deepEqual((await listSessions(env)).map((s) => s.port), [b.port]);
    const idB = (await listSessions(env))[0].id;
    const last = await serveCommand(["kill", idB], env);
    assert.equal(last.code, 0, last.stderr);
    assert.ok(await waitGone(a.pid, 5000), "the daemon exits after its last");
    assert.ok(!exists(socket), "its socket is removed");
    assert.deepEqual(await listSessions(env), []);
  } finally {
    for (const c of clients) await c.close();
    await a.stop();
    await b.stop();
    await removeStateHome(dir);
  }
});

Deno.test("user daemon: a program's exit ends only its session; attach reaches a session in the daemon", async () => {
  const { dir, env } = await userState();
  const a = await startServe(SHELL, env);
  const b = await startServe(SHELL, env);
  const clients: HeadlessClient[] = [];
  try {
    assert.equal(a.pid, b.pid);
    const ca = await client(a.port, a.key);
    const cb = await client(b.port, b.key);
    clients.push(ca, cb);
    ca.type("exit\r");
    assert.notEqual(
      await ended(ca, STEP_MS),
      "timeout",
      "the exited program's session ends",
    );
    assert.ok(await processAlive(a.pid), "the daemon goes on");
    const left = await listSessions(env);
    assert.deepEqual(left.map((s) => s.port), [b.port]);
    await echo(cb, "b-alive");
    // Another client attaches to b with a fresh key and sees its screen.
    const grant = await attachGrant(["attach", left[0].id], env);
    assert.equal(grant.port, b.port);
    assert.notEqual(grant.key, b.key);
    assert.match(grant.run.stderr, new RegExp(`pid = ${a.pid}\\]`));
    const cc = HeadlessClient.connect({
      ip: "127.0.0.1",
      port: grant.port,
      key: grant.key,
      width: 80,
      height: 24,
    });
    clients.push(cc);
    await cc.waitFor(
      () => cc.screenText().some((l) => l.trim() === "b-alive"),
      "the attached client sees the session",
      STEP_MS,
    );
    await echo(cc, "via-attach");
  } finally {
    for (const c of clients) await c.close();
    await a.stop();
    await b.stop();
    await removeStateHome(dir);
  }
});

Deno.test("user daemon: SIGTERM ends every session and the daemon; racing fronts share one daemon", async () => {
  const { dir, env } = await userState();
  const [a, b] = await Promise.all([
    startServe(SHELL, env),
    startServe(SHELL, env),
  ]);
  try {
    assert.equal(a.pid, b.pid, "two fronts racing start one daemon");
    assert.equal((await listSessions(env)).length, 2);
    signal(a.pid, "SIGHUP"); // ignored, as mosh-server does
    await delay(300);
    assert.ok(await processAlive(a.pid), "SIGHUP is ignored");
    assert.equal((await listSessions(env)).length, 2);
    signal(a.pid, "SIGTERM");
    assert.ok(await waitGone(a.pid, 5000), "the daemon exits on SIGTERM");
    assert.deepEqual(await listSessions(env), [], "records removed");
    assert.ok(!exists(daemonSocketPath(`${dir}/tmosh`)), "socket removed");
  } finally {
    await a.stop();
    await b.stop();
    await removeStateHome(dir);
  }
});

Deno.test("user daemon: after a SIGKILLed daemon (its socket and records left behind) the next front starts a new one", async () => {
  const { dir, env } = await userState();
  const a = await startServe(SHELL, env);
  let b: Awaited<ReturnType<typeof startServe>> | null = null;
  try {
    signal(a.pid, "SIGKILL");
    assert.ok(await waitGone(a.pid, 5000));
    const socket = daemonSocketPath(`${dir}/tmosh`);
    assert.ok(exists(socket), "a dead daemon's socket stays");
    b = await startServe(SHELL, env);
    assert.notEqual(b.pid, a.pid, "a new daemon");
    const sessions = await listSessions(env);
    assert.deepEqual(
      sessions.map((s) => s.port),
      [b.port],
      "stale record gone",
    );
    const c = await client(b.port, b.key);
    try {
      await echo(c, "new-daemon");
    } finally {
      await c.close();
    }
  } finally {
    await a.stop();
    await b?.stop();
    await removeStateHome(dir);
  }
});

Deno.test("user daemon: an environment too large for the request is refused with one line, and no daemon starts", async () => {
  const { dir, env } = await userState();
  try {
    const run = await runServe(["new", "--", "true"], {
      ...env,
      // Each under the kernel's 128 KiB per string, 300 KiB in all.
      HUGE_1: "x".repeat(100 * 1024),
      HUGE_2: "x".repeat(100 * 1024),
      HUGE_3: "x".repeat(100 * 1024),
    });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^tmosh: the environment is too large to pass to the tmosh daemon .*TMOSH_USER_DAEMON=0\n$/,
    );
    assert.equal(run.stdout, "");
    assert.ok(!exists(daemonSocketPath(`${dir}/tmosh`)), "no daemon");
  } finally {
    await removeStateHome(dir);
  }
});

Deno.test("user daemon: a session's owner (TMOSH_OWNER_PID) ending ends that session only", async () => {
  const { dir, env } = await userState();
  const owner = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const owned = await startServe(SHELL, {
    ...env,
    TMOSH_OWNER_PID: `${owner.pid}`,
  });
  const other = await startServe(SHELL, env);
  try {
    assert.equal(owned.pid, other.pid);
    assert.equal((await listSessions(env)).length, 2);
    owner.kill("SIGKILL");
    await owner.status;
    const deadline = Date.now() + 5000;
    while ((await listSessions(env)).length > 1 && Date.now() < deadline) {
      await delay(100);
    }
    assert.deepEqual((await listSessions(env)).map((s) => s.port), [
      other.port,
    ]);
    assert.ok(await processAlive(other.pid), "the daemon goes on");
  } finally {
    try {
      owner.kill("SIGKILL");
    } catch {
      // gone
    }
    await owner.status;
    await owned.stop();
    await other.stop();
    await removeStateHome(dir);
  }
});

Deno.test("user daemon: a further session is served by the running daemon (no second daemon starts)", async () => {
  const { dir, env } = await userState();
  const pids: number[] = [];
  const start = async () => {
    const run = await runServe(
      ["new", "-i", "127.0.0.1", "--", "sleep", "60"],
      env,
    );
    assert.equal(run.code, 0, run.stderr);
    const pid = /pid = (\d+)\]/.exec(run.stderr);
    assert.ok(pid, run.stderr);
    pids.push(Number(pid[1]));
  };
  try {
    await start();
    await start();
    assert.equal(pids[0], pids[1]);
    const daemons: number[] = [];
    for (const pid of await findPidsWithEnv("XDG_STATE_HOME", dir)) {
      const argv = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(
        () => "",
      );
      if (argv.split("\0").includes(USER_DAEMON_FLAG)) daemons.push(pid);
    }
    assert.deepEqual(daemons, [pids[0]], "one daemon for both sessions");
  } finally {
    for (const pid of new Set(pids)) {
      await killAndWait([pid, ...await descendants(pid)]);
    }
    await removeStateHome(dir);
  }
});

Deno.test("user daemon: a front the finder started becomes the daemon: the finder exits 0 after MOSH CONNECT, no second process starts, further fronts are served by it", async () => {
  const { dir, env } = await userState();
  const a = await startServe(SHELL, env, { finder: true });
  const stops = [a.stop];
  const clients: HeadlessClient[] = [];
  try {
    assert.equal(a.run.code, 0, `the finder exits 0: ${a.run.stderr}`);
    const argv = Deno.readTextFileSync(`/proc/${a.pid}/cmdline`).split("\0");
    assert.ok(
      argv.includes("new") && !argv.includes(USER_DAEMON_FLAG),
      `the front itself serves: ${argv.join(" ")}`,
    );
    const daemons = (await findPidsWithEnv("XDG_STATE_HOME", dir)).filter(
      (pid) =>
        Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").includes(
          USER_DAEMON_FLAG,
        ),
    );
    assert.deepEqual(daemons, [], "no daemon was started apart");
    assert.equal(procStat(a.pid).session, a.pid, "a session of its own");
    for (const fd of [0, 1, 2]) {
      assert.equal(Deno.readLinkSync(`/proc/${a.pid}/fd/${fd}`), "/dev/null");
    }
    assert.equal(Deno.readLinkSync(`/proc/${a.pid}/cwd`), "/");
    assert.ok(!ignores(a.pid, SIGINT), "SIGINT is not ignored");
    assert.ok(!ignores(a.pid, SIGQUIT), "SIGQUIT is not ignored");
    const b = await startServe(SHELL, env, { finder: true });
    stops.push(b.stop);
    assert.equal(b.run.code, 0, b.run.stderr);
    assert.equal(b.pid, a.pid, "a further front is served by it");
    const ca = await client(a.port, a.key);
    const cb = await client(b.port, b.key);
    clients.push(ca, cb);
    await echo(ca, "stayed-a");
    await echo(cb, "stayed-b");
    signal(a.pid, "SIGHUP");
    await delay(300);
    assert.ok(await processAlive(a.pid), "SIGHUP is ignored");
    for (const s of await listSessions(env)) {
      const kill = await serveCommand(["kill", s.id], env);
      assert.equal(kill.code, 0, kill.stderr);
    }
    assert.ok(await waitGone(a.pid, 5000), "it exits after its last session");
    assert.ok(
      !exists(daemonSocketPath(`${dir}/tmosh`)),
      "its socket is removed",
    );
  } finally {
    for (const c of clients) await c.close();
    for (const stop of stops) await stop();
    await removeStateHome(dir);
  }
});

Deno.test("user daemon: through the finder a front that fails exits with the status it has alone, and leaves no socket or process", async () => {
  const { dir, env } = await userState();
  const taken = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const port = `${(taken.addr as Deno.NetAddr).port}`;
  try {
    const args = ["new", "-i", "127.0.0.1", "-p", port, ...SHELL];
    const viaFinder = await runServe(args, env, { finder: true });
    assert.ok(
      !exists(daemonSocketPath(`${dir}/tmosh`)),
      "the front that bound the socket closed it",
    );
    assert.deepEqual(await findPidsWithEnv("XDG_STATE_HOME", dir), []);
    const alone = await runServe(args, env);
    assert.notEqual(alone.code, 0, alone.stderr);
    assert.equal(viaFinder.code, alone.code, viaFinder.stderr);
    assert.match(viaFinder.stderr, /^tmosh: .*\n$/);
  } finally {
    taken.close();
    for (const pid of await findPidsWithEnv("XDG_STATE_HOME", dir)) {
      await killAndWait([pid, ...await descendants(pid)]);
    }
    await removeStateHome(dir);
  }
});

/** Fields of /proc/PID/stat: its session id. */
function procStat(pid: number): { session: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { session: Number(fields[3]) }; // state ppid pgrp session
}

/** Whether signal `sig` is ignored by `pid` (SigIgn in /proc/PID/status). */
function ignores(pid: number, sig: number): boolean {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mask = /^SigIgn:\s+([0-9a-f]+)$/m.exec(status);
  assert.ok(mask, status);
  return ((BigInt(`0x${mask[1]}`) >> BigInt(sig - 1)) & 1n) === 1n;
}

/** How the client's session ended, or "timeout" after `ms`. */
async function ended(c: HeadlessClient, ms: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      c.finished,
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve("timeout"), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
