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
  writeTail: Promise<void>;
  wake: (() => void) | null;
  closed: boolean;
  onEnd: ((error: string | null) => void) | undefined;
}

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
      writeTail: Promise.resolve(),
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
    const copy = bytes.slice();
    pipe.writeTail = pipe.writeTail.then(async () => {
      if (pipe.closed) return;
      await writeAll(pipe.end, copy);
      this.#link?.mux.consumed(channel, copy.length);
      this.#link?.kick();
    }).catch(() => this.#abort(channel, pipe, "write failed"));
  }

  /** The peer finished: half-close after the pending writes. */
  fin(channel: number): void {
    const pipe = this.#pipes.get(channel);
    if (pipe === undefined) return;
    pipe.writeTail = pipe.writeTail.then(async () => {
      if (!pipe.closed) await pipe.end.closeWrite();
    }).catch(() => {});
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
    pipe.writeTail.then(() => this.#close(pipe, null));
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

  async #readLoop(channel: number, pipe: Pipe): Promise<void> {
    const buf = new Uint8Array(READ_BYTES);
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
      link.mux.write(channel, buf.slice(0, n));
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
