/**
 * The end of an old client's epoch when another client attached with a fresh
 * key (docs/wire.md §15): its transport moves to a send-only connection under
 * the old key towards the old client's last address, sends the final state
 * (carrying the `detached` notice when the old client speaks `attach.v1`) and
 * the shutdown, and is closed once the shutdown is over or given up. The old
 * client's datagrams no longer authenticate, so nothing is received: a stock
 * mosh-client acknowledges the shutdown and exits, a tmosh client shows who
 * attached and exits.
 * @module
 */

import type { Connection, RemoteAddr } from "../protocol/network/connection.ts";
import type { ErrorGuard } from "../protocol/network/guard.ts";
import type { SessionTransport } from "../protocol/network/transport.ts";
import type { CompleteTerminal } from "../protocol/statesync/complete_terminal.ts";
import type { UserStream } from "../protocol/statesync/user_stream.ts";
import { SHUTDOWN_TIMEOUT } from "../protocol/network/constants.ts";

/** Longest a farewell lasts, ms: the shutdown's own limit (SHUTDOWN_TIMEOUT) and a second. */
export const FAREWELL_MAX_MS = SHUTDOWN_TIMEOUT + 1000;

/** An old client's epoch saying goodbye. */
export interface Farewell {
  /** Settles when the shutdown is over (sent and given up, or acknowledged) or the farewell was closed. */
  readonly done: Promise<void>;
  /** Stops sending and closes the old epoch's transport (idempotent). */
  close(): Promise<void>;
}

/** Options of {@linkcode sayFarewell}. */
export interface FarewellOptions {
  /** The old client's final state (the session's screen, with `detachedBy` when it speaks attach.v1). */
  final: CompleteTerminal;
  /** The session's loop boundary. */
  guard: ErrorGuard;
}

/** Moves `old` onto `link` (the old key, the old address) and sends `final` and the shutdown. */
export function sayFarewell(
  old: SessionTransport<CompleteTerminal, UserStream>,
  link: Connection,
  options: FarewellOptions,
): Farewell {
  const done = Promise.withResolvers<void>();
  old.moveTo(link);
  // Nothing to say to a client never heard, or silent for so long that
  // its address was forgotten.
  const speak = link.hasRemote;
  const timer = speak
    ? setTimeout(
      options.guard.wrap("the old client's farewell", () => void close()),
      FAREWELL_MAX_MS,
    )
    : undefined;
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    if (closing === null) {
      clearTimeout(timer);
      closing = old.close().finally(() => done.resolve());
    }
    return closing;
  };
  if (!speak) {
    void close();
    return { done: done.promise, close };
  }
  if (!old.shuttingDown) {
    old.setCurrentState(options.final);
    old.startShutdown();
  }
  old.onTick(() => {
    if (old.sessionEnd() !== null) void close();
  });
  return { done: done.promise, close };
}

/** `IP:PORT` (`[IP]:PORT` for IPv6), or null. */
export function formatAddr(addr: RemoteAddr | null): string | null {
  if (addr === null) return null;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
