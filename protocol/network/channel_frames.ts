/**
 * The channel datagram codec (docs/wire.md §17): one unfragmented datagram
 * whose payload starts with a fragment header no SSP instruction ever uses
 * (id with bit 63 set carrying a packet number, fragment word 0x7FFF), then
 * frames in the spirit of QUIC's: ack, open, accept, data, channel ack,
 * reset, listen, listen result. Decoding never throws: a malformed datagram
 * decodes to null.
 * @module
 */

import {
  CHANNEL_FRAGMENT_WORD,
  CHANNEL_TARGET_MAX,
  FRAG_HEADER_BYTES,
} from "./constants.ts";

/** Frame type numbers (docs/wire.md §17.2). */
export const FRAME = {
  ack: 0x01,
  open: 0x02,
  accept: 0x03,
  data: 0x04,
  chanAck: 0x05,
  reset: 0x06,
  listen: 0x07,
  listenResult: 0x08,
} as const;

/** Channel kinds of an open frame (docs/wire.md §17.3). */
export const CHANNEL_KIND = {
  /** Client → server: a TCP connection to `host:port` (-L, -D, -W). */
  tcp: 1,
  /** Client → server: a Unix stream socket at a path (-L to a socket). */
  unix: 2,
  /** Server → client: a connection accepted on a -R listener; target is the listen id. */
  forwarded: 3,
  /** Server → client: a connection to the agent socket (-A). */
  agent: 4,
} as const;

/** Reset codes (docs/wire.md §17.4). */
export const RESET_CODE = {
  /** Aborted by the application (socket error, session ending). */
  aborted: 0,
  /** The target refused the connection or could not be reached. */
  refused: 1,
  /** The host's sshd policy forbids it. */
  policy: 2,
  /** The channel is not known (closed, or never opened). */
  unknown: 3,
  /** Too many channels, or a malformed request. */
  rejected: 4,
  /** No agent: no client with agent forwarding, or its agent failed. */
  noAgent: 5,
} as const;

/** Packet acknowledgement: ranges of packet numbers, newest first (QUIC's ACK frame). */
export interface AckFrame {
  type: typeof FRAME.ack;
  /** Inclusive [low, high] ranges, descending and disjoint. */
  ranges: [number, number][];
  /** Time between receiving the largest and sending this, ms. */
  delayMs: number;
}

/** A request to open a channel. */
export interface OpenFrame {
  type: typeof FRAME.open;
  channel: number;
  kind: number;
  /** Bytes the opener may receive before its first channel ack. */
  window: number;
  /** `host:port`, a socket path, or a listen id (by kind). */
  target: string;
}

/** The channel is open (target connected). */
export interface AcceptFrame {
  type: typeof FRAME.accept;
  channel: number;
  window: number;
}

/** Stream bytes at `offset`; `fin` marks the end of the stream after them. */
export interface DataFrame {
  type: typeof FRAME.data;
  channel: number;
  offset: number;
  fin: boolean;
  bytes: Uint8Array;
}

/** Cumulative receipt of a channel's stream and the receive window beyond it. */
export interface ChanAckFrame {
  type: typeof FRAME.chanAck;
  channel: number;
  /** Every byte below this offset was received. */
  offset: number;
  /** Bytes beyond `offset` the sender may send (the limit is offset + window). */
  window: number;
}

/** The channel is gone; `reason` is one line for the user. */
export interface ResetFrame {
  type: typeof FRAME.reset;
  channel: number;
  code: number;
  reason: string;
}

/** Client → server: listen on `bind:port` for -R (port 0: any free port). */
export interface ListenFrame {
  type: typeof FRAME.listen;
  listen: number;
  port: number;
  bind: string;
}

/** Server → client: the outcome of a listen (code 0: listening on `port`). */
export interface ListenResultFrame {
  type: typeof FRAME.listenResult;
  listen: number;
  code: number;
  port: number;
  message: string;
}

/** Any channel frame. */
export type Frame =
  | AckFrame
  | OpenFrame
  | AcceptFrame
  | DataFrame
  | ChanAckFrame
  | ResetFrame
  | ListenFrame
  | ListenResultFrame;

/** A decoded channel datagram. */
export interface ChannelPacket {
  /** Packet number (docs/wire.md §17.1). */
  number: number;
  frames: Frame[];
}

/** Largest varint value (2^53 - 1: offsets stay exact JS numbers). */
const VARINT_MAX = Number.MAX_SAFE_INTEGER;

/** Whether an authentic datagram payload is a channel datagram, not an SSP fragment. */
export function isChannelPayload(payload: Uint8Array): boolean {
  return payload.length >= FRAG_HEADER_BYTES && (payload[0] & 0x80) !== 0 &&
    ((payload[8] << 8) | payload[9]) === CHANNEL_FRAGMENT_WORD;
}

/** Bytes of a QUIC variable-length integer (RFC 9000 §16). */
export function varintSize(v: number): number {
  return v < 0x40 ? 1 : v < 0x4000 ? 2 : v < 0x4000_0000 ? 4 : 8;
}

/** Incremental writer of a channel datagram payload. */
export class PacketWriter {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #at = FRAG_HEADER_BYTES;

  /**
   * Starts a packet numbered `number` with room for `capacity` bytes, in
   * `into` when it is large enough (the payload then lives there until it is
   * overwritten), else in a new buffer.
   */
  constructor(
    number: number,
    capacity: number,
    options: { into?: Uint8Array } = {},
  ) {
    const into = options.into;
    this.#buf = into !== undefined && into.length >= capacity
      ? into.subarray(0, capacity)
      : new Uint8Array(capacity);
    this.#view = new DataView(
      this.#buf.buffer,
      this.#buf.byteOffset,
      this.#buf.byteLength,
    );
    this.#view.setUint32(0, 0x8000_0000 + Math.floor(number / 2 ** 32));
    this.#view.setUint32(4, number >>> 0);
    this.#view.setUint16(8, CHANNEL_FRAGMENT_WORD);
  }

  /** Bytes still free. */
  get room(): number {
    return this.#buf.length - this.#at;
  }

  /** Whether any frame was written. */
  get empty(): boolean {
    return this.#at === FRAG_HEADER_BYTES;
  }

  /** The payload written so far. */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }

  /** Appends a frame; false (nothing written) when it does not fit. */
  add(frame: Frame): boolean {
    const size = frameSize(frame);
    if (size > this.room) return false;
    this.#frame(frame);
    return true;
  }

  #frame(f: Frame): void {
    this.#varint(f.type);
    switch (f.type) {
      case FRAME.ack: {
        const [first, ...rest] = f.ranges;
        this.#varint(first[1]);
        this.#varint(f.delayMs);
        this.#varint(rest.length);
        this.#varint(first[1] - first[0]);
        let low = first[0];
        for (const [lo, hi] of rest) {
          this.#varint(low - hi - 2);
          this.#varint(hi - lo);
          low = lo;
        }
        return;
      }
      case FRAME.open:
        this.#varint(f.channel);
        this.#varint(f.kind);
        this.#varint(f.window);
        this.#text(f.target);
        return;
      case FRAME.accept:
        this.#varint(f.channel);
        this.#varint(f.window);
        return;
      case FRAME.data:
        this.#varint(f.channel);
        this.#varint(f.offset);
        this.#buf[this.#at++] = f.fin ? 1 : 0;
        this.#varint(f.bytes.length);
        this.#buf.set(f.bytes, this.#at);
        this.#at += f.bytes.length;
        return;
      case FRAME.chanAck:
        this.#varint(f.channel);
        this.#varint(f.offset);
        this.#varint(f.window);
        return;
      case FRAME.reset:
        this.#varint(f.channel);
        this.#varint(f.code);
        this.#text(f.reason);
        return;
      case FRAME.listen:
        this.#varint(f.listen);
        this.#varint(f.port);
        this.#text(f.bind);
        return;
      case FRAME.listenResult:
        this.#varint(f.listen);
        this.#varint(f.code);
        this.#varint(f.port);
        this.#text(f.message);
        return;
    }
  }

  #text(s: string): void {
    const bytes = ENCODER.encode(s);
    this.#varint(bytes.length);
    this.#buf.set(bytes, this.#at);
    this.#at += bytes.length;
  }

  #varint(v: number): void {
    const size = varintSize(v);
    const at = this.#at;
    if (size === 1) this.#buf[at] = v;
    else if (size === 2) this.#view.setUint16(at, 0x4000 | v);
    else if (size === 4) this.#view.setUint32(at, 0x8000_0000 + v);
    else {
      this.#view.setUint32(at, 0xc000_0000 + Math.floor(v / 2 ** 32));
      this.#view.setUint32(at + 4, v >>> 0);
    }
    this.#at += size;
  }
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: false });

/** Encoded size of a frame, bytes. */
export function frameSize(f: Frame): number {
  const v = varintSize;
  switch (f.type) {
    case FRAME.ack: {
      const [first, ...rest] = f.ranges;
      let n = 1 + v(first[1]) + v(f.delayMs) + v(rest.length) +
        v(first[1] - first[0]);
      let low = first[0];
      for (const [lo, hi] of rest) {
        n += v(low - hi - 2) + v(hi - lo);
        low = lo;
      }
      return n;
    }
    case FRAME.open:
      return 1 + v(f.channel) + v(f.kind) + v(f.window) + textSize(f.target);
    case FRAME.accept:
      return 1 + v(f.channel) + v(f.window);
    case FRAME.data:
      return 1 + v(f.channel) + v(f.offset) + 1 + v(f.bytes.length) +
        f.bytes.length;
    case FRAME.chanAck:
      return 1 + v(f.channel) + v(f.offset) + v(f.window);
    case FRAME.reset:
      return 1 + v(f.channel) + v(f.code) + textSize(f.reason);
    case FRAME.listen:
      return 1 + v(f.listen) + v(f.port) + textSize(f.bind);
    case FRAME.listenResult:
      return 1 + v(f.listen) + v(f.code) + v(f.port) + textSize(f.message);
  }
}

/** Room a data frame header takes for these numbers, bytes. */
export function dataHeaderSize(
  channel: number,
  offset: number,
  length: number,
): number {
  return 2 + varintSize(channel) + varintSize(offset) + varintSize(length);
}

function textSize(s: string): number {
  const n = ENCODER.encode(s).length;
  return varintSize(n) + n;
}

/** Reads a channel datagram payload; null when it is not one or is malformed. */
export function decodeChannelPacket(payload: Uint8Array): ChannelPacket | null {
  if (!isChannelPayload(payload)) return null;
  const r = new Reader(payload);
  const high = r.view.getUint32(0) - 0x8000_0000;
  const number = high * 2 ** 32 + r.view.getUint32(4);
  if (number > VARINT_MAX) return null;
  r.at = FRAG_HEADER_BYTES;
  const frames: Frame[] = [];
  while (r.at < payload.length) {
    const f = r.frame();
    if (f === null) return null;
    frames.push(f);
  }
  return { number, frames };
}

/** A bounds-checked reader; every method returns null past the end. */
class Reader {
  readonly view: DataView;
  at = 0;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  varint(): number | null {
    if (this.at >= this.buf.length) return null;
    const size = 1 << (this.buf[this.at] >> 6);
    if (this.at + size > this.buf.length) return null;
    let v: number;
    if (size === 1) v = this.buf[this.at];
    else if (size === 2) v = this.view.getUint16(this.at) & 0x3fff;
    else if (size === 4) v = this.view.getUint32(this.at) & 0x3fff_ffff;
    else {
      v = (this.view.getUint32(this.at) & 0x3fff_ffff) * 2 ** 32 +
        this.view.getUint32(this.at + 4);
      if (v > VARINT_MAX) return null;
    }
    this.at += size;
    return v;
  }

  bytes(n: number): Uint8Array | null {
    if (this.at + n > this.buf.length) return null;
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  text(max: number): string | null {
    const n = this.varint();
    if (n === null || n > max) return null;
    const b = this.bytes(n);
    return b === null ? null : DECODER.decode(b);
  }

  frame(): Frame | null {
    const type = this.varint();
    switch (type) {
      case FRAME.ack:
        return this.#ack();
      case FRAME.open: {
        const channel = this.varint(), kind = this.varint();
        const window = this.varint(), target = this.text(CHANNEL_TARGET_MAX);
        if (channel === null || kind === null || window === null) return null;
        if (target === null) return null;
        return { type, channel, kind, window, target };
      }
      case FRAME.accept: {
        const channel = this.varint(), window = this.varint();
        if (channel === null || window === null) return null;
        return { type, channel, window };
      }
      case FRAME.data: {
        const channel = this.varint(), offset = this.varint();
        const flags = this.bytes(1), length = this.varint();
        if (channel === null || offset === null || flags === null) return null;
        if (length === null || offset + length > VARINT_MAX) return null;
        const bytes = this.bytes(length);
        if (bytes === null || flags[0] > 1) return null;
        return { type, channel, offset, fin: flags[0] === 1, bytes };
      }
      case FRAME.chanAck: {
        const channel = this.varint(), offset = this.varint();
        const window = this.varint();
        if (channel === null || offset === null || window === null) return null;
        return { type, channel, offset, window };
      }
      case FRAME.reset: {
        const channel = this.varint(), code = this.varint();
        const reason = this.text(CHANNEL_TARGET_MAX);
        if (channel === null || code === null || reason === null) return null;
        return { type, channel, code, reason };
      }
      case FRAME.listen: {
        const listen = this.varint(), port = this.varint();
        const bind = this.text(CHANNEL_TARGET_MAX);
        if (listen === null || port === null || bind === null) return null;
        if (port > 65535) return null;
        return { type, listen, port, bind };
      }
      case FRAME.listenResult: {
        const listen = this.varint(), code = this.varint();
        const port = this.varint(), message = this.text(CHANNEL_TARGET_MAX);
        if (listen === null || code === null || port === null) return null;
        if (message === null || port > 65535) return null;
        return { type, listen, code, port, message };
      }
      default:
        return null;
    }
  }

  #ack(): AckFrame | null {
    const largest = this.varint(), delayMs = this.varint();
    const count = this.varint(), first = this.varint();
    if (largest === null || delayMs === null || count === null) return null;
    if (first === null || first > largest || count > 256) return null;
    const ranges: [number, number][] = [[largest - first, largest]];
    let low = largest - first;
    for (let i = 0; i < count; i++) {
      const gap = this.varint(), len = this.varint();
      if (gap === null || len === null) return null;
      const hi = low - gap - 2;
      if (hi < 0 || len > hi) return null;
      ranges.push([hi - len, hi]);
      low = hi - len;
    }
    return { type: FRAME.ack, ranges, delayMs };
  }
}
