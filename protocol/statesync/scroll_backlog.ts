/**
 * The server's side of the scrollback log (docs/wire.md §14): records the
 * emulator produced wait here, bounded (past LOG_PENDING_MAX the oldest
 * collapse into one gap record), and enter the synced log in slices: each
 * new state adds at most LOG_SLICE_RECORDS beyond the state sent before it,
 * and never more than LOG_UNACKED_MAX beyond what the client acknowledged.
 * Acknowledged records are trimmed.
 * @module
 */
import {
  LOG_PENDING_BYTES_MAX,
  LOG_PENDING_MAX,
  LOG_SLICE_BYTES,
  LOG_SLICE_RECORDS,
  LOG_UNACKED_MAX,
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
import type { ScrollRecord } from "../terminal/scroll_record.ts";
import { rowText } from "../terminal/row_text.ts";

/** Records waiting for the log, and the log itself. */
export class ScrollBacklog {
  #pending: LogRecord[] = [];
  /** Index of the first pending record still waiting (the array is compacted lazily). */
  #head = 0;
  #pendingBytes = 0;
  /** Lines collapsed before the first pending record, not yet in the log. */
  #collapsed = 0;
  /** A scrollback clear was among the collapsed records (it comes before the gap). */
  #clearCollapsed = false;
  #log = ScrollLog.empty();
  #window = LOG_WINDOW_START;
  /** The transport's retransmission count and the acked log end at the last next(). */
  #retransmits = 0;
  #ackedEnd = 0;
  /** The window was halved and acks have not advanced since. */
  #halved = false;
  /** No retransmission yet: the window doubles per advance (TCP's slow start). */
  #slowStart = true;

  /** Records waiting to enter the log (a gap counts as one). */
  get pendingCount(): number {
    return this.#pending.length - this.#head + (this.#collapsed > 0 ? 1 : 0) +
      (this.#clearCollapsed ? 1 : 0);
  }

  /** Approximate bytes of the records waiting to enter the log. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Lines collapsed into gaps so far (for diagnostics and the benchmark). */
  collapsedTotal = 0;

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
    for (const r of records) this.#push(r);
    this.#enforceCap();
  }

  /**
   * The log for the next state: records the peer acknowledged (below
   * `ackedEnd`) trimmed, and pending records added up to one slice beyond
   * `sentEnd` (the log end of the state sent last).
   */
  next(
    ends: { sentEnd: number; ackedEnd: number; retransmits?: number },
  ): ScrollLog {
    this.#adapt(ends.ackedEnd, ends.retransmits ?? 0);
    let log = this.#log.trimBelow(ends.ackedEnd);
    const limit = Math.min(
      ends.sentEnd + LOG_SLICE_RECORDS,
      ends.ackedEnd + LOG_UNACKED_MAX,
    );
    const add: LogRecord[] = [];
    let bytes = 0;
    // What the diff from the acknowledged state (the resend after a loss)
    // may carry: the adaptive window (see LOG_WINDOW_START).
    let wire = log.wireSize();
    if (this.#clearCollapsed && log.end < limit) {
      add.push({ kind: "clear" });
      this.#clearCollapsed = false;
    }
    if (this.#collapsed > 0 && log.end + add.length < limit) {
      add.push({ kind: "gap", lines: this.#collapsed });
      this.#collapsed = 0;
    }
    while (
      this.#head < this.#pending.length && log.end + add.length < limit &&
      bytes < LOG_SLICE_BYTES && wire < this.#window
    ) {
      const r = this.#pending[this.#head++];
      const b = recordBytes(r);
      bytes += b;
      wire += recordWireBytes(r);
      this.#pendingBytes -= b;
      add.push(r);
    }
    if (this.#head > 4096 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    log = log.append(add);
    this.#log = log;
    return log;
  }

  /** The current log window, bytes of text (see LOG_WINDOW_START). */
  get window(): number {
    return this.#window;
  }

  /**
   * Halves the window after a retransmission (once per round trip: not
   * again until acknowledgements advance), grows it when they advance
   * without one.
   */
  #adapt(ackedEnd: number, retransmits: number): void {
    const advanced = ackedEnd > this.#ackedEnd;
    if (retransmits > this.#retransmits) {
      if (!this.#halved || advanced) {
        this.#window = Math.max(LOG_WINDOW_MIN, this.#window / 2);
        this.#halved = true;
      }
      this.#slowStart = false;
    } else if (advanced) {
      const step = this.#slowStart
        ? this.#window
        : Math.max(LOG_WINDOW_STEP, this.#window / 4);
      this.#window = Math.min(LOG_WINDOW_MAX, this.#window + step);
      this.#halved = false;
    }
    this.#retransmits = retransmits;
    this.#ackedEnd = Math.max(this.#ackedEnd, ackedEnd);
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

/** The emulator's records as log records: rows rendered as SGR text (docs/wire.md §14.2). */
export function toLogRecords(records: readonly ScrollRecord[]): LogRecord[] {
  return records.map((r): LogRecord => {
    if (r.kind === "row") {
      const { text, cols } = rowText(r.row);
      return { kind: "line", text, cols, wrap: r.row.wrap };
    }
    if (r.kind === "line") return r; // already the log's shape
    return r.kind === "gap" ? { kind: "gap", lines: r.lines } : r;
  });
}
