/**
 * tmosh's client through an impaired network (issue 5 §5, §7): a bare
 * `tmosh client` under tmux, through the userspace relay, against `tmosh
 * serve` and against stock mosh-server: 30% loss with 100 ms delay each way,
 * then a roam to a new source port and one to another source address; and
 * Ctrl-^ . while the server is unreachable (the client gives up, the server
 * times out: nothing is left behind).
 * The outages are in client_outage_*_test.ts (they run in parallel).
 * @module
 */

import assert from "node:assert/strict";
import {
  IMPAIRED_STEP_MS,
  seqScreen,
  type ServerKind,
  startNetworkRun,
  waitExactScreen,
} from "../../harness/client_network.ts";
import {
  assertServerRunning,
  clearScreen,
  roundTrip,
  STEP_MS,
  stepEcho,
  typeLine,
  waitServerGone,
} from "../../harness/client_session.ts";

/** MOSH_SERVER_NETWORK_TMOUT of the server in the quit-while-unreachable case, s. */
const SERVER_TIMEOUT_S = 3;
/** Longest the client may take to give up its shutdown (mosh: 10 s), plus slack, ms. */
const GIVE_UP_MS = 25_000;

/** Loss + delay, then two roams, on one session. */
async function lossAndRoam(kind: ServerKind): Promise<void> {
  const run = await startNetworkRun(kind);
  if (run === null) return;
  const { tmux, relay } = run;
  try {
    relay.set({ loss: 0.3, delayMs: 100 });
    await roundTrip(tmux, "echo lossy-$((5*5))", {
      expect: "lossy-25",
      timeoutMs: IMPAIRED_STEP_MS,
    });
    await clearScreen(tmux);
    await typeLine(tmux, "seq 1 60");
    await waitExactScreen(tmux, seqScreen(60), IMPAIRED_STEP_MS);
    assert.ok(relay.stats.dropped > 0, "the relay dropped datagrams");
    relay.set({ loss: 0, delayMs: 0 });

    const oldPort = relay.upstreamAddr.port;
    await relay.roam();
    assert.notEqual(relay.upstreamAddr.port, oldPort);
    // The old socket is closed: replies reach us only if the server followed.
    await roundTrip(tmux, "echo roamed-$((2*3))", { expect: "roamed-6" });

    await relay.roam({ hostname: "127.0.0.2" });
    assert.equal(relay.upstreamAddr.hostname, "127.0.0.2");
    await roundTrip(tmux, "echo moved-$((2*4))", { expect: "moved-8" });
  } finally {
    await run.stop();
  }
}

Deno.test("tmosh client -> tmosh serve: 30% loss with 100 ms delay, roam to a new port and address", async () => {
  await lossAndRoam("tmosh");
});

Deno.test("tmosh client -> stock mosh-server: 30% loss with 100 ms delay, roam to a new port and address", async () => {
  await lossAndRoam("stock");
});

/** Ctrl-^ . during an outage: no shutdown ack, so the client gives up; the server times out. */
async function quitWhileUnreachable(kind: ServerKind): Promise<void> {
  const run = await startNetworkRun(kind, {
    serverEnv: { MOSH_SERVER_NETWORK_TMOUT: `${SERVER_TIMEOUT_S}` },
  });
  if (run === null) return;
  const { tmux, relay, server } = run;
  try {
    await stepEcho(tmux);
    await assertServerRunning(server.mark);
    relay.set({ blackhole: true });
    await tmux.sendKeys("C-^");
    await tmux.sendKeys(".", { literal: true });
    await tmux.waitFor(/Exiting on user request/, STEP_MS);
    assert.equal(await tmux.waitForExit(GIVE_UP_MS), 1);
    assert.match(await tmux.capture(), /did not shut down cleanly/);
    await waitServerGone(server.mark);
  } finally {
    await run.stop();
  }
}

Deno.test("tmosh client -> tmosh serve: Ctrl-^ . while unreachable; client gives up, server times out", async () => {
  await quitWhileUnreachable("tmosh");
});

Deno.test("tmosh client -> stock mosh-server: Ctrl-^ . while unreachable; client gives up, server times out", async () => {
  await quitWhileUnreachable("stock");
});
