/**
 * UDP port ranges: parsing `PORT` / `LOW:HIGH` as mosh-server does, and
 * binding the first free port of a range in order, on a requested IP or
 * the wildcard address (docs/wire.md §1.4).
 * @module
 */

import { isIP } from "./ip_syntax.ts";
import { errorText } from "./os_error.ts";

/** Largest valid UDP port number. */
const MAX_PORT = 65535;

/** Parses `N` or `LOW:HIGH` (decimal, 0..65535, LOW ≤ HIGH, no LOW 0 in a range) into [low, high]. */
export function parsePortRange(text: string): [number, number] {
  const bad = (why: string) =>
    new Error(`tmosh: bad UDP port range "${text}": ${why}`);
  const match = /^(\d+)(?::(\d+))?$/.exec(text);
  if (match === null) {
    throw bad("expected PORT or LOW:HIGH, decimal numbers (e.g. 60001:60999)");
  }
  const low = Number(match[1]);
  if (low > MAX_PORT) {
    throw bad(`port ${match[1]} is outside 0..${MAX_PORT}`);
  }
  if (match[2] === undefined) return [low, low];
  const high = Number(match[2]);
  if (high > MAX_PORT) {
    throw bad(`port ${match[2]} is outside 0..${MAX_PORT}`);
  }
  if (low > high) {
    throw bad(`low port ${low} is greater than high port ${high}`);
  }
  if (low === 0) {
    throw bad("low port 0 cannot start a range (use 0 alone for any port)");
  }
  return [low, high];
}

/** Errors that mean "this port is taken or forbidden, try the next one". */
function isPortUnusable(err: unknown): boolean {
  return err instanceof Deno.errors.AddrInUse ||
    err instanceof Deno.errors.PermissionDenied;
}

/** Binds a UDP socket on `hostname` to the first port of `range` that is free, trying ports in order. */
export function bindFirstFree(
  hostname: string,
  range: [number, number],
): Deno.DatagramConn {
  const [low, high] = range;
  if (!(Number.isInteger(low) && Number.isInteger(high) && low <= high)) {
    throw new Error(
      `tmosh: bad UDP port range ${low}:${high}; pass -p LOW:HIGH`,
    );
  }
  let lastError: unknown = null;
  for (let port = low; port <= high; port++) {
    try {
      return Deno.listenDatagram({ transport: "udp", hostname, port });
    } catch (err) {
      if (!isPortUnusable(err)) {
        throw new Error(
          `tmosh: cannot bind UDP on ${hostname}: ${errorText(err)}`,
        );
      }
      lastError = err;
    }
  }
  const why = lastError instanceof Deno.errors.AddrInUse
    ? ""
    : ` (${errorText(lastError)})`;
  if (low === high) {
    throw new Error(
      `tmosh: UDP port ${low} is not free${why}; pass another -p PORT`,
    );
  }
  throw new Error(
    `tmosh: no free UDP port in ${low}-${high}${why}; pass -p PORT`,
  );
}

/** The wildcard address of the family of `ip`: `::` for IPv6, else `0.0.0.0` (as stock mosh). */
export function anyAddressFor(ip: string): string {
  return isIP(ip) === 6 ? "::" : "0.0.0.0";
}

/** A bound server socket, the address it is bound to and any fallback warnings. */
export interface BoundSocket {
  /** The socket. */
  conn: Deno.DatagramConn;
  /** The local address it is bound to (`ip`, or a wildcard after fallback). */
  hostname: string;
  /** Why `ip` was not used, if it was not. */
  warnings: string[];
}

/** Binds the server socket: first free port of `range` on `ip` if given, falling back to any address. */
export function bindServerSocket(
  ip: string | undefined,
  range: [number, number],
): BoundSocket {
  const fallback = anyAddressFor(ip ?? "");
  const warnings: string[] = [];
  if (ip !== undefined) {
    try {
      if (isIP(ip) === 0) {
        throw new Error(`"${ip}" is not a numeric IP address`);
      }
      return { conn: bindFirstFree(ip, range), hostname: ip, warnings };
    } catch (err) {
      const why = errorText(err).replace(/^tmosh: /, "");
      warnings.push(
        `tmosh: cannot bind to IP ${ip} (${why}); listening on ${fallback} instead`,
      );
    }
  }
  return { conn: bindFirstFree(fallback, range), hostname: fallback, warnings };
}
