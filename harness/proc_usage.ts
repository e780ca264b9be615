/**
 * What a process costs while it idles, from /proc: CPU time and wake-ups of
 * all its threads (Deno's V8 workers and tokio threads included), and its
 * memory as RSS, PSS and USS, for benchmarks side by side with stock Mosh.
 * @module
 */

/** CPU time and wake-ups of a process's live threads, cumulative. */
export interface ThreadUsage {
  /** Time on a CPU, ms (/proc/PID/task/TID/schedstat, nanoseconds). */
  cpuMs: number;
  /** Context switches, voluntary and not: each one is a wake-up of a sleeping thread or a preemption. */
  wakeups: number;
  /** Voluntary context switches only: a thread slept and was woken (preemptions on a loaded machine left out). */
  sleeps: number;
}

/** Memory of a process, MiB. */
export interface MemoryUsage {
  /** Resident set size (shared pages counted in full). */
  rss: number;
  /** Proportional set size (shared pages split among their users). */
  pss: number;
  /** Unique set size: private pages only, what ending the process frees. */
  uss: number;
  /** Peak RSS since start or the last resetPeak (VmHWM). */
  peak: number;
}

/** Sums CPU time and context switches over every live thread of `pid`; null if it is gone. */
export async function threadUsage(pid: number): Promise<ThreadUsage | null> {
  try {
    let cpuNs = 0;
    let wakeups = 0;
    let sleeps = 0;
    for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
      const base = `/proc/${pid}/task/${task.name}`;
      try {
        const sched = await Deno.readTextFile(`${base}/schedstat`);
        cpuNs += Number(sched.split(" ")[0]);
        const status = await Deno.readTextFile(`${base}/status`);
        for (const m of status.matchAll(/^(\w*)ctxt_switches:\s+(\d+)/gm)) {
          wakeups += Number(m[2]);
          if (m[1] === "voluntary_") sleeps += Number(m[2]);
        }
      } catch {
        // the thread ended while we read
      }
    }
    return { cpuMs: cpuNs / 1e6, wakeups, sleeps };
  } catch {
    return null;
  }
}

/** CPU time every process of the machine has used since boot, ms (/proc/stat: all but idle and iowait). */
export async function machineBusyMs(): Promise<number> {
  const cpu = (await Deno.readTextFile("/proc/stat")).split("\n")[0];
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = cpu
    .split(/\s+/).slice(1).map(Number);
  const ticks = user + nice + system + irq + softirq + (steal ?? 0);
  return ticks * 1000 / USER_HZ;
}

/** Clock ticks per second of /proc/stat (Linux's USER_HZ). */
const USER_HZ = 100;

/** RSS, PSS, USS and peak of `pid` in MiB; null if it is gone. */
export async function memoryUsage(pid: number): Promise<MemoryUsage | null> {
  try {
    const rollup = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = (text: string, name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text)?.[1] ?? 0);
    return {
      rss: kb(rollup, "Rss") / 1024,
      pss: kb(rollup, "Pss") / 1024,
      uss: (kb(rollup, "Private_Clean") + kb(rollup, "Private_Dirty")) / 1024,
      peak: kb(status, "VmHWM") / 1024,
    };
  } catch {
    return null;
  }
}

/** The usage between two readings (null when either is missing). */
export function usageDelta(
  before: ThreadUsage | null,
  after: ThreadUsage | null,
): ThreadUsage | null {
  if (before === null || after === null) return null;
  return {
    cpuMs: after.cpuMs - before.cpuMs,
    wakeups: after.wakeups - before.wakeups,
    sleeps: after.sleeps - before.sleeps,
  };
}
