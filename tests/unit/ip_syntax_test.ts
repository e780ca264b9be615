/**
 * protocol/network/ip_syntax.ts answers as node:net's isIP does, on fixed
 * cases and on seeded random strings built from address-like pieces.
 */

import assert from "node:assert/strict";
import { isIP as nodeIsIP } from "node:net";
import { isIP } from "../../protocol/network/ip_syntax.ts";
import { mulberry32 } from "../../harness/prng.ts";

const CASES = [
  "127.0.0.1",
  "0.0.0.0",
  "255.255.255.255",
  "256.1.1.1",
  "01.1.1.1",
  "1.1.1",
  "1.1.1.1.1",
  "1..1.1",
  "",
  "::",
  "::1",
  "1::",
  "fe80::1%eth0",
  "fe80::1%",
  "::ffff:192.0.2.1",
  "2001:db8::8a2e:370:7334",
  "2001:db8:0:0:0:0:2:1",
  "2001:db8:0:0:0:0:2:1:5",
  "1:2:3:4:5:6:7::",
  "::2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7:8::",
  ":::",
  "1:::2",
  "1::2::3",
  "12345::",
  "g::1",
  "1:2:3:4:5:6:1.2.3.4",
  "1:2:3:4:5:6:7:1.2.3.4",
  "::1.2.3.4",
  "1.2.3.4::",
  "[::1]",
  "localhost",
  "example.com",
  " 127.0.0.1",
  "1:2:3:4:5:6:7:8",
  "1:2:3:4:5::1.2.3.4",
  "1:2:3:4:5:6::1.2.3.4",
  "::%1",
  "a:b:c:d:e:f:a:b%x.y",
];

Deno.test("ip_syntax: isIP agrees with node:net on fixed cases", () => {
  for (const text of CASES) {
    assert.equal(isIP(text), nodeIsIP(text), JSON.stringify(text));
  }
});

Deno.test("ip_syntax: isIP agrees with node:net on 20000 seeded address-like strings", () => {
  const random = mulberry32(16);
  const prng = { int: (n: number) => Math.floor(random() * n) };
  const pieces = [
    "0",
    "1",
    "00",
    "01",
    "9",
    "10",
    "99",
    "100",
    "199",
    "255",
    "256",
    "999",
    "a",
    "ff",
    "FFFF",
    "fffff",
    "db8",
    "g",
    ":",
    "::",
    ".",
    "%",
    "%eth0",
    "",
  ];
  const seen = { 0: 0, 4: 0, 6: 0 };
  for (let i = 0; i < 20_000; i++) {
    const n = 1 + prng.int(12);
    let text = "";
    // Half the strings are shaped like addresses (4 parts joined by dots, or
    // up to 9 by colons), the rest are free soup.
    const shape = prng.int(4);
    for (let j = 0; j < n; j++) {
      text += pieces[prng.int(pieces.length)];
      if (shape === 0 && j < 3) text += ".";
      else if (shape === 1 && j < 8) text += ":";
      else if (prng.int(3) === 0) text += prng.int(2) === 0 ? "." : ":";
      if (shape === 0 && j === 3) break;
    }
    const kind = isIP(text);
    assert.equal(kind, nodeIsIP(text), JSON.stringify(text));
    seen[kind]++;
  }
  // The generator reaches every answer, so the agreement means something.
  assert.ok(
    seen[4] > 0 && seen[6] > 50 && seen[0] > 1000,
    JSON.stringify(seen),
  );
});
