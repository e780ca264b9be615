import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  bootstrap,
  serverArgs,
  shellQuote,
  sshArgv,
} from "../../client/bootstrap/connect.ts";
import { BootstrapScanner } from "../../client/bootstrap/server_output.ts";
import { orderAddresses } from "../../client/bootstrap/fake_proxy.ts";
import {
  options,
  rejection,
  selfEntry,
} from "../../harness/connect_helpers.ts";

Deno.test("shellQuote and serverArgs build mosh's remote command", () => {
  assert.equal(
    shellQuote(["a b", "it's", "$HOME", "", "a\\b", "'\\", "x\ny"]),
    `'a b' 'it'\\''s' '$HOME' '' 'a'\\\\'b' \\'\\\\ 'x\ny'`,
  );
  const env = {
    LANG: "C.UTF-8",
    LC_ALL: "en_US.UTF-8",
    LC_FAKE: "x",
    HOME: "/",
  };
  assert.deepEqual(serverArgs(options(["h"]), { colors: 256, env }), [
    "new",
    "-c",
    "256",
    "-s",
    "-l",
    "LANG=C.UTF-8",
    "-l",
    "LC_ALL=en_US.UTF-8",
  ]);
  assert.deepEqual(
    serverArgs(options(["-p", "60001:60010", "u@h", "--", "ls", "-l"]), {
      colors: 8,
      env: {},
    }),
    ["new", "-c", "8", "-s", "-p", "60001:60010", "--", "ls", "-l"],
  );
  const bind = (value: string, extra: string[] = []) =>
    serverArgs(options([`--bind-server=${value}`, ...extra, "u@10.0.0.9"]), {
      colors: 0,
      env: {},
    }).slice(3);
  assert.deepEqual(bind("any"), []);
  assert.deepEqual(bind("ANY"), []);
  assert.deepEqual(bind("SSH"), ["-s"]);
  assert.deepEqual(bind("192.0.2.1"), ["-i", "192.0.2.1"]);
  assert.deepEqual(bind("ssh", ["--local"]), ["-i", "10.0.0.9"]);
});

Deno.test("sshArgv: -n, -tt, the proxy command and the remote probe", () => {
  const self = ["/opt/100%/deno", "run", "-A", "/src/main.ts"];
  const proxy = sshArgv(options(["--ssh=ssh -F cfg", "u@h"]), {
    userhost: "u@h",
    remoteCommand: "tmosh serve 'new'",
    selfCommand: self,
  });
  assert.deepEqual(proxy, [
    "ssh",
    "-F",
    "cfg",
    "-n",
    "-tt",
    "-S",
    "none",
    "-o",
    "ProxyCommand='/opt/100%%/deno' 'run' '-A' '/src/main.ts' 'connect' " +
    "'--fake-proxy' '--family=prefer-inet' -- '%h' %p",
    "u@h",
    "--",
    "tmosh serve 'new'",
  ]);
  const remote = sshArgv(
    options(["--no-ssh-pty", "-4", "--experimental-remote-ip=remote", "h"]),
    { userhost: "h", remoteCommand: "srv", selfCommand: self },
  );
  assert.deepEqual(remote.slice(0, 4), ["ssh", "-n", "-4", "h"]);
  assert.equal(
    remote[5],
    `sh -c '[ -n "$SSH_CONNECTION" ] && printf "'\\\\'nMOSH SSH_CONNECTION %s'\\\\'n" "$SSH_CONNECTION"' ; srv`,
  );
  const local = sshArgv(options(["--experimental-remote-ip=local", "h"]), {
    userhost: "u@127.0.0.1",
    remoteCommand: "srv",
    selfCommand: self,
  });
  assert.deepEqual(local, ["ssh", "-n", "-tt", "u@127.0.0.1", "--", "srv"]);
});

Deno.test("sshArgv: the host ssh pastes into the ProxyCommand stays one word", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_proxy_host_" });
  try {
    // The "self command" prints the words the ProxyCommand passes it.
    const self = ["/bin/sh", "-c", 'printf "%s\\0" "$@"', "self"];
    const pwned = `${dir}/pwned`;
    const hosts = [
      `$(touch ${pwned})`,
      `\`touch ${pwned}\``,
      `h;touch ${pwned}`,
      `h && touch ${pwned} #`,
      "a b",
      "100%h",
      "h\\x",
    ];
    for (const host of hosts) {
      const argv = sshArgv(options(["h"]), {
        userhost: "h",
        remoteCommand: "srv",
        selfCommand: self,
      });
      const proxy = argv[argv.indexOf("-o") + 1].replace(/^ProxyCommand=/, "");
      // As ssh does: %-expand once, then `$SHELL -c "exec ..."` (SHELL=/bin/sh).
      const expanded = proxy.replace(
        /%([%hp])/g,
        (_, c) => c === "%" ? "%" : c === "h" ? host : "22",
      );
      const out = await new Deno.Command("/bin/sh", {
        args: ["-c", `exec ${expanded}`],
        stdin: "null",
        stderr: "null",
      }).output();
      const words = new TextDecoder().decode(out.stdout).split("\0");
      assert.deepEqual(words.slice(-4), ["--", host, "22", ""], host);
      assert.ok(!existsSync(pwned), `${host} ran a command`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("BootstrapScanner: mosh's line rules, through ssh -tt line ends", () => {
  const key = "HN2E5agmH1pJ5ZuhNRV0CA";
  const scan = new BootstrapScanner();
  assert.equal(scan.feed("\r\r"), "echo");
  assert.equal(scan.feed("Warning: something\r"), "echo");
  assert.equal(scan.feed("MOSH IP 192.0.2.7"), "consumed");
  assert.equal(
    scan.feed("MOSH SSH_CONNECTION 192.0.2.1 5555 192.0.2.8 22\r"),
    "consumed",
  );
  assert.equal(scan.feed(`MOSH CONNECT 60004 ${key}\r`), "done");
  assert.deepEqual(
    [scan.ip, scan.sshIp, scan.port, scan.key],
    ["192.0.2.7", "192.0.2.8", 60004, key],
  );
  assert.throws(
    () => new BootstrapScanner({ ip: "127.0.0.1" }).feed("MOSH IP 1.2.3.4"),
    /redefine MOSH IP/,
  );
  assert.throws(
    () => new BootstrapScanner().feed("MOSH IP a b"),
    /bad MOSH IP/,
  );
  assert.throws(
    () => new BootstrapScanner().feed("MOSH SSH_CONNECTION 1 2 3"),
    /bad MOSH SSH_CONNECTION/,
  );
  for (
    const bad of [
      `MOSH CONNECT x ${key}`,
      `MOSH CONNECT 60001 ${key.slice(1)}`,
      `MOSH CONNECT 60001 ${key}x`,
      `MOSH CONNECT 70000 ${key}`,
      `MOSH CONNECT 60001 ${key.slice(0, 21)}B`, // not canonical
    ]
  ) {
    let message = "";
    try {
      new BootstrapScanner().feed(bad);
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /bad MOSH CONNECT line/, bad);
    assert.ok(!message.includes(key.slice(0, 21)), "the key is never echoed");
  }
  const range = new BootstrapScanner({ portRange: true });
  assert.equal(range.feed("mosh-server: Bad UDP port range (1:2)"), "echo");
  assert.equal(range.badUdpPortRange, true);
});

Deno.test("orderAddresses: mosh's family policies", () => {
  const both = [
    { address: "::1", family: 6 },
    { address: "127.0.0.1", family: 4 },
    { address: "10.0.0.1", family: 4 },
  ];
  assert.deepEqual(orderAddresses("h", both, "prefer-inet"), [
    "127.0.0.1",
    "10.0.0.1",
    "::1",
  ]);
  assert.deepEqual(orderAddresses("h", both, "prefer-inet6"), [
    "::1",
    "127.0.0.1",
    "10.0.0.1",
  ]);
  assert.deepEqual(orderAddresses("h", both, "inet"), [
    "127.0.0.1",
    "10.0.0.1",
  ]);
  assert.deepEqual(orderAddresses("h", both, "inet6"), ["::1"]);
  assert.deepEqual(orderAddresses("h", both, "all"), [
    "::1",
    "127.0.0.1",
    "10.0.0.1",
  ]);
  assert.throws(() => orderAddresses("h", both, "auto"), /both IPv4 and IPv6/);
  assert.deepEqual(orderAddresses("h", both.slice(1), "auto"), [
    "127.0.0.1",
    "10.0.0.1",
  ]);
  assert.throws(
    () => orderAddresses("h", both.slice(1), "inet6"),
    /no address of family inet6 for h/,
  );
});

Deno.test("bootstrap --local: the remote command survives the shell word for word", async () => {
  const lines: string[] = [];
  const words = ["it's", "two words", "$HOME", "a\\b", '"q"', "*"];
  const message = await rejection(() =>
    bootstrap(
      options([
        "--local",
        "--server=printf '<%s>\\n'",
        "-p",
        "60001:60002",
        "127.0.0.1",
        "--",
        ...words,
      ]),
      { echo: (line) => lines.push(line), env: { LANG: "C.UTF-8" } },
    )
  );
  assert.match(message, /did not find the server's MOSH CONNECT line/);
  const expected = [
    "new",
    "-c",
    lines[2].slice(1, -1), // the colour count depends on TERM
    "-i",
    "127.0.0.1",
    "-p",
    "60001:60002",
  ];
  assert.deepEqual(lines.slice(0, 7), expected.map((w) => `<${w}>`));
  assert.ok(lines.includes("<LANG=C.UTF-8>"));
  assert.deepEqual(
    lines.slice(lines.indexOf("<-->") + 1),
    words.map((w) => `<${w}>`),
  );
});

Deno.test("bootstrap --local: server failures are one-line errors", async () => {
  const run = (server: string) =>
    rejection(() =>
      bootstrap(options(["--local", `--server=${server}`, "127.0.0.1"]), {
        echo: () => {},
      })
    );
  assert.equal(
    await run("exit 3;"),
    "tmosh: the server command exited with status 3",
  );
  assert.match(
    await run("echo 'MOSH CONNECT 60001 tooshort'; true"),
    /bad MOSH CONNECT line/,
  );
  assert.match(
    await run("echo 'MOSH IP 192.0.2.1'; true"),
    /redefine MOSH IP/,
  );
  // MOSH CONNECT ends the scan: what follows is never read.
  const key = "HN2E5agmH1pJ5ZuhNRV0CA";
  const endpoint = await bootstrap(
    options([
      "--local",
      `--server=echo 'MOSH CONNECT 60001 ${key}'; echo 'MOSH IP 192.0.2.1'; true`,
      "127.0.0.1",
    ]),
    { echo: () => {} },
  );
  assert.deepEqual(endpoint, { ip: "127.0.0.1", port: 60001, key });
});

Deno.test("bootstrap: scanning a stand-in ssh's output (CRLF, fallbacks, failures)", async () => {
  const key = "HN2E5agmH1pJ5ZuhNRV0CA";
  // `sh -c SCRIPT fake-ssh` ignores the ssh options and remote command it is given.
  const fake = (script: string, more: string[] = []) =>
    options([`--ssh=sh -c '${script}' fake-ssh`, ...more, "u@h.example"]);
  const lines: string[] = [];
  const echo = (line: string) => lines.push(line);
  const endpoint = await bootstrap(
    fake(
      `printf "banner\\r\\n\\r\\r\\nMOSH SSH_CONNECTION 10.0.0.1 5 192.0.2.9 22\\r\\n` +
        `MOSH CONNECT 60009 ${key}  \\r\\nafter\\r\\n"; exit 1`,
    ),
    { echo },
  );
  assert.deepEqual(endpoint, { ip: "192.0.2.9", port: 60009, key });
  assert.deepEqual(lines, [
    "banner",
    "tmosh: using remote IP address 192.0.2.9 from $SSH_CONNECTION for hostname u@h.example",
  ]);
  const fails = (script: string, more: string[] = []) =>
    rejection(() => bootstrap(fake(script, more), { echo: () => {} }));
  assert.match(
    await fails(`echo MOSH IP not-an-ip; echo MOSH CONNECT 60001 ${key}`),
    /"not-an-ip" is not a numeric IP address/,
  );
  assert.match(
    await fails(`echo MOSH CONNECT 60001 ${key}`),
    /did not find the remote IP address/,
  );
  assert.equal(
    await fails("exit 127"),
    "tmosh: 'tmosh serve' was not found on h.example (exit 127); copy the tmosh binary there or pass --server=PATH",
  );
  assert.equal(await fails("exit 255"), "tmosh: ssh exited with status 255");
  assert.match(
    await fails("echo hello"),
    /did not find the server's MOSH CONNECT line/,
  );
  assert.match(
    await fails(`echo "mosh-server: Bad UDP port range (1:2)"; exit 1`, [
      "-p",
      "1:2",
    ]),
    /does not support UDP port ranges/,
  );
});

Deno.test("--fake-proxy: MOSH IP on stderr, then relays like netcat", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_proxy_" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const self = await selfEntry(dir);
    // An echo server that upper-cases, so the relay is visible in both directions.
    const served = (async () => {
      const conn = await listener.accept();
      const buffer = new Uint8Array(1024);
      for (
        let n = await conn.read(buffer);
        n !== null;
        n = await conn.read(buffer)
      ) {
        const text = new TextDecoder().decode(buffer.subarray(0, n));
        await conn.write(new TextEncoder().encode(text.toUpperCase()));
      }
      conn.close();
    })();
    const port = (listener.addr as Deno.NetAddr).port;
    const child = new Deno.Command(self[0], {
      args: [
        ...self.slice(1),
        "connect",
        "--fake-proxy",
        "--",
        "localhost",
        String(port),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("hello proxy\n"));
    await writer.close();
    const out = await child.output();
    await served;
    assert.equal(out.code, 0);
    assert.equal(new TextDecoder().decode(out.stdout), "HELLO PROXY\n");
    assert.equal(new TextDecoder().decode(out.stderr), "MOSH IP 127.0.0.1\n");

    // Nothing listens: one-line error, exit 1.
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const failed = await new Deno.Command(self[0], {
      args: [
        ...self.slice(1),
        "connect",
        "--fake-proxy",
        "--family=inet",
        "--",
        "127.0.0.1",
        String(deadPort),
      ],
      stdin: "null",
    }).output();
    assert.equal(failed.code, 1);
    assert.match(
      new TextDecoder().decode(failed.stderr),
      new RegExp(
        `^tmosh: could not connect to 127\\.0\\.0\\.1, last tried 127\\.0\\.0\\.1: .*\\n$`,
      ),
    );
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
