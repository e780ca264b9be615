/**
 * The receiver bounds the peer states it holds by bytes (byteSize()), not only
 * by count: past RECEIVED_STATES_BYTES_MAX it drops its oldest held states
 * first, keeping the oldest one (the sender's fallback base) and the newest,
 * and still applies diffs from the states it kept.
 * @module
 */
import assert from "node:assert/strict";
import { TransportReceiver } from "../../protocol/network/transport_receiver.ts";
import type { Instruction } from "../../protocol/protobufs/messages.ts";
import {
  PROTOCOL_VERSION,
  RECEIVED_STATES_BYTES_MAX,
} from "../../protocol/network/constants.ts";
import type { SyncState } from "../../protocol/network/sync_state.ts";

/** A state that claims `size` bytes; its diff is the new size as text. */
class Blob implements SyncState<Blob> {
  constructor(readonly size: number) {}
  equals(other: Blob): boolean {
    return other.size === this.size;
  }
  diffFrom(old: Blob): Uint8Array {
    return old.size === this.size
      ? new Uint8Array(0)
      : new TextEncoder().encode(String(this.size));
  }
  applyDiff(diff: Uint8Array): Blob | null {
    const size = Number(new TextDecoder().decode(diff));
    return Number.isInteger(size) ? new Blob(size) : null;
  }
  byteSize(): number {
    return this.size;
  }
}

/** An instruction making state `to` (of `size` bytes) from state `from`. */
function instr(from: number, to: number, size: number): Instruction {
  return {
    protocolVersion: PROTOCOL_VERSION,
    oldNum: BigInt(from),
    newNum: BigInt(to),
    ackNum: 0n,
    throwawayNum: 0n,
    chaff: new Uint8Array(0),
    diff: new TextEncoder().encode(String(size)),
  };
}

/** Size of one large screen: a quarter of the budget, bytes. */
const SCREEN = RECEIVED_STATES_BYTES_MAX / 4;

Deno.test("receiver: held states are bounded by bytes, oldest dropped first", () => {
  const r = new TransportReceiver(new Blob(100), 0);
  for (let n = 1; n <= 200; n++) {
    const res = r.receive(instr(0, n, SCREEN), n);
    assert.equal(res.accepted, true, `state ${n}`);
    assert.equal(r.latestNum, BigInt(n));
    assert.ok(
      r.heldBytes <= RECEIVED_STATES_BYTES_MAX + 2 * SCREEN,
      `${r.heldBytes} bytes held after state ${n}`,
    );
  }
  const nums = r.heldNums();
  // State 0 (the sender's fallback base) and the newest are kept; between them the newest ones.
  assert.equal(nums[0], 0n);
  assert.equal(nums[nums.length - 1], 200n);
  const kept = nums.slice(1).map(Number);
  assert.deepEqual(
    kept,
    Array.from({ length: kept.length }, (_, i) => 200 - kept.length + 1 + i),
  );
  assert.ok(kept.length >= 2, `kept ${kept}`);
  assert.equal(r.heldBytes, 100 + kept.length * SCREEN);
});

Deno.test("receiver: after dropping, diffs from kept states apply and from dropped ones are refused", () => {
  const r = new TransportReceiver(new Blob(100), 0);
  for (let n = 1; n <= 50; n++) r.receive(instr(n - 1, n, SCREEN), n);
  assert.equal(r.heldNums().includes(1n), false);
  assert.deepEqual(r.receive(instr(1, 51, 7), 51).reason, "missing-base");
  assert.equal(r.receive(instr(0, 51, 7), 51).accepted, true);
  assert.equal(r.receive(instr(51, 52, 8), 52).accepted, true);
  assert.equal(r.latest.size, 8);
  // Small states fit again: nothing more is dropped.
  const before = r.heldNums().length;
  for (let n = 53; n <= 60; n++) r.receive(instr(n - 1, n, 10), n);
  assert.equal(r.heldNums().length, before + 8);
});
