/**
 * `tmosh connect --fake-proxy HOST PORT`: the ssh ProxyCommand that resolves
 * the host itself, reports the address it reached as `MOSH IP <addr>` on
 * stderr and then relays bytes like netcat (docs/wire.md §1.1 item 3).
 * @module
 */

// node:dns only for a name, when it is needed: any node: module costs ~25 ms of
// start-up on ssh's critical path (docs/architecture.md §12.4).
import { isIP } from "../../protocol/network/ip_syntax.ts";
import { writeAll } from "../../stdio.ts";
import type { FakeProxyOptions, Family } from "./connect_args.ts";

/** Resolves `host` (numeric, /etc/hosts or DNS) into addresses ordered by the family policy. */
export async function resolveHost(
  host: string,
  family: Family,
): Promise<string[]> {
  const version = isIP(host);
  let found: { address: string; family: number }[];
  if (version !== 0) {
    found = [{ address: host, family: version }];
  } else {
    try {
      const { lookup } = await import("node:dns/promises");
      found = await lookup(host, { all: true });
    } catch (e) {
      throw new Error(
        `tmosh: could not resolve ${host}: ${
          (e as Error).message
        }; check the host name`,
      );
    }
  }
  return orderAddresses(host, found, family);
}

/** Filters and orders resolved addresses by the `--family` policy (mosh: resolvename). */
export function orderAddresses(
  host: string,
  found: { address: string; family: number }[],
  family: Family,
): string[] {
  const v4 = found.filter((a) => a.family === 4).map((a) => a.address);
  const v6 = found.filter((a) => a.family === 6).map((a) => a.address);
  let result: string[];
  if (family === "inet") result = v4;
  else if (family === "inet6") result = v6;
  else if (family === "prefer-inet") result = [...v4, ...v6];
  else if (family === "prefer-inet6") result = [...v6, ...v4];
  else if (family === "auto" && v4.length > 0 && v6.length > 0) {
    throw new Error(
      `tmosh: ${host} has both IPv4 and IPv6 addresses; use --family to choose`,
    );
  } else result = found.map((a) => a.address);
  if (result.length === 0) {
    throw new Error(
      `tmosh: found no address of family ${family} for ${host}; try another --family`,
    );
  }
  return result;
}

/** ssh's ProxyCommand: connects to host:port, prints `MOSH IP <addr>` on stderr, then relays stdin/stdout. */
export async function fakeProxy(options: FakeProxyOptions): Promise<number> {
  let addresses: string[];
  try {
    addresses = await resolveHost(options.host, options.family);
  } catch (e) {
    writeAll(Deno.stderr, `${(e as Error).message}\n`);
    return 1;
  }
  let conn: Deno.TcpConn | null = null;
  let why = "";
  let tried = "";
  for (const address of addresses) {
    tried = address;
    try {
      conn = await Deno.connect({ hostname: address, port: options.port });
      break;
    } catch (e) {
      why = (e as Error).message;
    }
  }
  if (conn === null) {
    writeAll(
      Deno.stderr,
      `tmosh: could not connect to ${options.host}, last tried ${tried}: ${why}\n`,
    );
    return 1;
  }
  writeAll(Deno.stderr, `MOSH IP ${tried}\n`);
  const socket = conn;
  // Upstream: stdin to the socket, then half-close; downstream ends the relay.
  pump(Deno.stdin, socket).finally(() => socket.closeWrite().catch(() => {}));
  await pump(socket, Deno.stdout);
  try {
    socket.close();
  } catch {
    // already closed
  }
  return 0;
}

/** Copies bytes until EOF or an error (a closed peer ends the copy quietly). */
async function pump(
  from: { read(p: Uint8Array): Promise<number | null> },
  to: { write(p: Uint8Array): Promise<number> },
): Promise<void> {
  const buffer = new Uint8Array(16384);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) return;
      let chunk = buffer.subarray(0, n);
      while (chunk.length > 0) chunk = chunk.subarray(await to.write(chunk));
    }
  } catch {
    // the other side went away
  }
}
