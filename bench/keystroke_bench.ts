/**
 * Keystroke latency through a slow link, tmosh client against stock
 * mosh-client: the same typing trace (bench/keystroke_trace.ts) replayed
 * through the impairment relay at 100 ms and 250 ms one-way delay to a stock
 * mosh-server running bash (and vi), each client in a real terminal (tmux,
 * 80x24) watched through tmux control mode. For each key: the time until its
 * effect is on the screen; per run: median, mean, the fraction shown within
 * 5 ms, and misprediction episodes (screens showing what the server never
 * did) per key. "unseen" counts keys whose effect never showed on its own
 * (merged into a later screen); "probe ms" is the round trip of one tmux
 * send-keys command, the floor of every measured latency. Takes about three
 * minutes. `deno run -A bench/keystroke_bench.ts [--verbose] [DELAY...]
 * [tmosh|mosh]` runs a part and, verbose, prints late keys and wrong screens.
 * @module
 */

import { tmoshCommand } from "../harness/client_session.ts";
import { Relay } from "../demo/impairment_relay.ts";
import { findBinary } from "../harness/require_peer.ts";
import { startStockServer, type StockServer } from "../harness/stock_mosh.ts";
import {
  sameScreen,
  startWatchedTmux,
  type WatchedTmux,
} from "../harness/tmux_watch.ts";
import {
  analyseReplay,
  INSTANT_MS,
  keyGaps,
  keystrokeTrace,
  REACTION_MS,
  type Reference,
  type ReplaySummary,
  summarise,
  type TraceKey,
} from "./keystroke_trace.ts";

/** The two clients compared. */
export type ClientKind = "tmosh" | "mosh";

/** One-way delays of the timed runs, ms. */
const DELAYS = [100, 250];
/** Mosh's send interval is at most this, ms (an echo may lag one more). */
const MAX_SEND_INTERVAL = 250;
/** While recording references: quiet time after a change that counts as settled, ms. */
const SETTLE_QUIET_MS = 120;
/** While recording references: a key that changed nothing for this long is silent, ms. */
const SILENT_MS = 400;
/** Longest wait for output a person waits for (Enter, vi start), ms. */
const AWAIT_MS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** A client connected through a relay to a fresh stock mosh-server running bash. */
interface Session {
  term: WatchedTmux;
  close(): Promise<void>;
}

/** Starts server, relay and client; resolves once the first prompt is on the client's screen. */
async function startSession(
  client: ClientKind,
  options: { delayMs: number; predict: string },
): Promise<Session> {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_keys_" });
  let server: StockServer | undefined;
  let relay: Relay | undefined;
  let term: WatchedTmux | undefined;
  const close = async () => {
    await term?.kill();
    await relay?.close();
    await server?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    server = await startStockServer({
      command: [
        "env",
        "-C",
        dir,
        "PS1=$ ",
        "HISTFILE=/dev/null",
        "bash",
        "--norc",
        "--noprofile",
        "-i",
      ],
    });
    relay = await Relay.start({
      upstream: { hostname: "127.0.0.1", port: server.port },
      delayMs: options.delayMs,
    });
    const program = client === "tmosh"
      ? tmoshCommand("client")
      : await findBinary("mosh-client");
    term = await startWatchedTmux(
      `exec ${program} 127.0.0.1 ${relay.port}`,
      {
        env: {
          MOSH_KEY: server.key,
          LANG: "C.UTF-8",
          TERM: "xterm-256color",
          MOSH_PREDICTION_DISPLAY: options.predict,
        },
      },
    );
    await term.waitFor((s) => s.rows[s.y] === "$" && s.x === 2, 20_000);
    await sleep(500);
  } catch (error) {
    await close();
    throw error;
  }
  return { term, close };
}

/** Sends one trace key; resolves to the send time. */
function send(term: WatchedTmux, key: TraceKey): Promise<number> {
  return term.sendKeys(key.key, { literal: key.literal });
}

/** Waits until the screen has not changed for `quietMs` (or nothing changed for `silentMs`). */
async function settle(
  term: WatchedTmux,
  since: number,
  limits: { quietMs: number; silentMs: number },
): Promise<void> {
  while (true) {
    await sleep(10);
    const last = term.screen().time;
    const now = performance.now();
    if (last > since && now - last >= limits.quietMs) return;
    if (last <= since && now - since >= limits.silentMs) return;
  }
}

/** Types the trace one key at a time, without delay or prediction; returns the settled screens. */
async function recordReference(
  client: ClientKind,
  trace: TraceKey[],
): Promise<Reference> {
  const session = await startSession(client, { delayMs: 0, predict: "never" });
  const term = session.term;
  try {
    const ref: Reference = {
      settled: [term.screen()],
      seen: [[term.screen()]],
    };
    for (const key of trace) {
      const from = term.history.length - 1;
      const at = await send(term, key);
      await settle(term, at, {
        quietMs: SETTLE_QUIET_MS,
        silentMs: key.awaitEffect ? AWAIT_MS : SILENT_MS,
      });
      ref.settled.push(term.screen());
      ref.seen.push(term.history.slice(from));
    }
    return ref;
  } finally {
    await session.close();
  }
}

/** What one timed replay gave. */
interface RunFigures extends ReplaySummary {
  /** Median round trip of a tmux send-keys command through control mode, ms. */
  probeMs: number;
  /** tmux's own screen differed from the model at the end. */
  modelMismatch: boolean;
  /** The screen never reached the reference's final state. */
  diverged: boolean;
}

/** Replays the trace at a human pace through a delayed relay and judges every screen. */
async function replay(
  client: ClientKind,
  options: {
    delayMs: number;
    trace: TraceKey[];
    ref: Reference;
    verbose?: boolean;
  },
): Promise<RunFigures> {
  const { trace } = options;
  const ref = options.ref.settled;
  const session = await startSession(client, {
    delayMs: options.delayMs,
    predict: "adaptive",
  });
  const term = session.term;
  try {
    const gaps = keyGaps(trace.length);
    const sentAt: number[] = [];
    const probes: number[] = [];
    let diverged = !sameScreen(term.screen(), ref[0]);
    let next = performance.now();
    for (let k = 0; k < trace.length; k++) {
      next += trace[k].think;
      await sleep(next - performance.now());
      const at = await send(term, trace[k]);
      probes.push(performance.now() - at);
      sentAt.push(at);
      next = at + gaps[k];
      if (trace[k].awaitEffect) {
        try {
          await term.waitFor((s) => sameScreen(s, ref[k + 1]), AWAIT_MS);
        } catch {
          diverged = true;
        }
        next = performance.now() + REACTION_MS;
      }
    }
    try {
      await term.waitFor((s) => sameScreen(s, ref[trace.length]), AWAIT_MS);
    } catch {
      diverged = true;
    }
    await sleep(300);
    const tmuxView = (await term.capture()).split("\n").map((l) => l.trimEnd());
    const modelMismatch = term.screen().rows.some((row, y) =>
      row !== (tmuxView[y] ?? "")
    );
    const result = analyseReplay(term.history, {
      sentAt,
      ref: options.ref,
      lagMs: 2 * options.delayMs + MAX_SEND_INTERVAL + 100,
    });
    if (options.verbose) {
      for (const w of result.wrong) {
        console.log(
          `  wrong screen at ${
            (w.screen.time - sentAt[0]).toFixed(0)
          } ms (cursor ${w.screen.x},${w.screen.y}):`,
        );
        w.screen.rows.forEach((r, y) => {
          if (w.refs.every((ref) => ref.rows[y] !== r)) {
            console.log(
              `    row ${y}: ${JSON.stringify(r)} refs: ${
                [...new Set(w.refs.map((ref) => ref.rows[y]))].map((x) =>
                  JSON.stringify(x)
                ).join(" | ")
              }`,
            );
          }
        });
        if (
          !w.refs.some((ref) => ref.x === w.screen.x && ref.y === w.screen.y)
        ) {
          console.log(
            `    cursor not in refs: ${
              [...new Set(w.refs.map((ref) => `${ref.x},${ref.y}`))].join(" ")
            }`,
          );
        }
      }
    }
    if (options.verbose) {
      const late = result.latency.map((ms, k) =>
        ms !== null && ms > INSTANT_MS && !result.silent[k]
          ? `${k}:${JSON.stringify(trace[k].key)}=${ms.toFixed(0)}`
          : ""
      ).filter((x) => x !== "");
      console.log(`  keys shown late: ${late.join(" ")}`);
    }
    if (result.mispredictions > 0) {
      console.log(
        `  ${client} at ${options.delayMs} ms: mispredictions after keys ` +
          result.mispredictedKeys.map((k) => JSON.stringify(trace[k].key))
            .join(", "),
      );
    }
    probes.sort((a, b) => a - b);
    return {
      ...summarise(result),
      probeMs: probes[probes.length >> 1],
      modelMismatch,
      diverged,
    };
  } finally {
    await session.close();
  }
}

/** Formats a fraction as a percentage. */
function percent(f: number): string {
  return `${(f * 100).toFixed(1)}%`;
}

/** Prints one table row. */
function row(cells: string[]): void {
  const widths = [6, 7, 5, 10, 9, 10, 13, 7, 9];
  console.log(
    cells.map((c, i) => i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))
      .join(" "),
  );
}

/** Options of {@linkcode benchKeystrokes}. */
export interface KeystrokeBenchOptions {
  /** One-way delays, ms; default 100 and 250. */
  delays?: number[];
  /** Clients compared; default both. */
  clients?: ClientKind[];
  /** Print every screen judged a misprediction. */
  verbose?: boolean;
}

/** Replays the typing trace with tmosh and stock mosh-client at each delay and prints the figures. */
export async function benchKeystrokes(
  options: KeystrokeBenchOptions = {},
): Promise<void> {
  for (const name of ["mosh-server", "mosh-client", "tmux"]) {
    if (await findBinary(name) === null) {
      console.log(
        `SKIP: keystroke benchmark needs '${name}' (install mosh and tmux)`,
      );
      return;
    }
  }
  const trace = keystrokeTrace();
  const clients = options.clients ?? ["tmosh", "mosh"];
  const refs = new Map<ClientKind, Reference>();
  for (const client of clients) {
    refs.set(client, await recordReference(client, trace));
  }
  const [a, b] = [
    refs.get(clients[0])!.settled,
    refs.get(clients.at(-1)!)!.settled,
  ];
  const differ = a.filter((s, i) => !sameScreen(s, b[i])).length;
  console.log(
    `trace: ${trace.length} keys; reference screens that differ between ` +
      `the clients: ${differ}`,
  );
  row([
    "delay",
    "client",
    "keys",
    "median ms",
    "mean ms",
    `<=${INSTANT_MS} ms`,
    "mispredicted",
    "unseen",
    "probe ms",
  ]);
  for (const delayMs of options.delays ?? DELAYS) {
    for (const client of clients) {
      const f = await replay(client, {
        delayMs,
        trace,
        ref: refs.get(client)!,
        verbose: options.verbose,
      });
      row([
        `${delayMs}`,
        client,
        `${f.keys}`,
        f.median.toFixed(1),
        f.mean.toFixed(1),
        percent(f.instant),
        percent(f.mispredicted),
        `${f.unseen}`,
        f.probeMs.toFixed(2),
      ]);
      if (f.diverged || f.modelMismatch) {
        console.log(
          `  warning: ${f.diverged ? "screen left the reference; " : ""}` +
            `${f.modelMismatch ? "model differs from tmux's screen" : ""}`,
        );
      }
    }
  }
}

if (import.meta.main) {
  // deno run -A bench/keystroke_bench.ts [--verbose] [DELAY...] [tmosh|mosh]
  const args = Deno.args;
  const delays = args.filter((a) => /^\d+$/.test(a)).map(Number);
  const clients = args.filter((a): a is ClientKind =>
    a === "tmosh" || a === "mosh"
  );
  await benchKeystrokes({
    delays: delays.length > 0 ? delays : undefined,
    clients: clients.length > 0 ? clients : undefined,
    verbose: args.includes("--verbose"),
  });
}
