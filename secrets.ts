/**
 * Keeping the session key out of places it does not need to be, as stock
 * Mosh does: no core files (RLIMIT_CORE 0, so a crash never writes the key to
 * disk) and no `MOSH_KEY` left in the environment once it has been read.
 * Linux/glibc through FFI; without FFI permission nothing is done (the server
 * cannot run without it anyway).
 * @module
 */

import { type Libc, libc } from "./libc.ts";

/** Linux's RLIMIT_CORE (resource number of the core file size limit). */
const RLIMIT_CORE = 4;

/** libc, or null where FFI is not permitted or there is no glibc. */
function libcOrNull(): Libc | null {
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return null;
    }
    return libc();
  } catch {
    return null;
  }
}

/**
 * Sets RLIMIT_CORE to 0 (soft and hard) for this process and the programs it
 * starts (mosh: the "Disable core dumps" block of mosh-client.cc and
 * mosh-server.cc main). Returns a warning, or null when done.
 */
export function disableCoreDumps(): string | null {
  const c = libcOrNull();
  if (c === null) {
    return "tmosh: could not disable core dumps (needs FFI on Linux/glibc)";
  }
  // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; } with 64-bit rlim_t.
  if (c.setrlimit(RLIMIT_CORE, new BigUint64Array([0n, 0n])) !== 0) {
    return "tmosh: setrlimit(RLIMIT_CORE) failed; core dumps stay enabled";
  }
  return null;
}

/** Whether {@linkcode disableCoreDumpsOnce} has run in this process. */
let coreDumpsDone = false;

/**
 * {@linkcode disableCoreDumps} once per process, its warning on stderr. Its
 * FFI start-up costs a Deno process 15-80 ms, so the processes on the path to
 * a prompt call it only once a key can exist (docs/architecture.md §12.4).
 */
export function disableCoreDumpsOnce(): void {
  if (coreDumpsDone) return;
  coreDumpsDone = true;
  const warning = disableCoreDumps();
  if (warning !== null) console.error(warning);
}

/**
 * Removes `name` from the environment and overwrites its value in place
 * first: unsetenv alone leaves the text in the process's initial environment
 * block, which /proc/PID/environ keeps showing for the process's lifetime.
 */
export function forgetEnv(name: string): void {
  const c = libcOrNull();
  if (c !== null && !name.includes("\0") && !name.includes("=")) {
    const p = c.getenv(new TextEncoder().encode(`${name}\0`));
    if (p !== null) c.memset(p, 0, c.strlen(p));
  }
  Deno.env.delete(name);
}
