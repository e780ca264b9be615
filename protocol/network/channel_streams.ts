/**
 * The two halves of one channel's byte stream (docs/wire.md §17.5): the
 * send side (a bounded buffer from the last acknowledged offset, ranges to
 * resend, the fin) and the receive side (out-of-order segments inside the
 * window, delivered in order exactly once). Pure data structures.
 * @module
 */

/** A segment is cut at a chunk's end (a view, not a copy) when at least this much of it lies before, bytes. */
const VIEW_MIN = 1024;

/** Bytes queued by the application, from the peer's cumulative ack to what was written. */
export class SendStream {
  #chunks: Uint8Array[] = [];
  /** Offset of the first byte of `#chunks[0]`. */
  #base = 0;
  /** Offset after the last byte written by the application. */
  end = 0;
  /** Offset of the next byte never sent. */
  next = 0;
  /** The peer's limit: bytes below it may be sent (0 until the channel is accepted). */
  limit = 0;
  /** Every byte below this offset was received by the peer. */
  acked = 0;
  /** Ranges [start, end) to send again, ascending, disjoint. */
  readonly retx: [number, number][] = [];
  /** The application finished writing. */
  finWritten = false;
  /** A fin is to be (re)sent once all data before it went out. */
  finPending = false;
  /** A packet carrying the fin was acknowledged. */
  finAcked = false;

  /** Bytes held (written and not yet acknowledged). */
  get buffered(): number {
    return this.end - this.acked;
  }

  /** Queues bytes written by the application. */
  write(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.end += bytes.length;
  }

  /** Marks the end of the stream. */
  finish(): void {
    if (this.finWritten) return;
    this.finWritten = true;
    this.finPending = true;
  }

  /** The peer acknowledged everything below `offset` and allows up to `limit`. */
  onAck(offset: number, limit: number): void {
    if (offset > this.end) offset = this.end;
    if (offset > this.acked) {
      this.acked = offset;
      while (this.#chunks.length > 0) {
        const first = this.#chunks[0];
        if (this.#base + first.length > offset) break;
        this.#base += first.length;
        this.#chunks.shift();
      }
      while (this.retx.length > 0 && this.retx[0][1] <= offset) {
        this.retx.shift();
      }
      if (this.retx.length > 0 && this.retx[0][0] < offset) {
        this.retx[0][0] = offset;
      }
    }
    if (limit > this.limit) this.limit = limit;
  }

  /** A range was lost in the network: queue it to be sent again (what was acknowledged meanwhile is skipped). */
  lost(start: number, end: number): void {
    if (start < this.acked) start = this.acked;
    if (end <= start) return;
    const r = this.retx;
    let i = 0;
    while (i < r.length && r[i][1] < start) i++;
    let lo = start, hi = end;
    let j = i;
    while (j < r.length && r[j][0] <= hi) {
      lo = Math.min(lo, r[j][0]);
      hi = Math.max(hi, r[j][1]);
      j++;
    }
    r.splice(i, j - i, [lo, hi]);
  }

  /** Whether anything (resend, new bytes within the limit, or the fin) can be sent. */
  get sendable(): boolean {
    return this.retx.length > 0 ||
      (this.next < this.end && this.next < this.limit) ||
      (this.finPending && this.next === this.end);
  }

  /**
   * The next segment to send, at most `max` bytes: a resend first, else new
   * bytes within the peer's limit; null when nothing is due.
   */
  take(
    max: number,
  ): { offset: number; bytes: Uint8Array; fin: boolean } | null {
    if (this.retx.length > 0) {
      const range = this.retx[0];
      const offset = range[0];
      const len = this.#whole(offset, Math.min(max, range[1] - range[0]));
      range[0] += len;
      if (range[0] >= range[1]) this.retx.shift();
      const fin = this.finWritten && offset + len === this.end &&
        this.next === this.end && !this.finAcked;
      if (fin) this.finPending = false;
      return { offset, bytes: this.#read(offset, len), fin };
    }
    const room = this.#whole(
      this.next,
      Math.min(max, this.end - this.next, this.limit - this.next),
    );
    if (room > 0) {
      const offset = this.next;
      this.next += room;
      const fin = this.finPending && this.next === this.end;
      if (fin) this.finPending = false;
      return { offset, bytes: this.#read(offset, room), fin };
    }
    if (this.finPending && this.next === this.end) {
      this.finPending = false;
      return { offset: this.end, bytes: new Uint8Array(0), fin: true };
    }
    return null;
  }

  /**
   * `len`, or less so that [offset, offset + len) stays in one chunk when at
   * least VIEW_MIN bytes of it are in the first (the segment is then a view,
   * not a copy; the rest goes in another frame).
   */
  #whole(offset: number, len: number): number {
    let at = this.#base;
    for (const chunk of this.#chunks) {
      const chunkEnd = at + chunk.length;
      if (chunkEnd > offset) {
        const first = chunkEnd - offset;
        return first < len && first >= VIEW_MIN ? first : len;
      }
      at = chunkEnd;
    }
    return len;
  }

  /** [offset, offset + len) of the chunks: a view when one chunk holds it, else a copy. */
  #read(offset: number, len: number): Uint8Array {
    let at = this.#base;
    for (const chunk of this.#chunks) {
      if (at + chunk.length <= offset) {
        at += chunk.length;
        continue;
      }
      const from = offset - at;
      if (from + len <= chunk.length) return chunk.subarray(from, from + len);
      break;
    }
    const out = new Uint8Array(len);
    at = this.#base;
    let filled = 0;
    for (const chunk of this.#chunks) {
      const chunkEnd = at + chunk.length;
      if (chunkEnd > offset + filled && filled < len) {
        const from = offset + filled - at;
        const n = Math.min(chunk.length - from, len - filled);
        out.set(chunk.subarray(from, from + n), filled);
        filled += n;
      }
      at = chunkEnd;
      if (filled >= len) break;
    }
    return out;
  }
}

/** Segments received out of order, delivered in order exactly once. */
export class ReceiveStream {
  /** Every byte below this offset was delivered. */
  next = 0;
  /** Bytes the application has written out (consumed). */
  consumed = 0;
  /** Where the stream ends, once a fin arrived. */
  finAt: number | null = null;
  /** The fin was delivered to the application. */
  finDelivered = false;
  /** Segments beyond `next`, by offset. */
  readonly #held = new Map<number, Uint8Array>();
  #heldBytes = 0;
  /** The highest limit advertised so far (a window never takes back what it allowed). */
  #floor = 0;

  /** A stream whose receive window is `window` bytes (it may shrink later, see `window`). */
  constructor(public window: number) {}

  /** The highest offset the peer may send up to. */
  get limit(): number {
    return Math.max(this.#floor, this.consumed + this.window);
  }

  /** Records that `limit` was advertised to the peer. */
  advertised(limit: number): void {
    if (limit > this.#floor) this.#floor = limit;
  }

  /** Bytes held out of order. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Takes a segment; returns the bytes now deliverable in order (possibly
   * none) or null when the segment breaks the rules (beyond the window, or
   * data past a fin).
   */
  add(offset: number, bytes: Uint8Array, fin: boolean): Uint8Array[] | null {
    const end = offset + bytes.length;
    if (end > this.limit) return null;
    if (fin) {
      if (this.finAt !== null && this.finAt !== end) return null;
      this.finAt = end;
    }
    if (this.finAt !== null && end > this.finAt) return null;
    if (end <= this.next || bytes.length === 0) return [];
    if (offset > this.next) {
      // Overlapping segments at other offsets must not add up past the window.
      if (this.#heldBytes + bytes.length > this.window) return [];
      const have = this.#held.get(offset);
      if (have === undefined || have.length < bytes.length) {
        if (have !== undefined) this.#heldBytes -= have.length;
        this.#held.set(offset, bytes.slice());
        this.#heldBytes += bytes.length;
      }
      return [];
    }
    const out = [bytes.subarray(this.next - offset)];
    this.next = end;
    this.#drain(out);
    return out;
  }

  /** Whether the fin is reached and not yet delivered (marks it delivered). */
  takeFin(): boolean {
    if (this.finDelivered || this.finAt === null || this.next < this.finAt) {
      return false;
    }
    this.finDelivered = true;
    return true;
  }

  /** Moves held segments that now continue the stream into `out`. */
  #drain(out: Uint8Array[]): void {
    while (this.#held.size > 0) {
      // Segments are usually resent with their first boundaries: a lookup.
      let offset = this.next;
      let bytes = this.#held.get(offset);
      if (bytes === undefined) {
        for (const [o, b] of this.#held) {
          if (o > this.next) continue;
          if (o + b.length > this.next && bytes === undefined) {
            offset = o;
            bytes = b;
          } else if (o + b.length <= this.next) {
            this.#held.delete(o);
            this.#heldBytes -= b.length;
          }
        }
        if (bytes === undefined) return;
      }
      this.#held.delete(offset);
      this.#heldBytes -= bytes.length;
      out.push(bytes.subarray(this.next - offset));
      this.next = offset + bytes.length;
    }
  }
}
