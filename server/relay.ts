/**
 * `tmosh serve relay TARGET PORT`: the UDP relay a jump host runs for
 * `tmosh connect -J` (docs/wire.md §16). It resolves the target here (as this
 * host sees it), binds a client-side port (60001..60999 by default) and one
 * socket towards the target, generates a relay key and prints
 * `MOSH CONNECT PORT RELAYKEY`, then detaches like `tmosh serve` (a daemon
 * reports `ok PORT KEY` on a pipe, so the key never reaches argv or logs).
 *
 * The daemon opens the client's envelopes, forwards the inner datagrams to
 * the target unchanged and seals the target's replies back; the pure rules
 * (roaming, replays) are protocol/network/relay_envelope.ts RelayState. It is
 * registered like a session (`tmosh serve list`, `kill`), and ends on the
 * client's bye, after the idle timeout, when killed, or when no client
 * arrives within 60 s.
 * @module
 */

import { lookup } from "node:dns/promises";
import { hostname as hostName } from "node:os";
import { isIP } from "../protocol/network/ip_syntax.ts";
import { writeAll } from "../stdio.ts";
import { encodeKey, generateKey } from "../protocol/crypto/key.ts";
import { errorText } from "../protocol/network/os_error.ts";
import {
  anyAddressFor,
  bindServerSocket,
} from "../protocol/network/port_range.ts";
import { RELAY_RECEIVE_MAX } from "../protocol/network/constants.ts";
import {
  type PeerAddr,
  RelayState,
} from "../protocol/network/relay_envelope.ts";
import { redirectStdioToDevNull } from "../libc.ts";
import { TMOSH_VERSION } from "../version.ts";
import { SERVER_FIRST_CONTACT_TIMEOUT } from "./constants.ts";
import { readDetachedTimeout } from "./detached_timeout.ts";
import { printConnect } from "./attach.ts";
import { registerSession, type Registration } from "./registration.ts";
import { registryDir } from "./registry.ts";
import {
  checkTarget,
  parseRelayArgs,
  RELAY_DAEMON_FLAG,
  RELAY_USAGE,
  type RelayOptions,
  TARGET_STDIN_FLAG,
} from "./relay_args.ts";
import { startDaemon } from "./serve.ts";

/** How often the relay looks at its timeouts, ms. */
const RELAY_TICK_MS = 1000;
/** Sends in flight beyond this are dropped (bounded memory under a flood). */
const MAX_SENDS_IN_FLIGHT = 256;

/** Runs `tmosh serve relay ...` (the words after `relay`); resolves to the exit status. */
export async function relayMain(args: string[]): Promise<number> {
  const parsed = parseRelayArgs(args, Deno.env.toObject());
  if (parsed.kind === "help") {
    writeAll(Deno.stdout, `${RELAY_USAGE}\n`);
    return 0;
  }
  if (parsed.kind === "error") {
    writeAll(Deno.stderr, `${parsed.message}\n`);
    return 1;
  }
  const opts = parsed.options;
  if (opts.targetStdin) {
    const target = await readTargetLine();
    if (typeof target === "string") {
      writeAll(Deno.stderr, `${target}\n`);
      return 1;
    }
    const rest = args.filter((w) => w !== TARGET_STDIN_FLAG);
    return await relayMain([...rest, "--", ...target]);
  }
  if (!opts.daemon && !opts.verbose) return await detachRelay(args);
  let relay: OpenRelay;
  try {
    relay = await openRelay(opts);
  } catch (err) {
    const line = oneLine(err);
    writeAll(
      opts.daemon ? Deno.stdout : Deno.stderr,
      `${opts.daemon ? "error " : ""}${line}\n`,
    );
    return 1;
  }
  const key = encodeKey(relay.key);
  relay.key.fill(0);
  if (opts.daemon) {
    writeAll(Deno.stdout, `ok ${relay.port} ${key}\n`);
    try {
      redirectStdioToDevNull();
    } catch {
      // no FFI: stdout stays a pipe nobody reads
    }
  } else {
    printConnect(relay.port, key);
    writeAll(
      Deno.stderr,
      `[tmosh relay to ${relay.target.hostname}:${relay.target.port}, pid = ${Deno.pid}, id = ${relay.registration.id}]\n`,
    );
  }
  return await runRelay(relay, opts);
}

/** Longest target line read from stdin, bytes. */
const TARGET_LINE_MAX = 512;

/** Reads `TARGET PORT` (one line) from stdin; a one-line error when it does not come or is bad. */
async function readTargetLine(): Promise<[string, string] | string> {
  const reader = Deno.stdin.readable.getReader();
  let text = "";
  const decoder = new TextDecoder();
  try {
    while (!text.includes("\n") && text.length <= TARGET_LINE_MAX) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  const line = text.split("\n")[0].trim();
  const words = line.split(/\s+/);
  if (line === "" || words.length !== 2) {
    return `tmosh: ${TARGET_STDIN_FLAG}: expected one line "TARGET PORT" on stdin (tmosh connect -J sends it)`;
  }
  const why = checkTarget(words[0], words[1]);
  return why === null ? [words[0], words[1]] : `tmosh: ${why}`;
}

/** A bound relay, before it runs. */
interface OpenRelay {
  /** The relay key (zeroed once printed). */
  key: Uint8Array;
  /** The client-side socket and its port. */
  clientSide: Deno.DatagramConn;
  port: number;
  /** The socket towards the target. */
  targetSide: Deno.DatagramConn;
  /** The target's address as this host sees it. */
  target: PeerAddr;
  state: RelayState;
  registration: Registration;
  /** Idle timeout, ms (0 = never). */
  idleMs: number;
}

/** Resolves the target, binds both sockets, checks the target is routable, registers; throws one line. */
async function openRelay(opts: RelayOptions): Promise<OpenRelay> {
  const here = hostName();
  const ip = await resolveTarget(opts.target, here);
  const target = { hostname: ip, port: opts.targetPort };
  const bound = bindServerSocket(opts.ip, opts.portRange);
  const clientSide = bound.conn;
  let targetSide: Deno.DatagramConn | null = null;
  try {
    targetSide = Deno.listenDatagram({
      transport: "udp",
      hostname: anyAddressFor(ip),
      port: 0,
    });
    // A datagram under 24 bytes is dropped unseen by every Mosh peer
    // (docs/wire.md §12.3); sending one proves there is a route.
    await targetSide.send(new Uint8Array(0), { transport: "udp", ...target });
  } catch (err) {
    clientSide.close();
    targetSide?.close();
    throw new Error(
      `tmosh: the relay on ${here} cannot reach the target ${opts.target} (${ip}) port ${opts.targetPort}: ${
        errorText(err)
      }; check that ${here} can reach it`,
    );
  }
  const key = generateKey();
  const state = new RelayState(key);
  const port = (clientSide.addr as Deno.NetAddr).port;
  let registration: Registration;
  try {
    registration = registerSession({
      dir: registryDir(Deno.env.toObject()),
      port,
      name: null,
      command: ["relay", "to", `${formatHost(ip)}:${opts.targetPort}`],
      cols: 0,
      rows: 0,
      client: {
        get lastHeard() {
          return state.lastHeard;
        },
        get remoteAddr() {
          return state.client;
        },
      },
    });
  } catch (err) {
    clientSide.close();
    targetSide.close();
    key.fill(0);
    throw err;
  }
  const idleMs = readDetachedTimeout(Deno.env.toObject(), opts.idleSeconds).ms;
  return {
    key,
    clientSide,
    port,
    targetSide,
    target,
    state,
    registration,
    idleMs,
  };
}

/** The target's numeric address, resolved here (IPv4 first, as mosh's default family). */
async function resolveTarget(target: string, here: string): Promise<string> {
  if (isIP(target) !== 0) return target;
  try {
    const found = await lookup(target, { all: true });
    const v4 = found.find((a) => a.family === 4);
    const pick = v4 ?? found[0];
    if (pick !== undefined) return pick.address;
  } catch (err) {
    throw new Error(
      `tmosh: the relay on ${here} cannot resolve the target ${target}: ${
        errorText(err)
      }; check the name on ${here}`,
    );
  }
  throw new Error(
    `tmosh: the relay on ${here} found no address for the target ${target}`,
  );
}

/** Forwards until the client says bye, the idle timeout, a kill, or no first contact; resolves to 0. */
async function runRelay(relay: OpenRelay, opts: RelayOptions): Promise<number> {
  const { state, target, registration } = relay;
  const log = opts.verbose
    ? (line: string) => writeAll(Deno.stderr, `${line}\n`)
    : () => {};
  const start = performance.now();
  let done: (why: string) => void = () => {};
  const finished = new Promise<string>((resolve) => done = resolve);
  let inFlight = 0;
  const send = (conn: Deno.DatagramConn, bytes: Uint8Array, to: PeerAddr) => {
    if (inFlight >= MAX_SENDS_IN_FLIGHT) return;
    inFlight++;
    conn.send(bytes, { transport: "udp", ...to }).catch((err) =>
      log(`tmosh: relay send to ${to.hostname}:${to.port}: ${errorText(err)}`)
    ).finally(() => inFlight--);
  };
  const fromClient = readLoop(relay.clientSide, (bytes, from) => {
    const verdict = state.fromClient(bytes, from, performance.now());
    if (verdict.kind === "bye") done("the client left");
    if (verdict.kind !== "forward") return;
    if (verdict.roamed) {
      log(`Relay now forwarding client at ${from.hostname}:${from.port}`);
    }
    send(relay.targetSide, verdict.datagram, target);
  });
  const fromTarget = readLoop(relay.targetSide, (bytes, from) => {
    if (from.port !== target.port || !sameIp(from.hostname, target.hostname)) {
      return; // only the target may send to the client
    }
    const sealed = state.toClient(bytes);
    if (sealed !== null) send(relay.clientSide, sealed.bytes, sealed.to);
  });
  const tick = setInterval(() => {
    const now = performance.now();
    const heard = state.lastHeard;
    if (heard === null && now - start > SERVER_FIRST_CONTACT_TIMEOUT) {
      done("no client within 60 seconds");
    } else if (
      heard !== null && relay.idleMs > 0 && now - heard > relay.idleMs
    ) {
      done(`no client heard from for ${Math.floor((now - heard) / 1000)} s`);
    }
  }, RELAY_TICK_MS);
  const onSignal = () => done("signal");
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  const onHup = () => {};
  Deno.addSignalListener("SIGHUP", onHup);
  registration.stop.addEventListener("abort", () => done("killed"));
  try {
    log(`tmosh relay: ${await finished}; exiting.`);
  } finally {
    clearInterval(tick);
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    Deno.removeSignalListener("SIGHUP", onHup);
    registration.close();
    relay.clientSide.close();
    relay.targetSide.close();
    await Promise.allSettled([fromClient, fromTarget]);
  }
  return 0;
}

/** Reads `conn` until it is closed, handing each datagram (oversize ones dropped) to `handle`. */
async function readLoop(
  conn: Deno.DatagramConn,
  handle: (bytes: Uint8Array, from: PeerAddr) => void,
): Promise<void> {
  const buffer = new Uint8Array(RELAY_RECEIVE_MAX + 1);
  while (true) {
    let received: [Uint8Array, Deno.Addr];
    try {
      received = await conn.receive(buffer);
    } catch (err) {
      if (
        err instanceof Deno.errors.BadResource ||
        err instanceof Deno.errors.Interrupted
      ) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    const [bytes, addr] = received;
    if (bytes.length > RELAY_RECEIVE_MAX) continue;
    const { hostname, port } = addr as Deno.NetAddr;
    try {
      handle(bytes, { hostname, port });
    } catch {
      // hostile input never ends the relay
    }
  }
}

/** Starts the relay daemon, prints its MOSH CONNECT line; does not wait for it. */
async function detachRelay(args: string[]): Promise<number> {
  const started = await startDaemon(["relay", RELAY_DAEMON_FLAG, ...args]);
  if (started === null) return 1;
  const { child, report } = started;
  printConnect(report.port, report.key);
  writeAll(
    Deno.stderr,
    `\ntmosh ${TMOSH_VERSION}\n\n[tmosh relay detached, pid = ${child.pid}]\n`,
  );
  return 0;
}

/** Whether two numeric addresses are the same (an IPv4-mapped IPv6 address equals its IPv4 form). */
function sameIp(a: string, b: string): boolean {
  const plain = (ip: string) => ip.replace(/^::ffff:/i, "").toLowerCase();
  return plain(a) === plain(b);
}

/** `[v6]` or v4, for `HOST:PORT`. */
function formatHost(ip: string): string {
  return isIP(ip) === 6 ? `[${ip}]` : ip;
}

/** An error's message on one line, with the `tmosh: ` prefix. */
function oneLine(err: unknown): string {
  const line = errorText(err).replaceAll("\n", " ");
  return line.startsWith("tmosh: ") ? line : `tmosh: ${line}`;
}
