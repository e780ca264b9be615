/**
 * A larger kernel receive buffer for a UDP socket (Linux, through FFI), so a
 * burst of large channel datagrams from a peer on this host is queued
 * rather than dropped (docs/wire.md §17.8). Deno exposes neither the option
 * nor the socket's descriptor: the descriptor is found as the one whose
 * socket inode /proc/net/udp{,6} lists for the local port. Anything missing
 * (no FFI permission, another OS, the socket not found) leaves the buffer as
 * it is and answers 0.
 * @module
 */

import { libc, SO_RCVBUF, SOL_SOCKET } from "../../libc.ts";

/** The inodes of the sockets bound to local UDP `port` (other processes' too). */
function socketInodes(port: number): Set<string> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const inodes = new Set<string>();
  for (const table of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[1].endsWith(hex)) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/** Our descriptor of a socket with one of `inodes`, or -1. */
function descriptorOf(inodes: Set<string>): number {
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const link = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode !== undefined && inodes.has(inode)) return Number(entry.name);
    } catch {
      // closed meanwhile
    }
  }
  return -1;
}

/** Asks for a receive buffer of `bytes` on `conn`; returns the size the kernel reports afterwards, bytes (0: unchanged, unknown). */
export function growReceiveBuffer(
  conn: Deno.DatagramConn,
  bytes: number,
): number {
  try {
    if (Deno.build.os !== "linux") return 0;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return 0;
    }
    const fd = descriptorOf(socketInodes((conn.addr as Deno.NetAddr).port));
    if (fd < 0) return 0;
    const value = new Int32Array([bytes]);
    const c = libc();
    c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, 4);
    const length = new Uint32Array([4]);
    if (c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, length) !== 0) return 0;
    return value[0];
  } catch {
    return 0;
  }
}
