/**
 * Jump hosts (docs/wire.md §16) across three network namespaces the tests
 * create and remove (harness/netns.ts): client — bastion — target, the client
 * with no route to the target. `tmosh connect -J bastion target` runs under
 * tmux in the client's namespace; its UDP goes through `tmosh serve relay` on
 * the bastion. Through harness/jump_edge.ts the client's side of the link is
 * lossy, roams to another address, goes dark for 10 s, and a stranger
 * replays and forges envelopes at the relay.
 * @module
 */

import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import {
  JUMP_PEERS,
  type JumpSession,
  type JumpSessionOptions,
  prepareJumpStage,
  startJumpSession,
} from "../../harness/jump_session.ts";
import { namespaces } from "../../harness/netns.ts";
import { findPids } from "../../harness/stock_mosh.ts";
import { startTmux } from "../../harness/tmux.ts";
import { shq } from "../../harness/client_session.ts";
import {
  clearScreen,
  delay,
  endWithExit,
  lines,
  roundTrip,
  STEP_MS,
  stepEcho,
  stepResize,
  typeLine,
} from "../../harness/client_session.ts";
import {
  BAR_MS,
  IMPAIRED_STEP_MS,
  seqScreen,
  waitExactScreen,
} from "../../harness/client_network.ts";

const jump = peers(...JUMP_PEERS);

/** Runs `body` on a fresh jump session; afterwards no namespace of it is left. */
async function withJump(
  options: JumpSessionOptions,
  body: (s: JumpSession) => Promise<void>,
): Promise<void> {
  const s = await startJumpSession(options);
  try {
    await body(s);
  } finally {
    await s.stop();
    const left = (await namespaces()).filter((n) =>
      Object.values(s.net.ns).includes(n)
    );
    assert.deepEqual(left, [], "namespaces left behind");
  }
}

/** The relay's record on the bastion: exactly one, relaying to the target. */
async function relayRecord(s: JumpSession) {
  const records = await s.relays();
  assert.equal(records.length, 1, JSON.stringify(records));
  assert.equal(records[0].command[0], "relay");
  assert.match(
    records[0].command.join(" "),
    new RegExp(`^relay to ${s.net.addr.target.replaceAll(".", "\\.")}:\\d+$`),
  );
  return records[0];
}

/** Waits until the relay's record shows the client at `ip`. */
async function waitRelayClient(s: JumpSession, ip: string): Promise<void> {
  const deadline = Date.now() + STEP_MS;
  let client: string | null = null;
  while (Date.now() < deadline) {
    client = (await relayRecord(s)).client;
    if (client?.startsWith(`${ip}:`)) return;
    await delay(300);
  }
  throw new Error(`relay's client is ${client}, expected ${ip}`);
}

/** No UDP or TCP path from the client's namespace to the target. */
async function assertNoRoute(s: JumpSession): Promise<void> {
  const out = await new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      s.net.ns.client,
      "bash",
      "-c",
      `echo x > /dev/udp/${s.net.addr.target}/60001`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.success, false);
  assert.match(new TextDecoder().decode(out.stderr), /unreachable/i);
}

jump.test("jump: tmosh connect -J bastion target gives a shell through the relay; echo, resize, exit; the relay is listed and then gone", async () => {
  await withJump({}, async (s) => {
    await assertNoRoute(s);
    await stepEcho(s.tmux);
    const record = await relayRecord(s);
    assert.match(record.client ?? "", new RegExp(`^${s.net.addr.client}:`));
    assert.equal(record.attached, true);
    assert.equal((await s.relayProcesses()).length, 1);
    await stepResize(s.tmux);
    await endWithExit({ tmux: s.tmux, mark: s.mark, stop: s.stop });
    // endWithExit waited for every marked process: server, shell and relay.
    assert.deepEqual(await s.relays(), []);
  });
});

jump.test("jump: 30% loss, a roam of the client's address and a 10 s outage on the client's side; the screen converges exactly", async () => {
  await withJump({ edge: true }, async (s) => {
    const edge = s.edge!;
    await edge.command(`set ${JSON.stringify({ loss: 0.3, delayMs: 50 })}`);
    await roundTrip(s.tmux, "echo lossy-$((5*5))", {
      expect: "lossy-25",
      timeoutMs: IMPAIRED_STEP_MS,
    });
    await clearScreen(s.tmux);
    await typeLine(s.tmux, "seq 1 60");
    await waitExactScreen(s.tmux, seqScreen(60), IMPAIRED_STEP_MS);
    const stats = JSON.parse(await edge.command("stats"));
    assert.ok(stats.dropped > 0, "the edge dropped datagrams");
    await edge.command(`set ${JSON.stringify({ loss: 0, delayMs: 0 })}`);

    await waitRelayClient(s, s.net.addr.client);
    await edge.command(`roam ${s.net.addr.client2}`);
    await roundTrip(s.tmux, "echo roamed-$((2*3))", { expect: "roamed-6" });
    await waitRelayClient(s, s.net.addr.client2);

    await clearScreen(s.tmux);
    await typeLine(s.tmux, "echo started; sleep 5; seq 1 100");
    await s.tmux.waitFor(
      (screen) => lines(screen).includes("started"),
      STEP_MS,
    );
    await edge.command(`set ${JSON.stringify({ blackhole: true })}`);
    const start = Date.now();
    await s.tmux.waitFor(/^tmosh: Last contact \d+ seconds ago\./m, BAR_MS);
    await delay(10_000 - (Date.now() - start));
    assert.ok(!lines(await s.tmux.capture()).includes("100"));
    await edge.command(`set ${JSON.stringify({ blackhole: false })}`);
    await waitExactScreen(s.tmux, seqScreen(100), IMPAIRED_STEP_MS);
    await roundTrip(s.tmux, "echo after-outage-$((3+4))", {
      expect: "after-outage-7",
    });
    await endWithExit({ tmux: s.tmux, mark: s.mark, stop: s.stop });
  });
});

/**
 * Sends the edge's `verb` (replay or forge) from the stranger's address while
 * the session is quiet, with the shell about to print: were the return path
 * moved, the relay would send that output to the stranger, who counts it.
 */
async function strangerWhileQuiet(
  s: JumpSession,
  verb: "replay" | "forge",
  n: number,
): Promise<void> {
  await clearScreen(s.tmux);
  await typeLine(s.tmux, `sleep 1.5; echo late-$((${n}*7))`);
  await s.tmux.waitFor(/sleep 1\.5/, STEP_MS);
  await delay(300); // the echo's acks are done: nothing moves the path back
  assert.equal(
    await s.edge!.command(`${verb} ${s.net.addr.stranger}`),
    "0",
    `the stranger received datagrams after ${verb}: the return path moved`,
  );
  await s.tmux.waitFor(
    (screen) => lines(screen).includes(`late-${n * 7}`),
    STEP_MS,
  );
  assert.match(
    (await relayRecord(s)).client ?? "",
    new RegExp(`^${s.net.addr.client}:`),
  );
}

jump.test("jump: forged and replayed envelopes from another address do not move the relay's return path", async () => {
  await withJump({ edge: true }, async (s) => {
    await stepEcho(s.tmux);
    await waitRelayClient(s, s.net.addr.client);
    await strangerWhileQuiet(s, "replay", 1);
    await strangerWhileQuiet(s, "forge", 2);
    await roundTrip(s.tmux, "echo still-$((6*6))", { expect: "still-36" });
    await endWithExit({ tmux: s.tmux, mark: s.mark, stop: s.stop });
  });
});

/** The last non-empty line of `text`. */
function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1) ?? "";
}

jump.test("jump: one-line errors and a non-zero exit when the bastion lacks tmosh, the relay cannot reach the target, or the jump chain cannot be parsed", async () => {
  const stage = await prepareJumpStage();
  try {
    const { net, dir } = stage;
    const missing = await stage.run(
      net.ns.client,
      stage.connectArgv({
        jump: "bastion",
        relay: "/nowhere/tmosh serve relay",
      }),
    );
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(
      lastLine(missing.stderr),
      /^tmosh: '\/nowhere\/tmosh serve relay' was not found on the jump host bastion \(exit 127\); install tmosh there \(on its PATH\), or pass --relay=COMMAND$/,
    );

    const nowhere = net.addr.target.replace(/\.2\.2$/, ".3.3");
    const unreachable = await stage.run(net.ns.bastion, [
      `${dir}/bastion`,
      nowhere,
      "60001",
    ]);
    assert.equal(unreachable.code, 1);
    assert.match(
      unreachable.stderr.trim(),
      new RegExp(
        `^tmosh: the relay on \\S+ cannot reach the target ${nowhere} \\(${nowhere}\\) port 60001: Network is unreachable; check that \\S+ can reach it$`,
      ),
    );
    const unresolved = await stage.run(net.ns.bastion, [
      `${dir}/bastion`,
      "no-such-host.invalid",
      "60001",
    ]);
    assert.equal(unresolved.code, 1);
    assert.match(
      unresolved.stderr.trim(),
      /^tmosh: the relay on \S+ cannot resolve the target no-such-host\.invalid: .*; check the name on \S+$/,
    );
    assert.deepEqual(await stage.relays(), []);

    const chain = await stage.run(
      net.ns.client,
      stage.connectArgv({ jump: "bastion,user@@x" }),
    );
    assert.equal(chain.code, 2);
    assert.match(
      chain.stderr.trim(),
      /^tmosh: cannot parse jump host "user@@x" in "bastion,user@@x": bad user name; use -J \[user@\]host\[:port\]\[,\.\.\.\]$/,
    );
  } finally {
    await stage.stop();
  }
});

/** UDP ports the tmosh client (`main.ts connect`) has open in the client's namespace. */
async function clientUdpPorts(s: JumpSession): Promise<Set<number>> {
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", s.net.ns.client, "ss", "-uanpH"],
    stdin: "null",
    stdout: "piped",
  }).output();
  const ports = new Set<number>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    if (!line.includes('"deno"')) continue;
    const local = line.trim().split(/\s+/)[3] ?? "";
    ports.add(Number(local.slice(local.lastIndexOf(":") + 1)));
  }
  return ports;
}

jump.test("jump: the link between client and bastion goes down for 12 s; the client hops to a new port, the relay follows it, the screen converges exactly", async () => {
  await withJump({}, async (s) => {
    await stepEcho(s.tmux);
    const before = (await relayRecord(s)).client ?? "";
    assert.match(before, new RegExp(`^${s.net.addr.client}:\\d+$`));
    await clearScreen(s.tmux);
    await typeLine(s.tmux, "echo started; sleep 4; seq 1 100");
    await s.tmux.waitFor(
      (screen) => lines(screen).includes("started"),
      STEP_MS,
    );
    const link = (state: string) =>
      new Deno.Command("ip", {
        args: ["-n", s.net.ns.client, "link", "set", "veth-c", state],
      }).output();
    await link("down");
    try {
      // A link that is down fails the sends: the bar says so, with the time.
      await s.tmux.waitFor(
        /^tmosh: (Last contact \d+ seconds ago\.|sendto: .*without contact)/m,
        BAR_MS,
      );
      await delay(12_000);
    } finally {
      await link("up");
    }
    await waitExactScreen(s.tmux, seqScreen(100), IMPAIRED_STEP_MS);
    await roundTrip(s.tmux, "echo after-$((3+4))", { expect: "after-7" });
    const after = (await relayRecord(s)).client ?? "";
    const port = Number(after.slice(after.lastIndexOf(":") + 1));
    assert.notEqual(after, before, "the relay follows the client's new port");
    assert.ok(
      (await clientUdpPorts(s)).has(port),
      `the relay sends to ${after}, one of the client's ports`,
    );
    await endWithExit({ tmux: s.tmux, mark: s.mark, stop: s.stop });
  });
});

jump.test("jump: the ProxyJump of the user's ssh config is honoured without -J: the session goes through the relay", async () => {
  await withJump(
    { route: { jump: null, target: "target-via-bastion" } },
    async (s) => {
      await stepEcho(s.tmux);
      const record = await relayRecord(s);
      assert.match(record.client ?? "", new RegExp(`^${s.net.addr.client}:`));
      await endWithExit({ tmux: s.tmux, mark: s.mark, stop: s.stop });
    },
  );
});

jump.test("jump: a chain of two jump hosts (-J bastion,bastion) nests one envelope per relay; both relays forward, both end with the session", async () => {
  await withJump({
    route: { jump: "bastion,bastion", target: "target" },
    relayPort: null,
  }, async (s) => {
    await stepEcho(s.tmux);
    const records = await s.relays();
    assert.equal(records.length, 2, JSON.stringify(records));
    const commands = records.map((r) => r.command.join(" ")).sort();
    const outer = records.find((r) =>
      r.command[2].startsWith(`${s.net.addr.bastionOuter}:`)
    );
    assert.ok(outer !== undefined, JSON.stringify(commands));
    const inner = records.find((r) => r !== outer)!;
    assert.match(
      inner.command.join(" "),
      new RegExp(`^relay to ${s.net.addr.target}:`),
    );
    assert.equal(outer.command[2], `${s.net.addr.bastionOuter}:${inner.port}`);
    assert.match(outer.client ?? "", new RegExp(`^${s.net.addr.client}:`));
    assert.match(
      inner.client ?? "",
      new RegExp(`^${s.net.addr.bastionOuter}:`),
    );
    await stepResize(s.tmux);
    await endWithExit({ tmux: s.tmux, mark: s.mark, stop: s.stop });
    assert.deepEqual(await s.relays(), []);
  });
});

jump.test("jump: a client killed with -9 leaves the session; tmosh connect -J bastion --attach resumes it through a new relay", async () => {
  const stage = await prepareJumpStage();
  const tmuxes: { kill(): Promise<void> }[] = [];
  try {
    const env = { TERM: "xterm-256color", LANG: "C.UTF-8" };
    const first = await startTmux(
      stage.connectArgv({ jump: "bastion", relay: `${stage.dir}/bastion` })
        .map(shq).join(" "),
      { env },
    );
    tmuxes.push(first);
    await waitPromptOn(first);
    await roundTrip(first, "echo before-$((20+1))", { expect: "before-21" });
    const clients = await findPids(
      new RegExp(`main\\.ts connect .*${stage.mark}.*-J bastion target`),
    );
    assert.equal(clients.length, 1);
    Deno.kill(clients[0], "SIGKILL");
    await first.waitForExit(STEP_MS);
    const second = await startTmux(
      stage.connectArgv({
        jump: "bastion",
        relay: `${stage.dir}/bastion`,
        attach: true,
      }).map(shq).join(" "),
      { env },
    );
    tmuxes.push(second);
    // The list came over ssh -J; the killed client was heard from seconds ago.
    await second.waitFor(/Attach which one\?/, STEP_MS);
    await typeLine(second, "1");
    // The resumed screen is the session's: the earlier output is there.
    await second.waitFor(/^before-21$/m, STEP_MS);
    await roundTrip(second, "echo after-$((20+2))", { expect: "after-22" });
    const relays = await stage.relays();
    assert.equal(relays.length, 2, "the old relay waits for its idle timeout");
    assert.match(
      relays[1].client ?? "",
      new RegExp(`^${stage.net.addr.client}:`),
    );
    await typeLine(second, "exit");
    assert.equal(await second.waitForExit(STEP_MS), 0);
  } finally {
    for (const t of tmuxes) await t.kill();
    await stage.stop();
  }
});

/** Waits for the first prompt on a plain tmux session. */
async function waitPromptOn(tmux: { waitFor: JumpSession["tmux"]["waitFor"] }) {
  await tmux.waitFor(
    (screen) => lines(screen).some((l) => l.startsWith("e2e$")),
    60_000,
  );
}
