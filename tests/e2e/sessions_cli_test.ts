/**
 * Sessions that outlive their client, from the client's side, through the
 * private sshd (docs/architecture.md §8): `tmosh connect --name` starts a
 * named session, `tmosh sessions` lists it, `tmosh kill` ends it, and
 * `tmosh connect --attach` without an id refuses clearly when there is
 * nothing (or no single detached session) to resume. The server is tmosh from
 * source with its own XDG_STATE_HOME, so the tests never see real sessions.
 * @module
 */

import assert from "node:assert/strict";
import {
  CONNECT_MS,
  roundTrip,
  shellCommand,
  shq,
  STEP_MS,
  tmoshCommand,
  typeLine,
  waitPrompt,
} from "../../harness/client_session.ts";
import { peers } from "../../harness/require_peer.ts";
import { tmoshProcess } from "../../harness/serve_process.ts";
import { type Sshd, startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import { startTmux, type TmuxSession } from "../../harness/tmux.ts";
import { findPids, killPidsWithEnv } from "../../harness/stock_mosh.ts";

/** The host every test connects to. */
const HOST = "root@127.0.0.1";

/** The private sshd, a scratch directory, the server script and the ssh/server options for tmosh. */
interface Remote {
  sshd: Sshd;
  dir: string;
  /** The mark every server of the test carries (for cleanup). */
  mark: string;
  /** `--ssh=... --server=...` as argv words. */
  options: string[];
}

/** Finished command: status and output. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tmosh ARGS` from source, stdin not a terminal. */
async function tmosh(...args: string[]): Promise<Ran> {
  const out = await tmoshProcess(args, {
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Session records as `tmosh sessions --json` prints them. */
async function sessions(
  remote: Remote,
): Promise<{ id: string; name: string | null; attached: boolean }[]> {
  const run = await tmosh("sessions", "--json", ...remote.options, HOST);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** Runs `body` with the private sshd and a tmosh server whose registry is private to the test. */
async function withRemote(body: (remote: Remote) => Promise<void>) {
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_sessions_e2e_" });
  const mark = `e2e-${crypto.randomUUID()}`;
  try {
    const server = `${dir}/tmosh-serve`;
    await Deno.writeTextFile(
      server,
      `#!/bin/sh\nexec env XDG_STATE_HOME=${shq(`${dir}/state`)} ${
        tmoshCommand("serve")
      } "$@"\n`,
    );
    await Deno.chmod(server, 0o755);
    const ssh = `env ${TEST_MARK_VAR}=${mark} ${sshd.sshCommand}`;
    await body({
      sshd,
      dir,
      mark,
      options: [`--ssh=${ssh}`, `--server=${server}`],
    });
  } finally {
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    await sshd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Starts a detached session `name` over ssh (no client), as `tmosh connect` would. */
async function startDetached(remote: Remote, name: string): Promise<void> {
  const [, ssh] = /^--ssh=(.*)$/.exec(remote.options[0])!;
  const [, server] = /^--server=(.*)$/.exec(remote.options[1])!;
  const out = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      `${ssh} -n ${HOST} -- ${shq(server)} new --name ${name} -- sleep 600`,
    ],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.match(
    text,
    /^MOSH CONNECT \d+ /m,
    new TextDecoder().decode(out.stderr),
  );
}

/** Starts `tmosh connect ARGS HOST -- <the test shell>` (no command with --attach) in a fresh tmux. */
async function startClient(remote: Remote, args: string[]) {
  // A resumed session runs what it ran: no command then.
  const attach = args.some((a) => a.startsWith("--attach"));
  const command = `${tmoshCommand("connect")} ${
    [...remote.options, ...args].map(shq).join(" ")
  } ${HOST}${attach ? "" : ` -- ${shellCommand().map(shq).join(" ")}`}`;
  return await startTmux(command, {
    env: { TERM: "xterm-256color", LANG: "C.UTF-8" },
  });
}

const cli = peers("sshd", "ssh", "tmux");

cli.test("tmosh sessions lists a session started with tmosh connect --name; tmosh kill ends it", async () => {
  await withRemote(async (remote) => {
    const tmux = await startClient(remote, ["--name", "w"]);
    try {
      await waitPrompt(tmux);
      // Attached once the server has heard the client (at most a second or so).
      const deadline = Date.now() + STEP_MS;
      let listed = await sessions(remote);
      while (!listed[0]?.attached && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        listed = await sessions(remote);
      }
      assert.equal(listed.length, 1, JSON.stringify(listed));
      const [w] = listed;
      assert.equal(w.name, "w");
      assert.equal(w.attached, true);

      const table = await tmosh("sessions", ...remote.options, HOST);
      assert.equal(table.code, 0, table.stderr);
      const [header, row, ...more] = table.stdout.trimEnd().split("\n");
      assert.match(
        header,
        /^ID +NAME +AGE +STATE +LAST CONTACT +CLIENT +COMMAND/,
      );
      assert.match(
        row,
        new RegExp(
          `^${w.id} +w +\\d+s +attached +\\d+s ago +127\\.0\\.0\\.1:\\d+ +env PS1=`,
        ),
      );
      assert.deepEqual(more, []);

      const kill = await tmosh("kill", ...remote.options, HOST, "w");
      assert.equal(kill.code, 0, kill.stderr);
      assert.equal(kill.stdout, `killed ${w.id} (w)\n`);
      // The server ended with the shutdown handshake: the client exits cleanly.
      assert.equal(await tmux.waitForExit(STEP_MS), 0);
      assert.deepEqual(await sessions(remote), []);
      const none = await tmosh("sessions", ...remote.options, HOST);
      assert.equal(none.stdout, "no tmosh sessions\n");

      const again = await tmosh("kill", ...remote.options, HOST, "w");
      assert.equal(again.code, 1);
      assert.equal(again.stdout, "");
      assert.match(again.stderr, /^tmosh: no session has the id or name "w"/);
    } finally {
      await tmux.kill();
    }
  });
});

cli.test("tmosh connect --attach without an id: no session, or several without a terminal, is a clear error", async () => {
  await withRemote(async (remote) => {
    const none = await tmosh("connect", ...remote.options, "--attach", HOST);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      `tmosh: no tmosh sessions on ${HOST} to attach to; start one with tmosh connect ${HOST}\n`,
    );
    await startDetached(remote, "d1");
    await startDetached(remote, "d2");
    const listed = await sessions(remote);
    assert.deepEqual(listed.map((s) => [s.name, s.attached]), [
      ["d1", false],
      ["d2", false],
    ]);
    const two = await tmosh("connect", ...remote.options, "--attach", HOST);
    assert.equal(two.code, 1);
    assert.equal(
      two.stderr,
      `tmosh: 2 sessions on ${HOST} (2 detached): ${
        listed[0].id
      } (d1, detached), ${
        listed[1].id
      } (d2, detached); pick one with --attach=ID|NAME\n`,
    );
    const kill = await tmosh("kill", ...remote.options, HOST, "--detached");
    assert.equal(kill.code, 0, kill.stderr);
    assert.equal(
      kill.stdout,
      `killed ${listed[0].id} (d1)\nkilled ${listed[1].id} (d2)\n`,
    );
    assert.deepEqual(await sessions(remote), []);
  });
});

cli.test("tmosh sessions: a missing server command is a one-line error with its fix", async () => {
  await withRemote(async (remote) => {
    const run = await tmosh(
      "sessions",
      remote.options[0],
      "--server=/nonexistent/tmosh serve",
      HOST,
    );
    assert.equal(run.code, 127);
    assert.match(
      run.stderr,
      /^tmosh: '\/nonexistent\/tmosh serve' was not found on 127\.0\.0\.1 \(exit 127\); copy the tmosh binary there or pass --server=PATH$/m,
    );
  });
});

cli.test("tmosh connect --attach=NAME resumes a session whose client was killed, and the replaced client says who took over", async () => {
  await withRemote(async (remote) => {
    const first = await startClient(remote, ["--name", "w"]);
    let second: TmuxSession | null = null;
    let third: TmuxSession | null = null;
    try {
      await waitPrompt(first);
      await typeLine(first, "KEPT=still-$((40+2))");
      await roundTrip(first, "echo set-$KEPT", { expect: "set-still-42" });
      const clients = await findPids(
        new RegExp(`main\\.ts connect .*${remote.mark}.*--name w`),
      );
      assert.equal(clients.length, 1, "one tmosh client process");
      Deno.kill(clients[0], "SIGKILL");
      await first.waitForExit(STEP_MS);

      second = await startClient(remote, ["--attach=w"]);
      const s = second;
      await s.waitFor((screen) => screen.includes("set-still-42"), CONNECT_MS);
      await roundTrip(s, "echo again-$KEPT", { expect: "again-still-42" });

      // A third client takes the session over from the second one.
      // --attach alone: the session is attached elsewhere, so it asks.
      third = await startClient(remote, ["--attach"]);
      await third.waitFor(/^Attach which one\?/m, CONNECT_MS);
      assert.match(
        await third.capture(),
        /^tmosh: 1 session on root@127\.0\.0\.1 \(0 detached\):\n {2}1\) {2}[a-z2-7]{8} {2}w {2}attached {2}up \d+s {2}contact \d+s ago {2}env PS1=/m,
      );
      await typeLine(third, "1");
      await third.waitFor(
        (screen) => screen.includes("again-still-42"),
        CONNECT_MS,
      );
      assert.equal(await s.waitForExit(STEP_MS), 0);
      assert.match(
        await s.capture(),
        /\[tmosh is exiting\.\]\ntmosh: another client attached from 127\.0\.0\.1:\d+/,
      );
      await roundTrip(third, "echo third-$KEPT", { expect: "third-still-42" });
      const listed = await sessions(remote);
      assert.deepEqual(listed.map((r) => [r.name, r.attached]), [["w", true]]);
      await typeLine(third, "exit");
      assert.equal(await third.waitForExit(STEP_MS), 0);
    } finally {
      await first.kill();
      await second?.kill();
      await third?.kill();
    }
  });
});
