/**
 * What the channel layer assumes of the path to a peer (docs/wire.md §17.8).
 * A peer on this host (a loopback address or one of our interfaces'
 * addresses) is reached through the loopback device (MTU 64 KiB), and no
 * network queue lies between the two processes, only the peer's socket
 * receive buffer: bytes in flight are capped at half of it (the kernel
 * counts its own overhead in it), at least CHANNEL_LOCAL_WINDOW (Linux's
 * default buffer is 208 KiB) and at most CHANNEL_LOCAL_WINDOW_MAX; more
 * would only overflow it. Datagrams may grow to CHANNEL_LOCAL_DATAGRAM_MAX,
 * or to UDP's largest when the window holds 8 of those. Any other peer is assumed behind an
 * Ethernet-sized MTU (a larger datagram would be fragmented, and a lost
 * fragment loses it all), and its congestion window is left to loss and
 * delay. The size search finds what the path really carries.
 * @module
 */

import { isIP } from "./ip_syntax.ts";
import {
  CHANNEL_LOCAL_DATAGRAM_MAX,
  CHANNEL_LOCAL_WINDOW,
  CHANNEL_LOCAL_WINDOW_MAX,
  CHANNEL_PATH_MTU,
  CWND_MAX,
  UDP_IPV4_PAYLOAD_MAX,
} from "./constants.ts";

/** IPv4 header (no options) plus UDP header, bytes. */
const IPV4_UDP_HEADERS = 20 + 8;
/** IPv6 header plus UDP header, bytes. */
const IPV6_UDP_HEADERS = 40 + 8;

/** Our interfaces' addresses, read once (empty without --allow-sys). */
let ownAddresses: Set<string> | null = null;

function isOwnAddress(ip: string): boolean {
  if (ownAddresses === null) {
    ownAddresses = new Set();
    try {
      for (const i of Deno.networkInterfaces()) {
        ownAddresses.add(i.address.toLowerCase());
      }
    } catch {
      // no permission: only loopback addresses count as local
    }
  }
  return ownAddresses.has(ip.toLowerCase());
}

/** An IPv4 address written as IPv4-mapped IPv6, as the IPv4 address. */
function unmapped(ip: string): string {
  return ip.toLowerCase().replace(/^::ffff:(?=\d+\.)/, "");
}

/** Whether `ip` (numeric) is an address of this host. */
export function isLocalAddress(ip: string): boolean {
  const plain = unmapped(ip);
  if (isIP(plain) === 4 && plain.startsWith("127.")) return true;
  return plain === "::1" || isOwnAddress(plain);
}

/** The path's limits for channel datagrams. */
export interface PathLimits {
  /** Largest datagram worth trying, bytes of UDP payload. */
  ceiling: number;
  /** Most bytes in flight, bytes. */
  window: number;
}

/**
 * The limits towards `ip`, datagrams less `overhead` bytes (a relay's
 * envelope). `receiveBuffer`: the kernel receive buffer our socket got
 * (bytes, as SO_RCVBUF reports it; 0: the default), taken as the local
 * peer's too (the same program on the same host).
 */
export function pathLimits(
  ip: string,
  overhead: number,
  options: { receiveBuffer?: number } = {},
): PathLimits {
  if (isLocalAddress(ip)) {
    const window = Math.min(
      CHANNEL_LOCAL_WINDOW_MAX,
      Math.max(CHANNEL_LOCAL_WINDOW, (options.receiveBuffer ?? 0) / 2),
    );
    // Several datagrams in flight at the largest size.
    const top = window >= 8 * UDP_IPV4_PAYLOAD_MAX
      ? UDP_IPV4_PAYLOAD_MAX
      : CHANNEL_LOCAL_DATAGRAM_MAX;
    return { ceiling: top - overhead, window };
  }
  const headers = isIP(unmapped(ip)) === 6
    ? IPV6_UDP_HEADERS
    : IPV4_UDP_HEADERS;
  return { ceiling: CHANNEL_PATH_MTU - headers - overhead, window: CWND_MAX };
}
