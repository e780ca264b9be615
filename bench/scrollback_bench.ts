/**
 * Native scrollback (issue 11) against a real terminal, side by side in one
 * run: `seq 1 N` (N = 2,000,000 by default) typed into a shell in tmux (80x24,
 * a history-limit above N) over
 *
 * - tmosh client -> tmosh serve, scrollback native (the default),
 * - the same with `TMOSH_SCROLLBACK=off` (as mosh: alternate screen, no history),
 * - stock mosh-client -> stock mosh-server,
 * - `ssh -tt` to the private test sshd (harness/sshd.ts).
 *
 * Measured: the wall time from Enter until the shell prompt is back after a
 * marker echoed after `seq`, and until tmux's history stops growing (the last
 * slices of the scrollback log may land after the prompt); the server's CPU
 * seconds over the same span (utime + stime of the server process; for ssh the
 * sshd session processes and the shell, not `seq`), the client's and the tmux
 * server's (the terminal's own work); then the pane's whole
 * history and screen (`capture-pane -S -`): how many of 1..N appear exactly once
 * and in order, and how many lines were collapsed into
 * `[tmosh: N lines not delivered]` gap lines.
 *
 * The full run takes about 50 s on a 2-core machine. `SCROLLBACK_BENCH_QUICK=1`
 * (or `--quick` when run alone) uses N = 200,000;
 * `SCROLLBACK_BENCH_LINES=N` sets N outright;
 * `SCROLLBACK_BENCH_KINDS="tmosh native,ssh -tt"` runs only those setups.
 * @module
 */

import { tmoshCommand } from "../harness/client_session.ts";
import { dirname } from "node:path";
import { findBinary, missingPeers } from "../harness/require_peer.ts";
import { startSshd } from "../harness/sshd.ts";
import {
  descendants,
  findPids,
  startStockServer,
} from "../harness/stock_mosh.ts";
import { startTmoshServer } from "../harness/tmosh_server.ts";
import { freeUdpPort } from "../harness/ports.ts";
import { type PreparedTmux, prepareTmux, runTmux } from "../harness/tmux.ts";

/** The four setups compared. */
type Kind = "tmosh native" | "tmosh off" | "stock mosh" | "ssh -tt";

const KINDS: readonly Kind[] = [
  "tmosh native",
  "tmosh off",
  "stock mosh",
  "ssh -tt",
];

/** Options of {@linkcode benchScrollback}. */
export interface ScrollbackBenchOptions {
  /** Lines printed by `seq`; default 2,000,000 (200,000 with SCROLLBACK_BENCH_QUICK=1). */
  lines?: number;
}

/** What one run measured. */
interface Figures {
  kind: Kind;
  /** Enter to the prompt back after the marker, s. */
  promptS: number;
  /** Enter to the last growth of tmux's history, s. */
  settledS: number;
  /** Server CPU seconds from Enter to settled; null when not measurable. */
  serverCpuS: number | null;
  /** Client CPU seconds over the same span (mosh-client, tmosh client, ssh). */
  clientCpuS: number | null;
  /** The tmux server's CPU seconds over the same span (the terminal's own work). */
  tmuxCpuS: number | null;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  collapsed: number;
  gapLines: number;
  /** The first ranges of 1..N not delivered once and in order (empty when all were). */
  missing: string[];
}

/** A column that could not run: why. */
interface Skipped {
  kind: Kind;
  reason: string;
}

/** Clock ticks per second of /proc/PID/stat times (sysconf(_SC_CLK_TCK) on Linux). */
const CLK_TCK = 100;
/** The shell every kind runs, with a fixed prompt. */
const SHELL = ["/bin/sh", "-c", "PS1='$ ' exec /bin/sh -i"];
const WIDTH = 80;
const HEIGHT = 24;
/** History kept beyond N (the goals need every line to fit). */
const HISTORY_SPARE = 100_000;
const START_MS = 30_000;
/** Longest the output may take, ms. */
const RUN_MS = 900_000;
/** The history counts as complete after this long without growing, ms. */
const SETTLE_QUIET_MS = 2000;
/** The setups whose lines reach the terminal's history. */
const HISTORY_KINDS: readonly string[] = ["tmosh native", "ssh -tt"];
/** Ranges of lines not delivered that the table names, at most. */
const MISSING_RANGES_SHOWN = 4;
const POLL_MS = 50;
const MARKER = "BENCH-42-DONE";
/** Goal: wall time with native scrollback at most this times ssh's. */
const WALL_GOAL = 1.5;

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

/** CPU seconds of each process in `pids` (the gone ones left out). */
async function cpuOf(pids: number[]): Promise<Map<number, number>> {
  const times = new Map<number, number>();
  for (const pid of pids) {
    const s = await cpuSeconds(pid);
    if (s !== null) times.set(pid, s);
  }
  return times;
}

/** CPU seconds used between two readings, over the processes in both. */
function cpuUsed(
  before: Map<number, number>,
  after: Map<number, number>,
): number | null {
  let sum = 0, any = false;
  for (const [pid, s] of after) {
    const s0 = before.get(pid);
    if (s0 === undefined) continue;
    sum += s - s0;
    any = true;
  }
  return any ? sum : null;
}

/** A private tmux server running one command, with the few reads this benchmark needs. */
class Pane {
  readonly #tmux: PreparedTmux;

  private constructor(tmux: PreparedTmux) {
    this.#tmux = tmux;
  }

  static async start(
    command: string,
    env: Record<string, string>,
    historyLimit: number,
  ): Promise<Pane> {
    const tmux = await prepareTmux(command, {
      width: WIDTH,
      height: HEIGHT,
      env,
      historyLimit,
      session: "sb",
      dirPrefix: "tmosh_sb_bench_",
    });
    const pane = new Pane(tmux);
    await tmux.go();
    return pane;
  }

  #run(args: string[]): Promise<string> {
    return runTmux(this.#tmux.socket, [...args]);
  }

  /** The visible rows, trailing blanks trimmed. */
  async screen(): Promise<string[]> {
    const out = await this.#run(["capture-pane", "-p", "-t", "sb"]);
    return out.replace(/\n$/, "").split("\n").map((r) => r.trimEnd());
  }

  /** Rows in the history (above the screen). */
  async historySize(): Promise<number> {
    const out = await this.#run([
      "display",
      "-p",
      "-t",
      "sb",
      "#{history_size}",
    ]);
    return Number(out.trim());
  }

  /** History and screen, one row a line. */
  async everything(): Promise<string> {
    return await this.#run(["capture-pane", "-p", "-S", "-", "-t", "sb"]);
  }

  /** Pid of the private tmux server. */
  async serverPid(): Promise<number> {
    return Number((await this.#run(["display", "-p", "#{pid}"])).trim());
  }

  async send(keys: string, literal = false): Promise<void> {
    await this.#run([
      "send-keys",
      "-t",
      "sb",
      ...(literal ? ["-l"] : []),
      keys,
    ]);
  }

  /** Polls the screen until `test` holds; throws with the last screen on timeout. */
  async waitFor(
    test: (rows: string[]) => boolean,
    timeoutMs: number,
  ): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const rows = await this.screen();
      if (test(rows)) return rows;
      if (Date.now() >= deadline) {
        throw new Error(
          `tmosh: screen not as expected within ${timeoutMs} ms:\n${
            rows.join("\n")
          }`,
        );
      }
      await delay(POLL_MS);
    }
  }

  async kill(): Promise<void> {
    await this.#run(["kill-server"]).catch(() => {});
    await Deno.remove(this.#tmux.dir, { recursive: true }).catch(() => {});
  }
}

/** The shell's prompt alone on the cursor row: ready for a command. */
function promptShown(rows: string[]): boolean {
  return rows.some((r) => r === "$");
}

/** The marker, then the prompt on the row below it. */
function promptBack(rows: string[]): boolean {
  const i = rows.lastIndexOf(MARKER);
  return i >= 0 && rows[i + 1] === "$";
}

/** Lines of 1..n found once each and in order, and the gap lines' total. */
export function countLines(
  text: string,
  n: number,
): Pick<
  Figures,
  | "delivered"
  | "duplicates"
  | "outOfOrder"
  | "collapsed"
  | "gapLines"
  | "missing"
> {
  const seen = new Uint8Array(n + 1);
  const inOrder = new Uint8Array(n + 1);
  let previous = 0, outOfOrder = 0, collapsed = 0, gapLines = 0;
  const gap = /^\[tmosh: (\d+) lines not delivered\]$/;
  for (const row of text.split("\n")) {
    const line = row.trimEnd();
    if (/^\d+$/.test(line)) {
      const v = Number(line);
      if (v < 1 || v > n) continue;
      if (seen[v] < 255) seen[v]++;
      if (v > previous) inOrder[v] = 1;
      else outOfOrder++;
      previous = v;
      continue;
    }
    const g = gap.exec(line);
    if (g !== null) {
      collapsed += Number(g[1]);
      gapLines++;
    }
  }
  let delivered = 0, duplicates = 0, from = 0;
  const missing: string[] = [];
  for (let v = 1; v <= n + 1; v++) {
    const once = v <= n && seen[v] === 1 && inOrder[v] === 1;
    if (once) delivered++;
    else if (v <= n && seen[v] > 1) duplicates++;
    if (!once && v <= n && from === 0) from = v;
    if ((once || v > n) && from > 0) {
      if (missing.length < MISSING_RANGES_SHOWN) {
        missing.push(`${from}-${v - 1}`);
      }
      from = 0;
    }
  }
  return { delivered, duplicates, outOfOrder, collapsed, gapLines, missing };
}

/** What a run needs started: the terminal's command and the processes to measure. */
interface Setup {
  command: string;
  env: Record<string, string>;
  /** The server processes (read once the session is up). */
  serverPids(): Promise<number[]>;
  /** A pattern of the client's command line, for its pid. */
  clientPattern: string;
  stop(): Promise<void>;
}

async function setUp(kind: Kind): Promise<Setup> {
  const env = { LANG: "C.UTF-8", TERM: "xterm-256color" };
  if (kind === "ssh -tt") {
    const sshd = await startSshd();
    const dir = dirname(sshd.configPath);
    const remote = "PS1='$ ' exec /bin/sh -i";
    return {
      command: `exec ssh -F ${dir}/ssh_config -tt 127.0.0.1 "${remote}"`,
      env,
      async serverPids() {
        const listener = Number(
          (await Deno.readTextFile(`${dir}/sshd.pid`)).trim(),
        );
        return await descendants(listener);
      },
      clientPattern: `ssh -F ${dir}/ssh_config`,
      stop: sshd.stop,
    };
  }
  const server = kind === "stock mosh"
    ? await startStockServer({ command: SHELL, port: `${await freeUdpPort()}` })
    : await startTmoshServer(SHELL);
  const client = kind === "stock mosh" ? "mosh-client" : tmoshCommand("client");
  return {
    command: `exec ${client} 127.0.0.1 ${server.port}`,
    env: {
      ...env,
      MOSH_KEY: server.key,
      ...(kind === "tmosh off" ? { TMOSH_SCROLLBACK: "off" } : {}),
    },
    serverPids: () => Promise.resolve([server.pid]),
    clientPattern: ` 127.0.0.1 ${server.port}`,
    stop: server.stop,
  };
}

/** One run: start, type the command, time it, count what the terminal holds. */
async function runOne(kind: Kind, lines: number): Promise<Figures> {
  const setup = await setUp(kind);
  let pane: Pane | null = null;
  try {
    pane = await Pane.start(
      setup.command,
      setup.env,
      Math.max(2_100_000, lines + HISTORY_SPARE),
    );
    await pane.waitFor(promptShown, START_MS);
    await delay(500);
    const serverPids = await setup.serverPids();
    const clientPids = await findPids(setup.clientPattern);
    const tmuxPids = [await pane.serverPid()];
    await pane.send(`seq 1 ${lines}; echo BENCH-$((20+22))-DONE`, true);
    await delay(200); // the command line reaches the screen first
    const server0 = await cpuOf(serverPids);
    const client0 = await cpuOf(clientPids);
    const tmux0 = await cpuOf(tmuxPids);
    const start = performance.now();
    await pane.send("Enter");
    await pane.waitFor(promptBack, RUN_MS);
    const promptS = (performance.now() - start) / 1000;
    // The history may still grow (the scrollback log's last slices).
    let size = await pane.historySize(), grown = performance.now();
    while (performance.now() - grown < SETTLE_QUIET_MS) {
      await delay(POLL_MS);
      const now = await pane.historySize();
      if (now !== size) {
        size = now;
        grown = performance.now();
      }
      if (performance.now() - start > RUN_MS) break;
    }
    const settledS = Math.max(promptS, (grown - start) / 1000);
    const serverCpuS = cpuUsed(server0, await cpuOf(serverPids));
    const clientCpuS = cpuUsed(client0, await cpuOf(clientPids));
    const tmuxCpuS = cpuUsed(tmux0, await cpuOf(tmuxPids));
    const counts = countLines(await pane.everything(), lines);
    return {
      kind,
      promptS,
      settledS,
      serverCpuS,
      clientCpuS,
      tmuxCpuS,
      ...counts,
    };
  } finally {
    await pane?.kill();
    await setup.stop();
  }
}

/** The programs a kind needs that are missing. */
function missingFor(kind: Kind): string[] {
  switch (kind) {
    case "stock mosh":
      return missingPeers("mosh-server", "mosh-client");
    case "ssh -tt":
      return missingPeers("sshd", "ssh", "ssh-keygen");
    default:
      return [];
  }
}

function cell(v: number | null, digits: number, width: number): string {
  return (v === null ? "n/a" : v.toFixed(digits)).padStart(width);
}

function printTable(results: (Figures | Skipped)[], lines: number): void {
  console.log(
    `seq 1 ${lines} then a marker echo, ${WIDTH}x${HEIGHT} tmux pane ` +
      `(history-limit ${
        Math.max(2_100_000, lines + HISTORY_SPARE)
      }), loopback:`,
  );
  console.log(
    "  setup          prompt s  settled s  server CPU s  client CPU s  " +
      "tmux CPU s  " +
      "delivered  collapsed (gaps)  dup/order",
  );
  console.log(
    "  (prompt / settled: from Enter to the prompt back / to the history's " +
      "last growth;\n   delivered: of 1..N, once each and in order in " +
      "history + screen; ssh's server CPU: sshd session + shell)",
  );
  for (const r of results) {
    if (!("promptS" in r)) {
      console.log(`  ${r.kind.padEnd(13)}  ${r.reason}`);
      continue;
    }
    console.log(
      `  ${r.kind.padEnd(13)}` + cell(r.promptS, 2, 10) +
        cell(r.settledS, 2, 11) + cell(r.serverCpuS, 2, 14) +
        cell(r.clientCpuS, 2, 14) + cell(r.tmuxCpuS, 2, 12) +
        `${r.delivered}`.padStart(11) +
        `${r.collapsed} (${r.gapLines})`.padStart(18) +
        `${r.duplicates}/${r.outOfOrder}`.padStart(11),
    );
    // Stock mosh and `off` keep only the last screen: nothing to name there.
    if (r.missing.length > 0 && HISTORY_KINDS.includes(r.kind)) {
      console.log(`    not delivered once, in order: ${r.missing.join(" ")}`);
    }
  }
  const byKind = new Map(
    results.filter((r): r is Figures => "promptS" in r).map((r) => [r.kind, r]),
  );
  const native = byKind.get("tmosh native"), ssh = byKind.get("ssh -tt");
  if (native !== undefined) {
    const all = native.delivered === lines;
    console.log(
      `  goal: every line delivered when the link keeps up: ` +
        `${native.delivered} of ${lines} ${all ? "(met)" : "(MISSED)"}`,
    );
  }
  if (native !== undefined && ssh !== undefined) {
    const ratio = native.settledS / ssh.settledS;
    console.log(
      `  goal: wall with scrollback <= ${WALL_GOAL}x ssh: ` +
        `${ratio.toFixed(2)}x (settled; prompt ${
          (native.promptS / ssh.promptS).toFixed(2)
        }x) ${ratio <= WALL_GOAL ? "(met)" : "(MISSED)"}`,
    );
  }
}

/** Runs the scrollback benchmark and prints its table (a missing peer leaves its row "not installed"). */
export async function benchScrollback(
  options: ScrollbackBenchOptions = {},
): Promise<void> {
  const quick = Deno.env.get("SCROLLBACK_BENCH_QUICK") === "1";
  const lines = options.lines ??
    Number(
      Deno.env.get("SCROLLBACK_BENCH_LINES") ?? (quick ? 200_000 : 2_000_000),
    );
  if (await findBinary("tmux") === null) {
    console.log("scrollback: skipped ('tmux' is not installed)");
    return;
  }
  const results: (Figures | Skipped)[] = [];
  const only = Deno.env.get("SCROLLBACK_BENCH_KINDS")?.split(",").map((k) =>
    k.trim()
  );
  for (const kind of KINDS.filter((k) => only?.includes(k) ?? true)) {
    const missing = missingFor(kind);
    if (missing.length > 0) {
      results.push({
        kind,
        reason: `not installed (${missing.join(", ")})`,
      });
      continue;
    }
    try {
      results.push(await runOne(kind, lines));
    } catch (error) {
      const first = `${(error as Error).message ?? error}`.split("\n")[0];
      results.push({ kind, reason: `failed: ${first}` });
    }
  }
  printTable(results, lines);
}

if (import.meta.main) {
  if (Deno.args.includes("--quick")) {
    Deno.env.set("SCROLLBACK_BENCH_QUICK", "1");
  }
  await benchScrollback();
}
