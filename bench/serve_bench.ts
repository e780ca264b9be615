/**
 * Server cost, stock `mosh-server` against `tmosh serve`, side by side in one
 * run: each is driven by stock `mosh-client` in a real terminal (tmux, 80x24)
 * on this machine. A bulk-output command (`seq 1 2000000`, about 15 MB) is
 * typed followed by a marker echo; measured are the wall time until the
 * marker is on the screen, the server process's CPU seconds during it
 * (utime + stime from /proc/PID/stat, all threads), its resident memory idle
 * and afterwards, and the client's CPU. A plain pty (the shell straight in
 * tmux, no Mosh) is the reference.
 * @module
 */

import { findBinary } from "../harness/require_peer.ts";
import { freeUdpPort } from "../harness/ports.ts";
import { findPids, startStockServer } from "../harness/stock_mosh.ts";
import { startTmoshServer } from "../harness/tmosh_server.ts";
import { startTmux, type TmuxSession } from "../harness/tmux.ts";

/** The servers compared, and the no-Mosh reference. */
type Kind = "mosh-server" | "tmosh serve" | "plain pty";

/** Options of {@linkcode benchServe}. */
export interface ServeBenchOptions {
  /** Runs of each kind, interleaved (the table shows the fastest run); default 2. */
  runs?: number;
  /** Lines printed by `seq`; default 2,000,000. */
  lines?: number;
}

/** What one run measured. */
interface Figures {
  kind: Kind;
  wallS: number;
  serverCpuS: number | null;
  clientCpuS: number | null;
  idle: Memory | null;
  after: Memory | null;
}

/** Clock ticks per second of /proc/PID/stat times (sysconf(_SC_CLK_TCK) on Linux). */
const CLK_TCK = 100;
/** The shell every kind runs, with a fixed prompt. */
const SHELL = ["/bin/sh", "-c", "PS1='$ ' exec /bin/sh -i"];
/** Longest a run may take to start, or to print its output, ms. */
const START_MS = 30_000;
const RUN_MS = 300_000;
/** Settling time before the idle memory is read, ms. */
const IDLE_MS = 1000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPU seconds (user + system, all threads) a process has used; null if it is gone. */
async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Memory of a process, MB: resident (RSS) and unique to it (USS: private pages); null if gone. */
interface Memory {
  rss: number;
  uss: number;
}

/** Reads a process's RSS and USS from /proc/PID/smaps_rollup; null if it is gone. */
async function memory(pid: number): Promise<Memory | null> {
  try {
    const rollup = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
    const kb = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(rollup)?.[1] ?? 0);
    return {
      rss: kb("Rss") / 1024,
      uss: (kb("Private_Clean") + kb("Private_Dirty")) / 1024,
    };
  } catch {
    return null;
  }
}

/** Types the bulk command and a marker; returns the seconds until the marker's output shows. */
async function timeBulk(tmux: TmuxSession, lines: number): Promise<number> {
  await tmux.sendKeys(`seq 1 ${lines}; echo BENCH-$((20+22))-DONE`, {
    literal: true,
  });
  await delay(200); // let the command line reach the screen first
  const start = performance.now();
  await tmux.sendKeys("Enter");
  const screen = await tmux.waitFor(/^BENCH-42-DONE$/m, RUN_MS);
  const wallS = (performance.now() - start) / 1000;
  // The whole output went through: its last line sits just above the marker.
  const rows = screen.split("\n");
  const marker = rows.indexOf("BENCH-42-DONE");
  if (rows[marker - 1] !== `${lines}`) {
    throw new Error(
      `tmosh: the screen does not end with ${lines} before the marker:\n${screen}`,
    );
  }
  return wallS;
}

/** One run of a Mosh server kind driven by stock mosh-client. */
async function runMosh(kind: Kind, lines: number): Promise<Figures> {
  const server = kind === "mosh-server"
    ? await startStockServer({ command: SHELL, port: `${await freeUdpPort()}` })
    : await startTmoshServer(SHELL);
  let tmux: TmuxSession | null = null;
  try {
    tmux = await startTmux(`exec mosh-client 127.0.0.1 ${server.port}`, {
      width: 80,
      height: 24,
      env: { MOSH_KEY: server.key, LANG: "C.UTF-8", TERM: "xterm-256color" },
    });
    await tmux.waitFor(/^\$\s*$/m, START_MS);
    await delay(IDLE_MS);
    const idle = await memory(server.pid);
    const [client] = await findPids(`mosh-client 127.0.0.1 ${server.port}`);
    const serverCpu0 = await cpuSeconds(server.pid);
    const clientCpu0 = client === undefined ? null : await cpuSeconds(client);
    const wallS = await timeBulk(tmux, lines);
    const serverCpu1 = await cpuSeconds(server.pid);
    const clientCpu1 = client === undefined ? null : await cpuSeconds(client);
    const after = await memory(server.pid);
    await tmux.sendKeys("exit", { literal: true });
    await tmux.sendKeys("Enter");
    await tmux.waitForExit(10_000).catch(() => {});
    return {
      kind,
      wallS,
      serverCpuS: difference(serverCpu0, serverCpu1),
      clientCpuS: difference(clientCpu0, clientCpu1),
      idle,
      after,
    };
  } finally {
    await tmux?.kill();
    await server.stop();
  }
}

/** The reference: the shell directly on tmux's pty, no Mosh. */
async function runPlain(lines: number): Promise<Figures> {
  const tmux = await startTmux(`exec ${SHELL.map(quote).join(" ")}`, {
    width: 80,
    height: 24,
    env: { LANG: "C.UTF-8", TERM: "xterm-256color" },
  });
  try {
    await tmux.waitFor(/^\$\s*$/m, START_MS);
    const wallS = await timeBulk(tmux, lines);
    return {
      kind: "plain pty",
      wallS,
      serverCpuS: null,
      clientCpuS: null,
      idle: null,
      after: null,
    };
  } finally {
    await tmux.kill();
  }
}

function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function difference(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : b - a;
}

/** Prints the fastest run of each kind as a table, with tmosh's ratios to stock. */
function printTable(results: Figures[], lines: number): void {
  const kinds: Kind[] = ["mosh-server", "tmosh serve", "plain pty"];
  const best = new Map<Kind, Figures>();
  for (const kind of kinds) {
    const runs = results.filter((r) => r.kind === kind);
    if (runs.length > 0) {
      best.set(kind, runs.reduce((a, b) => (b.wallS < a.wallS ? b : a)));
    }
  }
  const cell = (v: number | null | undefined, digits: number, width: number) =>
    (v === null || v === undefined ? "-" : v.toFixed(digits)).padStart(width);
  const runs = results.filter((r) => r.kind === "plain pty").length;
  console.log(
    `seq 1 ${lines} then a marker echo, 80x24, stock mosh-client in tmux; ` +
      `fastest of ${runs} run(s); memory in MB (RSS, and USS = private pages):`,
  );
  console.log(
    "  server        wall s  server CPU s  client CPU s  RSS idle  RSS after  USS idle  USS after",
  );
  for (const [kind, f] of best) {
    console.log(
      `  ${kind.padEnd(12)}` + cell(f.wallS, 2, 8) +
        cell(f.serverCpuS, 2, 14) + cell(f.clientCpuS, 2, 14) +
        cell(f.idle?.rss, 1, 10) + cell(f.after?.rss, 1, 11) +
        cell(f.idle?.uss, 1, 10) + cell(f.after?.uss, 1, 11),
    );
  }
  const stock = best.get("mosh-server"), ours = best.get("tmosh serve");
  if (stock && ours) {
    const ratio = (a: number | null, b: number | null) =>
      a === null || b === null || a === 0 ? "-" : (b / a).toFixed(2);
    console.log(
      `  tmosh / stock: wall ${
        ratio(stock.wallS, ours.wallS)
      }x (target <= 1), ` +
        `server CPU ${ratio(stock.serverCpuS, ours.serverCpuS)}x ` +
        `(target <= 1.5); tmosh idle RSS ${cell(ours.idle?.rss, 1, 0)} MB ` +
        `(target < 64)`,
    );
  }
  if (runs > 1) {
    console.log("  every run (wall s, server CPU s, RSS idle -> after MB):");
    for (const f of results) {
      console.log(
        `    ${f.kind.padEnd(12)}` + cell(f.wallS, 2, 7) +
          cell(f.serverCpuS, 2, 7) + cell(f.idle?.rss, 1, 7) + " ->" +
          cell(f.after?.rss, 1, 6),
      );
    }
  }
}

/** Runs the server benchmark and prints its table (skips when mosh or tmux is missing). */
export async function benchServe(
  options: ServeBenchOptions = {},
): Promise<void> {
  const runs = options.runs ?? 2;
  const lines = options.lines ?? 2_000_000;
  for (const name of ["mosh-server", "mosh-client", "tmux"]) {
    if (await findBinary(name) === null) {
      console.log(`serve: skipped ('${name}' is not installed)`);
      return;
    }
  }
  const results: Figures[] = [];
  for (let i = 0; i < runs; i++) {
    results.push(await runMosh("mosh-server", lines));
    results.push(await runMosh("tmosh serve", lines));
    results.push(await runPlain(lines));
  }
  printTable(results, lines);
}

if (import.meta.main) {
  await benchServe({
    runs: Number(Deno.env.get("RUNS") ?? 2),
    lines: Number(Deno.env.get("LINES") ?? 2_000_000),
  });
}
