/**
 * Relay envelopes (docs/wire.md §16): between a client and a jump-host relay
 * every datagram travels sealed in an envelope under a separate relay key, so
 * the relay authenticates who may move its return path without ever holding
 * the session key. Wire format: nonce tail (8 bytes, big-endian
 * `dir << 63 | seq`) ‖ OCB ciphertext ‖ 16-byte tag; the OCB nonce is "tmrl"
 * ‖ nonce tail; the plaintext is kind (1) ‖ body.
 *
 * Here: the codec, the replay window, the client's {@linkcode RelayPath}
 * (the socket-boundary hook of a Connection, one envelope per relay of a
 * chain) and the relay's pure forwarding state ({@linkcode RelayState}).
 * @module
 */

import { Ocb } from "../crypto/ocb.ts";
import { decodeKey } from "../crypto/key.ts";
import { NONCE_BYTES, TAG_BYTES } from "../crypto/constants.ts";
import {
  ENVELOPE_BYE,
  ENVELOPE_BYE_COPIES,
  ENVELOPE_DATA,
  ENVELOPE_FROM_RELAY,
  ENVELOPE_NONCE_PREFIX,
  ENVELOPE_OVERHEAD,
  ENVELOPE_REPLAY_WINDOW,
  ENVELOPE_TO_RELAY,
  RELAY_RECEIVE_MAX,
  WIRE_NONCE_BYTES,
} from "./constants.ts";

const SEQ_MASK = (1n << 63n) - 1n;
/** Smallest envelope: nonce tail, kind, tag. */
const MIN_ENVELOPE = WIRE_NONCE_BYTES + 1 + TAG_BYTES;

/** An authentic envelope. */
export interface Envelope {
  /** Sequence number, 0 .. 2^63-1. */
  seq: bigint;
  /** ENVELOPE_DATA or ENVELOPE_BYE (other kinds are dropped by the opener). */
  kind: number;
  /** The inner datagram (DATA), empty for BYE. */
  body: Uint8Array;
}

/** Seals and opens the envelopes of one relay key for one side. */
export class EnvelopeCodec {
  readonly #ocb: Ocb;
  readonly #direction: 0 | 1;
  #nextSeq = 0n;
  readonly #nonce = new Uint8Array(NONCE_BYTES);

  /** A codec for a 16-byte relay key; `direction` is the one this side sends (ENVELOPE_TO_RELAY on the client). */
  constructor(key: Uint8Array, options: { direction: 0 | 1 }) {
    this.#ocb = new Ocb(key);
    this.#direction = options.direction;
    new DataView(this.#nonce.buffer).setUint32(0, ENVELOPE_NONCE_PREFIX);
  }

  /** Seals `body` as an envelope of `kind` under the next, never reused, sequence number. */
  seal(kind: number, body: Uint8Array): Uint8Array {
    const seq = this.#nextSeq;
    if (seq > SEQ_MASK) {
      throw new Error(
        "tmosh: relay envelope sequence numbers exhausted; reconnect",
      );
    }
    this.#nextSeq = seq + 1n;
    const nonce = this.#nonce;
    new DataView(nonce.buffer).setBigUint64(
      4,
      (BigInt(this.#direction) << 63n) | seq,
    );
    const plain = new Uint8Array(1 + body.length);
    plain[0] = kind;
    plain.set(body, 1);
    const out = this.#ocb.seal(nonce, plain, { headroom: WIRE_NONCE_BYTES });
    out.set(nonce.subarray(NONCE_BYTES - WIRE_NONCE_BYTES), 0);
    return out;
  }

  /** Authenticates and opens an envelope from the other side; null if it must be dropped. */
  open(bytes: Uint8Array): Envelope | null {
    if (bytes.length < MIN_ENVELOPE || bytes.length > RELAY_RECEIVE_MAX) {
      return null;
    }
    if ((bytes[0] >>> 7) === this.#direction) return null; // reflected
    const nonce = new Uint8Array(NONCE_BYTES);
    const view = new DataView(nonce.buffer);
    view.setUint32(0, ENVELOPE_NONCE_PREFIX);
    nonce.set(bytes.subarray(0, WIRE_NONCE_BYTES), 4);
    let plain: Uint8Array | null;
    try {
      plain = this.#ocb.open(nonce, bytes.subarray(WIRE_NONCE_BYTES));
    } catch {
      return null;
    }
    if (plain === null || plain.length < 1) return null;
    const kind = plain[0];
    if (kind !== ENVELOPE_DATA && kind !== ENVELOPE_BYE) return null;
    return {
      seq: view.getBigUint64(4) & SEQ_MASK,
      kind,
      body: plain.subarray(1),
    };
  }
}

/** Which sequence numbers were seen: the newest and a window below it (as IPsec's, RFC 4303 §3.4.3). */
export class ReplayWindow {
  #top = -1n;
  /** Bit i set: seq top - i was seen. */
  #bits = 0n;

  /** The newest sequence number accepted, or -1 before any. */
  get newest(): bigint {
    return this.#top;
  }

  /** Accepts `seq` once: "newer" (above every one seen), "old" (in the window, unseen) or null (seen, or too old). */
  accept(seq: bigint): "newer" | "old" | null {
    const size = BigInt(ENVELOPE_REPLAY_WINDOW);
    const mask = (1n << size) - 1n;
    if (seq > this.#top) {
      const shift = seq - this.#top;
      this.#bits = shift >= size ? 1n : ((this.#bits << shift) | 1n) & mask;
      this.#top = seq;
      return "newer";
    }
    const age = this.#top - seq;
    if (age >= size) return null;
    const bit = 1n << age;
    if ((this.#bits & bit) !== 0n) return null;
    this.#bits |= bit;
    return "old";
  }
}

/**
 * What a Connection calls at its socket boundary when datagrams go through a
 * relay: `wrap` on every datagram sent, `unwrap` on every one received (null:
 * drop it), `farewell` once when it closes.
 */
export interface DatagramPath {
  /** Bytes added to every datagram sent (the MTU shrinks by this much). */
  readonly overhead: number;
  /** The bytes to put on the wire for one sealed datagram. */
  wrap(datagram: Uint8Array): Uint8Array;
  /** The datagram inside received bytes, or null when they are not authentic. */
  unwrap(bytes: Uint8Array): Uint8Array | null;
  /** The datagrams to send when the connection closes (the relays' bye). */
  farewell(): Uint8Array[];
}

/**
 * The client's path through a chain of relays, keys outermost (the relay the
 * client sends to) first: each datagram is sealed for the last relay, that
 * envelope for the one before it, and so on.
 */
export class RelayPath implements DatagramPath {
  readonly #codecs: EnvelopeCodec[];
  #dropped = 0;

  /** A path through relays with these 16-byte keys, the first relay first. */
  constructor(keys: Uint8Array[]) {
    if (keys.length === 0) {
      throw new Error("tmosh: a relay path needs at least one relay key");
    }
    this.#codecs = keys.map((key) =>
      new EnvelopeCodec(key, { direction: ENVELOPE_TO_RELAY })
    );
  }

  /** Bytes the envelopes add. */
  get overhead(): number {
    return ENVELOPE_OVERHEAD * this.#codecs.length;
  }

  /** Received bytes dropped as not authentic. */
  get droppedCount(): number {
    return this.#dropped;
  }

  /** Seals `datagram` in one envelope per relay, the last relay's innermost. */
  wrap(datagram: Uint8Array): Uint8Array {
    return this.#wrapFrom(this.#codecs.length - 1, ENVELOPE_DATA, datagram);
  }

  /** Opens one envelope per relay, the first relay's outermost. */
  unwrap(bytes: Uint8Array): Uint8Array | null {
    let inner = bytes;
    for (const codec of this.#codecs) {
      const envelope = codec.open(inner);
      if (envelope === null || envelope.kind !== ENVELOPE_DATA) {
        this.#dropped++;
        return null;
      }
      inner = envelope.body;
    }
    return inner;
  }

  /** Bye envelopes for every relay, the last relay's first (the ones before it must still forward them). */
  farewell(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let hop = this.#codecs.length - 1; hop >= 0; hop--) {
      for (let i = 0; i < ENVELOPE_BYE_COPIES; i++) {
        out.push(this.#wrapFrom(hop, ENVELOPE_BYE, new Uint8Array(0)));
      }
    }
    return out;
  }

  /** Seals `body` as `kind` for relay `hop`, then as data for each relay before it. */
  #wrapFrom(hop: number, kind: number, body: Uint8Array): Uint8Array {
    let out = this.#codecs[hop].seal(kind, body);
    for (let i = hop - 1; i >= 0; i--) {
      out = this.#codecs[i].seal(ENVELOPE_DATA, out);
    }
    return out;
  }
}

/** The path through relays with these printed keys (first relay first), or undefined for none; the decoded keys are wiped once the ciphers hold them. */
export function relayPath(keys?: readonly string[]): RelayPath | undefined {
  if (keys === undefined || keys.length === 0) return undefined;
  const decoded = keys.map(decodeKey);
  const path = new RelayPath(decoded);
  for (const key of decoded) key.fill(0);
  return path;
}

/** A UDP address as the relay records it. */
export interface PeerAddr {
  /** Numeric IP address. */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** What the relay does with bytes from the client side. */
export type FromClient =
  | { kind: "forward"; datagram: Uint8Array; roamed: boolean }
  | { kind: "bye" }
  | { kind: "drop" };

/**
 * The relay's pure state (docs/wire.md §16.3): opens the client's envelopes,
 * follows the client's address only on an authentic envelope newer than any
 * seen, drops replays, and seals what the target sends back. Time is passed
 * in; the relay's loop owns sockets and clocks.
 */
export class RelayState {
  readonly #codec: EnvelopeCodec;
  readonly #window = new ReplayWindow();
  #client: PeerAddr | null = null;
  #lastHeard: number | null = null;
  #dropped = 0;

  /** The relay's side of relay key `key`. */
  constructor(key: Uint8Array) {
    this.#codec = new EnvelopeCodec(key, { direction: ENVELOPE_FROM_RELAY });
  }

  /** Where replies go: the client's newest authentic address, or null before first contact. */
  get client(): PeerAddr | null {
    return this.#client;
  }

  /** Clock time (ms) of the newest authentic envelope, or null. */
  get lastHeard(): number | null {
    return this.#lastHeard;
  }

  /** Client-side datagrams dropped (not authentic, replayed, too old, oversize). */
  get droppedCount(): number {
    return this.#dropped;
  }

  /** Handles bytes that arrived from `from` at time `now` (ms). */
  fromClient(bytes: Uint8Array, from: PeerAddr, now: number): FromClient {
    const envelope = this.#codec.open(bytes);
    const verdict = envelope === null
      ? null
      : this.#window.accept(envelope.seq);
    if (envelope === null || verdict === null) {
      this.#dropped++;
      return { kind: "drop" };
    }
    let roamed = false;
    if (verdict === "newer") {
      this.#lastHeard = now;
      const old = this.#client;
      if (
        old === null || old.hostname !== from.hostname || old.port !== from.port
      ) {
        this.#client = { hostname: from.hostname, port: from.port };
        roamed = true;
      }
    }
    if (envelope.kind === ENVELOPE_BYE) return { kind: "bye" };
    return { kind: "forward", datagram: envelope.body, roamed };
  }

  /** Seals a datagram from the target for the client; null before the client was heard. */
  toClient(datagram: Uint8Array): { bytes: Uint8Array; to: PeerAddr } | null {
    if (this.#client === null) return null;
    return {
      bytes: this.#codec.seal(ENVELOPE_DATA, datagram),
      to: this.#client,
    };
  }
}
