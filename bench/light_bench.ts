/**
 * Lighter and quicker (issue 16): every figure side by side with stock Mosh
 * (and ssh where it has one) in one run. Start to prompt through the private
 * loopback sshd; idle CPU time and wake-ups of server and client over
 * IDLE_S seconds (default 60), beside the runtime's floor in the same window
 * (bench/runtime_floor.ts: bare Deno with Mosh's idle rhythm); idle, peak
 * (during `seq 1 2000000`) memory;
 * the flood's wall time and CPU time (each side's, and the whole machine's,
 * beside ssh's); and 10 idle sessions on one server, where tmosh's
 * share one process, the user's daemon (server/user_daemon.ts): its memory
 * with 1 and with 10 sessions gives the cost of each further session. Start
 * to prompt is timed for a user's first tmosh session (the daemon starts)
 * and a further one (the daemon runs). `PARTS=start,session,scaling` picks
 * parts (default all).
 *
 * Sessions run in tmux (80x24). Every tmosh process runs with the V8 flags
 * the compiled binary has (self_command.ts TMOSH_V8_FLAGS). CPU is
 * schedstat time of every thread (V8 workers and tokio threads included) and
 * wake-ups are context switches (also the voluntary ones alone: a loaded
 * machine adds preemptions); measuring starts 12 s after the prompt, when
 * Deno's start-up threads have ended. Memory: RSS counts shared pages (the
 * deno binary) in full, PSS splits them, USS is what ending the process frees.
 * @module
 */

import { type Sshd, startSshd, TEST_MARK_VAR } from "../harness/sshd.ts";
import { startTmux, type TmuxSession } from "../harness/tmux.ts";
import { findBinary } from "../harness/require_peer.ts";
import { freeUdpPort } from "../harness/ports.ts";
import {
  findPids,
  killPidsWithEnv,
  startStockServer,
} from "../harness/stock_mosh.ts";
import { startTmoshServer } from "../harness/tmosh_server.ts";
import {
  connectCommand,
  PS1,
  shq,
  tmoshCommand,
} from "../harness/client_session.ts";
import { resetPeak } from "../harness/proc_memory.ts";
import {
  machineBusyMs,
  type MemoryUsage,
  memoryUsage,
  type ThreadUsage,
  threadUsage,
  usageDelta,
} from "../harness/proc_usage.ts";
import { summary, timePrompt } from "./connect_bench.ts";
import { startFloorPair } from "./runtime_floor.ts";
import { selfCommand } from "../self_command.ts";
import { serveThroughFinder } from "../client/bootstrap/install_script.ts";

/** Which Mosh runs a session. */
type Side = "stock" | "tmosh";

/** Seconds of idle measured. */
const IDLE_S = Number(Deno.env.get("IDLE_S") ?? 60);
/** Connects timed per connector. */
const RUNS = Number(Deno.env.get("RUNS") ?? 3);
/** Sessions of the scaling part. */
const SESSIONS = Number(Deno.env.get("SESSIONS") ?? 10);
/** Lines of the flood. */
const LINES = Number(Deno.env.get("LINES") ?? 2_000_000);
/** After the prompt, before idle is measured: Deno's start-up threads end after 10 s. */
const SETTLE_MS = 12_000;
/** The shell every session runs, with a fixed prompt. */
const SHELL = ["/bin/sh", "-c", "PS1='$ ' exec /bin/sh -i"];
/** A screen row that is SHELL's prompt alone. */
const PROMPT_ROW = /^\$\s*$/m;
const START_MS = 30_000;
/** After the flood, before memory is read again (tmosh collects 2 s after a burst, protocol/network/idle_collect.ts). */
const AFTER_FLOOD_MS = 10_000;
const FLOOD_MS = 300_000;
/** CPUs of this machine: the flood's CPU time over this is its wall time at best. */
const CORES = navigator.hardwareConcurrency;
/** The parts to run. */
const PARTS = (Deno.env.get("PARTS") ?? "start,session,scaling").split(",");

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A session: its server, the client's terminal and the client's pid. */
interface Session {
  side: Side;
  serverPid: number;
  clientPid: number;
  tmux: TmuxSession;
  stop(): Promise<void>;
}

/** Starts a server of `side` and a client (`client`, default the same side) in tmux; resolves at the prompt. tmosh sessions of one `state` (XDG_STATE_HOME) share a daemon; default one each. */
async function startSession(
  side: Side,
  client: Side = side,
  state?: string,
): Promise<Session> {
  const server = side === "stock"
    ? await startStockServer({ command: SHELL, port: `${await freeUdpPort()}` })
    : await startTmoshServer(SHELL, {
      env: state === undefined ? {} : { XDG_STATE_HOME: state },
    });
  const command = client === "stock"
    ? `exec mosh-client 127.0.0.1 ${server.port}`
    : `exec ${tmoshCommand(`client 127.0.0.1 ${server.port}`)}`;
  const tmux = await startTmux(command, {
    env: { MOSH_KEY: server.key, LANG: "C.UTF-8", TERM: "xterm-256color" },
  });
  try {
    await tmux.waitFor(PROMPT_ROW, START_MS);
    const pattern = client === "stock"
      ? `mosh-client 127.0.0.1 ${server.port}`
      : `main.ts client 127.0.0.1 ${server.port}`;
    const [clientPid] = await findPids(pattern);
    return {
      side,
      serverPid: server.pid,
      clientPid,
      tmux,
      async stop() {
        await tmux.kill();
        await server.stop();
      },
    };
  } catch (err) {
    await tmux.kill();
    await server.stop();
    throw err;
  }
}

/** Sums usage over processes. */
function sumUsage(list: (ThreadUsage | null)[]): ThreadUsage {
  return list.reduce<ThreadUsage>(
    (a, b) => ({
      cpuMs: a.cpuMs + (b?.cpuMs ?? 0),
      wakeups: a.wakeups + (b?.wakeups ?? 0),
      sleeps: a.sleeps + (b?.sleeps ?? 0),
    }),
    { cpuMs: 0, wakeups: 0, sleeps: 0 },
  );
}

/** Sums memory over processes. */
function sumMemory(list: (MemoryUsage | null)[]): MemoryUsage {
  return list.reduce<MemoryUsage>(
    (a, b) => ({
      rss: a.rss + (b?.rss ?? 0),
      pss: a.pss + (b?.pss ?? 0),
      uss: a.uss + (b?.uss ?? 0),
      peak: a.peak + (b?.peak ?? 0),
    }),
    { rss: 0, pss: 0, uss: 0, peak: 0 },
  );
}

/** CPU and wake-ups of each pid over IDLE_S seconds (all measured in the same window). */
async function idleUsage(pids: number[]): Promise<(ThreadUsage | null)[]> {
  const before = await Promise.all(pids.map(threadUsage));
  await delay(IDLE_S * 1000);
  const after = await Promise.all(pids.map(threadUsage));
  return pids.map((_, i) => usageDelta(before[i], after[i]));
}

/** Types the flood and a marker at SHELL's prompt; returns its wall time until the marker shows (the last line checked) and the CPU time spent meanwhile by `pids` and the machine. */
async function timeFlood(
  tmux: TmuxSession,
  options: { pids?: number[] } = {},
): Promise<Flood> {
  await tmux.waitFor(PROMPT_ROW, START_MS);
  await tmux.sendKeys(`seq 1 ${LINES}; echo LIGHT-$((20+22))-DONE`, {
    literal: true,
  });
  await delay(200);
  const pids = options.pids ?? [];
  const before = await Promise.all(pids.map(threadUsage));
  const busy = await machineBusyMs();
  const start = performance.now();
  await tmux.sendKeys("Enter");
  const screen = await tmux.waitFor(/^LIGHT-42-DONE$/m, FLOOD_MS);
  const wall = (performance.now() - start) / 1000;
  const machineCpu = (await machineBusyMs() - busy) / 1000;
  const after = await Promise.all(pids.map(threadUsage));
  const rows = screen.split("\n");
  if (rows[rows.indexOf("LIGHT-42-DONE") - 1] !== `${LINES}`) {
    throw new Error(`tmosh: the flood did not end with ${LINES}:\n${screen}`);
  }
  return {
    wall,
    machineCpu,
    cpu: after.map((u, i) => (usageDelta(before[i], u)?.cpuMs ?? NaN) / 1000),
  };
}

/** What one flood took. */
interface Flood {
  /** Wall time from Enter to the last line on screen, s. */
  wall: number;
  /** CPU time of every process on the machine meanwhile (tmux, seq and the harness's tmux polls included), s. */
  machineCpu: number;
  /** CPU time of each of the pids asked for, s. */
  cpu: number[];
}

/** Median of samples. */
function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Milliseconds `argv` takes to print MOSH CONNECT and exit (median of RUNS); tmosh with registry `state` (a running daemon), else a fresh one each run (the daemon starts). */
async function timeServeNew(
  argv: string[],
  options: { mark: string; dir: string; state?: string },
): Promise<number> {
  const { mark, dir } = options;
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const state = options.state ?? await Deno.makeTempDir({ dir });
    const start = performance.now();
    await new Deno.Command(argv[0], {
      args: [...argv.slice(1), "new", "-i", "127.0.0.1", "--", "true"],
      env: { LANG: "C.UTF-8", [TEST_MARK_VAR]: mark, XDG_STATE_HOME: state },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    samples.push(performance.now() - start);
  }
  await killPidsWithEnv(TEST_MARK_VAR, mark); // they wait for a client
  return median(samples);
}

/** Start to prompt: ssh, stock mosh, tmosh (a user's first session, and a further one); and the server start alone. */
async function startFigures(sshd: Sshd, dir: string): Promise<void> {
  const samples = new Map<string, number[]>();
  const add = (label: string, ms: number) =>
    samples.set(label, [...samples.get(label) ?? [], ms]);
  // A session that keeps the daemon of `state` running: later connects are further sessions.
  const state = await Deno.makeTempDir({ dir, prefix: "state_" });
  const holder = await startTmoshServer(["sleep", "600"], {
    env: { XDG_STATE_HOME: state },
  });
  try {
    await startRuns(sshd, { dir, state, add });
  } finally {
    await holder.stop();
  }
  console.log(`start to prompt (loopback sshd, tmux 80x24), ${RUNS} runs:`);
  for (const [label, list] of samples) {
    console.log(`  ${label.padEnd(24)} ${summary(list)}`);
  }
  const mark = `light-${crypto.randomUUID()}`;
  // As the finder starts it (install_script.ts SERVE_FUNCTION): timed until its shell exits.
  const self = serveThroughFinder([...selfCommand(), "serve"]);
  const moshServer = (await findBinary("mosh-server"))!;
  const stock = await timeServeNew([moshServer], { mark, dir });
  const first = await timeServeNew(self, { mark, dir });
  const warm = await startTmoshServer(["sleep", "600"], {
    env: { XDG_STATE_HOME: state },
  });
  let further: number;
  try {
    further = await timeServeNew(self, { mark, dir, state });
  } finally {
    await warm.stop();
  }
  console.log(
    `  server start until MOSH CONNECT (no ssh): mosh-server new ${
      stock.toFixed(0)
    } ms, tmosh serve new: first session ${first.toFixed(0)} ms (${
      (first / stock).toFixed(1)
    }x), further session ${further.toFixed(0)} ms (${
      (further / stock).toFixed(1)
    }x)`,
  );
}

/** RUNS rounds of: ssh, stock mosh, tmosh as a user's first session, tmosh as a further one (registry `state`). */
async function startRuns(
  sshd: Sshd,
  options: {
    dir: string;
    state: string;
    add: (label: string, ms: number) => void;
  },
): Promise<void> {
  const { dir, state, add } = options;
  for (let run = 0; run < RUNS; run++) {
    const mark = `light-${crypto.randomUUID()}`;
    const ssh = `env ${TEST_MARK_VAR}=${mark} ${sshd.sshCommand} -tt ` +
      `root@127.0.0.1 -- env ${shq(`PS1=${PS1}`)} bash --norc --noprofile -i`;
    add("ssh -tt", await timePrompt(ssh, { mark, dir }));
    for (
      const [connector, label] of [["stock-mosh", "stock mosh"], [
        "tmosh",
        "tmosh connect",
      ]] as const
    ) {
      const c = await connectCommand(connector, { sshd, dir });
      add(label, await timePrompt(c.command, { mark: c.mark, dir }));
    }
    const c = await connectCommand("tmosh", { sshd, dir, state });
    add(
      "tmosh connect, further",
      await timePrompt(c.command, { mark: c.mark, dir }),
    );
  }
}

/** A figure row: label, stock, tmosh, ratio, the goal. */
function row(
  label: string,
  stock: number,
  tmosh: number,
  options: { digits?: number; goal?: string } = {},
): void {
  const d = options.digits ?? 1;
  const ratio = stock > 0 ? `${(tmosh / stock).toFixed(1)}x` : "-";
  console.log(
    `  ${label.padEnd(34)}${stock.toFixed(d).padStart(10)}${
      tmosh.toFixed(d).padStart(10)
    }${ratio.padStart(8)}   ${options.goal ?? ""}`,
  );
}

/** One session per side: idle CPU, wake-ups and memory, then the flood. */
async function sessionFigures(sshd: Sshd): Promise<void> {
  const stock = await startSession("stock");
  const tmosh = await startSession("tmosh");
  const floor = await startFloorPair();
  try {
    await delay(SETTLE_MS);
    const pids = [
      stock.serverPid,
      stock.clientPid,
      tmosh.serverPid,
      tmosh.clientPid,
    ];
    const [usage, floorUsage] = await Promise.all([
      idleUsage(pids),
      idleUsage(floor.pids),
    ]);
    await floor.stop();
    const mem = await Promise.all(pids.map(memoryUsage));
    const cpu = usage.map((u) => u?.cpuMs ?? NaN);
    const wake = usage.map((u) => u?.wakeups ?? NaN);
    const sleeps = usage.map((u) => u?.sleeps ?? NaN);
    console.log(
      `\none session each, idle ${IDLE_S} s, then seq 1 ${LINES}:\n` +
        `  ${"".padEnd(34)}${"stock".padStart(10)}${
          "tmosh".padStart(10)
        }   ratio`,
    );
    row("server CPU, ms", cpu[0], cpu[2], { goal: "goal <= 2x" });
    row("client CPU, ms", cpu[1], cpu[3], { goal: "goal <= 2x" });
    const floorCpu = floorUsage.map((u) => u?.cpuMs ?? NaN);
    const floorWake = floorUsage.map((u) => u?.wakeups ?? NaN);
    console.log(
      `  ${
        "".padEnd(34)
      }runtime floor (bare Deno, one datagram each way every 3 s, runtime_floor.ts): ${
        floorCpu.map((c) => c.toFixed(1)).join(" / ")
      } ms, ${floorWake.join(" / ")} wake-ups; / stock: ${
        (floorCpu[0] / cpu[0]).toFixed(1)
      }x, ${(floorCpu[1] / cpu[1]).toFixed(1)}x`,
    );
    row("server wake-ups", wake[0], wake[2], { digits: 0 });
    row("client wake-ups", wake[1], wake[3], { digits: 0 });
    row("server wake-ups, voluntary", sleeps[0], sleeps[2], { digits: 0 });
    row("client wake-ups, voluntary", sleeps[1], sleeps[3], { digits: 0 });
    row("server idle RSS / PSS, MiB", mem[0]!.rss, mem[2]!.rss);
    row("", mem[0]!.pss, mem[2]!.pss);
    row("server idle USS, MiB", mem[0]!.uss, mem[2]!.uss);
    row("client idle RSS, MiB", mem[1]!.rss, mem[3]!.rss, {
      goal: "goal < 45 MiB",
    });
    row("client idle USS, MiB", mem[1]!.uss, mem[3]!.uss);
    await Promise.all(pids.map(resetPeak));
    const floodStock = await timeFlood(stock.tmux, { pids: pids.slice(0, 2) });
    const floodTmosh = await timeFlood(tmosh.tmux, { pids: pids.slice(2) });
    const peak = await Promise.all(pids.map(memoryUsage));
    row("server peak RSS in the flood, MiB", peak[0]!.peak, peak[2]!.peak);
    console.log(
      `  ${"".padEnd(34)}tmosh peak / idle: server ${
        (peak[2]!.peak / mem[2]!.rss).toFixed(2)
      }x, client ${(peak[3]!.peak / mem[3]!.rss).toFixed(2)}x (goal < 1.5x)`,
    );
    row("client peak RSS in the flood, MiB", peak[1]!.peak, peak[3]!.peak);
    row("flood wall, s", floodStock.wall, floodTmosh.wall, { digits: 2 });
    row("flood CPU, server, s", floodStock.cpu[0], floodTmosh.cpu[0], {
      digits: 2,
    });
    row("flood CPU, client, s", floodStock.cpu[1], floodTmosh.cpu[1], {
      digits: 2,
    });
    row(
      "flood CPU, whole machine, s",
      floodStock.machineCpu,
      floodTmosh.machineCpu,
      {
        digits: 2,
      },
    );
    await delay(AFTER_FLOOD_MS);
    const after = await Promise.all(pids.map(memoryUsage));
    row("server RSS 10 s after the flood", after[0]!.rss, after[2]!.rss);
    row("client RSS 10 s after the flood", after[1]!.rss, after[3]!.rss);
    const ssh = await sshFlood(sshd);
    console.log(
      `  flood wall, ssh -tt: ${ssh.wall.toFixed(2)} s; tmosh / ssh ${
        (floodTmosh.wall / ssh.wall).toFixed(2)
      }x (goal <= 1.1x), stock / ssh ${
        (floodStock.wall / ssh.wall).toFixed(2)
      }x`,
    );
    console.log(
      `  flood CPU of the whole machine (${CORES} cores), ssh -tt: ${
        ssh.machineCpu.toFixed(2)
      } s; tmosh / ssh ${
        (floodTmosh.machineCpu / ssh.machineCpu).toFixed(2)
      }x, stock / ssh ${(floodStock.machineCpu / ssh.machineCpu).toFixed(2)}x`,
    );
  } finally {
    await floor.stop();
    await stock.stop();
    await tmosh.stop();
  }
}

/** The flood through `ssh -tt` in tmux, the reference. */
async function sshFlood(sshd: Sshd): Promise<Flood> {
  const mark = `light-${crypto.randomUUID()}`;
  const tmux = await startTmux(
    `exec env ${TEST_MARK_VAR}=${mark} ${sshd.sshCommand} -tt root@127.0.0.1 -- ${
      shq(SHELL[2])
    }`,
    { env: { LANG: "C.UTF-8", TERM: "xterm-256color" } },
  );
  try {
    return await timeFlood(tmux);
  } finally {
    await tmux.kill();
    await killPidsWithEnv(TEST_MARK_VAR, mark);
  }
}

/** SESSIONS idle sessions per server kind (stock mosh-client for all; tmosh's in one daemon): totals, and the daemon with 1 and with SESSIONS sessions. */
async function scalingFigures(dir: string): Promise<void> {
  const sessions: Session[] = [];
  const state = await Deno.makeTempDir({ dir, prefix: "state_" });
  try {
    sessions.push(await startSession("stock", "stock"));
    sessions.push(await startSession("tmosh", "stock", state));
    await delay(SETTLE_MS);
    const one = await Promise.all(
      sessions.map((s) => memoryUsage(s.serverPid)),
    );
    for (let i = 1; i < SESSIONS; i++) {
      sessions.push(await startSession("stock", "stock"));
      sessions.push(await startSession("tmosh", "stock", state));
    }
    await delay(SETTLE_MS);
    // Each process once (tmosh's sessions share one).
    const seen = new Set<number>();
    const procs = sessions.filter((s) =>
      !seen.has(s.serverPid) && seen.add(s.serverPid)
    );
    const pids = procs.map((s) => s.serverPid);
    const usage = await idleUsage(pids);
    const mem = await Promise.all(pids.map(memoryUsage));
    const pick = <T>(list: T[], side: Side) =>
      list.filter((_, i) => procs[i].side === side);
    const u = (side: Side) => sumUsage(pick(usage, side));
    const m = (side: Side) => sumMemory(pick(mem, side));
    const distinct = (side: Side) => pick(pids, side).length;
    console.log(
      `\n${SESSIONS} idle sessions on one server host (stock mosh-client each), ${IDLE_S} s:\n` +
        `  ${"".padEnd(34)}${"stock".padStart(10)}${
          "tmosh".padStart(10)
        }   ratio`,
    );
    row("server processes", distinct("stock"), distinct("tmosh"), {
      digits: 0,
    });
    row("total server CPU, ms", u("stock").cpuMs, u("tmosh").cpuMs);
    row("total server wake-ups", u("stock").wakeups, u("tmosh").wakeups, {
      digits: 0,
    });
    row("total server RSS, MiB", m("stock").rss, m("tmosh").rss);
    row("total server PSS, MiB", m("stock").pss, m("tmosh").pss);
    row("total server USS, MiB", m("stock").uss, m("tmosh").uss);
    row(
      "server PSS per session, MiB",
      m("stock").pss / SESSIONS,
      m("tmosh").pss / SESSIONS,
    );
    const daemon = mem[pids.indexOf(sessions[1].serverPid)]!;
    const further = (k: "rss" | "pss") =>
      (daemon[k] - one[1]![k]) / (SESSIONS - 1);
    console.log(
      `  tmosh's daemon: RSS ${one[1]!.rss.toFixed(1)} MiB with 1 session, ${
        daemon.rss.toFixed(1)
      } MiB with ${SESSIONS}; PSS ${one[1]!.pss.toFixed(1)} -> ${
        daemon.pss.toFixed(1)
      } MiB`,
    );
    row(
      "each further session, RSS MiB",
      one[0]!.rss,
      further("rss"),
      { goal: "goal <= 15 MiB (tmosh)" },
    );
    row("each further session, PSS MiB", one[0]!.pss, further("pss"));
  } finally {
    for (const s of sessions) await s.stop();
  }
}

/** Runs every part and prints its figures (skips when a peer program is missing). */
export async function benchLight(): Promise<void> {
  for (
    const name of ["sshd", "ssh", "tmux", "mosh", "mosh-server", "mosh-client"]
  ) {
    if (await findBinary(name) === null) {
      console.log(`light: skipped ('${name}' is not installed)`);
      return;
    }
  }
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_light_" });
  try {
    if (PARTS.includes("start")) await startFigures(sshd, dir);
    if (PARTS.includes("session")) await sessionFigures(sshd);
    if (PARTS.includes("scaling")) await scalingFigures(dir);
  } finally {
    await sshd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await benchLight();
}
