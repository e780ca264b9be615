/**
 * A process's memory as Linux reports it in /proc/<pid>/status, for tests
 * that bound what a peer may make a tmosh process hold.
 * @module
 */

/** Resident memory of a process, bytes. */
export interface ProcMemory {
  /** Resident set size now (VmRSS). */
  rss: number;
  /** Peak resident set size (VmHWM), since start or the last resetPeak(). */
  peak: number;
}

/** Reads VmRSS and VmHWM of `pid`; throws if the process is gone. */
export async function procMemory(pid: number): Promise<ProcMemory> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
    if (m === null) throw new Error(`tmosh: no ${field} for pid ${pid}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

/** Like procMemory, but zeros for a process that is gone. */
export async function procMemoryIfAlive(pid: number): Promise<ProcMemory> {
  try {
    return await procMemory(pid);
  } catch {
    return { rss: 0, peak: 0 };
  }
}

/**
 * Resets `pid`'s peak (VmHWM) to its current RSS (Linux: clear_refs 5);
 * returns false where that is not allowed.
 */
export async function resetPeak(pid: number): Promise<boolean> {
  try {
    await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Megabytes (MiB) with one decimal, for messages. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
