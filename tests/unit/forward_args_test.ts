/** The forwarding options of `tmosh connect` as OpenSSH spells them (client/bootstrap/forward_args.ts). */
import assert from "node:assert/strict";
import {
  checkListenable,
  parseForwards,
  parseLocalForward,
  parseRemoteForward,
  parseStdioForward,
} from "../../client/bootstrap/forward_args.ts";
import { parseConnectArgs } from "../../client/bootstrap/connect_args.ts";

Deno.test("forward args: -L forms", () => {
  assert.deepEqual(parseLocalForward("8080:example.org:80"), {
    spec: "8080:example.org:80",
    listen: { bind: null, port: 8080 },
    target: { host: "example.org", port: 80 },
  });
  assert.deepEqual(parseLocalForward("*:8080:[::1]:80").valueOf(), {
    spec: "*:8080:[::1]:80",
    listen: { bind: "*", port: 8080 },
    target: { host: "::1", port: 80 },
  });
  assert.deepEqual(parseLocalForward("8080:/run/app.sock"), {
    spec: "8080:/run/app.sock",
    listen: { bind: null, port: 8080 },
    target: { path: "/run/app.sock" },
  });
  assert.deepEqual(parseLocalForward("/tmp/l.sock:db:5432"), {
    spec: "/tmp/l.sock:db:5432",
    listen: { path: "/tmp/l.sock" },
    target: { host: "db", port: 5432 },
  });
  for (
    const bad of [
      "8080",
      "8080:host",
      "99999:h:1",
      "1:h:0",
      "1:[::1:2",
      "a:b:c:d:e",
    ]
  ) {
    const r = parseLocalForward(bad);
    assert.equal(typeof r, "string", bad);
    assert.match(r as string, /^tmosh: bad -L "/);
  }
});

Deno.test("forward args: -D, -R, -W", () => {
  assert.deepEqual(parseLocalForward("1080", true), {
    spec: "1080",
    listen: { bind: null, port: 1080 },
    target: null,
  });
  assert.deepEqual(parseRemoteForward("0.0.0.0:9000:localhost:3000"), {
    spec: "0.0.0.0:9000:localhost:3000",
    bind: "0.0.0.0",
    port: 9000,
    target: { host: "localhost", port: 3000 },
  });
  assert.match(
    parseRemoteForward("9000") as string,
    /remote SOCKS is not supported/,
  );
  assert.deepEqual(parseStdioForward("host:22"), { host: "host", port: 22 });
  assert.match(
    parseStdioForward("host") as string,
    /^tmosh: bad -W "host": expected host:port$/,
  );
});

Deno.test("forward args: tmosh connect collects repeated options in order", () => {
  const parsed = parseConnectArgs([
    "-L",
    "1:a:1",
    "-L2:b:2",
    "-D",
    "3",
    "-R",
    "4:c:4",
    "-A",
    "host",
  ]);
  assert.equal(parsed.kind, "connect");
  const f = (parsed as { options: { forward: unknown } }).options.forward;
  assert.deepEqual(
    f,
    parseForwards({ L: ["1:a:1", "2:b:2"], D: ["3"], R: ["4:c:4"], A: true }),
  );
  const w = parseConnectArgs(["-W", "h:1", "host", "--", "ls"]);
  assert.deepEqual(w, {
    kind: "error",
    message: "tmosh: -W connects stdin/stdout to a port; it runs no command",
  });
  const bad = parseConnectArgs(["-L", "nonsense", "host"]);
  assert.equal(bad.kind, "error");
});

Deno.test("forward args: a port in use is found before anything runs", () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const f = parseForwards({ L: [`${port}:h:1`] });
    assert.equal(
      checkListenable(f as never),
      `tmosh: -L ${port}:h:1: cannot listen on localhost:${port}: Address already in use; choose another port`,
    );
  } finally {
    taken.close();
  }
  assert.equal(checkListenable(parseForwards({ D: ["0"] }) as never), null);
});
