/**
 * Attaching another client to a running session with a fresh key
 * (docs/wire.md §15, docs/architecture.md §8.3): the control socket's
 * `attach` prepares the key on the session's connection and answers with the
 * port and key; `tmosh serve attach ID|NAME` and `tmosh serve --attach=ID`
 * print them as the `MOSH CONNECT` line a `mosh` wrapper or `tmosh connect`
 * reads.
 * @module
 */

import type { Connection } from "../protocol/network/connection.ts";
import { encodeKey, generateKey } from "../protocol/crypto/key.ts";
import { writeAll } from "../stdio.ts";
import { readRecords, registryDir } from "./registry.ts";
import { isRelayRecord } from "./relay_args.ts";

/** What an attach hands the new client: the session's UDP port and its fresh key (22 characters). */
export interface AttachGrant {
  /** The session's UDP port. */
  port: number;
  /** The fresh key, printable (never logged, never in argv or files). */
  key: string;
}

/**
 * Prepares a fresh random key on `connection` (a second call replaces the
 * first; it expires after PENDING_KEY_TIMEOUT unused); throws a one-line
 * error when the session is ending.
 */
export function prepareAttach(connection: Connection): AttachGrant {
  const key = generateKey();
  try {
    connection.prepareKey(key);
    return { port: connection.port, key: encodeKey(key) };
  } finally {
    key.fill(0); // the connection's cipher holds its own copy
  }
}

/** Prints the line the mosh wrapper looks for, after `\r\n` when stdin is a tty (mosh: run_server). */
export function printConnect(port: number, key: string): void {
  const prefix = Deno.stdin.isTerminal() ? "\r\n\n" : "";
  writeAll(Deno.stdout, `${prefix}MOSH CONNECT ${port} ${key}\n`);
}

/**
 * Tells the user starting a new session how many of their other sessions
 * wait detached: one `TMOSH DETACHED <n> ...` line before MOSH CONNECT,
 * which `tmosh connect` turns into its notice and a `mosh` wrapper shows
 * as is. Nothing when there are none or the registry cannot be read.
 */
export function printDetachedNotice(
  env: Record<string, string | undefined>,
  options: { exceptPid?: number; exceptId?: string },
): void {
  let n = 0;
  try {
    // Sessions a client left (not ones still waiting for their first).
    n = readRecords(registryDir(env)).filter((r) =>
      !r.attached && r.lastHeard !== null && r.pid !== options.exceptPid &&
      r.id !== options.exceptId &&
      !isRelayRecord(r) // a jump-host relay (docs/wire.md §16)
    ).length;
  } catch {
    return;
  }
  if (n === 0) return;
  writeAll(
    Deno.stdout,
    `TMOSH DETACHED ${n} (detached tmosh sessions here: tmosh serve list)\n`,
  );
}
