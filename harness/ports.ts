/**
 * Free port finders for tests. Ports are picked at random below the kernel's
 * ephemeral range (32768 and up) and below Mosh's default 60001-60999, so
 * tests neither collide with other programs' mosh-servers nor with OS-chosen
 * ports; if no random pick is free, the OS chooses.
 * @module
 */

/** Lowest port a test picks at random. */
export const TEST_PORT_LOW = 10_000;
/** Highest port a test picks at random (just below the Linux ephemeral range). */
export const TEST_PORT_HIGH = 32_000;
/** Random picks tried before falling back to an OS-chosen port. */
const ATTEMPTS = 50;

/** Returns a random port in [TEST_PORT_LOW, TEST_PORT_HIGH - span]. */
export function randomTestPort(span = 0): number {
  const high = TEST_PORT_HIGH - span;
  return TEST_PORT_LOW + Math.floor(Math.random() * (high - TEST_PORT_LOW + 1));
}

/** Returns a UDP port that was free on all IPv4 addresses a moment ago. */
export function freeUdpPort(): Promise<number> {
  return Promise.resolve(findFree(function probe(port) {
    const socket = Deno.listenDatagram({
      transport: "udp",
      hostname: "0.0.0.0",
      port,
    });
    const bound = (socket.addr as Deno.NetAddr).port;
    socket.close();
    return bound;
  }));
}

/** Returns a TCP port that was free on all IPv4 addresses a moment ago. */
export function freeTcpPort(): Promise<number> {
  return Promise.resolve(findFree(function probe(port) {
    const listener = Deno.listen({
      transport: "tcp",
      hostname: "0.0.0.0",
      port,
    });
    const bound = (listener.addr as Deno.NetAddr).port;
    listener.close();
    return bound;
  }));
}

/** Consecutive UDP ports bound on all IPv4 addresses, held until the caller closes them. */
export interface HeldPortRun {
  /** The first port of the run. */
  base: number;
  /** One socket per port, in order: `sockets[i]` holds `base + i`. */
  sockets: Deno.DatagramConn[];
}

/** Binds `count` consecutive free UDP ports on all IPv4 addresses and keeps them bound (no other process can take them before the caller lets go). */
export function holdUdpPortRun(count: number): HeldPortRun {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const base = randomTestPort(count - 1);
    const sockets: Deno.DatagramConn[] = [];
    try {
      for (let port = base; port < base + count; port++) {
        sockets.push(
          Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port }),
        );
      }
      return { base, sockets };
    } catch (error) {
      for (const socket of sockets) socket.close();
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  throw new Error(
    `tmosh: no run of ${count} free UDP ports found; free some ports below ${TEST_PORT_HIGH}`,
  );
}

/** Returns the first of `count` consecutive UDP ports that were all free on all IPv4 addresses a moment ago. */
export function freeUdpPortRun(count: number): number {
  const { base, sockets } = holdUdpPortRun(count);
  for (const socket of sockets) socket.close();
  return base;
}

/** Whether tmosh's `text` (an error message, a server's stderr) says the UDP ports asked for were taken. */
export function portsTaken(text: string): boolean {
  return /^tmosh: (no free UDP port in|UDP port \d+ is not free)/m.test(text);
}

/** Whether `error` says ports were taken (another process bound them after they were found free). */
function portRace(error: unknown): boolean {
  if (error instanceof Deno.errors.AddrInUse) return true;
  return portsTaken(error instanceof Error ? error.message : "");
}

/**
 * Runs `bind(base)` on `count` consecutive UDP ports that were free a moment
 * ago; when another process took them in between (a port-in-use error), on a
 * new run, up to a few times. Returns what `bind` returns.
 */
export async function inFreeUdpPortRun<T>(
  count: number,
  bind: (base: number) => T | Promise<T>,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    const base = freeUdpPortRun(count);
    try {
      return await bind(base);
    } catch (error) {
      if (attempt >= PORT_RACE_ATTEMPTS || !portRace(error)) throw error;
    }
  }
}

/** Tries on fresh ports before a port race is an error (inFreeUdpPortRun, startServe). */
export const PORT_RACE_ATTEMPTS = 5;

/** Tries random ports with `probe` (which binds and releases), then port 0. */
function findFree(probe: (port: number) => number): number {
  for (let i = 0; i < ATTEMPTS; i++) {
    try {
      return probe(randomTestPort());
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  return probe(0);
}

/** Throws unless UDP `port` on `hostname` is already bound (a server really holds it). */
export function assertUdpPortTaken(port: number, hostname = "0.0.0.0"): void {
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({ transport: "udp", hostname, port });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return;
    throw error;
  }
  socket.close();
  throw new Error(`tmosh test: UDP port ${hostname}:${port} is not taken`);
}
