/**
 * A hostile fake Mosh server for tests: it speaks the server side of the wire
 * (datagrams, fragments, instructions, HostMessages) to a real client and
 * sends full 1024x1024 screens, each different, as fast as it can, never
 * letting the client throw any of them away (throwaway_num 0, every diff
 * from state 0). It acknowledges the client's states so the client keeps
 * talking, and otherwise ignores what the client says.
 * @module
 */

import { DatagramCodec, timestamp16 } from "../protocol/network/datagram.ts";
import { FragmentAssembly, Fragmenter } from "../protocol/network/fragment.ts";
import {
  decodeInstruction,
  encodeHostMessage,
  encodeInstruction,
} from "../protocol/protobufs/messages.ts";
import {
  DEFAULT_IPV4_MTU,
  PROTOCOL_VERSION,
  TIMESTAMP_NONE,
  TO_CLIENT,
} from "../protocol/network/constants.ts";
import { MAX_TERMINAL_DIMENSION } from "../protocol/statesync/constants.ts";
import { encodeKey, generateKey } from "../protocol/crypto/key.ts";

/** Letters the screens are filled with, one per state in turn. */
const FILL = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** A fake server flooding its client with maximal screens. */
export class HostileServer {
  /** UDP port on 127.0.0.1. */
  readonly port: number;
  /** Session key for the client's MOSH_KEY. Never log it. */
  readonly key: string;
  /** Number of the newest screen sent. */
  sent = 0n;
  #sock: Deno.DatagramConn;
  #codec: DatagramCodec;
  #fragmenter = new Fragmenter();
  #assembly = new FragmentAssembly();
  #client: Deno.NetAddr | null = null;
  #clientNewest = 0n;
  #closed = false;
  #final: bigint | null = null;
  #loop: Promise<void>;

  /** Binds 127.0.0.1 on a free port with a fresh key. */
  constructor() {
    const key = generateKey();
    this.key = encodeKey(key);
    this.#codec = new DatagramCodec(key, { direction: TO_CLIENT });
    this.#sock = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    this.port = (this.#sock.addr as Deno.NetAddr).port;
    this.#loop = this.#receive();
  }

  /** Whether the client has been heard. */
  get connected(): boolean {
    return this.#client !== null;
  }

  /** Sends screen after screen for `ms` milliseconds, yielding to the event loop between them. */
  async flood(ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (performance.now() < end && !this.#closed) {
      await this.#sendScreen(this.sent + 1n, "");
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /**
   * Sends the final screen, whose third row starts with `marker` (the same state
   * each time it is called after the flood); returns its number.
   */
  async sendFinal(marker: string): Promise<bigint> {
    this.#final ??= this.sent + 1n;
    await this.#sendScreen(this.#final, marker);
    return this.#final;
  }

  /** Closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sock.close();
    await this.#loop;
  }

  /** Sends state `num`: from state 0, a resize to the largest size and a full screen. */
  async #sendScreen(num: bigint, marker: string): Promise<void> {
    if (this.#client === null) return;
    const side = MAX_TERMINAL_DIMENSION;
    // The final screen's fill is used by no other, so every cell of its top
    // row differs from what the client drew before and is drawn in one run.
    const fill = marker !== "" ? "." : FILL[Number(num % BigInt(FILL.length))];
    // The marker goes on the third row: the client's notification bar may
    // cover the top one (this server acks the client only loosely).
    const text = "\x1b[H" + fill.repeat(side * side) +
      (marker !== "" ? `\x1b[3;1H${marker}` : "");
    const diff = encodeHostMessage([
      { type: "resize", width: side, height: side },
      { type: "bytes", bytes: new TextEncoder().encode(text) },
    ]);
    const instruction = encodeInstruction({
      protocolVersion: PROTOCOL_VERSION,
      oldNum: 0n,
      newNum: num,
      ackNum: this.#clientNewest,
      throwawayNum: 0n,
      diff,
      chaff: new Uint8Array(0),
    });
    for (
      const f of this.#fragmenter.makeFragments(instruction, DEFAULT_IPV4_MTU)
    ) {
      const datagram = this.#codec.seal({
        timestamp: timestamp16(performance.now()),
        timestampReply: TIMESTAMP_NONE,
        payload: f,
      });
      try {
        await this.#sock.send(datagram, this.#client);
      } catch {
        // a full socket buffer: the datagram is lost, as on a network
      }
    }
    if (num > this.sent) this.sent = num;
  }

  /** Learns the client's address and newest state from what it sends. */
  async #receive(): Promise<void> {
    try {
      for (;;) {
        const [data, addr] = await this.#sock.receive();
        const d = this.#codec.open(data);
        if (d === null) continue;
        this.#client = addr as Deno.NetAddr;
        const assembled = this.#assembly.add(d.payload);
        if (assembled === null) continue;
        const ins = decodeInstruction(assembled);
        if (ins !== null && ins.newNum > this.#clientNewest) {
          this.#clientNewest = ins.newNum;
        }
      }
    } catch {
      // closed
    }
  }
}
