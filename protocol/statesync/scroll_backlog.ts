/**
 * The server's side of the scrollback log (docs/wire.md §14): records the
 * emulator produced wait here, bounded (past LOG_PENDING_MAX the oldest
 * collapse into one gap record), and enter the synced log in slices: each
 * new state adds at most LOG_SLICE_RECORDS beyond the state sent before it,
 * and never more than LOG_UNACKED_MAX beyond what the client acknowledged.
 * Acknowledged records are trimmed. When a sent state times out, what lies
 * beyond the halved window is taken back and sent again in later states, so
 * a resend stays a few fragments long (timeout()).
 * @module
 */
import {
  LOG_BLOCK_BYTES_MAX,
  LOG_PENDING_BYTES_MAX,
  LOG_PENDING_MAX,
  LOG_SLICE_BYTES,
  LOG_SLICE_RECORDS,
  LOG_UNACKED_MAX,
  LOG_UNWRITTEN_BYTES_MAX,
  LOG_WINDOW_MAX,
  LOG_WINDOW_MIN,
  LOG_WINDOW_START,
  LOG_WINDOW_STEP,
} from "./constants.ts";
import {
  type LogRecord,
  recordBytes,
  recordWireBytes,
  ScrollLog,
} from "./scroll_log.ts";
import { blockLines, type ScrollRecord } from "../terminal/scroll_record.ts";
import { rowText } from "../terminal/row_text.ts";

/** Records waiting for the log, and the log itself. */
export class ScrollBacklog {
  #pending: LogRecord[] = [];
  /**
   * Records taken back from the log after a timeout (timeout()): they come
   * first and are never collapsed, since the peer may hold them already.
   */
  #resend: LogRecord[] = [];
  /** Index of the first pending record still waiting (the array is compacted lazily). */
  #head = 0;
  #pendingBytes = 0;
  /** Lines collapsed before the first pending record, not yet in the log. */
  #collapsed = 0;
  /** A scrollback clear was among the collapsed records (it comes before the gap). */
  #clearCollapsed = false;
  #log = ScrollLog.empty();
  #window = LOG_WINDOW_START;
  /** The acknowledged log end at the last next(). */
  #ackedEnd = 0;
  /** When timeout() last halved the window, ms (-Infinity: never), and the acknowledged log end then. */
  #lastCut = -Infinity;
  #cutAckedEnd = 0;
  /** No retransmission yet: the window doubles per advance (TCP's slow start). */
  #slowStart = true;
  /** The client reads block records (`scrollblock.v1`); else each block enters as its lines. */
  readonly #blocks: boolean;
  /** The log end the client last reported written (`scrollflow.v1`), or -1: it reports none. */
  #written = -1;

  /** An empty backlog; `blocks: false` (default true) turns block records into line records. */
  constructor(options: { blocks?: boolean } = {}) {
    this.#blocks = options.blocks ?? true;
  }

  /** Records waiting to enter the log (a gap counts as one). */
  get pendingCount(): number {
    return this.#resend.length + this.#pending.length - this.#head +
      (this.#collapsed > 0 ? 1 : 0) + (this.#clearCollapsed ? 1 : 0);
  }

  /** Approximate bytes of the records waiting to enter the log. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Lines collapsed into gaps so far (for diagnostics and the benchmark). */
  collapsedTotal = 0;

  /**
   * The client's report (`scrollflow.v1`): log records below `end` are in
   * its terminal. From then on the log keeps the records from there on and
   * holds no more of them than LOG_UNWRITTEN_BYTES_MAX.
   */
  clientWrote(end: number): void {
    // Reports travel in order in the user stream: a smaller end is stale.
    this.#written = Math.max(this.#written, end);
  }

  /** How far the client reported writing the log (`ackedEnd` when it reports nothing). */
  writtenEnd(ackedEnd: number): number {
    return this.#written < 0 ? ackedEnd : Math.min(ackedEnd, this.#written);
  }

  /** Collapses every record waiting to enter the log into the gap (an interrupt: the rest is not wanted). */
  collapsePending(): void {
    this.#collapse(() => true);
  }

  /** Adds what the emulator recorded, in order. */
  add(records: readonly ScrollRecord[]): void {
    this.addLog(toLogRecords(records));
  }

  /** Adds records already rendered for the log (toLogRecords), in order. */
  addLog(records: readonly LogRecord[]): void {
    for (const r of records) {
      if (r.kind !== "block") this.#push(r);
      else if (!this.#blocks) {
        for (const line of blockLines(r)) this.#push(line);
      } else if (r.bytes.length <= LOG_BLOCK_BYTES_MAX) this.#push(r);
      else for (const piece of splitBlock(r)) this.#push(piece);
    }
    this.#enforceCap();
  }

  /**
   * The log for the next state: records the peer acknowledged (below
   * `ackedEnd`) trimmed, and pending records added up to one slice beyond
   * `sentEnd` (the log end of the state sent last).
   */
  next(
    ends: { sentEnd: number; ackedEnd: number; floor?: number },
  ): ScrollLog {
    this.#grow(ends.ackedEnd);
    let log = this.#log;
    if (log.end < ends.ackedEnd) {
      // The peer acknowledged a state sent before records were taken back
      // (timeout()): those it holds need not come again.
      const held = this.#resend.slice(0, ends.ackedEnd - log.end);
      for (const r of held) this.#pendingBytes -= recordBytes(r);
      this.#resend = this.#resend.slice(held.length);
      log = log.append(held);
    }
    const kept = Math.min(ends.ackedEnd, ends.floor ?? Infinity);
    // A client that reports its writing: what it has not written is counted
    // against LOG_UNWRITTEN_BYTES_MAX, so it stays in the log.
    log = log.trimBelow(this.writtenEnd(kept));
    const limit = Math.min(
      ends.sentEnd + LOG_SLICE_RECORDS,
      ends.ackedEnd + LOG_UNACKED_MAX,
    );
    // What the diff from the acknowledged state (the resend after a loss)
    // may carry: the adaptive window (see LOG_WINDOW_START).
    const room = {
      records: limit - log.end,
      bytes: LOG_SLICE_BYTES,
      wire: Math.min(
        this.#window - log.wireSizeSince(kept),
        // A terminal slower than the link: what the client holds unwritten
        // and what is on its way to it stay bounded.
        this.#written < 0
          ? Infinity
          : LOG_UNWRITTEN_BYTES_MAX - log.wireSizeSince(this.#written),
      ),
    };
    const add: LogRecord[] = [];
    // Records taken back after a timeout come before everything pending.
    const resent = this.#take(this.#resend, 0, { add, room });
    if (resent > 0) this.#resend = this.#resend.slice(resent);
    if (this.#resend.length === 0) {
      if (this.#clearCollapsed && room.records > add.length) {
        add.push({ kind: "clear" });
        this.#clearCollapsed = false;
      }
      if (this.#collapsed > 0 && room.records > add.length) {
        add.push({ kind: "gap", lines: this.#collapsed });
        this.#collapsed = 0;
      }
      this.#head = this.#take(this.#pending, this.#head, { add, room });
      if (this.#head > 4096 && this.#head * 2 > this.#pending.length) {
        this.#pending = this.#pending.slice(this.#head);
        this.#head = 0;
      }
    }
    log = log.append(add);
    this.#log = log;
    return log;
  }

  /**
   * A sent state went unacknowledged past its retransmission timeout at
   * `now` (before the resend goes out): halves the window, or what was in
   * flight when that is less (at most once per `rto`, unless
   * acknowledgements advanced), and takes back the records
   * beyond it, so the resend is small enough to arrive whole; the next
   * states carry them again, in order. Returns whether the log changed.
   */
  timeout(ackedEnd: number, clock: { now: number; rto: number }): boolean {
    const log = this.#log;
    if (
      ackedEnd > this.#cutAckedEnd || clock.now - this.#lastCut >= clock.rto
    ) {
      // Half of what was in flight (TCP's ssthresh after a loss, RFC 5681).
      const flight = Math.min(this.#window, log.wireSizeSince(ackedEnd));
      this.#window = Math.max(LOG_WINDOW_MIN, flight / 2);
      this.#lastCut = clock.now;
      this.#cutAckedEnd = ackedEnd;
      this.#slowStart = false;
    }
    const kept = log.recordsFrom(ackedEnd, this.#window);
    if (kept.complete) return false;
    const end = kept.first + kept.records.length;
    const back = log.recordsFrom(end, Infinity).records;
    for (const r of back) this.#pendingBytes += recordBytes(r);
    this.#resend = [...back, ...this.#resend];
    this.#log = log.truncate(end);
    return true;
  }

  /**
   * Moves records from `from[at]` on into `add` while `room` lasts (records,
   * bytes and wire bytes, each reduced); returns the index after the last.
   */
  #take(
    from: readonly LogRecord[],
    at: number,
    into: {
      add: LogRecord[];
      room: { records: number; bytes: number; wire: number };
    },
  ): number {
    const { add, room } = into;
    while (
      at < from.length && room.records > add.length && room.bytes > 0 &&
      room.wire > 0
    ) {
      const r = from[at++];
      const b = recordBytes(r);
      room.bytes -= b;
      room.wire -= recordWireBytes(r);
      this.#pendingBytes -= b;
      add.push(r);
    }
    return at;
  }

  /** The current log window, bytes of text (see LOG_WINDOW_START). */
  get window(): number {
    return this.#window;
  }

  /** Grows the window when acknowledgements advance (doubling until the first timeout, as TCP's slow start). */
  #grow(ackedEnd: number): void {
    if (ackedEnd <= this.#ackedEnd) return;
    const step = this.#slowStart
      ? this.#window
      : Math.max(LOG_WINDOW_STEP, this.#window / 4);
    this.#window = Math.min(LOG_WINDOW_MAX, this.#window + step);
    this.#ackedEnd = ackedEnd;
  }

  #push(r: LogRecord): void {
    this.#pending.push(r);
    this.#pendingBytes += recordBytes(r);
  }

  /** Collapses the oldest pending records into the gap count while over the caps. */
  #enforceCap(): void {
    const waiting = () => this.#pending.length - this.#head;
    if (
      waiting() <= LOG_PENDING_MAX &&
      this.#pendingBytes <= LOG_PENDING_BYTES_MAX
    ) return;
    this.#collapse(() =>
      waiting() > LOG_PENDING_MAX * 0.9 ||
      this.#pendingBytes > LOG_PENDING_BYTES_MAX * 0.9
    );
  }

  /** Collapses the oldest pending records into the gap count while `more()`. */
  #collapse(more: () => boolean): void {
    while (this.#head < this.#pending.length && more()) {
      const r = this.#pending[this.#head++];
      this.#pendingBytes -= recordBytes(r);
      if (r.kind === "clear") {
        // Lines before a clear are gone anyway; the clear itself is kept.
        this.#clearCollapsed = true;
        this.#collapsed = 0;
        continue;
      }
      const lines = r.kind === "line" ? 1 : r.lines;
      this.#collapsed += lines;
      this.collapsedTotal += lines;
    }
    this.#pending = this.#pending.slice(this.#head);
    this.#head = 0;
  }
}

/** `block` cut at line ends into blocks of at most LOG_BLOCK_BYTES_MAX bytes (a longer line alone). */
export function splitBlock(
  block: { readonly bytes: Uint8Array; readonly lines: number },
): LogRecord[] {
  const b = block.bytes, out: LogRecord[] = [];
  let start = 0, lines = 0, cut = -1, cutLines = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i < b.length && b[i] !== 0x0d) continue;
    // A line ends at i (its CR, or the block's end).
    lines++;
    if (i - start > LOG_BLOCK_BYTES_MAX && cut > start) {
      out.push({
        kind: "block",
        bytes: b.subarray(start, cut),
        lines: cutLines,
      });
      start = cut + 2;
      lines -= cutLines;
    }
    cut = i;
    cutLines = lines;
    i++; // the LF
  }
  out.push({ kind: "block", bytes: b.subarray(start), lines });
  return out;
}

/** The emulator's records as log records: rows rendered as SGR text (docs/wire.md §14.2). */
export function toLogRecords(records: readonly ScrollRecord[]): LogRecord[] {
  return records.map((r): LogRecord => {
    if (r.kind === "row") {
      const { text, cols } = rowText(r.row);
      return { kind: "line", text, cols, wrap: r.row.wrap };
    }
    if (r.kind === "line" || r.kind === "block") return r; // the log's shape
    return r.kind === "gap" ? { kind: "gap", lines: r.lines } : r;
  });
}
