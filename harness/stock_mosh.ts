/**
 * Starts stock Mosh's `mosh-server` for interoperability tests, and small
 * /proc utilities to find and check the processes a test started.
 * @module
 */

import { findBinary, requirePeers } from "./require_peer.ts";
import { randomTestPort } from "./ports.ts";
import { TEST_MARK_VAR } from "./sshd.ts";

/** Options of {@linkcode startStockServer}. */
export interface StockServerOptions {
  /** Command run by the server; default `["/bin/sh"]` (no login shell, fast and deterministic). */
  command?: string[];
  /** Extra environment for mosh-server (LANG=C.UTF-8 is set unless given). */
  env?: Record<string, string>;
  /** Port or range for `-p`; default a random range below 32768, then Mosh's default. */
  port?: string;
}

/** A detached stock mosh-server. */
export interface StockServer {
  /** UDP port it listens on. */
  port: number;
  /** Session key (22 base64 characters). Never log it. */
  key: string;
  /** Pid of the detached server process. */
  pid: number;
  /** Value of TMOSH_TEST_MARK in the server's (and its shell's) environment. */
  mark: string;
  /** Kills the server (and its shell) if still alive, and waits until they are gone. */
  stop(): Promise<void>;
  /** True once the server process has exited. */
  exited(): Promise<boolean>;
}

/** Ports in each random range offered to mosh-server. */
const RANGE_SPAN = 16;
/** Random ranges tried before Mosh's default range. */
const RANGE_ATTEMPTS = 4;
/** How long stop() waits after SIGTERM before SIGKILL, ms. */
const STOP_GRACE_MS = 2000;

/** Starts `mosh-server new` and parses its `MOSH CONNECT` line and detached pid. */
export async function startStockServer(
  options: StockServerOptions = {},
): Promise<StockServer> {
  requirePeers("mosh-server");
  const binary = (await findBinary("mosh-server"))!;
  const command = options.command ?? ["/bin/sh"];
  const mark = `stock-${crypto.randomUUID()}`;
  const env = { LANG: "C.UTF-8", ...options.env, [TEST_MARK_VAR]: mark };
  const ranges = options.port !== undefined ? [options.port] : [
    ...Array.from({ length: RANGE_ATTEMPTS }, () => {
      const low = randomTestPort(RANGE_SPAN);
      return `${low}:${low + RANGE_SPAN - 1}`;
    }),
    null,
  ];
  let lastError = "";
  for (const range of ranges) {
    const args = [
      "new",
      ...(range === null ? [] : ["-p", range]),
      "--",
      ...command,
    ];
    const out = await new Deno.Command(binary, { args, env, stdin: "null" })
      .output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const connect = stdout.match(
      /^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})\s*$/m,
    );
    const detached = stderr.match(/\[mosh-server detached, pid = (\d+)\]/);
    if (connect !== null && detached !== null) {
      return stockServer(
        Number(connect[1]),
        connect[2],
        Number(detached[1]),
        mark,
      );
    }
    // stdout is not quoted: it would hold the key on a partial success.
    lastError = `exit ${out.code}: ${stderr.trim()}`;
    if (detached !== null) await killAndWait([Number(detached[1])]);
    if (!/bind/i.test(stderr)) break;
  }
  throw new Error(`tmosh: stock mosh-server did not start (${lastError})`);
}

/** Builds the handle of a started server. */
function stockServer(
  port: number,
  key: string,
  pid: number,
  mark: string,
): StockServer {
  return {
    port,
    key,
    pid,
    mark,
    stop: () => killServer(pid, mark),
    async exited() {
      return !await processAlive(pid);
    },
  };
}

/** Kills a detached server, its descendants and every process carrying its test mark; waits until gone. */
export async function killServer(pid: number, mark: string): Promise<void> {
  const marked = await findPidsWithEnv(TEST_MARK_VAR, mark);
  await killAndWait([...new Set([pid, ...await descendants(pid), ...marked])]);
}

/** SIGTERMs the processes, then SIGKILLs any still alive after a grace period. */
export async function killAndWait(pids: number[]): Promise<void> {
  const signal = function signal(pid: number, sig: Deno.Signal): void {
    try {
      Deno.kill(pid, sig);
    } catch {
      // gone already
    }
  };
  for (const pid of pids) signal(pid, "SIGTERM");
  const deadline = Date.now() + STOP_GRACE_MS;
  while (Date.now() < deadline) {
    if (!(await Promise.all(pids.map(processAlive))).some(Boolean)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  for (const pid of pids) signal(pid, "SIGKILL");
  for (
    let i = 0;
    i < 40 && (await Promise.all(pids.map(processAlive))).some(Boolean);
    i++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Reads /proc/PID/stat fields after the command name: [state, ppid, ...]; null if gone. */
async function statFields(pid: number): Promise<string[] | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** True if the process exists and is not a zombie (a dead, unreaped process counts as gone). */
export async function processAlive(pid: number): Promise<boolean> {
  const fields = await statFields(pid);
  return fields !== null && fields[0] !== "Z" && fields[0] !== "X";
}

/** Waits until `pid` is gone; false if it is still alive after `ms`. */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!await processAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

/** Lists the pids of all processes (from /proc). */
async function allPids(): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (/^\d+$/.test(entry.name)) pids.push(Number(entry.name));
  }
  return pids;
}

/** Returns the pids of the live descendants of `pid` (children, grandchildren, ...). */
export async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const p of await allPids()) {
    const fields = await statFields(p);
    if (fields !== null && fields[0] !== "Z") parents.set(p, Number(fields[1]));
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parents) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Returns the pids of live processes whose command line (words joined by spaces) matches. */
export async function findPids(pattern: RegExp | string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await allPids()) {
    if (pid === Deno.pid) continue;
    let cmdline: string;
    try {
      cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll(
        "\0",
        " ",
      ).trim();
    } catch {
      continue;
    }
    const hit = typeof pattern === "string"
      ? cmdline.includes(pattern)
      : pattern.test(cmdline);
    if (hit && await processAlive(pid)) found.push(pid);
  }
  return found;
}

/** Returns the pids of live processes whose environment has `name=value` (e.g. the test mark). */
export async function findPidsWithEnv(
  name: string,
  value: string,
): Promise<number[]> {
  const wanted = `${name}=${value}`;
  const found: number[] = [];
  for (const pid of await allPids()) {
    try {
      const environ = await Deno.readTextFile(`/proc/${pid}/environ`);
      if (environ.split("\0").includes(wanted) && await processAlive(pid)) {
        found.push(pid);
      }
    } catch {
      // gone, or not readable
    }
  }
  return found;
}

/** Kills every live process carrying `name=value` in its environment and waits until gone. */
export async function killPidsWithEnv(
  name: string,
  value: string,
): Promise<void> {
  await killAndWait(await findPidsWithEnv(name, value));
}
