/**
 * `tmosh serve` as a process: the MOSH CONNECT contract, detaching, argument
 * and locale errors, and a tmosh protocol client's echo ack. Sessions with
 * stock mosh-client are in tests/interop/serve_stock_client_test.ts.
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
import { assertUdpPortTaken, holdUdpPortRun } from "../../harness/ports.ts";
import {
  baseEnv,
  delay,
  runServe,
  SHELL,
  signal,
  startServe,
} from "../../harness/serve_process.ts";
import { processAlive, waitGone } from "../../harness/stock_mosh.ts";
import { readTimeouts } from "../../server/session_setup.ts";
import { CursorKeyTranslator } from "../../server/session.ts";

Deno.test("serve prints MOSH CONNECT, detaches and leaves a daemon bound to the port", async () => {
  // Its own, empty registry: no "TMOSH DETACHED" line from other tests' sessions.
  const state = await Deno.makeTempDir();
  const d = await startServe(
    ["--", "/bin/sh"],
    baseEnv({ XDG_STATE_HOME: state }),
  );
  try {
    assert.equal(d.run.stdout, `MOSH CONNECT ${d.port} ${d.key}\n`);
    assert.match(d.run.stderr, /^\ntmosh \S+\n\n\[tmosh-server detached/);
    assert.ok(
      await processAlive(d.pid),
      "daemon alive after the parent exited",
    );
    // The daemon holds the UDP port.
    assertUdpPortTaken(d.port);
    // Nothing of the parent's stdio is left open (what lets ssh exit), and the key is in neither argv nor env.
    // (It points them at /dev/null right after its report: allow it a moment.)
    for (const fd of [0, 1, 2]) {
      const link = () => Deno.readLinkSync(`/proc/${d.pid}/fd/${fd}`);
      for (let i = 0; i < 100 && link() !== "/dev/null"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(link(), "/dev/null");
    }
    const stat = await Deno.readTextFile(`/proc/${d.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    assert.equal(fields[3], `${d.pid}`, "daemon leads its own session");
    for (const file of ["cmdline", "environ"]) {
      const text = await Deno.readTextFile(`/proc/${d.pid}/${file}`);
      assert.ok(!text.includes(d.key), `key not in /proc/PID/${file}`);
    }
    // No client has spoken: SIGTERM ends it (no handshake to run), once the
    // session code it loads after answering is in (a busy CI machine may
    // take seconds for that).
    signal(d.pid, "SIGTERM");
    assert.ok(await waitGone(d.pid, 15_000), "daemon exits on SIGTERM");
  } finally {
    await d.stop();
    await Deno.remove(state, { recursive: true }).catch(() => {});
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
  const { base: port, sockets: [holder] } = holdUdpPortRun(1);
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

Deno.test("arrow keys become ESC [ X unless the application wants ESC O X (docs/wire.md §8.4)", () => {
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
