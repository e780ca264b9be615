/**
 * Gives back the runtime executable's resident pages once a burst of work is
 * over. Start-up touches tens of MiB of the deno binary (the TypeScript and
 * npm machinery among them) that an idle session never runs again; those
 * clean, file-backed pages stay in the process's RSS until memory runs short.
 * madvise(MADV_DONTNEED) drops them from this process; a page still in use
 * comes back from the page cache at its next touch (a minor fault), so the
 * RSS that remains is what the session uses (docs/architecture.md §12.2).
 * Only read-only mappings of the executable without a private or anonymous
 * page are dropped: a written page (relocations) would lose its contents.
 * @module
 */
import { libc, MADV_DONTNEED } from "../../libc.ts";

/** A mapping that may be dropped: start address and length, bytes. */
interface Span {
  start: bigint;
  length: bigint;
}

/** Read-only mappings of `exe` in `smaps` (the text of /proc/self/smaps) whose every page is clean and backed by the file. */
export function cleanExecutableSpans(smaps: string, exe: string): Span[] {
  const spans: Span[] = [];
  for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const head = block.slice(0, block.indexOf("\n")).trim().split(/\s+/);
    if (head.length < 6 || head.slice(5).join(" ") !== exe) continue;
    if (head[1] !== "r--p" && head[1] !== "r-xp") continue;
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(block)?.[1]);
    // A field missing (NaN) fails the test too: keep the mapping.
    if (!(kb("Private_Dirty") === 0 && kb("Anonymous") === 0)) continue;
    const [start, end] = head[0].split("-").map((x) => BigInt(`0x${x}`));
    if (end > start) spans.push({ start, length: end - start });
  }
  return spans;
}

/**
 * Returns the free memory of glibc's malloc arenas to the system
 * (malloc_trim): the runtime's native buffers of a burst (sockets, zlib,
 * the pty) are freed but stay resident otherwise. Returns whether any was
 * returned; never throws (false without glibc or FFI).
 */
export function trimMallocArenas(): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    return libc().malloc_trim(0n) === 1;
  } catch {
    return false;
  }
}

/** Drops this process's clean resident pages of the deno executable; returns the bytes of the mappings advised (0 off Linux or without FFI). Never throws. */
export function trimExecutablePages(): number {
  if (Deno.build.os !== "linux") return 0;
  try {
    const spans = cleanExecutableSpans(
      Deno.readTextFileSync("/proc/self/smaps"),
      Deno.execPath(),
    );
    let bytes = 0;
    for (const { start, length } of spans) {
      if (libc().madvise(start, length, MADV_DONTNEED) === 0) {
        bytes += Number(length);
      }
    }
    return bytes;
  } catch {
    return 0; // no /proc, no FFI permission: nothing trimmed
  }
}
