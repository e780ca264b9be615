/**
 * The long emulator-parity run (`deno task parity`): many seeded cases of
 * terminal output, each rendered by a stock mosh-server (seen through the
 * headless client) and by tmosh's emulator, compared cell by cell. A
 * divergence is shrunk to a minimal token list and printed as a unit test.
 *
 * Usage: deno task parity [--seeds N] [--from SEED] [--jobs J] [--max-failures K]
 * [--source]
 * (defaults: 10000 seeds from 0, 1 session per size, stop after 5 failures;
 * --source prints each shrunk case as a unit test).
 * Exits 1 when any case diverged.
 * @module
 */

import { parseArgs } from "node:util";
import {
  checkCase,
  quote,
  shrinkCase,
  StockScreens,
} from "../harness/parity.ts";
import { SOUP_SIZES, soupCase } from "../harness/terminal_soup.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seeds: { type: "string", default: "10000" },
    from: { type: "string", default: "0" },
    jobs: { type: "string", default: "1" },
    "max-failures": { type: "string", default: "5" },
    source: { type: "boolean", default: false },
    case: { type: "string" },
    size: { type: "string", default: "80x24" },
  },
});
const total = Number(values.seeds), from = Number(values.from);
const jobs = Math.max(1, Number(values.jobs));
const maxFailures = Number(values["max-failures"]);

if (values.case !== undefined) {
  // Reproduce one case: --case '"JSON string"' --size WxH.
  const [w, h] = values.size.split("x").map(Number);
  const screens = await StockScreens.start(w, h);
  try {
    const r = await checkCase(screens, [JSON.parse(values.case)]);
    console.log(r.diffs.join("\n") || "equal");
  } finally {
    await screens.close();
  }
  Deno.exit(0);
}

const start = performance.now();
let done = 0, failures = 0, restarts = 0, excluded = 0;
const failed: number[] = [];

/** One worker: a stock session of one size, taking every `stride`-th seed of that size. */
async function worker(sizeIndex: number, lane: number): Promise<void> {
  const [w, h] = SOUP_SIZES[sizeIndex];
  const screens = await StockScreens.start(w, h);
  const step = SOUP_SIZES.length * jobs;
  try {
    for (
      let seed = from + sizeIndex + SOUP_SIZES.length * lane;
      seed < from + total && failures < maxFailures;
      seed += step
    ) {
      const c = soupCase(seed, [w, h]);
      const r = await checkCase(screens, c.tokens);
      done++;
      if (r.excluded) excluded++;
      if (r.diffs.length > 0) {
        failures++;
        failed.push(seed);
        const s = await shrinkCase(
          screens,
          `parity: seed ${seed} (${w}x${h})`,
          c.tokens,
        );
        console.log(
          `\nDIVERGENCE seed ${seed} at ${w}x${h}, shrunk to ${s.tokens.length} tokens: ` +
            quote(s.tokens.join("")) + "\n" + s.diffs.slice(0, 6).join("\n") +
            (values.source ? "\n\n" + s.source + "\n" : ""),
        );
      }
      if (done % 500 === 0) {
        const secs = (performance.now() - start) / 1000;
        console.log(
          `${done} cases, ${failures} divergent, ${secs.toFixed(0)} s`,
        );
      }
    }
  } finally {
    restarts += screens.restarts;
    await screens.close();
  }
}

const workers: Promise<void>[] = [];
for (let lane = 0; lane < jobs; lane++) {
  for (let i = 0; i < SOUP_SIZES.length; i++) workers.push(worker(i, lane));
}
const errors = (await Promise.allSettled(workers)).filter((r) =>
  r.status === "rejected"
);
for (const e of errors) console.error((e as PromiseRejectedResult).reason);
const secs = (performance.now() - start) / 1000;
console.log(
  `parity: ${done} seeds (${from}..${
    from + total - 1
  }), ${failures} divergent` +
    (failed.length ? ` (seeds ${failed.join(", ")})` : "") +
    `, ${excluded} left out (wide character in the last column)` +
    `, ${secs.toFixed(1)} s, ${restarts} session restarts`,
);
Deno.exit(failures > 0 || errors.length > 0 ? 1 : 0);
