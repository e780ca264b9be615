/**
 * The detached timeout's settings (server/detached_timeout.ts): the default,
 * TMOSH_DETACHED_TIMEOUT, `tmosh serve --detached-timeout=SECONDS`, and how it
 * combines with MOSH_SERVER_NETWORK_TMOUT. The timeout ending a real session
 * is tests/e2e/detached_timeout_test.ts.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_DETACHED_TIMEOUT_S,
  idleLimit,
  idleMessage,
  readDetachedTimeout,
} from "../../server/detached_timeout.ts";
import {
  parseServeArgs,
  withoutDetachedTimeout,
} from "../../server/serve_args.ts";

const WEEK_MS = 7 * 24 * 3600 * 1000;

Deno.test("detached timeout: 7 days unless TMOSH_DETACHED_TIMEOUT or --detached-timeout says otherwise", () => {
  assert.equal(DEFAULT_DETACHED_TIMEOUT_S * 1000, WEEK_MS);
  assert.deepEqual(readDetachedTimeout({}), { ms: WEEK_MS, warnings: [] });
  assert.deepEqual(
    readDetachedTimeout({ TMOSH_DETACHED_TIMEOUT: "" }),
    { ms: WEEK_MS, warnings: [] },
  );
  assert.deepEqual(
    readDetachedTimeout({ TMOSH_DETACHED_TIMEOUT: "3600" }),
    { ms: 3_600_000, warnings: [] },
  );
  assert.deepEqual(
    readDetachedTimeout({ TMOSH_DETACHED_TIMEOUT: "0" }),
    { ms: 0, warnings: [] },
  );
  // The option wins over the variable.
  assert.deepEqual(
    readDetachedTimeout({ TMOSH_DETACHED_TIMEOUT: "3600" }, 2),
    { ms: 2000, warnings: [] },
  );
  assert.equal(readDetachedTimeout({}, 0).ms, 0);
  // Huge values are clamped as MOSH_SERVER_NETWORK_TMOUT's are.
  assert.equal(
    readDetachedTimeout({ TMOSH_DETACHED_TIMEOUT: "99999999999999" }).ms,
    2 ** 31 * 1000,
  );
  for (const bad of ["-5", "1.5", "10s", "x"]) {
    const t = readDetachedTimeout({ TMOSH_DETACHED_TIMEOUT: bad });
    assert.equal(t.ms, WEEK_MS, bad);
    assert.equal(t.warnings.length, 1);
    assert.match(
      t.warnings[0],
      /^tmosh: TMOSH_DETACHED_TIMEOUT=".*" is not a whole number of seconds; set it to one \(0 = never\), using 604800 \(7 days\) meanwhile$/,
    );
  }
});

Deno.test("detached timeout: with MOSH_SERVER_NETWORK_TMOUT the smaller applies; 0 means not set", () => {
  assert.deepEqual(idleLimit(0, 0), { ms: 0, kind: "network" });
  assert.deepEqual(idleLimit(0, WEEK_MS), { ms: WEEK_MS, kind: "detached" });
  assert.deepEqual(idleLimit(30_000, 0), { ms: 30_000, kind: "network" });
  assert.deepEqual(idleLimit(30_000, WEEK_MS), {
    ms: 30_000,
    kind: "network",
  });
  assert.deepEqual(idleLimit(30_000, 2000), { ms: 2000, kind: "detached" });
  assert.deepEqual(idleLimit(2000, 2000), { ms: 2000, kind: "network" });
  assert.equal(
    idleMessage({ ms: 30_000, kind: "network" }, 31_500),
    "Network idle for 31 seconds.",
  );
  assert.match(
    idleMessage({ ms: 2000, kind: "detached" }, 2100),
    /^No client heard from for 2 seconds \(the detached timeout\)/,
  );
});

Deno.test("detached timeout: --detached-timeout parses before or after new, and refuses what is not whole seconds", () => {
  const parse = (args: string[]) => {
    const r = parseServeArgs(args);
    if (r.kind !== "run") assert.fail(JSON.stringify(r));
    return r.options;
  };
  assert.equal(parse(["new"]).detachedTimeout, null);
  assert.equal(parse(["new", "--detached-timeout=60"]).detachedTimeout, 60);
  assert.equal(parse(["new", "--detached-timeout", "0"]).detachedTimeout, 0);
  // mosh --server="tmosh serve --detached-timeout=60" puts it before new.
  const front = parse([
    "--detached-timeout=60",
    "--name",
    "w",
    "new",
    "-c",
    "256",
  ]);
  assert.equal(front.detachedTimeout, 60);
  assert.equal(front.name, "w");
  assert.equal(front.colors, 256);
  assert.deepEqual(front.warnings, []);
  assert.equal(
    parse(["--detached-timeout", "5", "new"]).detachedTimeout,
    5,
  );
  const daemon = parse([
    "--daemon-internal=80x24",
    "new",
    "--detached-timeout=7",
  ]);
  assert.equal(daemon.detachedTimeout, 7);
  assert.equal(
    parse(["new", "--", "x", "--detached-timeout=1"]).detachedTimeout,
    null,
  );
  for (
    const args of [
      ["new", "--detached-timeout=-1"],
      ["new", "--detached-timeout=1h"],
      ["new", "--detached-timeout"],
      ["--detached-timeout=", "new"],
    ]
  ) {
    const r = parseServeArgs(args);
    assert.equal(r.kind, "error", args.join(" "));
    assert.match(
      (r as { message: string }).message,
      /^tmosh: --detached-timeout needs a whole number of seconds, got ".*"; pass e\.g\. --detached-timeout=86400 \(0 = never\)$/,
    );
  }
});

Deno.test("detached timeout: leading --detached-timeout words do not hide list, kill or attach (--server='tmosh serve --detached-timeout=N')", () => {
  assert.deepEqual(
    withoutDetachedTimeout(["--detached-timeout=60", "list", "--json"]),
    ["list", "--json"],
  );
  assert.deepEqual(
    withoutDetachedTimeout(["--detached-timeout", "60", "attach", "w"]),
    ["attach", "w"],
  );
  assert.deepEqual(withoutDetachedTimeout(["new", "--detached-timeout=1"]), [
    "new",
    "--detached-timeout=1",
  ]);
  assert.deepEqual(withoutDetachedTimeout([]), []);
});
