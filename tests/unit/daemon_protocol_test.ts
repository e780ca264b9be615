/**
 * The front/daemon codec (server/daemon_protocol.ts): requests and answers
 * round-trip, every malformed field is refused, the socket moves to
 * /tmp/tmosh-UID when its path would not fit sun_path.
 * @module
 */

import assert from "node:assert/strict";
import {
  daemonLockPath,
  type DaemonRequest,
  daemonSocketPath,
  encodeAnswer,
  encodeRequest,
  parseAnswer,
  parseRequest,
} from "../../server/daemon_protocol.ts";
import { fallbackSocketDir } from "../../server/registry.ts";

const REQUEST: DaemonRequest = {
  op: "new",
  version: "0.1.0",
  args: ["new", "-s", "-c", "256", "--", "echo", "a\nb"],
  env: { HOME: "/home/u", LANG: "C.UTF-8", SSH_AUTH_SOCK: "/tmp/x" },
  cwd: "/home/u",
  size: { cols: 120, rows: 40 },
  ownerPid: null,
};

Deno.test("daemon protocol: a request is one line and round-trips", () => {
  const line = encodeRequest(REQUEST);
  assert.ok(line.endsWith("\n"));
  assert.equal(line.indexOf("\n"), line.length - 1);
  assert.deepEqual(parseRequest(line.trimEnd()), REQUEST);
  assert.deepEqual(
    parseRequest(encodeRequest({ ...REQUEST, ownerPid: 42, cwd: null })),
    { ...REQUEST, ownerPid: 42, cwd: null },
  );
});

Deno.test("daemon protocol: malformed requests are refused", () => {
  const bad: unknown[] = [
    { ...REQUEST, op: "kill" },
    { ...REQUEST, version: 1 },
    { ...REQUEST, args: ["new", 3] },
    { ...REQUEST, args: "new" },
    { ...REQUEST, env: { A: 1 } },
    { ...REQUEST, env: ["A=1"] },
    { ...REQUEST, cwd: "relative" },
    { ...REQUEST, size: { cols: 0, rows: 24 } },
    { ...REQUEST, size: { cols: 80, rows: 70000 } },
    { ...REQUEST, size: null },
    { ...REQUEST, ownerPid: -1 },
    { ...REQUEST, ownerPid: "1" },
    [],
    null,
  ];
  for (const v of bad) {
    assert.equal(parseRequest(JSON.stringify(v)), null, JSON.stringify(v));
  }
  assert.equal(parseRequest("{not json"), null);
});

Deno.test("daemon protocol: answers round-trip; a malformed key, port or id is refused", () => {
  const ok = {
    ok: true as const,
    port: 60001,
    key: "AAAAAAAAAAAAAAAAAAAAAA",
    id: "ab3dk2q7",
    pid: 1234,
    warnings: ["w"],
  };
  assert.deepEqual(parseAnswer(encodeAnswer(ok).trimEnd()), ok);
  const err = { ok: false as const, error: "tmosh: no" };
  assert.deepEqual(parseAnswer(encodeAnswer(err)), err);
  for (
    const v of [
      { ...ok, port: 0 },
      { ...ok, port: 65536 },
      { ...ok, key: "short" },
      { ...ok, key: "AAAAAAAAAAAAAAAAAAAAA\n" },
      { ...ok, id: "UPPERCAS" },
      { ...ok, pid: 0 },
      { ...ok, warnings: [1] },
      { ok: false },
      { ok: "yes" },
    ]
  ) {
    assert.equal(parseAnswer(JSON.stringify(v)), null, JSON.stringify(v));
  }
});

Deno.test("daemon protocol: socket and lock paths carry the version; a long path moves the socket to /tmp/tmosh-UID", () => {
  assert.equal(
    daemonSocketPath("/home/u/.local/state/tmosh", "1.2.3"),
    "/home/u/.local/state/tmosh/daemon-1.2.3.sock",
  );
  assert.equal(
    daemonLockPath("/home/u/.local/state/tmosh", "1.2.3"),
    "/home/u/.local/state/tmosh/daemon-1.2.3.lock",
  );
  const long = `/home/${"x".repeat(90)}/.local/state/tmosh`;
  assert.equal(
    daemonSocketPath(long, "1.2.3"),
    `${fallbackSocketDir()}/daemon-1.2.3.sock`,
  );
});
