import assert from "node:assert/strict";
import {
  clientMain,
  type ClientOptions,
  colorsFromTerm,
  countColors,
  parseClientArgs,
} from "../../client/client_args.ts";
import { encodeKey, generateKey } from "../../protocol/crypto/key.ts";
import { findBinary } from "../../harness/require_peer.ts";

const KEY = encodeKey(generateKey());

/** Parses and asserts a run result; returns its options. */
function run(
  args: string[],
  env: Record<string, string> = { MOSH_KEY: KEY },
): ClientOptions {
  const parsed = parseClientArgs(args, env);
  assert.equal(parsed.kind, "run", JSON.stringify(parsed));
  return (parsed as { options: ClientOptions }).options;
}

/** Parses and asserts an error result; returns its message. */
function failure(
  args: string[],
  env: Record<string, string> = { MOSH_KEY: KEY },
): string {
  const parsed = parseClientArgs(args, env);
  assert.equal(parsed.kind, "error", JSON.stringify(parsed));
  const message = (parsed as { message: string }).message;
  assert.match(message, /^tmosh: /);
  assert.doesNotMatch(message, /\n/);
  assert.ok(!message.includes(KEY), "the key never appears in messages");
  return message;
}

Deno.test("parseClientArgs: the mosh-client contract, defaults", () => {
  assert.deepEqual(
    run(["-#", "host --predict=never |", "127.0.0.1", "60001"]),
    {
      ip: "127.0.0.1",
      port: 60001,
      key: KEY,
      predict: "adaptive",
      predictOverwrite: false,
      init: true,
      escapeKey: undefined,
      titleNoPrefix: false,
      verbose: false,
      scrollback: "native",
    },
  );
  assert.equal(run(["::1", "1"]).ip, "::1");
  assert.equal(run(["-#args", "10.1.2.3", "65535"]).port, 65535);
  assert.equal(run(["-v", "-vv", "127.0.0.1", "60001"]).verbose, true);
  assert.equal(run(["127.0.0.1", "-v", "60001"]).verbose, true);
  assert.equal(run(["--", "127.0.0.1", "60001"]).port, 60001);
});

Deno.test("parseClientArgs: settings from the environment", () => {
  const options = run(["127.0.0.1", "60001"], {
    MOSH_KEY: KEY,
    MOSH_PREDICTION_DISPLAY: "experimental",
    MOSH_PREDICTION_OVERWRITE: "yes",
    MOSH_NO_TERM_INIT: "1",
    MOSH_ESCAPE_KEY: "\x01",
    MOSH_TITLE_NOPREFIX: "",
  });
  assert.equal(options.predict, "experimental");
  assert.equal(options.predictOverwrite, true);
  assert.equal(options.init, false);
  assert.equal(options.escapeKey, "\x01");
  assert.equal(options.titleNoPrefix, true);
  for (const mode of ["always", "never", "adaptive"]) {
    assert.equal(
      run(["127.0.0.1", "1"], { MOSH_KEY: KEY, MOSH_PREDICTION_DISPLAY: mode })
        .predict,
      mode,
    );
  }
  assert.equal(
    run(["127.0.0.1", "1"], { MOSH_KEY: KEY, MOSH_PREDICTION_OVERWRITE: "1" })
      .predictOverwrite,
    false,
    "only 'yes' turns overwrite on",
  );
  assert.equal(
    run(["127.0.0.1", "1"], { MOSH_KEY: KEY, MOSH_ESCAPE_KEY: "" }).escapeKey,
    "",
  );
});

Deno.test("parseClientArgs: --scrollback and TMOSH_SCROLLBACK, native by default", () => {
  const env = (value: string) => ({ MOSH_KEY: KEY, TMOSH_SCROLLBACK: value });
  assert.equal(run(["127.0.0.1", "1"]).scrollback, "native");
  assert.equal(run(["127.0.0.1", "1"], env("off")).scrollback, "off");
  assert.equal(run(["127.0.0.1", "1"], env("native")).scrollback, "native");
  assert.equal(run(["--scrollback=off", "127.0.0.1", "1"]).scrollback, "off");
  assert.equal(
    run(["-v", "127.0.0.1", "--scrollback", "off", "1"]).scrollback,
    "off",
  );
  assert.equal(
    run(["--scrollback=native", "127.0.0.1", "1"], env("off")).scrollback,
    "native",
    "the flag wins over the environment",
  );
  assert.equal(
    run(["--scrollback=off", "127.0.0.1", "1"], env("bogus")).scrollback,
    "off",
    "a valid flag hides a bad environment value",
  );
  assert.equal(
    failure(["127.0.0.1", "1"], env("yes")),
    'tmosh: unknown scrollback mode "yes" (TMOSH_SCROLLBACK in environment); use native or off',
  );
  assert.equal(
    failure(["127.0.0.1", "1"], env("")),
    'tmosh: unknown scrollback mode "" (TMOSH_SCROLLBACK in environment); use native or off',
  );
  assert.equal(
    failure(["--scrollback=Native", "127.0.0.1", "1"]),
    'tmosh: unknown scrollback mode "Native" (--scrollback); use native or off',
  );
  assert.match(
    failure(["127.0.0.1", "1", "--scrollback"]),
    /^tmosh: option --scrollback needs native or off; usage: /,
  );
  assert.match(failure(["--scrollbackx", "127.0.0.1", "1"]), /unknown option/);
});

Deno.test("parseClientArgs: -c, --help and --version", () => {
  assert.deepEqual(parseClientArgs(["-c"], {}), { kind: "colors" });
  assert.deepEqual(parseClientArgs(["-vc", "junk"], {}), { kind: "colors" });
  const help = parseClientArgs(["127.0.0.1", "x", "--help"], {});
  assert.equal(help.kind, "help");
  assert.match((help as { text: string }).text, /tmosh client \[-# 'ARGS'\]/);
  assert.match((help as { text: string }).text, /--scrollback=native\|off/);
  assert.match((help as { text: string }).text, /TMOSH_SCROLLBACK/);
  const version = parseClientArgs(["--version"], {});
  assert.equal(version.kind, "version");
  assert.match((version as { text: string }).text, /^tmosh \d+\.\d+\.\d+\n$/);
});

Deno.test("parseClientArgs: errors with mosh-client's wording", () => {
  assert.match(failure(["127.0.0.1", "60a01"]), /Bad UDP port \(60a01\)/);
  assert.match(failure(["127.0.0.1", ""]), /Bad UDP port \(\)/);
  assert.match(failure(["127.0.0.1", "65536"]), /Bad UDP port \(65536\)/);
  assert.match(failure(["127.0.0.1", "0"]), /Bad UDP port \(0\)/);
  assert.match(
    failure(["127.0.0.1", "60001"], {}),
    /MOSH_KEY environment variable not found\./,
  );
  assert.match(
    failure(["127.0.0.1", "60001"], {
      MOSH_KEY: KEY,
      MOSH_PREDICTION_DISPLAY: "bogus",
    }),
    /Unknown prediction mode bogus\./,
  );
  assert.match(failure(["localhost", "60001"]), /numeric/);
  assert.match(failure(["127.0.0.1"]), /expected IP and PORT/);
  assert.match(failure(["127.0.0.1", "1", "2"]), /expected IP and PORT/);
  assert.match(failure(["-x", "127.0.0.1", "1"]), /unknown option -x/);
  assert.match(failure(["--verbose", "127.0.0.1", "1"]), /unknown option/);
  assert.match(failure(["127.0.0.1", "1", "-#"]), /-# needs an argument/);
});

Deno.test("parseClientArgs: a malformed or non-canonical key is refused", () => {
  const bad = KEY.slice(0, 21) + "B"; // the last character must carry zero low bits
  const wrongLast = /[AQgw]$/.test(KEY) ? bad : KEY;
  for (const key of ["short", wrongLast, KEY.slice(0, 21) + "!"]) {
    const parsed = parseClientArgs(["127.0.0.1", "1"], { MOSH_KEY: key });
    assert.equal(parsed.kind, "error");
    const message = (parsed as { message: string }).message;
    assert.match(message, /MOSH_KEY/);
    assert.ok(!message.includes(key));
  }
});

Deno.test("colorsFromTerm and countColors: terminfo first, then a guess from TERM", async () => {
  assert.equal(colorsFromTerm(undefined), 0);
  assert.equal(colorsFromTerm("dumb"), 0);
  assert.equal(colorsFromTerm("xterm"), 8);
  assert.equal(colorsFromTerm("screen-256color"), 256);
  assert.equal(await countColors("no-such-terminal-type"), 8);
  assert.equal(await countColors(undefined), 0);
  if (await findBinary("tput") !== null) {
    assert.equal(await countColors("xterm-256color"), 256);
    assert.equal(
      await countColors("vt100"),
      0,
      "terminfo: vt100 has no colours",
    );
  }
});

Deno.test("clientMain: deletes MOSH_KEY at once and hands the options over", async () => {
  const saved = Deno.env.get("MOSH_KEY");
  Deno.env.set("MOSH_KEY", KEY);
  try {
    let seen: ClientOptions | null = null;
    let keyInEnv: string | undefined = "unset";
    const status = await clientMain(["127.0.0.1", "60001"], {
      runClient(options) {
        seen = options;
        keyInEnv = Deno.env.get("MOSH_KEY");
        return Promise.resolve(7);
      },
    });
    assert.equal(status, 7);
    assert.equal(keyInEnv, undefined);
    assert.equal(seen!.key, KEY);
    assert.equal(seen!.port, 60001);
    // Without a key: exit 1, the session is not started.
    const failed = await clientMain(["127.0.0.1", "60001"], {
      runClient: () => Promise.reject(new Error("must not run")),
    });
    assert.equal(failed, 1);
  } finally {
    if (saved === undefined) Deno.env.delete("MOSH_KEY");
    else Deno.env.set("MOSH_KEY", saved);
  }
});

Deno.test("clientMain -c prints one integer", async () => {
  const entry = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const module = new URL("../../client/client_args.ts", import.meta.url).href;
    await Deno.writeTextFile(
      entry,
      `import { clientMain } from "${module}";\n` +
        `Deno.exit(await clientMain(Deno.args, { runClient: () => Promise.resolve(9) }));\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", entry, "-c"],
      env: { TERM: "xterm-256color" },
    }).output();
    assert.equal(out.code, 0);
    const printed = new TextDecoder().decode(out.stdout);
    assert.match(printed, /^\d+\n$/);
    if (await findBinary("tput") !== null) assert.equal(printed, "256\n");
  } finally {
    await Deno.remove(entry);
  }
});
