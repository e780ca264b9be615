/** The command line (main.ts): --help, --version, and clear errors. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TMOSH_VERSION } from "../../version.ts";
import {
  selfCommand,
  TMOSH_V8_FLAGS,
  V8_FLAGS_ARG,
} from "../../self_command.ts";
import {
  DEMO_USAGE,
  type DemoOptions,
  parseDemoArgs,
} from "../../demo/demo.ts";
import { tmoshProcess } from "../../harness/serve_process.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

async function tmosh(...args: string[]) {
  const out = await tmoshProcess(args, {
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("main: --version prints the version and exits 0", async () => {
  for (const flag of ["--version", "-V"]) {
    const r = await tmosh(flag);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `tmosh ${TMOSH_VERSION}\n`);
  }
});

Deno.test("main: --help lists every subcommand and exits 0", async () => {
  const r = await tmosh("--help");
  assert.equal(r.code, 0);
  for (
    const sub of ["connect", "sessions", "kill", "serve", "client", "demo"]
  ) {
    assert.match(r.stdout, new RegExp(`^  ${sub} `, "m"));
  }
  const h = await tmosh("help", "connect");
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage: tmosh connect/);
});

Deno.test("main: an unknown command or option is a one-line error with a hint, non-zero", async () => {
  for (const args of [["bogus"], ["--bogus"]]) {
    const r = await tmosh(...args);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trim().split("\n");
    assert.match(lines[0], /^tmosh: unknown (command|option) /);
    assert.match(lines[1], /tmosh --help/);
  }
});

Deno.test("main: a subcommand parses its own words and reports its own errors", async () => {
  const r = await tmosh("demo", "--delay", "nope");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^tmosh demo: bad --delay "nope"/);
});

Deno.test("main: tmosh demo --scrollback, native by default; a bad value is a one-line error", async () => {
  const saved = Deno.env.get("TMOSH_SCROLLBACK");
  try {
    Deno.env.delete("TMOSH_SCROLLBACK");
    const scrollback = (args: string[]) => {
      const parsed = parseDemoArgs(args);
      assert.equal(typeof parsed, "object", String(parsed));
      return (parsed as DemoOptions).scrollback;
    };
    assert.equal(scrollback([]), "native");
    assert.equal(scrollback(["--scrollback", "off"]), "off");
    assert.equal(scrollback(["--scrollback=native"]), "native");
    Deno.env.set("TMOSH_SCROLLBACK", "off");
    assert.equal(scrollback([]), "off");
    assert.equal(scrollback(["--scrollback=native"]), "native");
    assert.match(DEMO_USAGE, /--scrollback native\|off/);
  } finally {
    if (saved === undefined) Deno.env.delete("TMOSH_SCROLLBACK");
    else Deno.env.set("TMOSH_SCROLLBACK", saved);
  }
  const r = await tmosh("demo", "--scrollback", "bogus");
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    'tmosh demo: unknown scrollback mode "bogus" (--scrollback); use native or off\n',
  );
});

Deno.test("main: the tmosh task runs with the V8 flags of every tmosh process", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  const words = (config.tasks.tmosh as string).split(" ");
  assert.ok(words.includes(V8_FLAGS_ARG), config.tasks.tmosh);
  assert.equal(words.at(-1), "main.ts");
});

Deno.test("main: selfCommand passes the V8 flags under deno run", () => {
  const argv = selfCommand();
  assert.equal(argv[0], Deno.execPath());
  assert.deepEqual(argv.slice(1, 5), ["run", "-A", "--quiet", V8_FLAGS_ARG]);
  assert.equal(argv.at(-1), MAIN);
  assert.equal(
    V8_FLAGS_ARG,
    `--v8-flags=${TMOSH_V8_FLAGS.join(",")}`,
  );
});
