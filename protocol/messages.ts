/**
 * Typed encode/decode of Mosh's protobuf messages (mosh-wire.md §5.1, §7.1,
 * §7.2): the transport Instruction and the two diffs it carries, the client's
 * UserMessage and the server's HostMessage. Decoders return null for bytes that
 * are not valid protobuf of the expected shape; they never throw.
 * @module
 */

import {
  create,
  fromBinary,
  getExtension,
  hasExtension,
  setExtension,
  toBinary,
} from "@bufbuild/protobuf";
import { InstructionSchema } from "./gen/transportinstruction_pb.ts";
import * as client from "./gen/userinput_pb.ts";
import * as host from "./gen/hostinput_pb.ts";

/** A decoded `TransportBuffers.Instruction` (mosh-wire.md §5.1). */
export interface Instruction {
  /** Always PROTOCOL_VERSION (2) from a well-behaved peer. */
  protocolVersion: number;
  /** Sender's state the diff applies to. */
  oldNum: bigint;
  /** Sender's state the diff produces; SHUTDOWN_NUM signals shutdown. */
  newNum: bigint;
  /** Newest peer state received in order; SHUTDOWN_NUM acks shutdown. */
  ackNum: bigint;
  /** The receiver may drop the sender's states numbered below this. */
  throwawayNum: bigint;
  /** Serialized UserMessage or HostMessage; may be empty. */
  diff: Uint8Array;
  /** Random padding, ignored by the receiver. */
  chaff: Uint8Array;
}

/** One client-to-server event (mosh-wire.md §7.1). */
export type UserEvent =
  | { type: "keys"; keys: Uint8Array }
  | { type: "resize"; width: number; height: number };

/** One server-to-client diff step (mosh-wire.md §7.2). */
export type HostEvent =
  | { type: "bytes"; bytes: Uint8Array }
  | { type: "resize"; width: number; height: number }
  | { type: "echoAck"; num: bigint };

const READ_OPTIONS = { readUnknownFields: true };

/**
 * Serializes an Instruction with all seven fields present, in field order, as
 * stock Mosh does. Throws if a number is out of its protobuf range.
 */
export function encodeInstruction(i: Instruction): Uint8Array {
  const msg = create(InstructionSchema, {
    protocolVersion: i.protocolVersion,
    oldNum: i.oldNum,
    newNum: i.newNum,
    ackNum: i.ackNum,
    throwawayNum: i.throwawayNum,
    diff: i.diff,
    chaff: i.chaff,
  });
  return toBinary(InstructionSchema, msg);
}

/** Parses an Instruction; missing fields read as 0 or empty; null if invalid. */
export function decodeInstruction(bytes: Uint8Array): Instruction | null {
  try {
    const m = fromBinary(InstructionSchema, bytes, READ_OPTIONS);
    return {
      protocolVersion: m.protocolVersion,
      oldNum: m.oldNum,
      newNum: m.newNum,
      ackNum: m.ackNum,
      throwawayNum: m.throwawayNum,
      diff: m.diff,
      chaff: m.chaff,
    };
  } catch {
    return null;
  }
}

/** Serializes user events as a UserMessage, one Instruction per event. */
export function encodeUserMessage(events: UserEvent[]): Uint8Array {
  const msg = create(client.UserMessageSchema);
  for (const ev of events) {
    const ins = create(client.InstructionSchema);
    if (ev.type === "keys") {
      setExtension(
        ins,
        client.keystroke,
        create(client.KeystrokeSchema, { keys: ev.keys }),
      );
    } else {
      setExtension(
        ins,
        client.resize,
        create(client.ResizeMessageSchema, {
          width: ev.width,
          height: ev.height,
        }),
      );
    }
    msg.instruction.push(ins);
  }
  return toBinary(client.UserMessageSchema, msg);
}

/**
 * Parses a UserMessage into events (keystroke wins if an instruction has both;
 * instructions with neither are skipped); null if the bytes are invalid.
 */
export function decodeUserMessage(bytes: Uint8Array): UserEvent[] | null {
  try {
    const msg = fromBinary(client.UserMessageSchema, bytes, READ_OPTIONS);
    const out: UserEvent[] = [];
    for (const ins of msg.instruction) {
      if (hasExtension(ins, client.keystroke)) {
        out.push({
          type: "keys",
          keys: getExtension(ins, client.keystroke).keys,
        });
      } else if (hasExtension(ins, client.resize)) {
        const r = getExtension(ins, client.resize);
        out.push({ type: "resize", width: r.width, height: r.height });
      }
    }
    return out;
  } catch {
    return null;
  }
}

/** Serializes host events as a HostMessage, one Instruction per event. */
export function encodeHostMessage(events: HostEvent[]): Uint8Array {
  const msg = create(host.HostMessageSchema);
  for (const ev of events) {
    const ins = create(host.InstructionSchema);
    if (ev.type === "bytes") {
      setExtension(
        ins,
        host.hostbytes,
        create(host.HostBytesSchema, { hoststring: ev.bytes }),
      );
    } else if (ev.type === "resize") {
      setExtension(
        ins,
        host.resize,
        create(host.ResizeMessageSchema, {
          width: ev.width,
          height: ev.height,
        }),
      );
    } else {
      setExtension(
        ins,
        host.echoack,
        create(host.EchoAckSchema, { echoAckNum: ev.num }),
      );
    }
    msg.instruction.push(ins);
  }
  return toBinary(host.HostMessageSchema, msg);
}

/**
 * Parses a HostMessage into events, in order (per instruction: hostbytes, else
 * resize, else echoack; others skipped); null if the bytes are invalid.
 */
export function decodeHostMessage(bytes: Uint8Array): HostEvent[] | null {
  try {
    const msg = fromBinary(host.HostMessageSchema, bytes, READ_OPTIONS);
    const out: HostEvent[] = [];
    for (const ins of msg.instruction) {
      if (hasExtension(ins, host.hostbytes)) {
        out.push({
          type: "bytes",
          bytes: getExtension(ins, host.hostbytes).hoststring,
        });
      } else if (hasExtension(ins, host.resize)) {
        const r = getExtension(ins, host.resize);
        out.push({ type: "resize", width: r.width, height: r.height });
      } else if (hasExtension(ins, host.echoack)) {
        out.push({
          type: "echoAck",
          num: getExtension(ins, host.echoack).echoAckNum,
        });
      }
    }
    return out;
  } catch {
    return null;
  }
}
