/**
 * The client's side of the link in the jump-host tests, run inside the
 * client's network namespace (harness/netns.ts): at an edge address it
 * forwards TCP to the bastion's sshd as is, and UDP first through a capture
 * (the newest datagrams from the client, for replaying), then through the
 * impairment relay (demo/impairment_relay.ts: loss, outages, roaming of the
 * source address) to the bastion's relay. The test drives it over stdin with
 * one command a line, answered by one `ok ...` line on stdout:
 * `set JSON` (impairments), `roam IP`, `stats`, and `replay IP` / `forge IP`
 * (send captured or forged datagrams to the bastion's relay from a socket on
 * IP, then answer how many datagrams that socket received within 2 s).
 * @module
 */

import { Relay } from "../demo/impairment_relay.ts";

/** Datagrams from the client kept for `replay`. */
const CAPTURE_KEEP = 32;
/** How long `replay`/`forge` listen for anything sent back, ms. */
const LISTEN_BACK_MS = 2000;

/** Where the edge listens and forwards. */
export interface EdgePlace {
  /** Network namespace of the client. */
  netns: string;
  /** Edge address (on the client's loopback). */
  edge: string;
  /** The bastion's address. */
  bastion: string;
  /** The client's address the impairment relay sends from. */
  source: string;
  /** TCP port of the bastion's sshd (the same at the edge). */
  tcpPort: number;
  /** UDP port of the bastion's relay (the same at the edge). */
  udpPort: number;
}

/** A running edge process. */
export interface Edge {
  /** Sends one command, resolves to its answer (after `ok `); throws on anything else. */
  command(line: string): Promise<string>;
  /** Ends the edge process. */
  close(): Promise<void>;
}

/** Starts the edge inside the client's namespace; resolves once it listens. */
export async function startEdge(place: EdgePlace): Promise<Edge> {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      place.netns,
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      new URL(import.meta.url).pathname,
      JSON.stringify(place),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error("tmosh test: the edge process ended");
      buffered += chunk.value;
    }
    const nl = buffered.indexOf("\n");
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    return line;
  };
  const close = async function close(): Promise<void> {
    await writer.close().catch(() => {});
    try {
      child.kill("SIGTERM");
    } catch {
      // gone
    }
    await reader.cancel().catch(() => {});
    await child.status;
  };
  const ready = await nextLine().catch(async (e) => {
    await close();
    throw e;
  });
  if (ready !== "ready") {
    await close();
    throw new Error(`tmosh test: the edge said ${JSON.stringify(ready)}`);
  }
  return {
    async command(line: string): Promise<string> {
      await writer.write(new TextEncoder().encode(`${line}\n`));
      const answer = await nextLine();
      if (!answer.startsWith("ok")) {
        throw new Error(`tmosh test: edge ${line}: ${answer}`);
      }
      return answer.slice(3);
    },
    close,
  };
}

/** Copies bytes from `a` to `b` until either ends. */
async function pipe(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  try {
    await a.readable.pipeTo(b.writable);
  } catch {
    // one side went away
  }
}

/** Forwards TCP connections from `listen` to `to`. */
async function forwardTcp(
  listener: Deno.Listener,
  to: { hostname: string; port: number },
): Promise<void> {
  for await (const conn of listener) {
    Deno.connect(to).then((up) => {
      pipe(conn, up);
      pipe(up, conn);
    }, () => conn.close());
  }
}

/** Sends `datagrams` to `to` from a fresh socket on `ip`; resolves to how many datagrams came back within LISTEN_BACK_MS. */
async function fromStranger(
  ip: string,
  to: { hostname: string; port: number },
  datagrams: Uint8Array[],
): Promise<number> {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: ip,
    port: 0,
  });
  let received = 0;
  const loop = (async () => {
    const buffer = new Uint8Array(65536);
    while (true) {
      try {
        await socket.receive(buffer);
        received++;
      } catch {
        return;
      }
    }
  })();
  for (const bytes of datagrams) {
    await socket.send(bytes, { transport: "udp", ...to });
  }
  await new Promise((resolve) => setTimeout(resolve, LISTEN_BACK_MS));
  socket.close();
  await loop;
  return received;
}

/** Datagrams no relay key made: random bytes, random envelope-shaped ones, and captured ones with a flipped bit. */
function forgeries(captured: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(1 + (i * 37) % 1400));
    if (i % 2 === 0) bytes[0] &= 0x7f; // the direction towards the relay
    out.push(bytes);
  }
  for (const c of captured) {
    const copy = c.slice();
    copy[copy.length - 1] ^= 1; // a tag that no longer matches
    out.push(copy);
    const seq = c.slice();
    seq[7] ^= 0x40; // another sequence number: the tag no longer matches
    out.push(seq);
  }
  return out;
}

/** The edge process: listen, forward, obey stdin. */
async function main(place: EdgePlace): Promise<void> {
  const bastion = { hostname: place.bastion, port: place.udpPort };
  const relay = await Relay.start({
    listen: { hostname: "127.0.0.1" },
    upstream: bastion,
    source: place.source,
  });
  const tcp = Deno.listen({ hostname: place.edge, port: place.tcpPort });
  forwardTcp(tcp, { hostname: place.bastion, port: place.tcpPort });
  const udp = Deno.listenDatagram({
    transport: "udp",
    hostname: place.edge,
    port: place.udpPort,
  });
  const toRelay = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const captured: Uint8Array[] = [];
  const peer: { client: Deno.NetAddr | null } = { client: null };
  (async () => {
    const buffer = new Uint8Array(65536);
    while (true) {
      const [bytes, from] = await udp.receive(buffer);
      peer.client = from as Deno.NetAddr;
      captured.push(bytes.slice());
      if (captured.length > CAPTURE_KEEP) captured.shift();
      await toRelay.send(bytes, {
        transport: "udp",
        hostname: "127.0.0.1",
        port: relay.port,
      });
    }
  })().catch(() => {});
  (async () => {
    const buffer = new Uint8Array(65536);
    while (true) {
      const [bytes] = await toRelay.receive(buffer);
      const to = peer.client;
      if (to !== null) {
        await udp.send(bytes, {
          transport: "udp",
          hostname: to.hostname,
          port: to.port,
        })
          .catch(() => {});
      }
    }
  })().catch(() => {});
  const out = (line: string) =>
    Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
  out("ready");
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of lines) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const [verb, ...rest] = line.split(" ");
      const arg = rest.join(" ");
      try {
        if (verb === "set") {
          relay.set(JSON.parse(arg));
          out("ok");
        } else if (verb === "roam") {
          await relay.roam({ hostname: arg });
          out(`ok ${relay.upstreamAddr.hostname}:${relay.upstreamAddr.port}`);
        } else if (verb === "stats") {
          out(`ok ${JSON.stringify(relay.stats)}`);
        } else if (verb === "replay") {
          out(`ok ${await fromStranger(arg, bastion, [...captured])}`);
        } else if (verb === "forge") {
          out(
            `ok ${await fromStranger(arg, bastion, forgeries([...captured]))}`,
          );
        } else out(`error unknown command ${verb}`);
      } catch (e) {
        out(`error ${(e as Error).message}`);
      }
    }
  }
  Deno.exit(0);
}

if (import.meta.main) await main(JSON.parse(Deno.args[0]) as EdgePlace);
