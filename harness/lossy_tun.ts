/**
 * A lossy, slow IP path for benchmarks, TCP and UDP alike: two network
 * namespaces, each with a TUN device, joined by this process, which reads
 * every IP packet from one device and writes it into the other after a
 * delay, dropping a seeded share. The kernel has no netem here, and a
 * userspace TCP proxy would hide loss and delay from TCP's congestion
 * control; through a TUN pair, ssh's TCP sees the same path as tmosh's UDP.
 * Needs root, `ip` and /dev/net/tun. {@linkcode LossyLink.remove} deletes
 * the namespaces.
 * @module
 */

import { ip, netnsExec } from "./netns.ts";
import { mulberry32 } from "./prng.ts";
import { libc, O_CLOEXEC, O_NONBLOCK, O_RDWR, POLLIN } from "../libc.ts";

/** ioctl that attaches a TUN fd to a named device (linux/if_tun.h). */
const TUNSETIFF = 0x400454ca;
/** A layer-3 device without the packet-information header. */
const IFF_TUN = 0x0001, IFF_NO_PI = 0x1000;
/** setns(2) as a raw system call, and its network-namespace type. */
const SYS_SETNS = Deno.build.arch === "aarch64" ? 268n : 308n;
const CLONE_NEWNET = 0x40000000n;
const O_RDONLY = 0x0;
/** struct ifreq: a 16-byte name, then the flags (a short) in the union. */
const IFREQ_BYTES = 40, IFNAMSIZ = 16;
/** Largest packet read (the devices keep their 1500-byte MTU). */
const PACKET_MAX = 65536;
/** How long one poll waits before looking whether the link was removed, ms. */
const POLL_MS = 50;

/** The impairment of each direction. */
export interface Impairment {
  /** Share of packets dropped, 0..1. */
  loss: number;
  /** One-way delay, ms. */
  delayMs: number;
}

/** Two namespaces joined by an impaired path. */
export interface LossyLink {
  /** Namespace names: `a` (say, the client's) and `b` (the server's). */
  ns: { a: string; b: string };
  /** Each side's address on the path. */
  addr: { a: string; b: string };
  /** argv that runs `argv` inside namespace `ns`. */
  exec(ns: string, argv: string[]): string[];
  /** Runs `fn` with this thread in namespace `ns` (sockets it opens stay there). */
  within<T>(ns: string, fn: () => T): T;
  /** Packets passed and dropped so far. */
  stats(): { passed: number; dropped: number };
  /** Stops forwarding and deletes the namespaces. */
  remove(): Promise<void>;
}

/** NUL-terminated C string. */
function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

/** Creates namespaces `a` and `b` joined by the impaired path (`seed` picks the drops). */
export async function createLossyLink(
  impair: Impairment,
  options: { seed?: number } = {},
): Promise<LossyLink> {
  const c = libc();
  const setns = (fd: number) =>
    c.syscall(SYS_SETNS, BigInt(fd), CLONE_NEWNET) === 0n;
  const id = crypto.randomUUID().slice(0, 8);
  const ns = { a: `tmosh-${id}-la`, b: `tmosh-${id}-lb` };
  const x = 16 + (parseInt(id.slice(0, 2), 16) % 200);
  const addr = { a: `10.${x}.7.1`, b: `10.${x}.7.2` };
  const made: string[] = [];
  const fds: number[] = [];
  const home = c.open(cString("/proc/self/ns/net"), O_RDONLY | O_CLOEXEC);
  if (home < 0) throw new Error("tmosh bench: cannot open /proc/self/ns/net");
  /** Runs `fn` with this thread in namespace `name`, then back home. */
  const within = <T>(name: string, fn: () => T): T => {
    const nsFd = c.open(cString(`/run/netns/${name}`), O_CLOEXEC);
    if (nsFd < 0) throw new Error(`tmosh bench: cannot open namespace ${name}`);
    try {
      if (!setns(nsFd)) {
        throw new Error(`tmosh bench: setns into ${name} failed`);
      }
      const back = (): void => {
        if (!setns(home)) {
          throw new Error("tmosh bench: setns back home failed");
        }
      };
      let result: T;
      try {
        result = fn();
      } catch (error) {
        back();
        throw error;
      }
      back();
      return result;
    } finally {
      c.close(nsFd);
    }
  };
  /** Opens a TUN device `tun0` inside `name` (non-blocking). */
  const openTun = (name: string): number =>
    within(name, () => {
      const fd = c.open(
        cString("/dev/net/tun"),
        O_RDWR | O_NONBLOCK | O_CLOEXEC,
      );
      if (fd < 0) throw new Error("tmosh bench: cannot open /dev/net/tun");
      const req = new Uint8Array(IFREQ_BYTES);
      req.set(new TextEncoder().encode("tun0").subarray(0, IFNAMSIZ - 1));
      new DataView(req.buffer).setUint16(IFNAMSIZ, IFF_TUN | IFF_NO_PI, true);
      if (c.ioctl(fd, BigInt(TUNSETIFF), req) !== 0) {
        c.close(fd);
        throw new Error("tmosh bench: TUNSETIFF failed");
      }
      return fd;
    });
  let running = true;
  let passed = 0, dropped = 0;
  let pumping: Promise<void> = Promise.resolve();
  const remove = async (): Promise<void> => {
    running = false;
    await pumping;
    for (const fd of fds.splice(0)) c.close(fd);
    for (const name of made.splice(0)) {
      await ip(["netns", "del", name]).catch(() => {});
    }
    c.close(home);
  };
  try {
    for (const name of [ns.a, ns.b]) {
      await ip(["netns", "add", name]);
      made.push(name);
      await ip(["-n", name, "link", "set", "lo", "up"]);
    }
    fds.push(openTun(ns.a), openTun(ns.b));
    for (const [name, own] of [[ns.a, addr.a], [ns.b, addr.b]]) {
      await ip(["-n", name, "addr", "add", `${own}/24`, "dev", "tun0"]);
      await ip(["-n", name, "link", "set", "tun0", "up"]);
    }
    const random = mulberry32(options.seed ?? 1);
    const queues: { due: number; packet: Uint8Array<ArrayBuffer> }[][] = [
      [],
      [],
    ];
    const timers: (ReturnType<typeof setTimeout> | null)[] = [null, null];
    /** Writes the packets of queue `q` that are due, then waits for the next. */
    const release = (q: number): void => {
      timers[q] = null;
      const out = fds[1 - q];
      const queue = queues[q];
      const now = performance.now();
      let n = 0;
      while (n < queue.length && queue[n].due <= now + 0.5) {
        c.write(out, queue[n].packet, BigInt(queue[n].packet.length));
        n++;
      }
      queue.splice(0, n);
      if (queue.length > 0 && running) {
        timers[q] = setTimeout(() => release(q), queue[0].due - now);
      }
    };
    const buf = new Uint8Array(PACKET_MAX);
    const pollFds = new Uint8Array(16);
    const view = new DataView(pollFds.buffer);
    const pump = async (): Promise<void> => {
      while (running) {
        for (let i = 0; i < 2; i++) {
          view.setInt32(i * 8, fds[i], true);
          view.setInt16(i * 8 + 4, POLLIN, true);
          view.setInt16(i * 8 + 6, 0, true);
        }
        const ready = await c.poll(pollFds, 2n, POLL_MS);
        if (ready <= 0) continue;
        for (let q = 0; q < 2; q++) {
          if ((view.getInt16(q * 8 + 6, true) & POLLIN) === 0) continue;
          for (;;) {
            const n = Number(c.read(fds[q], buf, BigInt(buf.length)));
            if (n <= 0) break;
            if (random() < impair.loss) {
              dropped++;
              continue;
            }
            passed++;
            queues[q].push({
              due: performance.now() + impair.delayMs,
              packet: buf.slice(0, n),
            });
            if (timers[q] === null) {
              timers[q] = setTimeout(() => release(q), impair.delayMs);
            }
          }
        }
      }
      for (const t of timers) if (t !== null) clearTimeout(t);
    };
    pumping = pump();
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    ns,
    addr,
    exec: netnsExec,
    within,
    stats: () => ({ passed, dropped }),
    remove,
  };
}
