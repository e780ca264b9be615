/**
 * A decrypting UDP relay for tests: sits between a Mosh client and server,
 * forwards every datagram unchanged, and, knowing the session key, opens each
 * one, reassembles the transport instructions of both directions and records
 * which field numbers their diffs carry (docs/wire.md §2–§5). Used to prove
 * what a peer receives, e.g. that a stock peer never gets a tmosh extension
 * (docs/wire.md §13).
 * @module
 */

import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { decodeKey } from "../protocol/crypto/key.ts";
import { DatagramCodec } from "../protocol/network/datagram.ts";
import { FragmentAssembly } from "../protocol/network/fragment.ts";
import {
  decodeHostMessage,
  decodeInstruction,
  decodeUserMessage,
  type HostEvent,
  type Instruction,
  type UserEvent,
} from "../protocol/protobufs/messages.ts";

/** One reassembled instruction seen on the wire. */
export interface TappedInstruction {
  /** The decoded transport instruction. */
  instruction: Instruction;
  /** Field numbers present in the serialized transport Instruction. */
  transportFields: number[];
  /** Field (extension) numbers of every diff Instruction, in order, one set per instruction. */
  diffFields: number[][];
  /** The diff decoded with tmosh's codec (null when malformed). */
  events: UserEvent[] | HostEvent[] | null;
}

/** What one direction of the relay saw. */
export interface TapDirection {
  /** Datagrams forwarded. */
  datagrams: number;
  /** Datagrams that did not decrypt with the key. */
  undecryptable: number;
  /** Reassembled instructions or diffs that were not valid protobuf. */
  malformed: number;
  /** Reassembled instructions, in arrival order. */
  instructions: TappedInstruction[];
}

/** The field numbers at the top level of a protobuf message; null if malformed. */
export function topLevelFields(bytes: Uint8Array): number[] | null {
  const out: number[] = [];
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [field, type] = r.tag();
      out.push(field);
      if (type === WireType.Varint) r.uint64();
      else r.skip(type, field);
    }
    return out;
  } catch {
    return null;
  }
}

/** The field numbers of each `instruction` (field 1) of a User/HostMessage; null if malformed. */
export function diffInstructionFields(diff: Uint8Array): number[][] | null {
  const out: number[][] = [];
  try {
    const r = new BinaryReader(diff);
    while (r.pos < r.len) {
      const [field, type] = r.tag();
      if (field === 1 && type === WireType.LengthDelimited) {
        const inner = topLevelFields(r.bytes());
        if (inner === null) return null;
        out.push(inner);
      } else {
        return null; // a User/HostMessage holds only instructions
      }
    }
    return out;
  } catch {
    return null;
  }
}

/** A decrypting relay on 127.0.0.1 in front of one upstream server. */
export class WireTap {
  /** Client to server. */
  readonly toServer: TapDirection = {
    datagrams: 0,
    undecryptable: 0,
    malformed: 0,
    instructions: [],
  };
  /** Server to client. */
  readonly toClient: TapDirection = {
    datagrams: 0,
    undecryptable: 0,
    malformed: 0,
    instructions: [],
  };
  readonly #listener: Deno.DatagramConn;
  readonly #upstreamSocket: Deno.DatagramConn;
  readonly #upstream: Deno.NetAddr;
  readonly #key: Uint8Array;
  #client: Deno.Addr | null = null;
  #closed = false;
  readonly #loops: Promise<void>[] = [];

  private constructor(key: string, upstreamPort: number) {
    this.#key = decodeKey(key);
    this.#listener = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    this.#upstreamSocket = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    this.#upstream = {
      transport: "udp",
      hostname: "127.0.0.1",
      port: upstreamPort,
    };
  }

  /** Starts a tap forwarding to 127.0.0.1:`port`, decrypting with session key `key`. */
  static start(options: { port: number; key: string }): WireTap {
    const tap = new WireTap(options.key, options.port);
    tap.#loops.push(tap.#pump(0), tap.#pump(1));
    return tap;
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Every extension number (>= 2) of the diffs sent in one direction. */
  extensionNumbers(direction: TapDirection): Set<number> {
    const out = new Set<number>();
    for (const t of direction.instructions) {
      for (const fields of t.diffFields) {
        for (const f of fields) out.add(f);
      }
    }
    return out;
  }

  /** Stops relaying and waits for both loops to end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    this.#upstreamSocket.close();
    await Promise.allSettled(this.#loops);
  }

  /** Relays one direction: 0 = client to server, 1 = server to client. */
  async #pump(direction: 0 | 1): Promise<void> {
    // The codec opens datagrams of the direction opposite to the one it sends.
    const codec = new DatagramCodec(this.#key, {
      direction: direction === 0 ? 1 : 0,
    });
    const assembly = new FragmentAssembly();
    const record = direction === 0 ? this.toServer : this.toClient;
    const from = direction === 0 ? this.#listener : this.#upstreamSocket;
    const to = direction === 0 ? this.#upstreamSocket : this.#listener;
    while (!this.#closed) {
      let bytes: Uint8Array, addr: Deno.Addr;
      try {
        [bytes, addr] = await from.receive();
      } catch {
        return; // closed
      }
      if (direction === 0) this.#client = addr;
      record.datagrams++;
      this.#inspect(codec, assembly, record, direction, bytes);
      const dest = direction === 0 ? this.#upstream : this.#client;
      if (dest === null) continue;
      try {
        await to.send(bytes, dest);
      } catch {
        if (this.#closed) return;
      }
    }
  }

  /** Decrypts and records one datagram. */
  #inspect(
    codec: DatagramCodec,
    assembly: FragmentAssembly,
    record: TapDirection,
    direction: 0 | 1,
    bytes: Uint8Array,
  ): void {
    const dgram = codec.open(bytes);
    if (dgram === null) {
      record.undecryptable++;
      return;
    }
    const whole = assembly.add(dgram.payload);
    if (whole === null) return;
    const instruction = decodeInstruction(whole);
    const transportFields = topLevelFields(whole);
    const diffFields = instruction && diffInstructionFields(instruction.diff);
    if (!instruction || !transportFields || !diffFields) {
      record.malformed++;
      return;
    }
    const events = direction === 0
      ? decodeUserMessage(instruction.diff)
      : decodeHostMessage(instruction.diff);
    record.instructions.push({
      instruction,
      transportFields,
      diffFields,
      events,
    });
  }
}
