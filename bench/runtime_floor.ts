/**
 * The runtime's floor for an idle Mosh session: two bare Deno processes that
 * only send each other one 70-byte datagram every 3 s (mosh: ACK_INTERVAL),
 * 50 ms apart, as an idle client and server do, with the server's V8 flags
 * (self_command.ts TMOSH_V8_FLAGS). No crypto, no protocol, no terminal:
 * what any Deno program with Mosh's idle rhythm costs, measured beside stock
 * and tmosh (bench/light_bench.ts). Run as a script it is one peer:
 * `runtime_floor.ts MY_PORT PEER_PORT FIRST_DELAY_MS`.
 * @module
 */

import { fileURLToPath } from "node:url";
import { V8_FLAGS_ARG } from "../self_command.ts";
import { freeUdpPort } from "../harness/ports.ts";

/** Interval between a peer's datagrams, ms (mosh: ACK_INTERVAL). */
const BEAT_MS = 3000;
/** The second peer's lag behind the first, ms (an idle tmosh client answers about this late). */
const LAG_MS = 50;
/** Bytes of each datagram (an idle heartbeat's size). */
const BEAT_BYTES = 70;

/** Two running floor peers. */
export interface FloorPair {
  /** Their pids. */
  pids: number[];
  /** Ends both and waits for them. */
  stop(): Promise<void>;
}

/** Starts the two peers on a free pair of loopback ports. */
export async function startFloorPair(): Promise<FloorPair> {
  const a = await freeUdpPort();
  let b = await freeUdpPort();
  while (b === a) b = await freeUdpPort();
  const script = fileURLToPath(import.meta.url);
  const peer = (mine: number, other: number, delay: number) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--unstable-net",
        "--quiet",
        V8_FLAGS_ARG,
        script,
        `${mine}`,
        `${other}`,
        `${delay}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  const children = [peer(a, b, 0), peer(b, a, LAG_MS)];
  return {
    pids: children.map((c) => c.pid),
    async stop() {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      await Promise.all(children.map((c) => c.status));
    },
  };
}

/** One peer: send every BEAT_MS, receive whatever comes. */
async function runPeer(args: string[]): Promise<void> {
  const [mine, other, delay] = args.map(Number);
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: mine,
  });
  const beat = new Uint8Array(BEAT_BYTES);
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: other };
  const send = () => {
    socket.send(beat, to).catch(() => {});
    setTimeout(send, BEAT_MS);
  };
  setTimeout(send, delay);
  for await (const _ of socket) {
    // received: nothing to do
  }
}

if (import.meta.main) {
  await runPeer(Deno.args);
}
