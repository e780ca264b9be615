/**
 * Tests for protocol/key.ts: the printable session key (docs/wire.md §1.9).
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  decodeKey,
  encodeKey,
  generateKey,
} from "../../protocol/crypto/key.ts";

Deno.test("key: the worked-example key encodes as in docs/wire.md §11", () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  assert.equal(encodeKey(key), "AAECAwQFBgcICQoLDA0ODw");
  assert.deepEqual(decodeKey("AAECAwQFBgcICQoLDA0ODw"), key);
});

Deno.test("key: a key printed by stock mosh-server decodes", () => {
  // Printed by `mosh-server new` (mosh 1.4.0) on this machine.
  const text = "xgq4HODPV8fk4bFt1qcqpw";
  const key = decodeKey(text);
  assert.deepEqual(key, new Uint8Array(Buffer.from(text + "==", "base64")));
  assert.equal(encodeKey(key), text);
});

Deno.test("key: generated keys are random, 16 bytes, and round-trip", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const key = generateKey();
    assert.equal(key.length, 16);
    const text = encodeKey(key);
    assert.equal(text.length, 22);
    assert.match(text, /^[A-Za-z0-9+/]{21}[AQgw]$/);
    assert.equal(text + "==", Buffer.from(key).toString("base64"));
    assert.deepEqual(decodeKey(text), key);
    seen.add(text);
  }
  assert.equal(seen.size, 500);
});

Deno.test("key: every last-character value is checked for canonical form", () => {
  const base = encodeKey(new Uint8Array(16)).slice(0, 21);
  const alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (const ch of alphabet) {
    const text = base + ch;
    if ("AQgw".includes(ch)) {
      assert.equal(decodeKey(text).length, 16, text);
    } else {
      assert.throws(() => decodeKey(text), /tmosh: bad session key/, text);
    }
  }
});

Deno.test("key: malformed keys are rejected without echoing the key", () => {
  const good = "AAECAwQFBgcICQoLDA0ODw";
  const bad = [
    "",
    good.slice(0, 21),
    good + "A",
    good + "==",
    good.slice(0, 20) + "==",
    good.slice(0, 10) + "-" + good.slice(11), // URL-safe alphabet
    good.slice(0, 10) + "_" + good.slice(11),
    good.slice(0, 10) + " " + good.slice(11),
    " " + good.slice(1),
    good.slice(0, 21) + "\n",
    good.slice(0, 21) + "B", // non-zero trailing bits
    good.slice(0, 21) + "x",
    "\u00e9".repeat(22),
  ];
  for (const text of bad) {
    let message = "";
    try {
      decodeKey(text);
    } catch (err) {
      message = (err as Error).message;
    }
    assert.match(message, /^tmosh: bad session key: .+; expected 22 base64/);
    assert.ok(
      !message.includes(good.slice(0, 8)) && !message.includes(text || "\0"),
      `message leaks the key: ${message}`,
    );
  }
});

Deno.test("key: encodeKey refuses keys that are not 16 bytes", () => {
  assert.throws(() => encodeKey(new Uint8Array(15)), /tmosh: session key/);
  assert.throws(() => encodeKey(new Uint8Array(17)), /tmosh: session key/);
});
