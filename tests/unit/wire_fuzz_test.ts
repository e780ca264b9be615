/**
 * A short, bounded run of the wire fuzzer (harness/wire_fuzzer.ts; the long
 * run is `deno task fuzz`): a real `tmosh serve` and a real `tmosh client`
 * through a relay that sends both a few thousand mutated, truncated,
 * replayed, reordered and forged datagrams, authentic malformed instructions
 * and hostile terminal output. Neither process may exit, no forgery or
 * must-drop instruction may show, the intact controls must show (so the
 * detectors work), and the session must still echo afterwards.
 */
import assert from "node:assert/strict";
import {
  formatReport,
  reportClean,
  runWireFuzzer,
} from "../../harness/wire_fuzzer.ts";

/** Datagrams in the bounded run (the long run sends 1,000,000). */
const DATAGRAMS = 6000;

Deno.test("wire fuzzer: a short seeded run against real tmosh processes finds nothing", async () => {
  const seed = Number(Deno.env.get("TMOSH_FUZZ_SEED") ?? "20240601");
  const report = await runWireFuzzer({
    seed,
    datagrams: DATAGRAMS,
    rate: 6000,
    soupBytes: 64 * 1024,
    minSoups: 2,
  });
  const text = formatReport(report);
  assert.ok(report.tried >= DATAGRAMS, text);
  assert.deepEqual(report.crashes, [], text);
  assert.deepEqual(report.forgedAccepted, [], text);
  assert.deepEqual(report.malformedAccepted, [], text);
  assert.ok(report.forgedMarked > DATAGRAMS / 4, text);
  assert.ok(report.controls.server && report.controls.client, text);
  assert.ok(report.soups.ok >= 2, text);
  assert.ok(report.finalEcho, text);
  assert.equal(report.clientExit, 0, text);
  assert.ok(reportClean(report), text);
});
