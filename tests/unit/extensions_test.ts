/**
 * tmosh's in-band extension negotiation (docs/wire.md §13) at the state level:
 * the capability registry, the hello in the UserStream (sent once from the
 * assumed state, gone after subtract) and the welcome in CompleteTerminal
 * (never in a diff before a hello, then diffed like the echo ack).
 */
import assert from "node:assert/strict";
import {
  acceptCapabilities,
  BASELINE_CAPABILITY,
  CAPABILITIES,
  cleanCapabilities,
  MAX_CAPABILITIES,
  negotiatedCapabilities,
  validCapability,
} from "../../protocol/statesync/capabilities.ts";
import { UserStream } from "../../protocol/statesync/user_stream.ts";
import { CompleteTerminal } from "../../protocol/statesync/complete_terminal.ts";
import { EmulatorApplier } from "../../protocol/statesync/emulator_applier.ts";
import { blankFramebuffer } from "../../protocol/terminal/framebuffer.ts";
import {
  decodeHostMessage,
  decodeUserMessage,
  encodeUserMessage,
} from "../../protocol/protobufs/messages.ts";

Deno.test("capabilities: the registry holds the baseline; names are checked, deduplicated and bounded", () => {
  assert.ok(CAPABILITIES.includes(BASELINE_CAPABILITY));
  for (const c of CAPABILITIES) assert.ok(validCapability(c), c);
  assert.ok(validCapability("scrollback.v1"));
  assert.ok(validCapability("attach.v12"));
  for (
    const bad of ["", "ext", "ext.v0", "Ext.v1", "ext.v1 ", "x".repeat(70)]
  ) {
    assert.equal(validCapability(bad), false, JSON.stringify(bad));
  }
  assert.deepEqual(cleanCapabilities(["a.v1", "bad", "a.v1", "b.v2"]), [
    "a.v1",
    "b.v2",
  ]);
  const many = Array.from({ length: 100 }, (_, i) => `f${i}.v1`);
  assert.equal(cleanCapabilities(many).length, MAX_CAPABILITIES);
  // The server answers with what both speak, in its own order.
  assert.deepEqual(
    acceptCapabilities(["chan.v1", "ext.v1", "zzz.v9"], ["ext.v1", "chan.v1"]),
    ["ext.v1", "chan.v1"],
  );
  assert.deepEqual(acceptCapabilities(["zzz.v9"]), []);
  // The client never turns on what it did not offer; null = no answer yet.
  assert.equal(negotiatedCapabilities(null), null);
  assert.deepEqual(
    [...negotiatedCapabilities(["ext.v1", "x.v1"], ["ext.v1"])!],
    ["ext.v1"],
  );
});

Deno.test("hello ext.v1 encodes as docs/wire.md §13.2 shows", () => {
  const hex = [...encodeUserMessage([{
    type: "hello",
    capabilities: ["ext.v1"],
  }])].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  assert.equal(hex, "0a 0c 82 fa 01 08 0a 06 65 78 74 2e 76 31");
});

Deno.test("UserStream: the hello is the first event, in diffs from the state before it only, and subtracted once acked", () => {
  const empty = new UserStream();
  const s1 = empty.pushHello(CAPABILITIES).pushResize(80, 24);
  const s2 = s1.pushKeys(new TextEncoder().encode("ls"));
  // Sent from the assumed state 0 (first send and every resend after loss).
  assert.deepEqual(decodeUserMessage(s1.diffFrom(empty)), [
    { type: "hello", capabilities: [...CAPABILITIES] },
    { type: "resize", width: 80, height: 24 },
  ]);
  assert.equal(decodeUserMessage(s2.diffFrom(empty))![0].type, "hello");
  // Not from a state that holds it: never resent once acked.
  assert.deepEqual(decodeUserMessage(s2.diffFrom(s1)), [
    { type: "keys", keys: new TextEncoder().encode("ls") },
  ]);
  assert.equal(
    s2.subtract(s1).events().some((e) => e.type === "hello"),
    false,
  );
  // The receiver keeps it as an event, once.
  const server = new UserStream().applyDiff(s2.diffFrom(empty))!;
  assert.ok(server.equals(s2));
  assert.deepEqual(server.events()[0], {
    type: "hello",
    capabilities: [...CAPABILITIES],
  });
  // Different offers are different states.
  assert.equal(
    empty.pushHello(["ext.v1"]).equals(empty.pushHello(["ext.v2"])),
    false,
  );
});

Deno.test("UserStream: a hostile hello keeps only well-formed names, at most MAX_CAPABILITIES", () => {
  const names = ["ext.v1", "\u0000", "é.v1", ...Array(100).fill("x.v1")];
  for (let i = 0; i < 100; i++) names.push(`n${i}.v1`);
  const diff = encodeUserMessage([{ type: "hello", capabilities: names }]);
  const got = new UserStream().applyDiff(diff)!.events();
  assert.equal(got.length, 1);
  const hello = got[0];
  assert.ok(hello.type === "hello");
  assert.equal(hello.capabilities.length, MAX_CAPABILITIES);
  assert.deepEqual(hello.capabilities.slice(0, 3), ["ext.v1", "x.v1", "n0.v1"]);
});

Deno.test("CompleteTerminal: no welcome before a hello; then diffed like the echo ack, first in the diff", () => {
  const fb = blankFramebuffer(20, 5);
  const s0 = new CompleteTerminal(fb);
  const s1 = s0.withEchoAck(3n);
  assert.equal(s1.capabilities, null);
  const plain = decodeHostMessage(s1.diffFrom(s0))!;
  assert.deepEqual(plain, [{ type: "echoAck", num: 3n }]);

  const s2 = s1.withCapabilities(["ext.v1"]);
  assert.equal(s2.equals(s1), false);
  assert.equal(s2.withCapabilities(["ext.v1"]), s2);
  const s3 = s2.withEchoAck(4n).withFramebuffer(blankFramebuffer(20, 6));
  assert.deepEqual(s3.capabilities, ["ext.v1"]);
  const fromOld = decodeHostMessage(s3.diffFrom(s1))!;
  assert.deepEqual(fromOld[0], { type: "welcome", capabilities: ["ext.v1"] });
  const fromWelcomed = decodeHostMessage(s3.diffFrom(s2))!;
  assert.equal(fromWelcomed.some((e) => e.type === "welcome"), false);
  // An empty answer ("nothing in common") is still an answer.
  const none = s1.withCapabilities([]);
  assert.deepEqual(decodeHostMessage(none.diffFrom(s1)), [
    { type: "welcome", capabilities: [] },
  ]);

  // The client applies it, and holds the same state as the server.
  const applier = new EmulatorApplier();
  try {
    const client = new CompleteTerminal(fb, 0n, { applier });
    const got = client.applyDiff(s3.diffFrom(s0))!;
    assert.deepEqual(got.capabilities, ["ext.v1"]);
    assert.equal(got.echoAck, 4n);
    assert.ok(got.equals(s3));
    assert.equal(client.applyDiff(s1.diffFrom(s0))!.capabilities, null);
  } finally {
    applier.dispose();
  }
});
