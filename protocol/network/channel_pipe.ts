/**
 * Byte streams joined to channels (docs/wire.md §17.5): what a local socket
 * (or stdin) yields is written to the channel while its send buffer has
 * room, and what the channel delivers is written to the socket (or stdout)
 * in order, the receive window moving on as each write completes. A fin
 * becomes a half-close, a reset closes the socket. Used by both the client's
 * and the server's forwarding.
 * @module
 */

import type { ChannelLink } from "./channel_link.ts";
import { CHANNEL_SEND_BUFFER } from "./constants.ts";

/** The two directions of a byte stream (a Deno.Conn, or stdin and stdout). */
export interface ByteEnd {
  /** Reads into `buf`; null at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`; returns how many. */
  write(bytes: Uint8Array): Promise<number>;
  /** Ends the write direction (TCP half-close). */
  closeWrite(): Promise<void> | void;
  /** Closes both directions. */
  close(): void;
}

/** Size of one read from a socket, bytes. */
const READ_BYTES = 64 * 1024;

interface Pipe {
  end: ByteEnd;
  /** Delivered bytes not yet written out. */
  pending: Uint8Array[];
  /** A write loop runs. */
  writing: boolean;
  /** The peer finished: half-close once the pending bytes are written. */
  finPending: boolean;
  /** Both streams are done: close once the pending bytes are written. */
  closeAfter: boolean;
  wake: (() => void) | null;
  closed: boolean;
  onEnd: ((error: string | null) => void) | undefined;
}

/** Most bytes joined into one write to a socket. */
const WRITE_BATCH_BYTES = 256 * 1024;
/** A batch this large is written without joining more to it, bytes. */
const WRITE_ALONE_BYTES = 32 * 1024;

/** The pipes of one link: the events `data`, `fin`, `reset`, `closed` and `writable` of its multiplexer land here. */
export class ChannelPipes {
  readonly #pipes = new Map<number, Pipe>();
  readonly #held = new Map<number, Uint8Array[]>();
  #link: ChannelLink | null = null;

  /** The link whose channels these pipes serve (set once it exists). */
  bind(link: ChannelLink): void {
    this.#link = link;
  }

  /** Number of pipes open. */
  get size(): number {
    return this.#pipes.size;
  }

  /** Joins `end` to `channel`; `onEnd` is told when the channel is over (with the reason of a reset). */
  attach(
    channel: number,
    end: ByteEnd,
    onEnd?: (error: string | null) => void,
  ): void {
    const pipe: Pipe = {
      end,
      pending: [],
      writing: false,
      finPending: false,
      closeAfter: false,
      wake: null,
      closed: false,
      onEnd,
    };
    this.#pipes.set(channel, pipe);
    for (const bytes of this.#held.get(channel) ?? []) {
      this.data(channel, bytes);
    }
    this.#held.delete(channel);
    void this.#readLoop(channel, pipe);
  }

  /** Delivered bytes: written out in order; the window moves once written. */
  data(channel: number, bytes: Uint8Array): void {
    const pipe = this.#pipes.get(channel);
    if (pipe === undefined) {
      // Data that arrives before the socket is joined (a SOCKS reply in flight).
      const held = this.#held.get(channel) ?? [];
      held.push(bytes.slice());
      this.#held.set(channel, held);
      return;
    }
    // A view of a decrypted datagram, a buffer nobody reuses: no copy.
    pipe.pending.push(bytes);
    this.#startWriting(channel, pipe);
  }

  /** The peer finished: half-close after the pending writes. */
  fin(channel: number): void {
    const pipe = this.#pipes.get(channel);
    if (pipe === undefined) return;
    pipe.finPending = true;
    this.#startWriting(channel, pipe);
  }

  /** The channel was reset: close the socket now. */
  reset(channel: number, reason: string): void {
    this.#held.delete(channel);
    const pipe = this.#pipes.get(channel);
    if (pipe === undefined) return;
    this.#pipes.delete(channel);
    this.#close(pipe, reason);
  }

  /** Both streams are done: close the socket after the pending writes. */
  closed(channel: number): void {
    const pipe = this.#pipes.get(channel);
    if (pipe === undefined) return;
    this.#pipes.delete(channel);
    pipe.closeAfter = true;
    this.#startWriting(channel, pipe);
  }

  /** The channel's send buffer has room again. */
  writable(channel: number): void {
    const pipe = this.#pipes.get(channel);
    const wake = pipe?.wake;
    if (pipe !== undefined) pipe.wake = null;
    wake?.();
  }

  /** Closes every pipe (the link is going away). */
  closeAll(reason: string): void {
    for (const channel of [...this.#pipes.keys()]) this.reset(channel, reason);
  }

  #startWriting(channel: number, pipe: Pipe): void {
    if (pipe.writing || pipe.closed) return;
    pipe.writing = true;
    this.#writeLoop(channel, pipe).catch(() =>
      this.#abort(channel, pipe, "write failed")
    ).finally(() => {
      pipe.writing = false;
      // Bytes (or a fin) that came while the loop was finishing.
      const more = pipe.pending.length > 0 || pipe.finPending ||
        pipe.closeAfter;
      if (more && !pipe.closed) this.#startWriting(channel, pipe);
    });
  }

  /** Writes what was delivered in batches (one write for many datagrams), then the half-close or close. */
  async #writeLoop(channel: number, pipe: Pipe): Promise<void> {
    while (pipe.pending.length > 0 && !pipe.closed) {
      // Small deliveries are joined into one write; a large one goes alone
      // (no copy).
      let n = pipe.pending[0].length, count = 1;
      while (
        n < WRITE_ALONE_BYTES && count < pipe.pending.length &&
        n + pipe.pending[count].length <= WRITE_BATCH_BYTES
      ) n += pipe.pending[count++].length;
      const parts = pipe.pending.splice(0, count);
      let batch = parts[0];
      if (parts.length > 1) {
        batch = new Uint8Array(n);
        let at = 0;
        for (const p of parts) {
          batch.set(p, at);
          at += p.length;
        }
      }
      await writeAll(pipe.end, batch);
      this.#link?.mux.consumed(channel, n);
      this.#link?.kick();
    }
    if (pipe.closed) return;
    if (pipe.finPending) {
      pipe.finPending = false;
      try {
        await pipe.end.closeWrite();
      } catch {
        // the socket is gone already
      }
    }
    if (pipe.closeAfter) this.#close(pipe, null);
  }

  async #readLoop(channel: number, pipe: Pipe): Promise<void> {
    let buf = new Uint8Array(READ_BYTES);
    while (!pipe.closed) {
      const link = this.#link;
      if (link === null) return;
      if (link.mux.buffered(channel) >= CHANNEL_SEND_BUFFER) {
        await new Promise<void>((resolve) => {
          pipe.wake = resolve;
          link.mux.markFull(channel);
        });
        continue;
      }
      let n: number | null;
      try {
        n = await pipe.end.read(buf);
      } catch {
        if (!pipe.closed) this.#abort(channel, pipe, "read failed");
        return;
      }
      if (pipe.closed) return;
      if (n === null) {
        link.mux.finish(channel);
        link.kick();
        return;
      }
      // A large read keeps its buffer (no copy); a small one is copied out
      // so a few bytes never hold a whole read buffer.
      if (n >= READ_BYTES / 2) {
        link.mux.write(channel, buf.subarray(0, n));
        buf = new Uint8Array(READ_BYTES);
      } else link.mux.write(channel, buf.slice(0, n));
      link.kick();
    }
  }

  /** A local socket failed: reset the channel. */
  #abort(channel: number, pipe: Pipe, why: string): void {
    if (pipe.closed) return;
    this.#pipes.delete(channel);
    this.#link?.mux.reset(channel, 0, `the peer's socket: ${why}`);
    this.#link?.kick();
    this.#close(pipe, why);
  }

  #close(pipe: Pipe, error: string | null): void {
    if (pipe.closed) return;
    pipe.closed = true;
    pipe.wake?.();
    try {
      pipe.end.close();
    } catch {
      // already closed
    }
    pipe.onEnd?.(error);
  }
}

/** Writes all of `bytes`. */
async function writeAll(end: ByteEnd, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await end.write(bytes.subarray(at));
}
