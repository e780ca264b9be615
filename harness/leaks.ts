/**
 * Finding what a test run left behind. `deno task test` (tools/test_run.ts)
 * runs the suite with `TMOSH_TEST_RUN=<id>` in its environment; every process
 * a test starts inherits it (servers, relays inside `tmosh demo`, tmux
 * servers, sshd, shells), including the few started with a cleared
 * environment (harness/serve_process.ts passes it on) or through the private
 * sshd (which accepts it, like TMOSH_TEST_MARK). Once the suite has finished,
 * any live process still carrying the id is a leak. Runs of other users of
 * the machine carry other ids, so they are never counted.
 * @module
 */

/** Variable carrying the id of the test run (set by tools/test_run.ts). */
export const TEST_RUN_VAR = "TMOSH_TEST_RUN";

/** A process left behind by a run. */
export interface Leftover {
  /** Process id. */
  pid: number;
  /** What it is: tmux server, tmosh server, mosh-server, tmosh demo (client and relay), sshd, or other. */
  kind: string;
  /** Its command line, words joined by spaces. */
  command: string;
}

/** `name=value` pairs of the test environment to pass to a process started with a cleared environment. */
export function runEnv(): Record<string, string> {
  const id = Deno.env.get(TEST_RUN_VAR);
  return id === undefined ? {} : { [TEST_RUN_VAR]: id };
}

/** What kind of process a command line is, for the leak report. */
export function leftoverKind(command: string): string {
  if (/^\S*tmux\b/.test(command)) return "tmux server";
  if (/main\.ts serve\b|tmosh serve\b/.test(command)) return "tmosh server";
  if (/mosh-server\b/.test(command)) return "mosh-server";
  if (/main\.ts demo\b/.test(command)) return "tmosh demo (client and relay)";
  if (/main\.ts (client|connect)\b/.test(command)) return "tmosh client";
  if (/\bsshd\b/.test(command)) return "sshd";
  return "other";
}

/** Live processes (not zombies, not this one) whose environment holds `TMOSH_TEST_RUN=id`. */
export async function findLeftovers(id: string): Promise<Leftover[]> {
  const wanted = `${TEST_RUN_VAR}=${id}`;
  const found: Leftover[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (pid === Deno.pid) continue;
    try {
      const environ = await Deno.readTextFile(`/proc/${pid}/environ`);
      if (!environ.split("\0").includes(wanted)) continue;
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      const state = stat.slice(
        stat.lastIndexOf(")") + 2,
        stat.lastIndexOf(")") + 3,
      );
      if (state === "Z" || state === "X") continue;
      const command = (await Deno.readTextFile(`/proc/${pid}/cmdline`))
        .replaceAll("\0", " ").trim();
      found.push({ pid, kind: leftoverKind(command), command });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Waits up to `graceMs` for the run's processes to end; returns those still alive. */
export async function waitLeftovers(
  id: string,
  graceMs: number,
): Promise<Leftover[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left = await findLeftovers(id);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** SIGKILLs the processes (cleaning up after a leak has been reported). */
export function killLeftovers(left: Leftover[]): void {
  for (const { pid } of left) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}
