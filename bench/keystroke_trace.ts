/**
 * The typing trace of the keystroke benchmark (words, typos fixed with
 * backspace, arrows, history, Enter, a vi session) and the pure analysis of
 * one replay: when each key's effect reached the screen, and which screens
 * showed something the server never did (mispredictions).
 *
 * Screens are compared with reference screens recorded by typing the same
 * trace one key at a time without delay and without prediction: the settled
 * screen after each key, and every screen the server showed on the way there
 * (vi, for one, shows `^[` for a moment after Escape).
 * @module
 */

import {
  sameScreen,
  type Screen,
  type TimedScreen,
} from "../harness/tmux_watch.ts";

/** One keystroke of the trace. */
export interface TraceKey {
  /** A literal character, or a tmux key name (Enter, BSpace, Left, Escape, ...). */
  key: string;
  /** `key` is a literal character. */
  literal: boolean;
  /** Extra thinking time before the key, ms (noticing a typo, reading output). */
  think: number;
  /** After this key, wait until its effect is on the screen and react before typing on. */
  awaitEffect: boolean;
}

/** Reaction time after awaited output before the next key, ms. */
export const REACTION_MS = 300;

/** The benchmark's typing trace (about 140 keys). */
export function keystrokeTrace(): TraceKey[] {
  const keys: TraceKey[] = [];
  const type = (text: string, think = 0) => {
    [...text].forEach((ch, i) =>
      keys.push({
        key: ch,
        literal: true,
        think: i === 0 ? think : 0,
        awaitEffect: false,
      })
    );
  };
  const press = (
    key: string,
    options: { times?: number; think?: number; await?: boolean } = {},
  ) => {
    for (let i = 0; i < (options.times ?? 1); i++) {
      keys.push({
        key,
        literal: false,
        think: i === 0 ? options.think ?? 0 : 0,
        awaitEffect: options.await ?? false,
      });
    }
  };
  const enter = () => press("Enter", { await: true });
  type("echo hello world");
  enter();
  type("ecoh");
  press("BSpace", { times: 2, think: 250 });
  type("ho tpyo");
  press("BSpace", { times: 4, think: 250 });
  type("typo fixed");
  enter();
  type("echo wrld");
  press("Left", { times: 3, think: 250 });
  type("o");
  press("Right", { times: 3 });
  type(" again");
  enter();
  press("Up");
  press("BSpace", { times: 5 });
  type("twice");
  enter();
  press("Up");
  type(" more");
  enter();
  type("vi notes.txt");
  enter();
  type("i");
  type("first line");
  press("Escape", { think: 200 });
  type("o");
  type("second line");
  press("Escape", { think: 200 });
  type("k0x", 200);
  type("A ok", 200);
  press("Escape");
  type(":wq", 300);
  enter();
  type("cat notes.txt");
  enter();
  return keys;
}

/** Gap between keys typed in a row, ms: a seeded pseudo-random 100..200 ms (about 70 words a minute). */
export function keyGaps(count: number, seed = 7): number[] {
  let a = seed >>> 0;
  const gaps: number[] = [];
  for (let i = 0; i < count; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    gaps.push(100 + Math.floor((a / 2 ** 32) * 101));
  }
  return gaps;
}

/** What one replay measured. */
export interface ReplayResult {
  /** Per key: ms from sending it until its effect was first on the screen (null: never seen alone). */
  latency: (number | null)[];
  /** Keys without a visible effect of their own (R[k] equals R[k-1]); left out of the figures. */
  silent: boolean[];
  /** Episodes of screens showing a prediction (cell or cursor) that no nearby reference screen has. */
  mispredictions: number;
  /** Keys sent last before each misprediction episode (for reports). */
  mispredictedKeys: number[];
  /** The mispredicted screens, with the reference screens they were judged against. */
  wrong: { screen: TimedScreen; refs: Screen[] }[];
}

/** Screens of the reference run: `settled[0]` before the first key, `settled[k + 1]` after key k. */
export interface Reference {
  /** The settled screen before the first key and after each key. */
  settled: Screen[];
  /** Every screen shown on the way to `settled[i]` (it included). */
  seen: Screen[][];
}

/** Where the replay's screens matched references: [time, index of the newest key matched]. */
type Progress = [number, number][];

/**
 * Judges a replay. `history` is every screen the terminal showed (oldest
 * first), `sentAt` the send time of each key, `ref` the reference, `lagMs` how far
 * behind the newest screen the server's echo may lag (about one round trip
 * plus the send interval).
 */
export function analyseReplay(
  history: readonly TimedScreen[],
  run: { sentAt: number[]; ref: Reference; lagMs: number },
): ReplayResult {
  const { sentAt } = run;
  const ref = run.ref.settled;
  const n = sentAt.length;
  const latency: (number | null)[] = new Array(n).fill(null);
  const silent = sentAt.map((_, k) => sameScreen(ref[k], ref[k + 1]));
  const start = sentAt[0];
  const progress: Progress = [[-Infinity, 0]];
  const unmatched: { screen: TimedScreen; until: number; at: number }[] = [];
  let p = 0;
  let sent = 0;
  const states = history.filter((s, i) =>
    s.time >= start || history[i + 1] === undefined ||
    history[i + 1].time >= start
  );
  for (let i = 0; i < states.length; i++) {
    const s = states[i];
    while (sent < n && sentAt[sent] <= s.time) sent++;
    let match = -1;
    for (let j = p + 1; j <= sent; j++) {
      if (sameScreen(s, ref[j])) {
        match = j;
        break;
      }
    }
    if (match > 0) {
      for (let k = p; k < match; k++) {
        if (latency[k] === null) latency[k] = s.time - sentAt[k];
      }
      p = match;
      progress.push([s.time, p]);
    } else if (!sameScreen(s, ref[p])) {
      const until = states[i + 1]?.time ?? Infinity;
      unmatched.push({ screen: s, until, at: Math.max(0, sent - 1) });
    }
  }
  const mispredictedKeys: number[] = [];
  const wrong: ReplayResult["wrong"] = [];
  let lastWrong = -1;
  for (const u of unmatched) {
    // A partial frame lasts microseconds; only screens a person could see count.
    if (u.until - u.screen.time < 3) continue;
    const lo = pointerAt(progress, u.screen.time - run.lagMs);
    const hi = Math.min(nextMatch(progress, u.screen.time), ref.length - 1);
    const refs = run.ref.seen.slice(lo, hi + 1).flat();
    if (mispredicted(u.screen, refs)) {
      wrong.push({ screen: u.screen, refs });
      const index = history.indexOf(u.screen);
      if (index !== lastWrong + 1 || lastWrong < 0) {
        mispredictedKeys.push(u.at);
      }
      lastWrong = index;
    }
  }
  return {
    latency,
    silent,
    mispredictions: mispredictedKeys.length,
    mispredictedKeys,
    wrong,
  };
}

/** The newest reference index matched at or before `time`. */
function pointerAt(progress: Progress, time: number): number {
  let p = 0;
  for (const [t, index] of progress) if (t <= time) p = index;
  return p;
}

/** The first reference index matched after `time` (the last one if none). */
function nextMatch(progress: Progress, time: number): number {
  for (const [t, index] of progress) if (t > time) return index;
  return Infinity;
}

/**
 * True if `screen` shows a prediction that no nearby reference screen has: a
 * cell drawn as a prediction (underlined: on these slow links both clients
 * underline unconfirmed predictions) holding what the server never shows
 * there, or, while predictions are drawn, a cursor where the server never
 * puts it. Without a prediction drawn, an unexpected screen is one of the
 * server's own passing frames (bash's newline before vi draws, say).
 */
function mispredicted(screen: TimedScreen, refs: Screen[]): boolean {
  if (!screen.underlined.some((marks) => marks.includes("_"))) return false;
  if (!refs.some((r) => r.x === screen.x && r.y === screen.y)) return true;
  for (let y = 0; y < screen.rows.length; y++) {
    const row = screen.rows[y];
    const marks = screen.underlined[y];
    if (!marks.includes("_") || refs.some((r) => r.rows[y] === row)) continue;
    for (let x = 0; x < marks.length; x++) {
      if (marks[x] !== "_") continue;
      const ch = row[x] ?? " ";
      if (!refs.some((r) => (r.rows[y][x] ?? " ") === ch)) return true;
    }
  }
  return false;
}

/** Summary figures of one replay. */
export interface ReplaySummary {
  /** Keys measured (keys with a visible effect of their own that was seen). */
  keys: number;
  /** Median latency, ms. */
  median: number;
  /** Mean latency, ms. */
  mean: number;
  /** Fraction of measured keys shown within 5 ms. */
  instant: number;
  /** Misprediction episodes per key typed. */
  mispredicted: number;
  /** Keys whose effect was never seen alone (merged into a later screen before it showed). */
  unseen: number;
}

/** Shown within this many ms counts as instant. */
export const INSTANT_MS = 5;

/** Median, mean, instant fraction and misprediction fraction of a replay. */
export function summarise(result: ReplayResult): ReplaySummary {
  const values: number[] = [];
  let unseen = 0;
  result.latency.forEach((ms, k) => {
    if (result.silent[k]) return;
    if (ms === null) unseen++;
    else values.push(ms);
  });
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  const median = values.length === 0
    ? NaN
    : values.length % 2
    ? values[mid]
    : (values[mid - 1] + values[mid]) / 2;
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  return {
    keys: values.length,
    median,
    mean,
    instant: values.filter((v) => v <= INSTANT_MS).length / values.length,
    mispredicted: result.mispredictions / result.latency.length,
    unseen,
  };
}
