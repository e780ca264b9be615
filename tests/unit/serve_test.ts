/**
 * `tmosh serve` as a process: the MOSH CONNECT contract, detaching, argument
 * and locale errors, and (with stock mosh-client under tmux) a full session.
 */
import assert from "node:assert/strict";
import { CompleteTerminal } from "../../protocol/statesync/complete_terminal.ts";
import { Connection } from "../../protocol/network/connection.ts";
import { SEND_MINDELAY_CLIENT } from "../../protocol/network/constants.ts";
import { EmulatorApplier } from "../../protocol/statesync/emulator_applier.ts";
import {
  blankFramebuffer,
  cellText,
} from "../../protocol/terminal/framebuffer.ts";
import { decodeKey } from "../../protocol/crypto/key.ts";
import { Transport } from "../../protocol/network/transport.ts";
import { UserStream } from "../../protocol/statesync/user_stream.ts";
import { freeUdpPort } from "../../harness/ports.ts";
import { requireBinary } from "../../harness/require_peer.ts";
import { startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import {
  descendants,
  findPidsWithEnv,
  killAndWait,
  killPidsWithEnv,
  processAlive,
  waitGone,
} from "../../harness/stock_mosh.ts";
import { startTmux } from "../../harness/tmux.ts";
import { readTimeouts } from "../../server/serve.ts";
import { CursorKeyTranslator } from "../../server/session.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** Longest a `tmosh serve` parent may take to print MOSH CONNECT and exit, ms. */
const START_LIMIT_MS = 15_000;

/** A minimal UTF-8 environment (nothing inherited, so the tests do not depend on the caller's). */
function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    LANG: "C.UTF-8",
    ...extra,
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tmosh serve ARGS` to completion (which must not wait for the daemon). */
async function runServe(
  args: string[],
  env: Record<string, string> = baseEnv(),
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "serve", ...args],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `tmosh serve ${
            args.join(" ")
          } did not finish within ${START_LIMIT_MS} ms (is the daemon holding its stdio?)`,
        ),
      );
    }, START_LIMIT_MS);
  });
  try {
    const out = await Promise.race([child.output(), timeout]);
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A detached server started by {@linkcode startServe}. */
interface Daemon {
  port: number;
  key: string;
  pid: number;
  run: Run;
  /** SIGTERMs the daemon and its descendants, SIGKILLs leftovers, waits until gone. */
  stop(): Promise<void>;
}

/** Starts `tmosh serve new -p <free port> ...` and parses what it printed. */
async function startServe(
  args: string[],
  env?: Record<string, string>,
): Promise<Daemon> {
  const requested = await freeUdpPort();
  const run = await runServe(["new", "-p", `${requested}`, ...args], env);
  const connect = /^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})$/m.exec(run.stdout);
  const detached = /^\[tmosh-server detached, pid = (\d+)\]$/m.exec(
    run.stderr,
  );
  if (detached !== null) {
    // Register cleanup before asserting, so a failed assertion leaves nothing running.
    const pid = Number(detached[1]);
    if (connect === null) await killAndWait([pid, ...await descendants(pid)]);
  }
  assert.equal(run.code, 0, `exit status; stderr: ${run.stderr}`);
  assert.ok(connect, "a MOSH CONNECT line on stdout");
  assert.ok(detached, `a detached banner on stderr: ${run.stderr}`);
  assert.equal(Number(connect[1]), requested);
  const pid = Number(detached[1]);
  return {
    port: Number(connect[1]),
    key: connect[2],
    pid,
    run,
    async stop() {
      await killAndWait([pid, ...await descendants(pid)]);
    },
  };
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // gone
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("serve prints MOSH CONNECT, detaches and leaves a daemon bound to the port", async () => {
  const d = await startServe(["--", "/bin/sh"]);
  try {
    assert.equal(d.run.stdout, `MOSH CONNECT ${d.port} ${d.key}\n`);
    assert.match(d.run.stderr, /^\ntmosh \S+\n\n\[tmosh-server detached/);
    assert.ok(
      await processAlive(d.pid),
      "daemon alive after the parent exited",
    );
    // The daemon holds the UDP port.
    assert.throws(
      () =>
        Deno.listenDatagram({
          transport: "udp",
          hostname: "0.0.0.0",
          port: d.port,
        }),
      Deno.errors.AddrInUse,
    );
    // Nothing of the parent's stdio is left open (what lets ssh exit), and the key is in neither argv nor env.
    for (const fd of [0, 1, 2]) {
      assert.equal(Deno.readLinkSync(`/proc/${d.pid}/fd/${fd}`), "/dev/null");
    }
    const stat = await Deno.readTextFile(`/proc/${d.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    assert.equal(fields[3], `${d.pid}`, "daemon leads its own session");
    for (const file of ["cmdline", "environ"]) {
      const text = await Deno.readTextFile(`/proc/${d.pid}/${file}`);
      assert.ok(!text.includes(d.key), `key not in /proc/PID/${file}`);
    }
    // No client has spoken: SIGTERM ends it at once (no handshake to run).
    signal(d.pid, "SIGTERM");
    assert.ok(await waitGone(d.pid, 3000), "daemon exits on SIGTERM");
  } finally {
    await d.stop();
  }
});

Deno.test("serve falls back to -l locale variables when the native locale is not UTF-8", async () => {
  const d = await startServe(["-l", "LANG=C.UTF-8", "--", "/bin/sh"], {
    ...baseEnv(),
    LANG: "C",
  });
  await d.stop();
});

Deno.test("serve refuses a non-UTF-8 locale", async () => {
  const env = { ...baseEnv(), LANG: "C" };
  const run = await runServe(
    ["new", "-l", "LC_ALL=POSIX", "--", "/bin/sh"],
    env,
  );
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "");
  assert.match(
    run.stderr,
    /^tmosh serve needs a UTF-8 native locale to run\.\n/,
  );
  assert.match(run.stderr, /LANG=C\b/);
  assert.match(run.stderr, /LC_ALL=POSIX/);
});

Deno.test("serve rejects a bad port range with one error line and the usage", async () => {
  const run = await runServe(["new", "-p", "60070:60060"]);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "");
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 2, run.stderr);
  assert.match(lines[0], /^tmosh: Bad UDP port range \(60070:60060\): /);
  assert.match(lines[1], /^Usage: tmosh serve new /);
});

Deno.test("serve rejects a bad colour count", async () => {
  const run = await runServe(["new", "-c", "many"]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^tmosh: Bad number of colors \(many\)/);
});

Deno.test("serve reports a port that is taken and exits 1", async () => {
  const port = await freeUdpPort();
  const holder = Deno.listenDatagram({
    transport: "udp",
    hostname: "0.0.0.0",
    port,
  });
  try {
    const run = await runServe(["new", "-p", `${port}`, "--", "/bin/sh"]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(
      run.stderr,
      new RegExp(`^tmosh: UDP port ${port} is not free`),
    );
  } finally {
    holder.close();
  }
});

Deno.test("serve --help and -h print the usage on stdout", async () => {
  for (const flag of ["--help", "-h"]) {
    const run = await runServe(["new", "-p", "1", flag]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: tmosh serve new \[-s\]/);
  }
});

Deno.test("MOSH_SERVER_NETWORK_TMOUT ends a server nobody talks to", async () => {
  const d = await startServe(["--", "/bin/sh"], {
    ...baseEnv(),
    MOSH_SERVER_NETWORK_TMOUT: "1",
  });
  try {
    assert.ok(await processAlive(d.pid));
    assert.ok(
      await waitGone(d.pid, 4000),
      "daemon gone after the idle timeout",
    );
  } finally {
    await d.stop();
  }
});

Deno.test("SIGUSR1 ends the server unless MOSH_SERVER_SIGNAL_TMOUT has not passed", async () => {
  const patient = await startServe(["--", "/bin/sh"], {
    ...baseEnv(),
    MOSH_SERVER_SIGNAL_TMOUT: "100",
  });
  const plain = await startServe(["--", "/bin/sh"]);
  try {
    await delay(300); // let both install their signal handlers
    signal(patient.pid, "SIGUSR1");
    signal(plain.pid, "SIGUSR1");
    assert.ok(await waitGone(plain.pid, 3000), "SIGUSR1 ends the server");
    assert.ok(await processAlive(patient.pid), "signal timeout not reached");
  } finally {
    await patient.stop();
    await plain.stop();
  }
});

Deno.test("timeout variables are read like mosh-server (whole integer seconds)", () => {
  assert.deepEqual(readTimeouts({}), {
    networkMs: 0,
    signalMs: 0,
    warnings: [],
  });
  const t = readTimeouts({
    MOSH_SERVER_NETWORK_TMOUT: "30",
    MOSH_SERVER_SIGNAL_TMOUT: "-5",
  });
  assert.equal(t.networkMs, 30_000);
  assert.equal(t.signalMs, 0);
  assert.deepEqual(t.warnings, [
    "MOSH_SERVER_SIGNAL_TMOUT is negative, ignoring",
  ]);
  assert.deepEqual(
    readTimeouts({ MOSH_SERVER_NETWORK_TMOUT: "10s" }).warnings,
    [
      "MOSH_SERVER_NETWORK_TMOUT not a valid integer, ignoring",
    ],
  );
});

Deno.test("arrow keys become ESC [ X unless the application wants ESC O X (§8.5)", () => {
  const t = new CursorKeyTranslator();
  const bytes = (s: string) => new TextEncoder().encode(s);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.equal(
    text(t.translate(bytes("a\x1bOA\x1bOD"), false)),
    "a\x1b[A\x1b[D",
  );
  assert.equal(text(t.translate(bytes("\x1bOB"), true)), "\x1bOB");
  // Not an arrow: passed through; other escapes untouched.
  assert.equal(
    text(t.translate(bytes("\x1bOP\x1b[A\x1bx"), false)),
    "\x1bOP\x1b[A\x1bx",
  );
  // The state survives across batches: ESC O split from its final byte.
  assert.equal(text(t.translate(bytes("\x1b"), false)), "\x1b");
  assert.equal(text(t.translate(bytes("O"), false)), "");
  assert.equal(text(t.translate(bytes("C"), false)), "[C");
});

/** A shell with a fixed prompt, for deterministic screens. */
const SHELL = ["--", "/bin/sh", "-c", "PS1='$ ' exec /bin/sh -i"];

/** Runs stock mosh-client in tmux against a fresh `tmosh serve`; returns both. */
async function startClient(
  size: { width: number; height: number },
): Promise<{ d: Daemon; tmux: Awaited<ReturnType<typeof startTmux>> }> {
  const d = await startServe(SHELL);
  try {
    const tmux = await startTmux(`exec mosh-client 127.0.0.1 ${d.port}`, {
      ...size,
      env: { MOSH_KEY: d.key, LANG: "C.UTF-8", TERM: "xterm-256color" },
    });
    return { d, tmux };
  } catch (err) {
    await d.stop();
    throw err;
  }
}

Deno.test("stock mosh-client drives tmosh serve: echo hi, resize, exit", async () => {
  if (!await requireBinary("mosh-client") || !await requireBinary("tmux")) {
    return;
  }
  const { d, tmux } = await startClient({ width: 90, height: 20 });
  try {
    await tmux.waitFor(/^\$\s*$/m, 10_000);
    // The program started at the client's size, not the server's 80x24.
    await tmux.sendKeys("stty size", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^20 90$/m, 5000);
    await tmux.sendKeys("echo hi", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^hi$/m, 5000);
    // The client's window size reaches the program through the pty.
    await tmux.resize(100, 30);
    await delay(300);
    await tmux.sendKeys("stty size", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^30 100$/m, 5000);
    // The client sends arrows as ESC O A; the server passes ESC [ A unless the
    // application turned on application cursor keys (§8.5).
    await tmux.sendKeys("cat -v", { literal: true });
    await tmux.sendKeys("Enter");
    await delay(200);
    await tmux.sendKeys("Up");
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^\^\[\[A$/m, 5000);
    await tmux.sendKeys("C-d");
    await tmux.sendKeys("printf '\\033[?1h'; cat -v", { literal: true });
    await tmux.sendKeys("Enter");
    await delay(200);
    await tmux.sendKeys("Up");
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^\^\[OA$/m, 5000);
    await tmux.sendKeys("C-d");
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    // Server-initiated shutdown: the client exits 0 and the daemon goes away.
    assert.equal(await tmux.waitForExit(10_000), 0);
    assert.ok(await waitGone(d.pid, 5000), "daemon exits after the shell");
  } finally {
    await tmux.kill();
    await d.stop();
  }
});

Deno.test("stock mosh-client: SIGTERM and the client's own quit both end the session cleanly", async (t) => {
  if (!await requireBinary("mosh-client") || !await requireBinary("tmux")) {
    return;
  }
  await t.step(
    "SIGTERM to the server: shutdown handshake, client exits 0",
    async () => {
      const { d, tmux } = await startClient({ width: 80, height: 24 });
      try {
        await tmux.waitFor(/^\$\s*$/m, 10_000);
        const shell = await descendants(d.pid);
        assert.ok(shell.length > 0, "the shell runs under the daemon");
        signal(d.pid, "SIGTERM");
        assert.equal(await tmux.waitForExit(10_000), 0);
        assert.ok(await waitGone(d.pid, 5000), "daemon gone");
        for (const pid of shell) {
          assert.ok(await waitGone(pid, 3000), `shell ${pid} hung up`);
        }
      } finally {
        await tmux.kill();
        await d.stop();
      }
    },
  );
  await t.step(
    "Ctrl-^ . in the client: the server acks and exits",
    async () => {
      const { d, tmux } = await startClient({ width: 80, height: 24 });
      try {
        await tmux.waitFor(/^\$\s*$/m, 10_000);
        await tmux.sendKeys("C-^");
        await tmux.sendKeys(".", { literal: true });
        await tmux.waitForExit(10_000);
        assert.ok(await waitGone(d.pid, 5000), "daemon gone");
      } finally {
        await tmux.kill();
        await d.stop();
      }
    },
  );
});

Deno.test("stock mosh wrapper over ssh with --server='tmosh serve'", async () => {
  for (const name of ["sshd", "ssh", "mosh", "mosh-client", "tmux"]) {
    if (!await requireBinary(name)) return;
  }
  const sshd = await startSshd();
  const mark = `serve-${crypto.randomUUID()}`;
  // What `mosh --server="tmosh serve"` runs, with tmosh started through deno.
  const server =
    `env ${TEST_MARK_VAR}=${mark} ${Deno.execPath()} run -A ${MAIN} serve`;
  const command = [
    "mosh",
    `--ssh=${sshd.sshCommand}`,
    `--server=${server}`,
    "127.0.0.1",
    "--",
    "/bin/sh",
    "-c",
    "PS1='$ ' exec /bin/sh -i",
  ].map(shellQuote).join(" ");
  const tmux = await startTmux(command, {
    env: { LANG: "C.UTF-8", TERM: "xterm-256color" },
  });
  try {
    await tmux.waitFor(/^\$\s*$/m, 15_000);
    await tmux.sendKeys("echo $TERM-$NCURSES_NO_UTF8_ACS", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitFor(/^xterm-256color-1$/m, 5000);
    const daemons = await findPidsWithEnv(TEST_MARK_VAR, mark);
    assert.ok(daemons.length > 0, "the detached server carries the mark");
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    assert.equal(await tmux.waitForExit(10_000), 0);
    for (const pid of daemons) {
      assert.ok(await waitGone(pid, 5000), `process ${pid} gone after exit`);
    }
  } finally {
    await tmux.kill();
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    await sshd.stop();
  }
});

/** Quotes a word for sh. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

Deno.test("a tmosh protocol client sees its input echoed with an echo ack", async () => {
  const d = await startServe(SHELL);
  const applier = new EmulatorApplier();
  const connection = Connection.connect(decodeKey(d.key), {
    ip: "127.0.0.1",
    port: d.port,
  });
  const transport = new Transport<UserStream, CompleteTerminal>(connection, {
    initialLocal: new UserStream(),
    initialRemote: new CompleteTerminal(blankFramebuffer(80, 24), 0n, {
      applier,
    }),
    sendMinDelay: SEND_MINDELAY_CLIENT,
  });
  /** Resolves once the newest server state satisfies `test`. */
  function until(
    test: (t: CompleteTerminal) => boolean,
    what: string,
  ): Promise<CompleteTerminal> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`tmosh: timed out waiting for ${what}`)),
        5000,
      );
      const check = () => {
        const latest = transport.receiver.latest;
        if (test(latest)) {
          clearTimeout(timer);
          resolve(latest);
        }
      };
      transport.onRemoteState(check);
      check();
    });
  }
  const screen = (t: CompleteTerminal) =>
    t.fb.rows.map((_, y) =>
      Array.from({ length: t.fb.width }, (_, x) => cellText(t.fb.rows[y], x))
        .join("").trimEnd()
    ).join("\n");
  try {
    let stream = new UserStream().pushResize(60, 10);
    transport.setCurrentState(stream);
    const first = await until((t) => /^\$/m.test(screen(t)), "the prompt");
    assert.equal(first.fb.width, 60);
    assert.equal(first.fb.height, 10);
    stream = stream.pushKeys(new TextEncoder().encode("echo hi\r"));
    transport.setCurrentState(stream);
    const sent = transport.sender.lastSentNum;
    const echoed = await until(
      (t) => /^hi$/m.test(screen(t)) && t.echoAck >= sent,
      "the echo and its echo ack",
    );
    assert.ok(echoed.echoAck >= sent);
  } finally {
    await transport.close();
    applier.dispose();
    await d.stop();
  }
});
