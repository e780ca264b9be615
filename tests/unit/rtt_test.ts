import assert from "node:assert/strict";
import { RttEstimator } from "../../protocol/network/rtt.ts";

Deno.test("rtt: starts at SRTT 1000, RTTVAR 500, RTO clamped to 1000", () => {
  const rtt = new RttEstimator();
  assert.equal(rtt.srtt, 1000);
  assert.equal(rtt.rttvar, 500);
  assert.equal(rtt.hasSample, false);
  assert.equal(rtt.rto, 1000); // ceil(1000 + 2000) clamped
});

Deno.test("rtt: first sample sets SRTT = R and RTTVAR = R/2", () => {
  const rtt = new RttEstimator();
  assert.equal(rtt.addSample(40), true);
  assert.equal(rtt.srtt, 40);
  assert.equal(rtt.rttvar, 20);
  assert.equal(rtt.rto, 120);
});

Deno.test("rtt: later samples update RTTVAR (beta 1/4, old SRTT) before SRTT (alpha 1/8)", () => {
  const rtt = new RttEstimator();
  rtt.addSample(40);
  rtt.addSample(80);
  // RTTVAR = 3/4*20 + 1/4*|40-80| = 25; SRTT = 7/8*40 + 1/8*80 = 45
  assert.equal(rtt.rttvar, 25);
  assert.equal(rtt.srtt, 45);
  assert.equal(rtt.rto, 145);
  rtt.addSample(13);
  // RTTVAR = 3/4*25 + 1/4*|45-13| = 26.75; SRTT = 7/8*45 + 13/8 = 41
  assert.equal(rtt.rttvar, 26.75);
  assert.equal(rtt.srtt, 41);
  assert.equal(rtt.rto, 148); // ceil(41 + 107)
  rtt.addSample(10);
  // RTTVAR = 3/4*26.75 + 1/4*31 = 27.8125; SRTT = 7/8*41 + 10/8 = 37.125
  assert.equal(rtt.rttvar, 27.8125);
  assert.equal(rtt.srtt, 37.125);
  assert.equal(rtt.rto, Math.ceil(37.125 + 4 * 27.8125)); // 149 (148.375 rounded up)
});

Deno.test("rtt: samples of 5000 ms or more (and nonsense) are ignored", () => {
  const rtt = new RttEstimator();
  assert.equal(rtt.addSample(5000), false);
  assert.equal(rtt.addSample(65535), false);
  assert.equal(rtt.addSample(NaN), false);
  assert.equal(rtt.addSample(-1), false);
  assert.equal(rtt.hasSample, false);
  assert.equal(rtt.srtt, 1000);
  assert.equal(rtt.addSample(4999), true);
  assert.equal(rtt.srtt, 4999);
});

Deno.test("rtt: RTO is clamped to at least 50 ms", () => {
  const rtt = new RttEstimator();
  rtt.addSample(0);
  assert.equal(rtt.rto, 50);
  for (let i = 0; i < 20; i++) rtt.addSample(1);
  assert.ok(rtt.srtt < 1 && rtt.srtt > 0);
  assert.equal(rtt.rto, 50);
});
