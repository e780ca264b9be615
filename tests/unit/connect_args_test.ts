import assert from "node:assert/strict";
import type { ClientOptions } from "../../client/client_args.ts";
import { connectMain } from "../../client/bootstrap/connect.ts";
import {
  checkHost,
  checkPortRequest,
  CONNECT_USAGE,
  type ConnectArgs,
  type ConnectOptions,
  DEFAULT_SERVER,
  parseConnectArgs,
  shellWords,
} from "../../client/bootstrap/connect_args.ts";

/** Parses and asserts a connect result; returns its options. */
function connect(
  args: string[],
  env: Record<string, string> = {},
): ConnectOptions {
  const parsed = parseConnectArgs(args, { env });
  assert.equal(parsed.kind, "connect", JSON.stringify(parsed));
  return (parsed as { options: ConnectOptions }).options;
}

/** Parses and asserts an error result; returns its message. */
function failure(args: string[], env: Record<string, string> = {}): string {
  const parsed: ConnectArgs = parseConnectArgs(args, { env });
  assert.equal(parsed.kind, "error", JSON.stringify(parsed));
  const message = (parsed as { message: string }).message;
  assert.match(message, /^tmosh: /);
  assert.doesNotMatch(message, /\n/, "errors are one line");
  return message;
}

Deno.test("parseConnectArgs: defaults match the mosh wrapper's", () => {
  assert.deepEqual(connect(["example.org"]), {
    userhost: "example.org",
    command: [],
    client: null,
    ssh: ["ssh"],
    server: DEFAULT_SERVER,
    predict: "adaptive",
    predictOverwrite: false,
    scrollback: "native",
    family: "prefer-inet",
    port: null,
    bindServer: "ssh",
    sshPty: true,
    init: true,
    local: false,
    remoteIp: "proxy",
    attach: null,
    name: null,
    install: "auto",
    jump: null,
    relay: "tmosh serve relay",
  });
  assert.equal(DEFAULT_SERVER, "tmosh serve");
});

Deno.test("parseConnectArgs: every option", () => {
  assert.deepEqual(
    connect([
      "--client=/opt/mosh-client",
      `--ssh=ssh -p 2222 -o 'ProxyJump a b'`,
      "--server",
      "env X=1 mosh-server",
      "-a",
      "-o",
      "--scrollback",
      "off",
      "-4",
      "-p",
      "60001:60010",
      "--bind-server=10.0.0.1",
      "--no-ssh-pty",
      "--no-init",
      "--local",
      "--experimental-remote-ip=remote",
      "--name",
      "work-1",
      "--relay=/opt/tmosh serve relay",
      "user@host",
      "--",
      "ls",
      "-la",
    ]),
    {
      userhost: "user@host",
      command: ["ls", "-la"],
      client: "/opt/mosh-client",
      ssh: ["ssh", "-p", "2222", "-o", "ProxyJump a b"],
      server: "env X=1 mosh-server",
      predict: "always",
      predictOverwrite: true,
      scrollback: "off",
      family: "inet",
      port: "60001:60010",
      bindServer: "10.0.0.1",
      sshPty: false,
      init: false,
      local: true,
      remoteIp: "remote",
      attach: null,
      name: "work-1",
      install: "auto",
      jump: null,
      relay: "/opt/tmosh serve relay",
    },
  );
});

Deno.test("parseConnectArgs: short and long spellings, last one wins", () => {
  assert.equal(connect(["-n", "h"]).predict, "never");
  assert.equal(connect(["-a", "-n", "h"]).predict, "never");
  assert.equal(
    connect(["--predict=experimental", "h"]).predict,
    "experimental",
  );
  assert.equal(connect(["--predict", "always", "h"]).predict, "always");
  assert.equal(connect(["--predict-overwrite", "h"]).predictOverwrite, true);
  assert.equal(connect(["-6", "h"]).family, "inet6");
  assert.equal(connect(["--family=AUTO", "h"]).family, "auto");
  assert.equal(connect(["--family", "all", "h"]).family, "all");
  assert.equal(connect(["-p60005", "h"]).port, "60005");
  assert.equal(connect(["--port=0", "h"]).port, "0");
  assert.equal(connect(["--no-ssh-pty", "--ssh-pty", "h"]).sshPty, true);
  assert.equal(connect(["--noinit", "h"]).init, false);
  assert.equal(connect(["--no-init", "--init", "h"]).init, true);
  assert.equal(connect(["--bind-server=any", "h"]).bindServer, "any");
  // Getopt::Long accepts unique abbreviations.
  assert.equal(connect(["--serv=s", "h"]).server, "s");
  assert.equal(connect(["--experimental=local", "h"]).remoteIp, "local");
});

Deno.test("parseConnectArgs: --attach[=ID|NAME] resumes a session, --name names a new one", () => {
  assert.deepEqual(connect(["--attach", "h"]).attach, { target: null });
  assert.deepEqual(connect(["h", "--attach"]).attach, { target: null });
  assert.deepEqual(connect(["--attach=ab3dk2q7", "h"]).attach, {
    target: "ab3dk2q7",
  });
  assert.deepEqual(connect(["--att=work", "h"]).attach, { target: "work" });
  // Only `=` gives the value: the next word stays the host.
  const alone = connect(["--attach", "work"]);
  assert.equal(alone.userhost, "work");
  assert.deepEqual(alone.attach, { target: null });
  assert.equal(connect(["--name=w.1", "h"]).name, "w.1");
  assert.equal(connect(["--name", "W_2", "h"]).name, "W_2");
  assert.equal(connect(["h"]).attach, null);
  // An attach keeps the session's own options.
  const kept = connect(["--attach=w", "-a", "--no-init", "h"]);
  assert.deepEqual([kept.predict, kept.init], ["always", false]);

  assert.match(failure(["--attach=", "h"]), /option --attach= needs a value/);
  assert.match(
    failure(["--attach=a b", "h"]),
    /bad session id or name "a b" for --attach/,
  );
  assert.match(
    failure(["--attach=-x", "h"]),
    /bad session id or name "-x" for --attach/,
  );
  assert.match(
    failure(["--name=.hidden", "h"]),
    /bad session id or name ".hidden" for --name/,
  );
  assert.match(failure(["--name=" + "x".repeat(33), "h"]), /for --name/);
  assert.match(failure(["h", "--name"]), /option --name needs a value/);
  assert.match(
    failure(["--attach", "--name=w", "h"]),
    /--attach resumes a session as it is; --name applies only to a new one/,
  );
  assert.match(
    failure(["--attach=w", "-p", "60001", "h"]),
    /-p applies only to a new one/,
  );
  assert.match(
    failure(["--attach", "h", "--", "top"]),
    /a command applies only to a new one/,
  );
  assert.match(CONNECT_USAGE, /--attach\[=ID\|NAME\]/);
  assert.match(CONNECT_USAGE, /--name=NAME/);
  assert.match(CONNECT_USAGE, /tmosh sessions \[user@\]host/);
});

Deno.test("parseConnectArgs: options mix with positionals until --, as Getopt::Long", () => {
  const mixed = connect(["host", "-a", "top"]);
  assert.equal(mixed.predict, "always");
  assert.equal(mixed.userhost, "host");
  assert.deepEqual(mixed.command, ["top"]);
  const protectedWords = connect(["host", "--", "bash", "-c", "echo --x 'y'"]);
  assert.deepEqual(protectedWords.command, ["bash", "-c", "echo --x 'y'"]);
  assert.equal(protectedWords.predict, "adaptive");
  assert.equal(connect(["--", "h", "-a"]).userhost, "h");
  assert.deepEqual(connect(["--", "h", "-a"]).command, ["-a"]);
});

Deno.test("parseConnectArgs: prediction from MOSH_PREDICTION_DISPLAY unless given", () => {
  assert.equal(
    connect(["h"], { MOSH_PREDICTION_DISPLAY: "never" }).predict,
    "never",
  );
  assert.equal(
    connect(["-a", "h"], { MOSH_PREDICTION_DISPLAY: "never" }).predict,
    "always",
  );
  assert.match(
    failure(["h"], { MOSH_PREDICTION_DISPLAY: "sometimes" }),
    /unknown prediction mode "sometimes" \(MOSH_PREDICTION_DISPLAY in environment\)/,
  );
  assert.match(
    failure(["--predict=bogus", "h"]),
    /unknown prediction mode "bogus"; use adaptive, always, never, experimental/,
  );
  // A valid flag hides a bad environment value, as in mosh.
  assert.equal(
    connect(["-n", "h"], { MOSH_PREDICTION_DISPLAY: "sometimes" }).predict,
    "never",
  );
  assert.equal(
    connect(["h"], { MOSH_PREDICTION_OVERWRITE: "yes" }).predictOverwrite,
    true,
  );
  assert.equal(
    connect(["h"], { MOSH_PREDICTION_OVERWRITE: "no" }).predictOverwrite,
    false,
  );
});

Deno.test("parseConnectArgs: --scrollback, else TMOSH_SCROLLBACK, else native", () => {
  assert.equal(connect(["h"]).scrollback, "native");
  assert.equal(connect(["--scrollback=off", "h"]).scrollback, "off");
  assert.equal(connect(["--scrollback", "off", "h"]).scrollback, "off");
  assert.equal(connect(["h", "--scrollback=native"]).scrollback, "native");
  assert.equal(connect(["--scroll=off", "h"]).scrollback, "off");
  assert.equal(
    connect(["h"], { TMOSH_SCROLLBACK: "off" }).scrollback,
    "off",
  );
  assert.equal(
    connect(["--scrollback=native", "h"], { TMOSH_SCROLLBACK: "bogus" })
      .scrollback,
    "native",
  );
  assert.equal(
    failure(["--scrollback=on", "h"]),
    'tmosh: unknown scrollback mode "on" (--scrollback); use native or off',
  );
  assert.equal(
    failure(["h"], { TMOSH_SCROLLBACK: "on" }),
    'tmosh: unknown scrollback mode "on" (TMOSH_SCROLLBACK in environment); use native or off',
  );
  assert.match(failure(["h", "--scrollback"]), /--scrollback needs a value/);
  // ssh runs --fake-proxy with its own environment: the variable is not its business.
  assert.equal(
    parseConnectArgs(["--fake-proxy", "--", "h", "22"], {
      env: { TMOSH_SCROLLBACK: "bogus" },
    }).kind,
    "fake-proxy",
  );
  assert.match(CONNECT_USAGE, /--scrollback=native {5}lines that scroll off/);
  assert.match(CONNECT_USAGE, /--scrollback=off {8}as mosh/);
});

Deno.test("connectMain: --scrollback reaches the client options; a bad value stops before the session", async () => {
  const saved = Deno.env.get("TMOSH_SCROLLBACK");
  // A stand-in server (--local runs it with /bin/sh): prints MOSH CONNECT, ignores its arguments.
  const server =
    "--server=echo MOSH CONNECT 60001 AAAAAAAAAAAAAAAAAAAAAA; true";
  const seen: (string | undefined)[] = [];
  const hooks = {
    runClient(options: ClientOptions) {
      seen.push(options.scrollback);
      return Promise.resolve(4);
    },
  };
  try {
    Deno.env.delete("TMOSH_SCROLLBACK");
    assert.equal(await connectMain(["--local", server, "127.0.0.1"], hooks), 4);
    assert.equal(
      await connectMain(
        ["--local", server, "--scrollback=off", "127.0.0.1"],
        hooks,
      ),
      4,
    );
    Deno.env.set("TMOSH_SCROLLBACK", "off");
    assert.equal(await connectMain(["--local", server, "127.0.0.1"], hooks), 4);
    assert.deepEqual(seen, ["native", "off", "off"]);
    assert.equal(
      await connectMain(["--local", server, "--scrollback=x", "127.0.0.1"], {
        runClient: () => Promise.reject(new Error("must not run")),
      }),
      2,
    );
  } finally {
    if (saved === undefined) Deno.env.delete("TMOSH_SCROLLBACK");
    else Deno.env.set("TMOSH_SCROLLBACK", saved);
  }
});

Deno.test("parseConnectArgs: bad values are one-line errors", () => {
  assert.match(failure([]), /missing \[user@\]host/);
  assert.match(failure(["--family=inet5", "h"]), /unknown --family "inet5"/);
  assert.match(
    failure(["--experimental-remote-ip=dns", "h"]),
    /unknown --experimental-remote-ip mode "dns"; use proxy, local or remote/,
  );
  assert.match(failure(["-x", "h"]), /unknown option -x/);
  assert.match(failure(["--frobnicate", "h"]), /unknown option --frobnicate/);
  assert.match(failure(["--pre", "h"]), /--pre is ambiguous/);
  assert.match(failure(["h", "--server"]), /option --server needs a value/);
  assert.match(failure(["--local=yes", "h"]), /--local takes no value/);
  assert.match(failure(["-an", "h"]), /unknown option -an/);
  assert.match(failure(["--ssh=ssh 'oops", "h"]), /cannot split --ssh/);
  assert.match(failure(["--ssh=", "h"]), /cannot split --ssh/);
  assert.match(failure(["-p", "6000x", "h"]), /\(6000x\) is not valid/);
});

Deno.test("parseConnectArgs: a host ssh would take as an option, or holding shell syntax, is refused", () => {
  for (
    const args of [
      ["--", "-oProxyCommand=touch /tmp/tmosh-pwned"],
      ["-n", "--", "-F/dev/null", "true"],
      ["root@-oProxyCommand=x"],
    ]
  ) {
    assert.match(
      failure(args),
      /^tmosh: host ".*" starts with "-", which ssh would take as an option; give a host name$/,
    );
  }
  for (const host of ["a'b", "$(id)", "a;id", "`id`", "a b", "a\nb", "x|y"]) {
    assert.match(
      failure([`u@${host}`]),
      /^tmosh: host name ".*" contains ".*", which no host name has; give a host name$/,
    );
  }
  for (
    const host of [
      "h-1.example",
      "u@h",
      "a-b@c",
      "::1",
      "[::1]",
      "fe80::1%eth0",
    ]
  ) {
    assert.equal(connect([host]).userhost, host);
  }
  assert.equal(checkHost("user@h.example"), null);
});

Deno.test("checkPortRequest: mosh's port and range rules", () => {
  for (const good of ["0", "1", "60001", "65535", "1:1", "60001:60999"]) {
    assert.equal(checkPortRequest(good), null, good);
  }
  const cases: [string, RegExp][] = [
    ["", /is not valid/],
    ["-1", /is not valid/],
    ["1:", /is not valid/],
    ["1:2:3", /is not valid/],
    [
      "65536",
      /\(low\) port \(65536\) must be within valid range \[0\.\.65535\]/,
    ],
    ["1:0", /high port \(0\) must be within valid range \[1\.\.65535\]/],
    ["1:65536", /high port \(65536\)/],
    ["0:10", /may not be used with starting port 0 \(0:10\)/],
    ["10:5", /\(10:5\): low port greater than high port/],
  ];
  for (const [bad, why] of cases) {
    assert.match(checkPortRequest(bad) ?? "accepted", why, bad);
  }
  assert.match(failure(["-p", "0:10", "h"]), /starting port 0/);
});

Deno.test("parseConnectArgs: --help and --version win over everything else", () => {
  const help = parseConnectArgs(["--predict=bogus", "--help"]);
  assert.equal(help.kind, "help");
  assert.match((help as { text: string }).text, /^Usage: tmosh connect /);
  assert.match((help as { text: string }).text, /--experimental-remote-ip/);
  const version = parseConnectArgs(["--version"]);
  assert.equal(version.kind, "version");
  assert.match((version as { text: string }).text, /^tmosh \d+\.\d+\.\d+\n$/);
});

Deno.test("parseConnectArgs: --fake-proxy takes HOST PORT", () => {
  assert.deepEqual(
    parseConnectArgs([
      "--fake-proxy",
      "--family=inet",
      "--",
      "h.example",
      "22",
    ]),
    {
      kind: "fake-proxy",
      options: { host: "h.example", port: 22, family: "inet" },
    },
  );
  assert.match(failure(["--fake-proxy", "--", "h"]), /needs HOST PORT/);
  assert.match(failure(["--fake-proxy", "--", "h", "ssh"]), /needs HOST PORT/);
  assert.match(
    failure(["--fake-proxy", "--", "h", "70000"]),
    /needs HOST PORT/,
  );
});

Deno.test("shellWords: Text::ParseWords shellwords rules", () => {
  assert.deepEqual(shellWords("ssh"), ["ssh"]);
  assert.deepEqual(shellWords("  ssh   -p 2222  "), ["ssh", "-p", "2222"]);
  assert.deepEqual(
    shellWords(`ssh -F '/tmp/a b' "x\\"y" c\\ d 'it'"'"'s' ""`),
    ["ssh", "-F", "/tmp/a b", 'x"y', "c d", "it's", ""],
  );
  assert.deepEqual(shellWords(`a'b'"c"d`), ["abcd"]);
  assert.deepEqual(shellWords(`'$HOME' "\\$x"`), ["$HOME", "$x"]);
  assert.equal(shellWords("ssh 'open"), null);
  assert.equal(shellWords('ssh "open'), null);
  assert.deepEqual(shellWords(""), []);
});

Deno.test("parseConnectArgs: -J/--jump takes ssh's jump chain; a chain that cannot be parsed is a one-line error", () => {
  assert.equal(connect(["-J", "bastion", "target"]).jump, "bastion");
  assert.equal(
    connect(["--jump=u@b1:2222,[::1]:22,ssh://c", "target"]).jump,
    "u@b1:2222,[::1]:22,ssh://c",
  );
  assert.equal(connect(["-Jnone", "target"]).jump, "none");
  assert.match(
    failure(["-J", "a b", "target"]),
    /^tmosh: cannot parse jump host "a b" in "a b": .*; use -J /,
  );
  assert.match(failure(["-J", "b:99999", "t"]), /bad port "99999"/);
  assert.match(failure(["-J", "a,,b", "t"]), /jump host "" .*no host/);
  assert.match(failure(["-J", "-oProxyCommand=x", "t"]), /starts with "-"/);
  assert.match(failure(["-J", "fe80::1", "t"]), /IPv6 address needs brackets/);
  assert.match(failure(["-J", ""]), /empty jump host list|missing/);
  assert.match(
    failure(["-J", "b", "--local", "t"]),
    /--local cannot be used with -J/,
  );
  assert.match(failure(["-J"]), /needs a value/);
});

Deno.test("connectMain: prepare runs once the server is started, before its MOSH CONNECT, and once only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_prepare_" });
  const flag = `${dir}/prepared`;
  // A stand-in server that prints MOSH CONNECT only once prepare has run:
  // a prepare held back until after MOSH CONNECT would never see it (exit 1).
  const server = `--server=i=0; while [ ! -e '${flag}' ]; do ` +
    `i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.05; done; ` +
    "echo MOSH CONNECT 60001 AAAAAAAAAAAAAAAAAAAAAA; true";
  let prepared = 0;
  try {
    const code = await connectMain(["--local", server, "127.0.0.1"], {
      prepare() {
        prepared++;
        Deno.writeTextFileSync(flag, "");
      },
      runClient: () => Promise.resolve(4),
    });
    assert.equal(code, 4);
    assert.equal(prepared, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
