/**
 * The client side of sessions that outlive their client: `--attach` and
 * `--name` on the server command line, `TMOSH DETACHED n`, the session list
 * and the choice `--attach` makes without an id, `tmosh sessions`/`tmosh kill`
 * arguments, and the takeover notice (docs/architecture.md §8).
 * @module
 */

import assert from "node:assert/strict";
import {
  bootstrap,
  connectMain,
  serverArgs,
} from "../../client/bootstrap/connect.ts";
import { BootstrapScanner } from "../../client/bootstrap/server_output.ts";
import {
  detachedNotice,
  formatChoices,
  listInline,
  matchChoice,
  parseSessionList,
  pickSession,
  type RemoteSession,
} from "../../client/bootstrap/session_list.ts";
import {
  chooseAttachTarget,
  failureText,
  type PromptIo,
} from "../../client/bootstrap/remote_sessions.ts";
import {
  KILL_USAGE,
  parseSessionsArgs,
  SESSIONS_USAGE,
} from "../../client/bootstrap/sessions_cli.ts";
import { takenOverBy, takeoverMessage } from "../../client/takeover.ts";
import { options, rejection } from "../../harness/connect_helpers.ts";

const KEY = "HN2E5agmH1pJ5ZuhNRV0CA";
const NOW = Date.parse("2025-01-02T12:00:00Z");

/** A session as `tmosh serve list --json` prints it. */
function session(
  id: string,
  more: Partial<RemoteSession> & Record<string, unknown> = {},
): RemoteSession {
  return {
    id,
    name: null,
    created: "2025-01-02T09:00:00Z",
    lastHeard: null,
    attached: false,
    client: null,
    command: ["/bin/bash"],
    ...more,
  };
}

/** A prompt that answers from a script and records what it showed. */
function scriptedIo(answers: (string | null)[], isTerminal = true) {
  const shown: string[] = [];
  const io: PromptIo = {
    isTerminal,
    write: (text) => shown.push(text),
    readLine: () => Promise.resolve(answers.shift() ?? null),
  };
  return { io, shown };
}

Deno.test("serverArgs: --name goes to tmosh serve new, --attach runs attach ID|NAME", () => {
  const context = { colors: 256, env: {} };
  assert.deepEqual(
    serverArgs(options(["--name", "work", "h", "--", "top"]), context),
    ["new", "-c", "256", "-s", "--name", "work", "--", "top"],
  );
  // -W runs no login shell, only a program that waits for the hangup.
  assert.deepEqual(
    serverArgs(options(["-W", "db:5432", "h"]), context),
    ["new", "-c", "256", "-s", "--", "cat"],
  );
  assert.deepEqual(serverArgs(options(["h"]), context), [
    "new",
    "-c",
    "256",
    "-s",
  ]);
  assert.deepEqual(serverArgs(options(["--attach=work", "h"]), context), [
    "attach",
    "work",
  ]);
  assert.throws(
    () => serverArgs(options(["--attach", "h"]), context),
    /no session to attach chosen/,
  );
});

Deno.test("BootstrapScanner: an optional TMOSH DETACHED n line is consumed", () => {
  const scan = new BootstrapScanner();
  assert.equal(scan.detached, null);
  assert.equal(scan.feed("TMOSH DETACHED 3\r"), "consumed");
  assert.equal(scan.detached, 3);
  assert.equal(scan.feed("TMOSH DETACHED x"), "echo");
  assert.equal(scan.detached, 3);
});

Deno.test("bootstrap: TMOSH DETACHED reaches the endpoint; --attach runs attach on the server", async () => {
  const endpoint = await bootstrap(
    options([
      "--local",
      `--server=echo 'TMOSH DETACHED 2'; echo 'MOSH CONNECT 60001 ${KEY}'; true`,
      "127.0.0.1",
    ]),
    { echo: () => {} },
  );
  assert.deepEqual(endpoint, {
    ip: "127.0.0.1",
    port: 60001,
    key: KEY,
    detached: 2,
  });
  const lines: string[] = [];
  await rejection(() =>
    bootstrap(
      options([
        "--local",
        "--server=printf '<%s>\\n'",
        "--attach=w",
        "127.0.0.1",
      ]),
      { echo: (line) => lines.push(line) },
    )
  );
  assert.deepEqual(lines, ["<attach>", "<w>"]);
});

Deno.test("parseSessionList: the JSON array, after any login noise; malformed lists are one-line errors", () => {
  const list = [session("ab3dk2q7", { name: "w", pid: 7, port: 60001 })];
  const text = JSON.stringify(list, null, 2);
  assert.deepEqual(parseSessionList(text), list);
  assert.deepEqual(parseSessionList(`Welcome!\n[ motd ]\n${text}\n`), list);
  assert.deepEqual(parseSessionList("[]\n"), []);
  for (const bad of ["", "hello", "{}", "[1]", '[{"id":"x y"}]', "[\n"]) {
    assert.throws(() => parseSessionList(bad), (e: Error) => {
      assert.match(
        e.message,
        /^tmosh: the server('s| printed no) session list/,
      );
      assert.doesNotMatch(e.message, /\n/);
      return true;
    }, bad);
  }
});

Deno.test("pickSession and matchChoice: the only detached session, else ask", () => {
  const a = session("aaaaaaaa", { attached: true, client: "192.0.2.1:5" });
  const b = session("bbbbbbbb", { name: "work" });
  const c = session("cccccccc", { name: "work" });
  assert.deepEqual(pickSession([]), { kind: "none" });
  assert.deepEqual(pickSession([a, b]), { kind: "attach", id: "bbbbbbbb" });
  assert.deepEqual(pickSession([b]), { kind: "attach", id: "bbbbbbbb" });
  assert.deepEqual(pickSession([a]), { kind: "ask", sessions: [a] });
  assert.deepEqual(pickSession([a, b, c]), {
    kind: "ask",
    sessions: [a, b, c],
  });
  assert.equal(matchChoice("2", [a, b, c]), b);
  assert.equal(matchChoice(" cccccccc ", [a, b, c]), c);
  assert.equal(matchChoice("work", [a, b, c]), null); // two are named work
  assert.equal(matchChoice("work", [a, b]), b);
  assert.equal(matchChoice("4", [a, b, c]), null);
  assert.equal(matchChoice("0", [a, b, c]), null);
  assert.equal(
    listInline([a, b]),
    "aaaaaaaa (attached), bbbbbbbb (work, detached)",
  );
  const choices = formatChoices([
    a,
    session("dddddddd", {
      lastHeard: "2025-01-02T11:55:00Z",
      command: ["vi", "\x1b]0;x\x07", "y".repeat(40)],
    }),
  ], NOW);
  assert.equal(
    choices,
    "  1)  aaaaaaaa  -  attached  up 3h  no contact      /bin/bash\n" +
      `  2)  dddddddd  -  detached  up 3h  contact 5m ago  vi ?]0;x? ${
        "y".repeat(13)
      }…\n`,
  );
});

Deno.test("chooseAttachTarget: attaches the only detached one, asks on a terminal, else names them", async () => {
  const target = options(["h.example"]);
  const a = session("aaaaaaaa", { attached: true });
  const b = session("bbbbbbbb", { name: "work" });
  const c = session("cccccccc");
  const list = (sessions: RemoteSession[]) => () => Promise.resolve(sessions);
  assert.equal(
    await chooseAttachTarget(target, {
      list: list([a, b]),
      io: scriptedIo([], false).io,
    }),
    "bbbbbbbb",
  );
  assert.equal(
    await rejection(() =>
      chooseAttachTarget(target, { list: list([]), io: scriptedIo([]).io })
    ),
    "tmosh: no tmosh sessions on h.example to attach to; start one with tmosh connect h.example",
  );
  assert.equal(
    await rejection(() =>
      chooseAttachTarget(target, {
        list: list([a, b, c]),
        io: scriptedIo([], false).io,
      })
    ),
    "tmosh: 3 sessions on h.example (2 detached): aaaaaaaa (attached), bbbbbbbb (work, detached), cccccccc (detached); pick one with --attach=ID|NAME",
  );
  const asked = scriptedIo(["nope", "work"]);
  assert.equal(
    await chooseAttachTarget(target, { list: list([a, b, c]), io: asked.io }),
    "bbbbbbbb",
  );
  assert.match(
    asked.shown[0],
    /^tmosh: 3 sessions on h\.example \(2 detached\):\n {2}1\) {2}aaaaaaaa/,
  );
  assert.match(
    asked.shown.join(""),
    /"nope" is none of them; give 1 to 3, an id or a name/,
  );
  assert.equal(
    asked.shown.filter((t) => t.startsWith("Attach which one?")).length,
    2,
  );
  assert.match(
    await rejection(() =>
      chooseAttachTarget(target, {
        list: list([a, c, b]),
        io: scriptedIo([""]).io,
      })
    ),
    /no session chosen/,
  );
  assert.match(
    await rejection(() =>
      chooseAttachTarget(target, { list: list([a]), io: scriptedIo([null]).io })
    ),
    /no session chosen/,
  );
});

Deno.test("connectMain --attach without an id: lists over the server command, then attaches the chosen one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_attach_" });
  try {
    const server = `${dir}/server`;
    const list = JSON.stringify([
      session("aaaaaaaa", { attached: true }),
      session("bbbbbbbb", { name: "work" }),
    ]);
    await Deno.writeTextFile(
      server,
      `#!/bin/sh\necho "$*" >> ${dir}/calls\n` +
        `case "$1" in list) echo '${list}';; attach) echo 'MOSH CONNECT 60002 ${KEY}';; esac\n`,
      { mode: 0o755 },
    );
    const seen: { ip: string; port: number }[] = [];
    const code = await connectMain(
      ["--local", `--server=${server}`, "--attach", "127.0.0.1"],
      {
        runClient: (o) => {
          seen.push({ ip: o.ip, port: o.port });
          return Promise.resolve(5);
        },
      },
    );
    assert.equal(code, 5);
    assert.deepEqual(seen, [{ ip: "127.0.0.1", port: 60002 }]);
    assert.equal(
      await Deno.readTextFile(`${dir}/calls`),
      "list --json\nattach bbbbbbbb\n",
    );
    // A server that cannot list: a one-line error, no session.
    const status = await connectMain(
      ["--local", "--server=exit 127;", "--attach", "127.0.0.1"],
      { runClient: () => Promise.reject(new Error("must not run")) },
    );
    assert.equal(status, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseSessionsArgs: tmosh sessions and tmosh kill command lines", () => {
  const run = (args: string[], command: "sessions" | "kill") => {
    const parsed = parseSessionsArgs(args, { command });
    assert.equal(parsed.kind, "run", JSON.stringify(parsed));
    return parsed as Extract<typeof parsed, { kind: "run" }>;
  };
  const fail = (args: string[], command: "sessions" | "kill") => {
    const parsed = parseSessionsArgs(args, { command });
    assert.equal(parsed.kind, "error", JSON.stringify(parsed));
    const message = (parsed as { message: string }).message;
    assert.match(message, /^tmosh: /);
    assert.doesNotMatch(message, /\n/);
    return message;
  };
  assert.deepEqual(run(["u@h"], "sessions"), {
    kind: "run",
    target: {
      userhost: "u@h",
      ssh: ["ssh"],
      server: "tmosh serve",
      local: false,
    },
    words: ["list"],
  });
  const json = run([
    "--json",
    "--ssh=ssh -p 2222",
    "--server",
    "/opt/tmosh serve",
    "h",
  ], "sessions");
  assert.deepEqual(json.words, ["list", "--json"]);
  assert.deepEqual(json.target.ssh, ["ssh", "-p", "2222"]);
  assert.equal(json.target.server, "/opt/tmosh serve");
  assert.deepEqual(run(["h", "work"], "kill").words, ["kill", "work"]);
  // -J reaches the host through jump hosts with ssh's own -J.
  assert.deepEqual(run(["-J", "b1,u@b2:22", "h"], "sessions").target.ssh, [
    "ssh",
    "-J",
    "b1,u@b2:22",
  ]);
  assert.deepEqual(run(["--jump=b", "h", "x"], "kill").target.ssh, [
    "ssh",
    "-J",
    "b",
  ]);
  assert.deepEqual(run(["-Jb", "h"], "sessions").target.ssh, [
    "ssh",
    "-J",
    "b",
  ]);
  assert.match(fail(["-J", "a b", "h"], "sessions"), /cannot parse jump host/);
  assert.match(fail(["h", "-J"], "kill"), /option -J needs a value/);
  assert.deepEqual(run(["--detached", "h"], "kill").words, [
    "kill",
    "--detached",
  ]);
  assert.deepEqual(run(["h", "--detached"], "kill").words, [
    "kill",
    "--detached",
  ]);
  assert.match(
    fail([], "sessions"),
    /missing \[user@\]host; see tmosh sessions --help/,
  );
  assert.match(fail(["h", "x"], "sessions"), /unexpected "x"/);
  assert.match(
    fail(["--detached", "h"], "sessions"),
    /unknown option --detached/,
  );
  assert.match(
    fail(["h"], "kill"),
    /give one session id or name, or --detached/,
  );
  assert.match(fail(["h", "a", "b"], "kill"), /give one session id or name/);
  assert.match(
    fail(["h", "a", "--detached"], "kill"),
    /give one session id or name/,
  );
  assert.match(fail(["h", "a;rm"], "kill"), /bad session id or name "a;rm"/);
  assert.match(fail(["-oProxyCommand=x", "h"], "kill"), /unknown option/);
  assert.match(fail(["--", "h"], "kill"), /unknown option --/);
  assert.match(fail(["h;x", "a"], "kill"), /host name "h;x" contains ";"/);
  assert.match(fail(["--ssh=", "h"], "sessions"), /cannot split --ssh/);
  assert.match(fail(["h", "--server"], "sessions"), /--server needs a value/);
  assert.deepEqual(parseSessionsArgs(["--help"], { command: "kill" }), {
    kind: "help",
    text: KILL_USAGE,
  });
  assert.match(SESSIONS_USAGE, /^Usage: tmosh sessions /);
  assert.equal(
    failureText(options(["h"]), 127),
    "tmosh: 'tmosh serve' was not found on h (exit 127); copy the tmosh binary there or pass --server=PATH",
  );
  assert.match(failureText(options(["u@h"]), 255) ?? "", /ssh to u@h failed/);
  assert.equal(failureText(options(["h"]), 1), null);
});

Deno.test("detachedNotice and the takeover notice", () => {
  assert.equal(
    detachedNotice(1, "u@h"),
    "tmosh: you have 1 detached session on u@h; resume with tmosh connect --attach u@h, list with tmosh sessions u@h",
  );
  assert.match(detachedNotice(3, "h"), /you have 3 detached sessions on h;/);
  assert.equal(takenOverBy({}), null);
  assert.equal(takenOverBy({ detachedBy: null }), null);
  assert.equal(takenOverBy({ detachedBy: "" }), null);
  assert.equal(
    takenOverBy({ detachedBy: "192.0.2.1:60001" }),
    "192.0.2.1:60001",
  );
  assert.equal(
    takenOverBy({ detachedBy: "\x1b[2J" + "x".repeat(100) }),
    "?[2J" + "x".repeat(60),
  );
  assert.equal(
    takeoverMessage("[::1]:5"),
    "another client attached from [::1]:5",
  );
});
