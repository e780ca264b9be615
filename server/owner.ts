/**
 * A server that belongs to another process (`tmosh demo` starts its server
 * with `TMOSH_OWNER_PID` set) ends when that process ends, however it ends,
 * SIGKILL included. The server daemonises, so the owner is not its parent
 * and PR_SET_PDEATHSIG cannot serve; instead the owner's `/proc/PID/stat` is
 * checked a few times a second, its start time guarding against a reused pid.
 * @module
 */

/** Variable naming the pid of the process whose end ends the server (internal; not passed to the program). */
export const OWNER_PID_VAR = "TMOSH_OWNER_PID";

/** How often the owner is checked, ms. */
const OWNER_CHECK_MS = 200;

/** Removes the owner variable from `env`; returns the pid it named, or null when unset or malformed. */
export function takeOwnerPid(env: Record<string, string>): number | null {
  return takePid(env, OWNER_PID_VAR);
}

/** Removes variable `name` from `env`; returns the pid it named, or null when unset or malformed. */
export function takePid(
  env: Record<string, string>,
  name: string,
): number | null {
  const text = env[name];
  delete env[name];
  if (text === undefined || !/^[1-9]\d{0,9}$/.test(text)) return null;
  return Number(text);
}

/** The start time field of /proc/PID/stat, or null when the process is gone or a zombie. */
export function startTime(pid: number): string | null {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // Fields after "(comm)": state is the first, starttime the 20th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return null;
  return fields[19] ?? null;
}

/**
 * Calls `onGone` once process `pid` has ended (at once if it already has);
 * returns a function that stops watching. The checks do not keep the
 * process alive.
 */
export function watchOwner(pid: number, onGone: () => void): () => void {
  const started = startTime(pid);
  if (started === null) {
    queueMicrotask(onGone);
    return () => {};
  }
  const timer = setInterval(() => {
    if (startTime(pid) === started) return;
    clearInterval(timer);
    onGone();
  }, OWNER_CHECK_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
