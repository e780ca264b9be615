import assert from "node:assert/strict";
import {
  parseServeArgs,
  SERVE_USAGE,
  type ServeArgs,
  type ServeOptions,
} from "../../server/serve_args.ts";

/** The options of a successful parse; fails the test otherwise. */
function run(args: string[], env: Record<string, string> = {}): ServeOptions {
  const r: ServeArgs = parseServeArgs(args, { env });
  if (r.kind !== "run") assert.fail(`expected run, got ${JSON.stringify(r)}`);
  return r.options;
}

/** The error message of a failed parse; fails the test otherwise. */
function fail(args: string[]): string {
  const r = parseServeArgs(args);
  if (r.kind !== "error") assert.fail(`expected error, got ${r.kind}`);
  return r.message;
}

Deno.test("what the mosh wrapper sends parses", () => {
  const o = run([
    "new",
    "-c",
    "256",
    "-s",
    "-p",
    "60010:60020",
    "-l",
    "LANG=en_US.UTF-8",
    "-l",
    "LC_ALL=C.UTF-8",
    "--",
    "bash",
    "-l",
    "-c",
    "echo --x",
  ], { SSH_CONNECTION: "10.0.0.5 51234 10.0.0.9 22" });
  assert.equal(o.colors, 256);
  assert.equal(o.ip, "10.0.0.9");
  assert.deepEqual(o.portRange, [60010, 60020]);
  assert.deepEqual(o.locale, { LANG: "en_US.UTF-8", LC_ALL: "C.UTF-8" });
  assert.deepEqual(o.command, ["bash", "-l", "-c", "echo --x"]);
  assert.equal(o.verbose, 0);
  assert.equal(o.daemon, false);
  assert.deepEqual(o.warnings, []);
});

Deno.test("defaults: no command, no port, no ip", () => {
  const o = run(["new"]);
  assert.equal(o.command, null);
  assert.equal(o.portRange, undefined);
  assert.equal(o.ip, undefined);
  assert.equal(o.colors, 0);
});

Deno.test("-- as the last word means the login shell", () => {
  assert.equal(run(["new", "--"]).command, null);
  assert.deepEqual(run(["new", "--", "--"]).command, ["--"]);
});

Deno.test("getopt clustering, attached arguments and repeated -v", () => {
  const o = run(["new", "-vv", "-p60001", "-c8", "-i127.0.0.1", "-v"]);
  assert.equal(o.verbose, 3);
  assert.deepEqual(o.portRange, [60001, 60001]);
  assert.equal(o.colors, 8);
  assert.equal(o.ip, "127.0.0.1");
  const s = run(["new", "-sv"], { SSH_CONNECTION: "a b ::FFFF:192.0.2.1 22" });
  assert.equal(s.ip, "192.0.2.1");
  assert.equal(s.verbose, 1);
});

Deno.test("-@ swallows one argument, stray words are skipped", () => {
  const o = run(["new", "-v", "-@", "new", "-c", "256", "stray"]);
  assert.equal(o.verbose, 1);
  assert.equal(o.colors, 256);
  assert.deepEqual(o.warnings, []);
});

Deno.test("-s without a usable SSH_CONNECTION warns and binds any", () => {
  const missing = run(["new", "-i", "1.2.3.4", "-s"]);
  assert.equal(missing.ip, undefined);
  assert.match(missing.warnings[0], /SSH_CONNECTION not found/);
  const bad = run(["new", "-s"], { SSH_CONNECTION: "only two" });
  assert.equal(bad.ip, undefined);
  assert.match(bad.warnings[0], /Could not parse SSH_CONNECTION/);
  // IPv6 addresses stay whole.
  assert.equal(
    run(["new", "-s"], { SSH_CONNECTION: "::1 5 ::1 22" }).ip,
    "::1",
  );
});

Deno.test("unknown options warn with the usage and parsing carries on", () => {
  const o = run(["new", "-x", "--frob", "-p", "60005", "-c"]);
  assert.deepEqual(o.portRange, [60005, 60005]);
  assert.deepEqual(o.warnings, [
    "tmosh: invalid option -- 'x'",
    SERVE_USAGE,
    "tmosh: unrecognized option '--frob'",
    SERVE_USAGE,
    "tmosh: option requires an argument -- 'c'",
    SERVE_USAGE,
  ]);
});

Deno.test("help and version are found anywhere before --", () => {
  assert.equal(parseServeArgs(["new", "-p", "1", "-h"]).kind, "help");
  assert.equal(parseServeArgs(["--help"]).kind, "help");
  assert.equal(parseServeArgs(["bogus", "words", "--version"]).kind, "version");
  assert.deepEqual(run(["new", "--", "cmd", "--help"]).command, [
    "cmd",
    "--help",
  ]);
});

Deno.test("bad port ranges are errors naming the range", () => {
  for (const port of ["99999", "60070:60060", "0:5", "abc", "1:", ""]) {
    const msg = fail(["new", "-p", port]);
    assert.ok(
      msg.startsWith(`tmosh: Bad UDP port range (${port}): `),
      msg,
    );
    assert.ok(!msg.includes("\n"));
  }
  assert.deepEqual(run(["new", "-p", "0"]).portRange, [0, 0]);
});

Deno.test("bad colour counts are errors; strtol forms are accepted", () => {
  assert.match(
    fail(["new", "-c", "lots"]),
    /^tmosh: Bad number of colors \(lots\)/,
  );
  assert.match(fail(["new", "-c", "25x"]), /Bad number of colors/);
  assert.equal(run(["new", "-c", " +256"]).colors, 256);
  assert.equal(run(["new", "-c", "-1"]).colors, -1);
  assert.equal(run(["new", "-c", ""]).colors, 0);
});

Deno.test("-l without = is ignored with a warning", () => {
  const o = run(["new", "-l", "LANG", "-l", "LC_CTYPE=C.UTF-8"]);
  assert.deepEqual(o.locale, { LC_CTYPE: "C.UTF-8" });
  assert.match(o.warnings[0], /ignoring -l LANG/);
});

Deno.test("legacy forms: none, IP, IP PORT; more is an error", () => {
  assert.equal(run([]).ip, undefined);
  assert.equal(run(["127.0.0.1"]).ip, "127.0.0.1");
  const two = run(["127.0.0.1", "60009"]);
  assert.deepEqual([two.ip, two.portRange], ["127.0.0.1", [60009, 60009]]);
  assert.match(fail(["a", "b", "c"]), /^tmosh: unexpected arguments/);
  assert.match(fail(["1.2.3.4", "70000"]), /Bad UDP port range \(70000\)/);
  assert.deepEqual(run(["--", "top"]).command, ["top"]);
});

Deno.test("the daemon marker carries the window size and is only valid first", () => {
  const o = run(["--daemon-internal=132x43", "new", "-p", "60001"]);
  assert.equal(o.daemon, true);
  assert.deepEqual(o.daemonSize, { cols: 132, rows: 43 });
  assert.deepEqual(o.portRange, [60001, 60001]);
  assert.match(fail(["--daemon-internal", "new"]), /malformed/);
  assert.equal(run(["new"]).daemon, false);
  // Anywhere else it is just an unknown option.
  assert.match(
    run(["new", "--daemon-internal=1x1"]).warnings[0],
    /unrecognized option/,
  );
});

Deno.test("--name names the session, before or after new (mosh's --server='tmosh serve --name N')", () => {
  assert.equal(run(["new"]).name, null);
  assert.equal(run(["new", "--name", "work", "-s"]).name, "work");
  assert.equal(run(["new", "-c", "256", "--name=w-2.x"]).name, "w-2.x");
  const front = run([
    "--name",
    "work",
    "new",
    "-c",
    "256",
    "-l",
    "LANG=C.UTF-8",
  ]);
  assert.equal(front.name, "work");
  assert.equal(front.colors, 256);
  assert.deepEqual(front.warnings, []);
  const daemon = run(["--daemon-internal=80x24", "--name=work", "new"]);
  assert.equal(daemon.name, "work");
  assert.equal(daemon.daemon, true);
  // After "--" it belongs to the command.
  assert.deepEqual(run(["new", "--", "x", "--name", "y"]).name, null);
  assert.match(
    fail(["new", "--name", "a b"]),
    /^tmosh: bad session name "a b"/,
  );
  assert.match(fail(["--name=", "new"]), /^tmosh: bad session name ""/);
  assert.equal(fail(["new", "--name"]), "tmosh: --name needs a value");
});
