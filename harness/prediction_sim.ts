/**
 * A deterministic simulation of a typing session over a slow link, used to
 * measure local echo (tests/prediction_test.ts, bench/prediction_bench.ts).
 *
 * The client runs the real `PredictionEngine`; the network delays every
 * state by `oneWayDelay` (+0-5 ms seeded jitter, in order); both sides pace
 * their sends like mosh (at most one state per send interval = one-way delay
 * clamped to 20..250 ms, 1 ms / 8 ms collection delays); the server echo-acks
 * a client state 50 ms after it reached the application, the toy world of
 * prediction_sim_app.ts. A scripted user types with seeded 90-220 ms gaps
 * between keys and 1.2-3 s of thinking between commands.
 * @module
 */

import {
  cellText,
  type Framebuffer,
} from "../protocol/terminal/framebuffer.ts";
import {
  type FirstKeyPolicy,
  PredictionEngine,
  type PredictionStats,
} from "../client/prediction/engine.ts";
import { App, BLIND, type Echo, SESSION } from "./prediction_sim_app.ts";
import { mulberry32 } from "./prng.ts";

/** Options of `simulateSession`. */
export interface SimOptions {
  /** First-key policy of the engine under test. */
  firstKey: FirstKeyPolicy;
  /** One-way network delay, ms. */
  oneWayDelay: number;
  /** PRNG seed for typing gaps and jitter. */
  seed: number;
  /** Script: "session" (ordinary work) or "blind" (typing after `stty -echo`). */
  script?: "session" | "blind";
}

/** Summary of latencies, ms. */
export interface Latency {
  mean: number;
  median: number;
  p90: number;
}

/** What the user saw. */
export interface SimResult {
  /** Echoed printable keys typed. */
  keys: number;
  /** Of those, shown within 5 ms of the keystroke. */
  instant: number;
  /** Keystroke-to-display latency of echoed keys. */
  latency: Latency;
  /** First keys of a command line typed at a shell or REPL prompt. */
  firstKeys: number;
  /** Of those, shown within 5 ms. */
  firstKeyInstant: number;
  /** Latency of first keys. */
  firstKeyLatency: Latency;
  /** Keys the application did not echo whose character was ever displayed (passwords, pager). */
  secretShown: number;
  /** Shown predictions that turned out wrong. */
  mispredicted: number;
  /** The engine's counters. */
  stats: PredictionStats;
}

function summarize(xs: number[]): Latency {
  if (xs.length === 0) return { mean: 0, median: 0, p90: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return {
    mean: Math.round(mean),
    median: s[Math.floor(s.length / 2)],
    p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))],
  };
}

interface KeyRecord {
  time: number;
  ch: string;
  first: boolean;
  secret: boolean;
  echo?: Echo;
  /** Where the prediction would put it (for secrets). */
  predictedAt?: { row: number; col: number };
}

/** Run one scripted session; returns what the user saw. */
export function simulateSession(options: SimOptions): SimResult {
  const rand = mulberry32(options.seed);
  const delay = options.oneWayDelay;
  const interval = Math.max(20, Math.min(250, delay));
  const engine = new PredictionEngine({
    mode: "adaptive",
    firstKey: options.firstKey,
  });
  engine.setSendInterval(interval);
  const app = new App();

  // Event queue, kept sorted latest first: (time, sequence) -> action.
  const queue: { t: number; seq: number; run: () => void }[] = [];
  let seq = 0;
  const at = (t: number, run: () => void) => {
    const ev = { t, seq: seq++, run };
    let lo = 0, hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const q = queue[mid];
      if (q.t > t || (q.t === t && q.seq > ev.seq)) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, ev);
  };

  let serverFb = app.term.snapshot();
  const shown: { t: number; fb: Framebuffer }[] = [];
  const keys: KeyRecord[] = [];
  let now = 0;
  let timerAt = Infinity;
  const redraw = () => {
    engine.cull(serverFb, now);
    shown.push({ t: now, fb: engine.apply(serverFb) });
    const wait = engine.waitTime(now);
    if (Number.isFinite(wait) && timerAt > now + wait) {
      timerAt = now + wait;
      at(timerAt, () => {
        timerAt = Infinity;
        redraw();
      });
    }
  };

  // Client → server.
  let sentState = 0;
  let clientLastSend = -Infinity;
  let pending: number[] = [];
  let sendScheduled = false;
  let upArrival = 0;
  const clientSend = () => {
    sendScheduled = false;
    sentState++;
    clientLastSend = now;
    const batch = pending, n = sentState;
    pending = [];
    upArrival = Math.max(upArrival, now + delay + Math.floor(rand() * 6));
    at(upArrival, () => serverReceive(n, batch));
  };

  // Server.
  const history: { n: number; t: number }[] = [];
  let echoAck = 0;
  let serverLastSend = -Infinity;
  let serverSendAt = Infinity;
  let downArrival = 0;
  const serverDirty = () => {
    const t = Math.max(now + 8, serverLastSend + interval);
    if (t >= serverSendAt) return;
    serverSendAt = t;
    at(t, serverSend);
  };
  const serverSend = () => {
    if (now !== serverSendAt) return;
    serverSendAt = Infinity;
    serverLastSend = now;
    const fb = app.term.snapshot(), ack = echoAck;
    downArrival = Math.max(downArrival, now + delay + Math.floor(rand() * 6));
    at(downArrival, () => {
      serverFb = fb;
      engine.setLocalFrameAcked(BigInt(ack));
      engine.setLocalFrameLateAcked(BigInt(ack));
      redraw();
    });
  };
  const serverReceive = (n: number, batch: number[]) => {
    for (const id of batch) keys[id].echo = app.key(keys[id].ch);
    history.push({ n, t: now });
    at(now + 50, () => {
      const ready = history.filter((h) => h.t <= now - 50);
      const newest = ready.length ? ready[ready.length - 1].n : echoAck;
      if (newest !== echoAck) {
        echoAck = newest;
        serverDirty();
      }
    });
    serverDirty();
  };

  // The user.
  const typeKey = (ch: string, flags: { first: boolean; secret: boolean }) => {
    const id = keys.length;
    const fb = engine.apply(serverFb);
    keys.push({
      time: now,
      ch,
      ...flags,
      predictedAt: { row: fb.cursorRow, col: fb.cursorCol },
    });
    engine.setLocalFrameSent(BigInt(sentState));
    engine.newUserInput(new TextEncoder().encode(ch), serverFb, now);
    pending.push(id);
    if (!sendScheduled) {
      sendScheduled = true;
      at(Math.max(now + 1, clientLastSend + interval), clientSend);
    }
    redraw();
  };
  let t = 500;
  for (const step of options.script === "blind" ? BLIND : SESSION) {
    const chars = [...step.text];
    chars.forEach((ch, i) => {
      const flags = { first: i === 0 && !step.secret, secret: !!step.secret };
      at(t, () => typeKey(ch, flags));
      t += 90 + Math.floor(rand() * 130);
    });
    if (!step.noEnter) {
      at(t, () => typeKey("\r", { first: false, secret: true }));
    }
    t += 1200 + Math.floor(rand() * 1800);
  }

  while (queue.length > 0) {
    const ev = queue.pop()!;
    now = ev.t;
    ev.run();
  }
  return measure(keys, shown, engine.stats);
}

function measure(
  keys: KeyRecord[],
  shown: { t: number; fb: Framebuffer }[],
  stats: PredictionStats,
): SimResult {
  const all: number[] = [], first: number[] = [];
  let secretShown = 0;
  for (const k of keys) {
    if (k.ch === "\r") continue;
    if (k.echo) {
      const { row, col, ch } = k.echo;
      const seen = shown.find((s) =>
        s.t >= k.time && cellText(s.fb.rows[row], col) === ch
      );
      const latency = seen ? seen.t - k.time : Infinity;
      all.push(latency);
      if (k.first) first.push(latency);
    } else if (k.predictedAt) {
      const { row, col } = k.predictedAt;
      const window = shown.filter((s) => s.t >= k.time && s.t <= k.time + 1000);
      if (window.some((s) => cellText(s.fb.rows[row], col) === k.ch)) {
        secretShown++;
      }
    }
  }
  return {
    keys: all.length,
    instant: all.filter((l) => l <= 5).length,
    latency: summarize(all),
    firstKeys: first.length,
    firstKeyInstant: first.filter((l) => l <= 5).length,
    firstKeyLatency: summarize(first),
    secretShown,
    mispredicted: stats.mispredicted,
    stats,
  };
}
