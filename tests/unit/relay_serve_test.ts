/**
 * `tmosh serve relay` as a process on loopback (docs/wire.md §16.2): it
 * prints MOSH CONNECT with a relay key and detaches, forwards a client's
 * enveloped datagrams to a server and back, shows in `tmosh serve list`,
 * survives junk, and ends on `tmosh serve kill`, on the client's bye and
 * after its idle timeout. Bad arguments are one-line errors.
 * @module
 */

import assert from "node:assert/strict";
import { Connection } from "../../protocol/network/connection.ts";
import { relayPath } from "../../protocol/network/relay_envelope.ts";
import { generateKey } from "../../protocol/crypto/key.ts";
import type { SessionRecord } from "../../server/registry.ts";
import { isRelayRecord } from "../../server/relay_args.ts";
import { pickSession } from "../../client/bootstrap/session_list.ts";
import { tmoshProcess } from "../../harness/serve_process.ts";

/** Runs `tmosh serve ARGS` with its own registry; resolves to status and output. */
async function serve(
  state: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await tmoshProcess(["serve", ...args], {
    env: { XDG_STATE_HOME: state },
    stdin: "null",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Whether process `pid` still runs. */
function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone; fails after `ms`. */
async function waitGone(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`relay ${pid} still runs`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A relay in front of a Connection server, and a client through it. */
interface Rig {
  relay: SessionRecord;
  server: Connection;
  client: Connection;
  relayPort: number;
  state: string;
  close(): Promise<void>;
}

/** Starts a server, a relay to it (extra relay arguments first) and a client through the relay. */
async function rig(extra: string[] = []): Promise<Rig> {
  const state = await Deno.makeTempDir({ prefix: "tmosh_relay_" });
  const key = generateKey();
  const server = await Connection.listen(key, {
    ip: "127.0.0.1",
    portRange: [0, 0],
  });
  const started = await serve(state, [
    "relay",
    ...extra,
    "-p",
    "0",
    "127.0.0.1",
    String(server.port),
  ]);
  assert.equal(started.code, 0, started.stderr);
  const m = /^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})$/m.exec(started.stdout);
  assert.ok(m !== null, started.stdout);
  assert.match(started.stderr, /\[tmosh relay detached, pid = \d+\]/);
  const listed = await serve(state, ["list", "--json"]);
  const records = JSON.parse(listed.stdout) as SessionRecord[];
  assert.equal(records.length, 1);
  const relay = records[0];
  const client = Connection.connect(key, {
    ip: "127.0.0.1",
    port: Number(m[1]),
    path: relayPath([m[2]]),
  });
  return {
    relay,
    server,
    client,
    relayPort: Number(m[1]),
    state,
    async close() {
      await client.close();
      await server.close();
      if (alive(relay.pid)) Deno.kill(relay.pid, "SIGKILL");
      await Deno.remove(state, { recursive: true });
    },
  };
}

/** Sends from the client until the server has a payload, then back; both must arrive. */
async function exchange(r: Rig): Promise<void> {
  const atServer = new Promise<Uint8Array>((res) => r.server.onPayload(res));
  r.client.send(new Uint8Array(12).fill(1));
  assert.deepEqual(await atServer, new Uint8Array(12).fill(1));
  const atClient = new Promise<Uint8Array>((res) => r.client.onPayload(res));
  r.server.send(new Uint8Array(12).fill(2));
  assert.deepEqual(await atClient, new Uint8Array(12).fill(2));
}

Deno.test("serve relay: forwards both ways, is listed with its client, survives junk, and ends on serve kill", async () => {
  const r = await rig();
  try {
    assert.deepEqual(r.relay.command, [
      "relay",
      "to",
      `127.0.0.1:${r.server.port}`,
    ]);
    assert.equal(r.relay.port, r.relayPort);
    assert.equal(r.relay.client, null);
    await exchange(r);
    const junk = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    for (let n = 0; n < 300; n += 7) {
      await junk.send(crypto.getRandomValues(new Uint8Array(n * 13)), {
        transport: "udp",
        hostname: "127.0.0.1",
        port: r.relayPort,
      });
    }
    junk.close();
    await exchange(r);
    const [now] = JSON.parse(
      (await serve(r.state, ["list", "--json"])).stdout,
    ) as SessionRecord[];
    assert.equal(now.client, `127.0.0.1:${r.client.port}`);
    assert.equal(now.attached, true);
    const killed = await serve(r.state, ["kill", r.relay.id]);
    assert.equal(killed.code, 0, killed.stderr);
    await waitGone(r.relay.pid, 5000);
    assert.equal(
      (await serve(r.state, ["list"])).stdout,
      "no tmosh sessions\n",
    );
  } finally {
    await r.close();
  }
});

Deno.test("serve relay: the client's bye ends it", async () => {
  const r = await rig();
  try {
    await exchange(r);
    await r.client.close();
    await waitGone(r.relay.pid, 5000);
  } finally {
    await r.close();
  }
});

Deno.test("serve relay: --idle-timeout ends it once the client is silent that long", async () => {
  const r = await rig(["--idle-timeout=1"]);
  try {
    await exchange(r);
    const silentFrom = Date.now();
    await waitGone(r.relay.pid, 5000);
    assert.ok(Date.now() - silentFrom >= 900, "not before the timeout");
  } finally {
    await r.close();
  }
});

Deno.test("serve relay: bad arguments are one-line errors with exit 1", async () => {
  const state = await Deno.makeTempDir({ prefix: "tmosh_relay_" });
  try {
    for (
      const [args, why] of [
        [["relay"], /takes the target host and its UDP port/],
        [["relay", "h", "0"], /bad target port "0"/],
        [["relay", "h", "x"], /bad target port "x"/],
        [["relay", "--idle-timeout=soon", "h", "1"], /whole seconds/],
        [["relay", "-p", "9:1", "h", "1"], /low port 9 is greater/],
        [["relay", "-z", "h", "1"], /unknown option "-z"/],
      ] as const
    ) {
      const out = await serve(state, [...args]);
      assert.equal(out.code, 1, args.join(" "));
      assert.match(out.stderr, /^tmosh: [^\n]*\n$/);
      assert.match(out.stderr, why);
    }
    const help = await serve(state, ["relay", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: tmosh serve relay /);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("relay records are listed, but --attach never picks one and they count as no detached session", () => {
  const base = {
    name: null,
    created: "2026-01-01T00:00:00.000Z",
    lastHeard: "2026-01-01T00:00:01.000Z",
    attached: false,
    client: "192.0.2.1:5000",
  };
  const relay = {
    ...base,
    id: "aaaaaaaa",
    command: ["relay", "to", "192.0.2.9:60001"],
  };
  const session = { ...base, id: "bbbbbbbb", command: ["/bin/bash"] };
  assert.deepEqual(pickSession([relay, session]), {
    kind: "attach",
    id: "bbbbbbbb",
  });
  assert.deepEqual(pickSession([relay]), { kind: "none" });
  assert.equal(
    isRelayRecord({ command: relay.command, cols: 0, rows: 0 }),
    true,
  );
  assert.equal(
    isRelayRecord({ command: relay.command, cols: 80, rows: 24 }),
    false,
  );
  assert.equal(
    isRelayRecord({ command: ["/bin/bash"], cols: 0, rows: 0 }),
    false,
  );
});
