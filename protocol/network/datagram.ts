/**
 * Mosh datagrams: the encrypted UDP payload with its nonce, sequence number
 * and 16-bit timestamps (docs/wire.md §2.2–§2.4, §3.1).
 *
 * Wire format: nonce tail (8 bytes, big-endian `dir << 63 | seq`) ‖ OCB
 * ciphertext ‖ 16-byte tag. The OCB nonce is 4 zero bytes ‖ nonce tail. The
 * plaintext is timestamp (2) ‖ timestamp reply (2) ‖ payload.
 * @module
 */

import { Ocb } from "../crypto/ocb.ts";
import { NONCE_BYTES, TAG_BYTES } from "../crypto/constants.ts";
import { WIRE_NONCE_BYTES } from "./constants.ts";

/** Bytes of the two timestamps at the start of every plaintext. */
const TIMESTAMPS_BYTES = 4;
/** Smallest datagram that can hold a nonce tail and a tag. */
const MIN_DATAGRAM = WIRE_NONCE_BYTES + TAG_BYTES;
const SEQ_MASK = (1n << 63n) - 1n;
/** Mosh refuses to encrypt more than this many 16-byte blocks under one key (mosh: Session::encrypt). */
const MAX_BLOCKS = 2 ** 47;

/** A decrypted, authenticated datagram. */
export interface Datagram {
  /** Direction bit: 0 = to server (TO_SERVER), 1 = to client (TO_CLIENT). */
  direction: 0 | 1;
  /** Sequence number, 0 .. 2^63-1. */
  seq: bigint;
  /** Sender's clock, ms mod 65536; 0xFFFF means none. */
  timestamp: number;
  /** Echo of our timestamp, ms mod 65536; 0xFFFF means none. */
  timestampReply: number;
  /** The rest of the plaintext (one transport fragment). */
  payload: Uint8Array;
}

/** Options for {@linkcode DatagramCodec}. */
export interface DatagramCodecOptions {
  /** Direction of datagrams THIS side sends: TO_SERVER (0) for a client, TO_CLIENT (1) for a server. */
  direction: 0 | 1;
}

/** Fields of an outgoing datagram. */
export interface DatagramFields {
  /** Our clock, ms mod 65536 (see {@linkcode timestamp16}). */
  timestamp: number;
  /** Echoed peer timestamp, or 0xFFFF for none. */
  timestampReply: number;
  /** The transport fragment to carry. */
  payload: Uint8Array;
}

function checkU16(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new Error(
      `tmosh: datagram ${name} must be an integer 0..65535, got ${value}`,
    );
  }
}

/** Seals outgoing and opens incoming datagrams for one session key and side. */
export class DatagramCodec {
  #ocb: Ocb;
  #direction: 0 | 1;
  #nextSeq = 0n;
  #blocks = 0;
  #nonce = new Uint8Array(NONCE_BYTES);
  #nonceView = new DataView(this.#nonce.buffer);
  #plain = new Uint8Array(2048);

  /** Creates a codec for a 16-byte session key; `direction` is the one we send. */
  constructor(key: Uint8Array, options: DatagramCodecOptions) {
    if (options.direction !== 0 && options.direction !== 1) {
      throw new Error(
        `tmosh: datagram direction must be 0 (to server) or 1 (to client), got ${options.direction}`,
      );
    }
    this.#ocb = new Ocb(key);
    this.#direction = options.direction;
  }

  /** Number of datagrams sealed so far (also the next sequence number). */
  get sentCount(): bigint {
    return this.#nextSeq;
  }

  /** Encrypts one datagram under the next, never reused, sequence number; `into`: an array to seal into when large enough (the result is a view of it). */
  seal(
    fields: DatagramFields,
    options: { into?: Uint8Array } = {},
  ): Uint8Array {
    checkU16("timestamp", fields.timestamp);
    checkU16("timestampReply", fields.timestampReply);
    const seq = this.#nextSeq;
    if (seq > SEQ_MASK) {
      throw new Error(
        "tmosh: datagram sequence numbers exhausted for this key; start a new session",
      );
    }
    const plainLen = TIMESTAMPS_BYTES + fields.payload.length;
    const blocks = Math.ceil(plainLen / 16);
    if (this.#blocks + blocks > MAX_BLOCKS) {
      throw new Error(
        "tmosh: too much data encrypted under one session key; start a new session",
      );
    }
    this.#nextSeq = seq + 1n;
    this.#blocks += blocks;

    const nonce = this.#nonce;
    this.#nonceView.setBigUint64(4, (BigInt(this.#direction) << 63n) | seq);

    // The plaintext only lives until seal() has copied it: reuse one buffer.
    if (this.#plain.length < plainLen) {
      this.#plain = new Uint8Array(Math.max(plainLen, 2 * this.#plain.length));
    }
    const plaintext = this.#plain.subarray(0, plainLen);
    plaintext[0] = fields.timestamp >>> 8;
    plaintext[1] = fields.timestamp & 0xff;
    plaintext[2] = fields.timestampReply >>> 8;
    plaintext[3] = fields.timestampReply & 0xff;
    plaintext.set(fields.payload, TIMESTAMPS_BYTES);

    const out = this.#ocb.seal(nonce, plaintext, {
      headroom: WIRE_NONCE_BYTES,
      into: options.into,
    });
    out.set(nonce.subarray(NONCE_BYTES - WIRE_NONCE_BYTES), 0);
    return out;
  }

  /** Authenticates and decrypts a datagram from the peer; null if it must be dropped. */
  open(bytes: Uint8Array): Datagram | null {
    if (bytes.length < MIN_DATAGRAM) return null;
    const direction = (bytes[0] >>> 7) as 0 | 1;
    // Only the peer's direction is acceptable (stops reflected packets).
    if (direction === this.#direction) return null;
    const nonce = new Uint8Array(NONCE_BYTES);
    nonce.set(
      bytes.subarray(0, WIRE_NONCE_BYTES),
      NONCE_BYTES - WIRE_NONCE_BYTES,
    );
    let plaintext: Uint8Array | null;
    try {
      plaintext = this.#ocb.open(nonce, bytes.subarray(WIRE_NONCE_BYTES));
    } catch {
      return null;
    }
    if (plaintext === null || plaintext.length < TIMESTAMPS_BYTES) return null;
    const seq = new DataView(nonce.buffer).getBigUint64(4) & SEQ_MASK;
    return {
      direction,
      seq,
      timestamp: (plaintext[0] << 8) | plaintext[1],
      timestampReply: (plaintext[2] << 8) | plaintext[3],
      payload: plaintext.subarray(TIMESTAMPS_BYTES),
    };
  }
}

/** Mosh's 16-bit timestamp of a monotonic clock reading in ms (0xFFFF is never produced). */
export function timestamp16(nowMs: number): number {
  const ts = ((Math.floor(nowMs) % 65536) + 65536) % 65536;
  return ts === 0xffff ? 0 : ts;
}

/** Milliseconds from 16-bit timestamp `then` to `ts`, modulo 65536. */
export function timestampDiff(ts: number, then: number): number {
  return (((ts - then) % 65536) + 65536) % 65536;
}
