import assert from "node:assert/strict";
import {
  anyAddressFor,
  bindFirstFree,
  bindServerSocket,
  parsePortRange,
} from "../../protocol/network/port_range.ts";
import { freeUdpPortRun, holdUdpPortRun } from "../../harness/ports.ts";

Deno.test("parsePortRange: single port and ranges", () => {
  assert.deepEqual(parsePortRange("60001"), [60001, 60001]);
  assert.deepEqual(parsePortRange("0"), [0, 0]);
  assert.deepEqual(parsePortRange("65535"), [65535, 65535]);
  assert.deepEqual(parsePortRange("60001:60999"), [60001, 60999]);
  assert.deepEqual(parsePortRange("5:5"), [5, 5]);
  assert.deepEqual(parsePortRange("007:8"), [7, 8]);
});

Deno.test("parsePortRange: bad input says what was wrong", () => {
  assert.throws(
    () => parsePortRange("60070:60060"),
    {
      message:
        'tmosh: bad UDP port range "60070:60060": low port 60070 is greater than high port 60060',
    },
  );
  assert.throws(
    () => parsePortRange("0:10"),
    /low port 0 cannot start a range/,
  );
  assert.throws(
    () => parsePortRange("65536"),
    /port 65536 is outside 0\.\.65535/,
  );
  assert.throws(() => parsePortRange("1:70000"), /port 70000 is outside/);
  for (
    const bad of [
      "",
      "abc",
      "-1",
      "1:",
      ":2",
      "1:2:3",
      " 1",
      "1.5",
      "+5",
      "0x10",
    ]
  ) {
    assert.throws(
      () => parsePortRange(bad),
      new RegExp(
        `^Error: tmosh: bad UDP port range "${
          bad.replace(/[+.]/g, "\\$&")
        }": expected PORT or LOW:HIGH`,
      ),
    );
  }
});

Deno.test("bindFirstFree: skips ports in use and takes the next, in order", () => {
  const { base, sockets } = holdUdpPortRun(4);
  const taken = sockets.slice(0, 2);
  for (const socket of sockets.slice(2)) socket.close();
  try {
    const conn = bindFirstFree("0.0.0.0", [base, base + 3]);
    assert.equal((conn.addr as Deno.NetAddr).port, base + 2);
    conn.close();
  } finally {
    for (const c of taken) c.close();
  }
});

Deno.test("bindFirstFree: all ports taken is an error naming the range", () => {
  const { base, sockets: taken } = holdUdpPortRun(2);
  try {
    assert.throws(
      () => bindFirstFree("0.0.0.0", [base, base + 1]),
      {
        message: `tmosh: no free UDP port in ${base}-${base + 1}; pass -p PORT`,
      },
    );
    assert.throws(
      () => bindFirstFree("0.0.0.0", [base, base]),
      { message: `tmosh: UDP port ${base} is not free; pass another -p PORT` },
    );
  } finally {
    for (const c of taken) c.close();
  }
});

Deno.test("bindFirstFree: port 0 alone binds an ephemeral port", () => {
  const conn = bindFirstFree("127.0.0.1", [0, 0]);
  assert.ok((conn.addr as Deno.NetAddr).port > 0);
  conn.close();
});

Deno.test("bindServerSocket: requested IP first, wildcard fallback with a warning", () => {
  const base = freeUdpPortRun(3);
  const ok = bindServerSocket("127.0.0.1", [base, base + 2]);
  assert.equal(ok.hostname, "127.0.0.1");
  assert.deepEqual(ok.warnings, []);
  ok.conn.close();

  // 192.0.2.1 (TEST-NET-1) is not a local address: EADDRNOTAVAIL, then fallback.
  const fb = bindServerSocket("192.0.2.1", [base, base + 2]);
  assert.equal(fb.hostname, "0.0.0.0");
  assert.equal((fb.conn.addr as Deno.NetAddr).hostname, "0.0.0.0");
  assert.equal(fb.warnings.length, 1);
  assert.match(
    fb.warnings[0],
    /^tmosh: cannot bind to IP 192\.0\.2\.1 \(.+\); listening on 0\.0\.0\.0 instead$/,
  );
  fb.conn.close();

  const named = bindServerSocket("localhost", [base, base + 2]);
  assert.equal(named.hostname, "0.0.0.0");
  assert.match(named.warnings[0], /"localhost" is not a numeric IP address/);
  named.conn.close();

  const none = bindServerSocket(undefined, [base, base + 2]);
  assert.equal(none.hostname, "0.0.0.0");
  assert.equal((none.conn.addr as Deno.NetAddr).port, base);
  none.conn.close();
});

Deno.test("anyAddressFor: IPv4 wildcard unless the address is IPv6", () => {
  assert.equal(anyAddressFor(""), "0.0.0.0");
  assert.equal(anyAddressFor("10.1.2.3"), "0.0.0.0");
  assert.equal(anyAddressFor("::1"), "::");
  assert.equal(anyAddressFor("fe80::1"), "::");
});
