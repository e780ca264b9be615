/**
 * The session registry (server/registry.ts), a session's registration and
 * control socket (server/registration.ts, server/control_socket.ts) and the
 * `serve list|kill` argument parsing and table (server/session_commands.ts),
 * on real directories, files, processes and Unix sockets.
 */

import assert from "node:assert/strict";
import {
  checkPrivateDir,
  checkSessionName,
  ensurePrivateDir,
  fallbackSocketDir,
  isLive,
  newSessionId,
  parseRecord,
  readRecords,
  registryDir,
  type SessionRecord,
  socketPath,
  SUN_PATH_MAX,
  writeRecord,
} from "../../server/registry.ts";
import {
  type ClientProbe,
  DETACHED_AFTER_MS,
  registerSession,
} from "../../server/registration.ts";
import { requestControl } from "../../server/control_socket.ts";
import { startTime } from "../../server/owner.ts";
import {
  formatAge,
  formatTable,
  parseSessionCommand,
} from "../../server/session_commands.ts";

/** The permission bits of `path` (not following a symlink). */
function modeOf(path: string): number {
  return (Deno.lstatSync(path).mode ?? 0) & 0o777;
}

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withTempDir(
  fn: (dir: string) => Promise<void> | void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_registry_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A record for this process (live) or for `pid`. */
function record(
  dir: string,
  overrides: Partial<SessionRecord> = {},
): SessionRecord {
  const id = overrides.id ?? newSessionId();
  return {
    id,
    name: null,
    pid: Deno.pid,
    pidStart: startTime(Deno.pid),
    port: 60001,
    socket: socketPath(dir, id),
    created: new Date().toISOString(),
    lastHeard: null,
    attached: false,
    client: null,
    command: ["/bin/sh"],
    cols: 80,
    rows: 24,
    version: "0.0.0",
    ...overrides,
  };
}

/** The pid of a process that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("/bin/true").spawn();
  await child.status;
  return child.pid;
}

/** Leaves a Unix socket file at `path` as a SIGKILLed listener does (closing would remove it). */
async function socketLeftBehind(path: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "Deno.listen({ transport: 'unix', path: Deno.args[0] }); " +
      "Deno.kill(Deno.pid, 'SIGKILL');",
      path,
    ],
  }).output();
  assert.equal(out.signal, "SIGKILL");
}

/** Polls `pred` every 25 ms until it holds or `ms` pass. */
async function eventually(
  pred: () => boolean,
  what: string,
  ms = 4000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

Deno.test("registry: the directory is $XDG_STATE_HOME/tmosh, else ~/.local/state/tmosh", () => {
  assert.equal(
    registryDir({ XDG_STATE_HOME: "/x/state/", HOME: "/home/u" }),
    "/x/state/tmosh",
  );
  // A relative XDG_STATE_HOME is ignored, as the XDG spec says.
  assert.equal(
    registryDir({ XDG_STATE_HOME: "state", HOME: "/home/u" }),
    "/home/u/.local/state/tmosh",
  );
  assert.equal(
    registryDir({ HOME: "/home/u", XDG_RUNTIME_DIR: "/run/user/1" }),
    "/home/u/.local/state/tmosh",
  );
  assert.throws(() => registryDir({}), /^Error: tmosh: .*set one/);
});

Deno.test("registry: ids are 8 base32 characters; names are checked", () => {
  const ids = new Set(Array.from({ length: 200 }, newSessionId));
  assert.equal(ids.size, 200);
  for (const id of ids) assert.match(id, /^[a-z2-7]{8}$/);
  for (const good of ["work", "a", "build-2.x_y", "A".repeat(32)]) {
    assert.equal(checkSessionName(good), null, good);
  }
  for (const bad of ["", "-x", ".x", "a b", "a/b", "é", "A".repeat(33)]) {
    assert.match(checkSessionName(bad) ?? "", /^tmosh: bad session name/, bad);
  }
});

Deno.test("registry: directories are created 0700 and refused when unsafe", async () => {
  await withTempDir((tmp) => {
    const dir = `${tmp}/state/deeper/tmosh`;
    assert.equal(checkPrivateDir(dir), false);
    ensurePrivateDir(dir);
    assert.equal(modeOf(dir), 0o700);
    assert.equal(modeOf(`${tmp}/state/deeper`), 0o700);
    // A looser mode of our own that nobody else can write is tightened.
    Deno.chmodSync(dir, 0o755);
    ensurePrivateDir(dir);
    assert.equal(modeOf(dir), 0o700);
    // Writable by group or others: refused.
    Deno.chmodSync(dir, 0o770);
    assert.throws(() => ensurePrivateDir(dir), /writable by others.*chmod 700/);
    Deno.chmodSync(dir, 0o700);
    // A symlink, even to a good directory: refused, not followed.
    Deno.symlinkSync(dir, `${tmp}/link`);
    assert.throws(() => checkPrivateDir(`${tmp}/link`), /symbolic link/);
    assert.throws(() => ensurePrivateDir(`${tmp}/link`), /symbolic link/);
    Deno.writeTextFileSync(`${tmp}/file`, "");
    assert.throws(() => ensurePrivateDir(`${tmp}/file`), /not a directory/);
  });
});

Deno.test({
  name: "registry: a directory owned by someone else is refused",
  ignore: Deno.uid() !== 0, // chown needs root
  fn: async () => {
    await withTempDir((tmp) => {
      const dir = `${tmp}/tmosh`;
      Deno.mkdirSync(dir, { mode: 0o700 });
      Deno.chownSync(dir, 65534, 65534);
      assert.throws(
        () => ensurePrivateDir(dir),
        /belongs to uid 65534, not to you \(uid 0\)/,
      );
      assert.throws(() => checkPrivateDir(dir), /uid 65534/);
    });
  },
});

Deno.test("registry: records are 0600, read back, and stale ones are removed with their socket", async () => {
  await withTempDir(async (dir) => {
    const live = record(dir, { name: "mine" });
    writeRecord(dir, live);
    assert.equal(modeOf(`${dir}/${live.id}.json`), 0o600);
    assert.deepEqual(readRecords(dir), [live]);
    assert.equal(isLive(live), true);

    // A session whose process is gone (SIGKILL leaves its record and socket).
    const dead = record(dir, { pid: await deadPid() });
    writeRecord(dir, dead);
    await socketLeftBehind(dead.socket);
    assert.ok(Deno.lstatSync(dead.socket).isSocket);
    // A live pid with another start time is a reused pid: stale too.
    const reused = record(dir, { pidStart: "1" });
    writeRecord(dir, reused);
    assert.equal(isLive(reused), false);

    assert.deepEqual(readRecords(dir).map((r) => r.id), [live.id]);
    for (const r of [dead, reused]) {
      assert.throws(() => Deno.lstatSync(`${dir}/${r.id}.json`));
    }
    assert.throws(() => Deno.lstatSync(dead.socket));

    // Not records: malformed text, a symlink (never followed), other names.
    Deno.writeTextFileSync(`${dir}/abcdefgh.json`, "{not json");
    Deno.symlinkSync(`${dir}/${live.id}.json`, `${dir}/zzzzzzzz.json`);
    Deno.writeTextFileSync(`${dir}/notes.txt`, "x");
    assert.deepEqual(readRecords(dir).map((r) => r.id), [live.id]);
    assert.equal(parseRecord('{"id":"x"}'), null);
    assert.equal(parseRecord(JSON.stringify(live))?.id, live.id);
  });
});

Deno.test("registry: a socket path too long for sun_path falls back to /tmp/tmosh-UID", async () => {
  await withTempDir(async (tmp) => {
    const dir = `${tmp}/${"d".repeat(SUN_PATH_MAX)}/tmosh`;
    const id = newSessionId();
    assert.equal(socketPath(tmp, id), `${tmp}/${id}.sock`);
    assert.equal(socketPath(dir, id), `${fallbackSocketDir()}/${id}.sock`);
    const probe: ClientProbe = { lastHeard: null, remoteAddr: null };
    const reg = registerSession({
      dir,
      port: 60001,
      name: null,
      command: ["/bin/sh"],
      cols: 80,
      rows: 24,
      client: probe,
    });
    try {
      const path = reg.current().socket;
      assert.equal(path, `${fallbackSocketDir()}/${reg.id}.sock`);
      assert.equal(modeOf(fallbackSocketDir()), 0o700);
      assert.equal(Deno.lstatSync(fallbackSocketDir()).uid, Deno.uid());
      assert.equal(modeOf(path), 0o600);
      const reply = await requestControl(path, { op: "status" });
      assert.ok(reply.ok);
      assert.equal(reply.session?.id, reg.id);
      assert.deepEqual(readRecords(dir).map((r) => r.socket), [path]);
    } finally {
      reg.close();
    }
    assert.throws(() =>
      Deno.lstatSync(`${fallbackSocketDir()}/${reg.id}.sock`)
    );
    assert.deepEqual(readRecords(dir), []);
  });
});

Deno.test("registration: the record follows the client (attached, address, size, silence); the socket answers status and kill", async () => {
  await withTempDir(async (tmp) => {
    const dir = `${tmp}/tmosh`;
    let clock = 1_000_000;
    const probe: {
      lastHeard: number | null;
      remoteAddr: ClientProbe["remoteAddr"];
    } = {
      lastHeard: null,
      remoteAddr: null,
    };
    const reg = registerSession({
      dir,
      port: 60123,
      name: "work",
      command: ["/bin/bash", "-l"],
      cols: 80,
      rows: 24,
      client: probe,
      now: () => clock,
    });
    const file = `${dir}/${reg.id}.json`;
    const onDisk = () => parseRecord(Deno.readTextFileSync(file))!;
    try {
      assert.equal(modeOf(dir), 0o700);
      assert.equal(modeOf(file), 0o600);
      assert.equal(modeOf(`${dir}/${reg.id}.sock`), 0o600);
      const first = onDisk();
      assert.equal(first.pid, Deno.pid);
      assert.equal(first.port, 60123);
      assert.equal(first.name, "work");
      assert.equal(first.attached, false);
      assert.equal(first.lastHeard, null);
      assert.deepEqual(first.command, ["/bin/bash", "-l"]);
      assert.doesNotMatch(Deno.readTextFileSync(file), /key/i);

      // A client is heard from: the record says so within a look (1 s).
      probe.lastHeard = clock;
      probe.remoteAddr = { hostname: "192.0.2.7", port: 4242 };
      reg.resize(120, 40);
      await eventually(() => onDisk().attached, "attached on disk");
      const attached = onDisk();
      assert.equal(attached.client, "192.0.2.7:4242");
      assert.equal(attached.cols, 120);
      assert.equal(attached.rows, 40);
      assert.notEqual(attached.lastHeard, null);

      // IPv6 addresses are bracketed; status on the socket is current at once.
      probe.remoteAddr = { hostname: "2001:db8::1", port: 5 };
      const status = await requestControl(`${dir}/${reg.id}.sock`, {
        op: "status",
      });
      assert.ok(status.ok);
      assert.equal(status.session?.client, "[2001:db8::1]:5");

      // Silence past DETACHED_AFTER_MS: detached on disk, address kept.
      clock += DETACHED_AFTER_MS + 1;
      await eventually(() => !onDisk().attached, "detached on disk");
      assert.equal(onDisk().client, "[2001:db8::1]:5");

      // Unknown and reserved ops are refused; malformed lines too.
      const path = `${dir}/${reg.id}.sock`;
      const unknown = await requestControl(path, { op: "reboot" });
      assert.deepEqual(unknown, {
        ok: false,
        error: 'tmosh: unknown op "reboot"; expected status, kill or attach',
      });
      // Without an attach handler, attach is refused.
      const attach = await requestControl(path, { op: "attach" });
      assert.equal(attach.ok, false);
      const raw = await Deno.connect({ transport: "unix", path });
      await raw.write(new TextEncoder().encode("[1,2]\n"));
      const buf = new Uint8Array(256);
      const n = await raw.read(buf);
      raw.close();
      assert.match(
        new TextDecoder().decode(buf.subarray(0, n ?? 0)),
        /"ok":false.*one JSON object/,
      );

      // kill answers ok, then aborts the session's stop signal.
      assert.equal(reg.stop.aborted, false);
      const kill = await requestControl(path, { op: "kill" });
      assert.deepEqual(kill, { ok: true });
      await eventually(() => reg.stop.aborted, "the stop signal");
    } finally {
      reg.close();
    }
    assert.throws(() => Deno.lstatSync(file));
    assert.throws(() => Deno.lstatSync(`${dir}/${reg.id}.sock`));
    await assert.rejects(
      requestControl(`${dir}/${reg.id}.sock`, { op: "status" }),
      /cannot reach the session's control socket/,
    );
  });
});

Deno.test("serve list/kill: arguments", () => {
  assert.deepEqual(parseSessionCommand(["list"]), {
    kind: "list",
    json: false,
  });
  assert.deepEqual(parseSessionCommand(["list", "--json"]), {
    kind: "list",
    json: true,
  });
  assert.deepEqual(parseSessionCommand(["kill", "ab2cd3ef"]), {
    kind: "kill",
    target: "ab2cd3ef",
  });
  assert.deepEqual(parseSessionCommand(["kill", "--detached"]), {
    kind: "kill",
    target: null,
  });
  for (
    const bad of [
      ["list", "-a"],
      ["kill"],
      ["kill", "a", "b"],
      ["kill", "--all"],
    ]
  ) {
    const r = parseSessionCommand(bad);
    assert.equal(r.kind, "error", bad.join(" "));
    if (r.kind === "error") {
      assert.match(r.message, /^tmosh: .*; Usage: tmosh serve /);
      assert.doesNotMatch(r.message, /\n/);
    }
  }
});

Deno.test("serve list: the table", () => {
  assert.equal(formatAge(999), "0s");
  assert.equal(formatAge(61_000), "1m");
  assert.equal(formatAge(3 * 3600_000), "3h");
  assert.equal(formatAge(72 * 3600_000), "3d");
  assert.equal(formatTable([], 0), "no tmosh sessions\n");
  const now = Date.parse("2026-01-01T12:00:00Z");
  const text = formatTable([
    record("/x", {
      id: "abcdefgh",
      name: "work",
      created: "2026-01-01T10:00:00Z",
      lastHeard: "2026-01-01T11:59:57Z",
      attached: true,
      client: "192.0.2.7:4242",
      command: ["vi", "\x1b[2Jx"],
      cols: 120,
      rows: 40,
    }),
    record("/x", { id: "ijklmnop", created: "2026-01-01T11:59:00Z" }),
  ], now);
  const lines = text.trimEnd().split("\n");
  assert.match(
    lines[0],
    /^ID +NAME +AGE +STATE +LAST CONTACT +CLIENT +COMMAND +SIZE$/,
  );
  assert.match(
    lines[1],
    /^abcdefgh +work +2h +attached +3s ago +192\.0\.2\.7:4242 +vi \?\[2Jx +120x40$/,
  );
  assert.match(
    lines[2],
    /^ijklmnop +- +1m +detached +never +- +\/bin\/sh +80x24$/,
  );
});
