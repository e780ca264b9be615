/**
 * The long wire fuzzing run (`deno task fuzz`): a real `tmosh serve` and a
 * real `tmosh client` through a man-in-the-middle relay that sends them
 * mutated, truncated, replayed, reordered and forged datagrams, authentic but
 * malformed instructions and hostile terminal output (harness/wire_fuzzer.ts),
 * then prints the figures: datagrams tried (per category), crashes, forged
 * inputs accepted, peak memory of both processes, and whether the session
 * still echoes.
 *
 * Usage: deno task fuzz [--datagrams N] [--seed S] [--rate PER_SECOND]
 * [--soup-bytes B] (defaults: 1,000,000 datagrams, seed 1, 6000/s, 256 KiB).
 * Exits 1 when anything was wrong (a crash, an accepted forgery, a lost echo).
 * @module
 */

import { parseArgs } from "node:util";
import {
  formatReport,
  reportClean,
  runWireFuzzer,
} from "../harness/wire_fuzzer.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    datagrams: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    rate: { type: "string", default: "6000" },
    "soup-bytes": { type: "string", default: String(256 * 1024) },
  },
});

const report = await runWireFuzzer({
  seed: Number(values.seed),
  datagrams: Number(values.datagrams),
  rate: Number(values.rate),
  soupBytes: Number(values["soup-bytes"]),
  minSoups: 4,
  log: (line) => console.log(`[fuzz] ${line}`),
});
console.log(formatReport(report));
Deno.exit(reportClean(report) ? 0 : 1);
