/**
 * A `driven` registration (server/registration.ts, as `tmosh serve` uses it):
 * no once-a-second poll; the session's own wake-ups (poke) write a change,
 * at most once a second; an attached client going quiet is noticed by the
 * next poke (the session's heartbeat wake), and a backstop timer writes it
 * after SERVER_ASSOCIATION_TIMEOUT when no poke comes.
 */

import assert from "node:assert/strict";
import { parseRecord } from "../../server/registry.ts";
import {
  type ClientProbe,
  DETACHED_AFTER_MS,
  registerSession,
} from "../../server/registration.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("registration (driven): pokes write changes at most once a second, and a client gone quiet", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "tmosh_driven_" });
  let clock = 1_000_000;
  const probe: {
    lastHeard: number | null;
    remoteAddr: ClientProbe["remoteAddr"];
  } = { lastHeard: null, remoteAddr: null };
  const reg = registerSession({
    dir: `${tmp}/tmosh`,
    port: 60124,
    name: null,
    command: ["/bin/sh"],
    cols: 80,
    rows: 24,
    client: probe,
    now: () => clock,
    driven: true,
  });
  const file = `${tmp}/tmosh/${reg.id}.json`;
  const onDisk = () => parseRecord(Deno.readTextFileSync(file))!;
  try {
    // Nothing polls: a client heard from is not written until a poke.
    probe.lastHeard = clock;
    probe.remoteAddr = { hostname: "192.0.2.7", port: 4242 };
    await sleep(1300);
    assert.equal(onDisk().attached, false, "no poll without pokes");
    reg.poke();
    assert.equal(onDisk().attached, true, "a poke writes at once");
    assert.equal(onDisk().client, "192.0.2.7:4242");

    // A second change within a second of the write waits for the rest of it.
    clock += 200;
    probe.remoteAddr = { hostname: "192.0.2.8", port: 4242 };
    reg.poke();
    assert.equal(onDisk().client, "192.0.2.7:4242", "not twice in a second");
    clock += 800; // the deferred write's timer comes (real ~800 ms) and finds its time
    await sleep(1100);
    assert.equal(onDisk().client, "192.0.2.8:4242", "written a second later");

    // An attached client going quiet: the session's next wake (its
    // heartbeat, within ACK_INTERVAL) writes it.
    clock = probe.lastHeard + DETACHED_AFTER_MS - 1;
    reg.poke();
    assert.equal(onDisk().attached, true, "not yet quiet long enough");
    clock = probe.lastHeard + DETACHED_AFTER_MS + 1;
    reg.poke();
    assert.equal(onDisk().attached, false, "a poke writes detached");
  } finally {
    reg.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("registration (driven): without pokes, the backstop writes a quiet client detached", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "tmosh_driven_" });
  let clock = 1_000_000;
  const probe: ClientProbe = { lastHeard: clock, remoteAddr: null };
  const reg = registerSession({
    dir: `${tmp}/tmosh`,
    port: 60125,
    name: null,
    command: ["/bin/sh"],
    cols: 80,
    rows: 24,
    client: probe,
    now: () => clock,
    driven: true,
    silenceBackstopMs: 300,
  });
  const file = `${tmp}/tmosh/${reg.id}.json`;
  const onDisk = () => parseRecord(Deno.readTextFileSync(file))!;
  try {
    assert.equal(onDisk().attached, true);
    reg.poke(); // nothing changed: no write, but nothing breaks either
    clock += DETACHED_AFTER_MS + 1; // quiet, and no wake of the session
    await sleep(100);
    assert.equal(onDisk().attached, true, "nothing looks before the backstop");
    // The backstop is set in clock ms (300), so it comes 300 ms after the
    // registration on the real clock.
    const deadline = Date.now() + 5_000;
    while (onDisk().attached && Date.now() < deadline) await sleep(20);
    assert.equal(onDisk().attached, false, "detached without a poke");
  } finally {
    reg.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
