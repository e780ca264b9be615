/**
 * A key prepared for another client (tmosh's attach, docs/wire.md §15): a
 * server connection tries a datagram that fails under its current key under
 * this one, until it expires; the first that authenticates commits it (the
 * connection then switches to it, server/session.ts starts a new epoch of the
 * synchronization). Its sequence numbers start at 0 in both directions: the
 * key is new, so no nonce is ever reused under a key.
 * @module
 */

import { RECEIVE_MTU } from "./constants.ts";
import { type Datagram, DatagramCodec } from "./datagram.ts";

/** A prepared key: its codec (for our direction) and when it expires. */
export class PendingKey {
  /** The codec that becomes the connection's on commit (nothing sealed under it yet). */
  readonly codec: DatagramCodec;
  /** Clock time after which it is dropped, ms. */
  readonly expires: number;

  /** A key `key` for a side that sends in `direction`, expiring at `expires` (ms). */
  constructor(
    key: Uint8Array,
    options: { direction: 0 | 1; expires: number },
  ) {
    this.codec = new DatagramCodec(key, { direction: options.direction });
    this.expires = options.expires;
  }

  /** Whether it has expired at `now`, ms. */
  expired(now: number): boolean {
    return now >= this.expires;
  }

  /** Authenticates and decrypts `bytes` under this key (constant-time tag check); null if it does not. */
  open(bytes: Uint8Array): Datagram | null {
    if (bytes.length > RECEIVE_MTU) return null;
    try {
      return this.codec.open(bytes);
    } catch {
      return null; // hostile input must never escape the receive path
    }
  }
}
