/**
 * A `driven` registration (server/registration.ts, as `tmosh serve` uses it):
 * no once-a-second poll; the session's own wake-ups (poke) write a change,
 * at most once a second, and a timer only for an attached client going quiet.
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

Deno.test("registration (driven): pokes write changes at most once a second; silence is noticed without pokes", async () => {
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

    // An attached client going quiet is written with no poke: the timer is due
    // DETACHED_AFTER_MS after it was last heard (here: at once on the clock).
    clock = probe.lastHeard + DETACHED_AFTER_MS + 1;
    reg.refresh();
    assert.equal(onDisk().attached, false);
  } finally {
    reg.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("registration (driven): the silence timer writes detached by itself", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "tmosh_driven_" });
  const start = performance.now();
  const probe: ClientProbe = { lastHeard: start, remoteAddr: null };
  // A clock running 100x fast: DETACHED_AFTER_MS (10 s) passes in 100 ms.
  const now = () => start + (performance.now() - start) * 100;
  const reg = registerSession({
    dir: `${tmp}/tmosh`,
    port: 60125,
    name: null,
    command: ["/bin/sh"],
    cols: 80,
    rows: 24,
    client: probe,
    now,
    driven: true,
  });
  const file = `${tmp}/tmosh/${reg.id}.json`;
  const onDisk = () => parseRecord(Deno.readTextFileSync(file))!;
  try {
    assert.equal(onDisk().attached, true);
    reg.poke(); // nothing changed: no write, but nothing breaks either
    // The timer is set in clock ms (10 s), so it comes late on the real clock;
    // the record must say detached once it has.
    const deadline = Date.now() + 15_000;
    while (onDisk().attached && Date.now() < deadline) await sleep(50);
    assert.equal(onDisk().attached, false, "detached without a poke");
  } finally {
    reg.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
