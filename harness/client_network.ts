/**
 * A bare `tmosh client` (MOSH_KEY, under tmux) talking to a server through
 * the impairment relay, for the network tests of the client (docs/architecture.md
 * §6.2): loss with delay, roaming, outages, port hopping. The server is
 * `tmosh serve` or stock mosh-server, started directly (no ssh).
 * @module
 */

import assert from "node:assert/strict";
import { Relay } from "../demo/impairment_relay.ts";
import { requirePeers } from "./require_peer.ts";
import { findPids, startStockServer } from "./stock_mosh.ts";
import { startTmoshServer } from "./tmosh_server.ts";
import { startTmux, type TmuxSession } from "./tmux.ts";
import {
  assertServerRunning,
  clearScreen,
  delay,
  lines,
  PS1,
  roundTrip,
  shellCommand,
  shq,
  STEP_MS,
  stepEcho,
  tmoshCommand,
  typeLine,
  waitPrompt,
  waitServerGone,
} from "./client_session.ts";

/** Which server the bare client talks to. */
export type ServerKind = "tmosh" | "stock";

/** A server started directly (no ssh) for a bare client. */
export interface DirectServer {
  /** UDP port on 127.0.0.1. */
  port: number;
  /** Session key (never logged). */
  key: string;
  /** TMOSH_TEST_MARK value of the server and its shell. */
  mark: string;
  /** Kills every process carrying the mark. */
  stop(): Promise<void>;
}

/** A client under tmux, the relay it goes through, and the server. */
export interface NetworkRun {
  /** The client's terminal. */
  tmux: TmuxSession;
  /** The relay between client and server (starts unimpaired). */
  relay: Relay;
  /** The server. */
  server: DirectServer;
  /** Unique word in the client's argv (`-# TAG`), to find its process. */
  tag: string;
  /** Stops client, relay and server. */
  stop(): Promise<void>;
}

/** Programs a network run with each kind of server needs (for peerTest). */
export const NETWORK_PEERS: Record<ServerKind, string[]> = {
  "tmosh": ["tmux"],
  "stock": ["tmux", "mosh-server"],
};

/** Starts the server of `kind`. */
async function startServer(
  kind: ServerKind,
  env: Record<string, string>,
): Promise<DirectServer> {
  if (kind === "tmosh") return await startTmoshServer(shellCommand(), { env });
  return await startStockServer({ command: shellCommand(), env });
}

/**
 * Starts a server of `kind`, a relay in front of it and `tmosh client` (80x24)
 * through the relay; resolves once the prompt shows. Throws if a peer
 * ({@linkcode NETWORK_PEERS}) is missing.
 */
export async function startNetworkRun(
  kind: ServerKind,
  options: {
    serverEnv?: Record<string, string>;
    /** Extra environment of the client (e.g. TMOSH_SCROLLBACK). */
    clientEnv?: Record<string, string>;
    /** tmux's history-limit for the client's pane (the user's scrollback). */
    historyLimit?: number;
    /** The client talks to the server straight, not through the relay (which then carries nothing). */
    direct?: boolean;
  } = {},
): Promise<NetworkRun> {
  requirePeers(...NETWORK_PEERS[kind]);
  const server = await startServer(kind, options.serverEnv ?? {});
  let relay: Relay | null = null;
  let tmux: TmuxSession | null = null;
  const tag = `net-client-${crypto.randomUUID()}`;
  const stop = async function stop(): Promise<void> {
    await tmux?.kill();
    await relay?.close();
    await server.stop();
  };
  try {
    relay = await Relay.start({
      listen: { hostname: "127.0.0.1" },
      upstream: { hostname: "127.0.0.1", port: server.port },
    });
    tmux = await startTmux(
      `${tmoshCommand("client")} -# ${shq(tag)} 127.0.0.1 ${
        options.direct ? server.port : relay.port
      }`,
      {
        env: {
          TERM: "xterm-256color",
          LANG: "C.UTF-8",
          MOSH_KEY: server.key,
          ...options.clientEnv,
        },
        historyLimit: options.historyLimit,
      },
    );
    await waitPrompt(tmux);
    return { tmux, relay, server, tag, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The local UDP ports the client process (found by its tag) has open now. */
export async function clientPorts(tag: string): Promise<Set<number>> {
  const pids = await findPids(tag);
  const client = [];
  for (const pid of pids) {
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(
      () => "",
    );
    if (cmdline.includes("main.ts")) client.push(pid);
  }
  assert.equal(client.length, 1, `one tmosh client process, found ${pids}`);
  const out = await new Deno.Command("ss", {
    args: ["-uanpH"],
    stdin: "null",
  }).output();
  const ports = new Set<number>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    if (!line.includes(`pid=${client[0]},`)) continue;
    const local = line.trim().split(/\s+/)[3] ?? "";
    ports.add(Number(local.slice(local.lastIndexOf(":") + 1)));
  }
  return ports;
}

/** The screen after `clear; echo started; sleep S; seq 1 N` on 80x24: the last 23 numbers, then the prompt. */
export function seqScreen(count: number, rows = 24): string[] {
  const numbers = Array.from({ length: count }, (_, i) => `${i + 1}`);
  return [...numbers.slice(-(rows - 1)), PS1.trimEnd()];
}

/** The client's screen with trailing empty rows removed. */
export function trimmedScreen(screen: string): string[] {
  const rows = lines(screen);
  while (rows.length > 0 && rows.at(-1) === "") rows.pop();
  return rows;
}

/** Waits until the client's screen is exactly `expected` (rows after the last non-empty one ignored). */
export async function waitExactScreen(
  tmux: TmuxSession,
  expected: string[],
  timeoutMs: number,
): Promise<void> {
  const want = expected.join("\n");
  await tmux.waitFor((s) => trimmedScreen(s).join("\n") === want, timeoutMs);
}

/** Longest wait for a step while the link is impaired, ms. */
export const IMPAIRED_STEP_MS = 45_000;

/** Seconds after which the bar must show (mosh: 6.5 s without contact, plus slack under load), ms. */
export const BAR_MS = 15_000;

/**
 * The outage case of docs/architecture.md §6.2: a command prints a screenful while the link is down for
 * `seconds`; the "Last contact" bar shows meanwhile; afterwards the client's
 * screen is exactly what the server's shell printed, typing works again, and
 * the client has hopped to a new source port (it heard nothing for > 10 s).
 */
export async function outageCase(
  kind: ServerKind,
  seconds: number,
): Promise<void> {
  const run = await startNetworkRun(kind);
  const { tmux, relay } = run;
  try {
    await clearScreen(tmux);
    const portsBefore = await clientPorts(run.tag);
    assert.ok(portsBefore.size > 0, "the client has a UDP socket");
    await typeLine(tmux, "echo started; sleep 5; seq 1 100");
    await tmux.waitFor((s) => lines(s).includes("started"), STEP_MS);
    relay.set({ blackhole: true });
    const start = Date.now();
    await tmux.waitFor(/^tmosh: Last contact \d+ seconds ago\./m, BAR_MS);
    await delay(seconds * 1000 - (Date.now() - start));
    const during = await tmux.capture();
    assert.match(during, /^tmosh: Last contact \d+ seconds ago\./m);
    assert.ok(
      !lines(during).includes("100"),
      `seq output before the link is back:\n${during}`,
    );
    relay.set({ blackhole: false });
    await waitExactScreen(tmux, seqScreen(100), RECOVER_MS);
    await roundTrip(tmux, "echo after-outage-$((3+4))", {
      expect: "after-outage-7",
    });
    const portsAfter = await clientPorts(run.tag);
    assert.ok(
      [...portsAfter].some((port) => !portsBefore.has(port)),
      `the client hopped to a new port: before ${[...portsBefore]}, after ${[
        ...portsAfter,
      ]}`,
    );
  } finally {
    await run.stop();
  }
}

/** Longest wait for the screen to catch up after an outage, ms. */
const RECOVER_MS = 20_000;

/** MOSH_SERVER_NETWORK_TMOUT of the server in the quit-while-unreachable case, s. */
const SERVER_TIMEOUT_S = 3;
/** Longest the client may take to give up its shutdown (mosh: 10 s), plus slack, ms. */
const GIVE_UP_MS = 25_000;

/** Loss + delay, then two roams, on one session. */
export async function lossAndRoam(kind: ServerKind): Promise<void> {
  const run = await startNetworkRun(kind);
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

/** Ctrl-^ . during an outage: no shutdown ack, so the client gives up; the server times out. */
export async function quitWhileUnreachable(kind: ServerKind): Promise<void> {
  const run = await startNetworkRun(kind, {
    serverEnv: { MOSH_SERVER_NETWORK_TMOUT: `${SERVER_TIMEOUT_S}` },
  });
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
