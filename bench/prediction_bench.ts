/**
 * Local echo over a slow link: stock mosh's first-key behaviour against
 * tmosh's "confident" policy, in the simulated typing session of
 * tests/helpers/prediction_sim.ts (toy shell, sudo password, pager, REPL),
 * plus an adversarial session typed blind after `stty -echo`.
 * @module
 */

import { type SimResult, simulateSession } from "../harness/prediction_sim.ts";

const SEEDS = [1, 2, 3, 4, 5];

function total(runs: SimResult[], pick: (r: SimResult) => number): number {
  return runs.reduce((a, r) => a + pick(r), 0);
}

function mean(runs: SimResult[], pick: (r: SimResult) => number): number {
  return Math.round(total(runs, pick) / runs.length);
}

/** Print, per one-way delay and policy, how many keys showed at once and how late the rest were. */
export function benchPrediction(): void {
  console.log(
    "script   delay policy    | keys instant  mean ms | first keys instant  mean ms | " +
      "shown mispredictions  secret keys shown",
  );
  for (const script of ["session", "blind"] as const) {
    for (const delay of script === "session" ? [50, 100, 200] : [100]) {
      for (const firstKey of ["mosh", "confident"] as const) {
        const runs = SEEDS.map((seed) =>
          simulateSession({ firstKey, oneWayDelay: delay, seed, script })
        );
        const keys = total(runs, (r) => r.keys);
        const first = total(runs, (r) => r.firstKeys);
        console.log(
          `${script.padEnd(8)} ${String(delay).padStart(4)}  ${
            firstKey.padEnd(9)
          } | ` +
            `${String(keys).padStart(4)} ${
              String(total(runs, (r) => r.instant)).padStart(7)
            } ${String(mean(runs, (r) => r.latency.mean)).padStart(8)} | ` +
            `${String(first).padStart(10)} ${
              String(total(runs, (r) => r.firstKeyInstant)).padStart(7)
            } ${
              String(mean(runs, (r) => r.firstKeyLatency.mean)).padStart(8)
            } | ` +
            `${String(total(runs, (r) => r.mispredicted)).padStart(20)} ${
              String(total(runs, (r) => r.secretShown)).padStart(18)
            }`,
        );
      }
    }
  }
}

if (import.meta.main) benchPrediction();
