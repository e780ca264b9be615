/**
 * The client-to-server state: the stream of user events, keystroke bytes and
 * resizes (docs/wire.md §8.1; mosh: src/statesync/user.h/.cc).
 *
 * A `UserStream` is an immutable view of a shared, append-only event log, so
 * pushing a keystroke onto the newest state costs O(1) (amortized) and every
 * older state stays valid. Each view knows the absolute position of its first
 * event (events dropped by `subtract` still count), which makes `subtract`,
 * `diffFrom` and `eventsSince` cheap and keeps them well-defined even for
 * streams from a confused or hostile peer.
 * @module
 */

import { MAX_TERMINAL_DIMENSION } from "./constants.ts";
import { cleanCapabilities, sameCapabilities } from "./capabilities.ts";
import {
  decodeUserMessage,
  encodeUserMessage,
  type UserEvent,
} from "../protobufs/messages.ts";

/** One stored event: a key byte (0..255), a resize, a tmosh hello (docs/wire.md §13) or a scrollback-log report (§14.2). */
type Event =
  | number
  | { readonly width: number; readonly height: number }
  | { readonly hello: readonly string[] }
  | { readonly written: number };

/** A shared append-only log; views reference a slice of it. */
interface EventLog {
  readonly events: Event[];
}

/** A dead prefix at least this long (and longer than the live part) is compacted away on push. */
const COMPACT_MIN = 4096;

/** The user's event stream as synchronized by SSP (mosh: Network::UserStream). */
export class UserStream {
  #log: EventLog = { events: [] };
  /** Index in the log of this view's first event. */
  #off = 0;
  /** Number of events in this view. */
  #len = 0;
  /** Absolute position of this view's first event (events ever subtracted before it). */
  #abs = 0;

  static #view(
    log: EventLog,
    off: number,
    len: number,
    abs: number,
  ): UserStream {
    const s = new UserStream();
    s.#log = log;
    s.#off = off;
    s.#len = len;
    s.#abs = abs;
    return s;
  }

  /** Number of events held (after any subtraction). */
  get length(): number {
    return this.#len;
  }

  /** Absolute position of the first held event (= events dropped by `subtract`). */
  get start(): number {
    return this.#abs;
  }

  /** Absolute position just past the last event (= events ever in this stream). */
  get end(): number {
    return this.#abs + this.#len;
  }

  /** A new state with `keys` appended, one event per byte. */
  pushKeys(keys: Uint8Array): UserStream {
    return keys.length === 0 ? this : this.#append(Array.from(keys));
  }

  /** A new state with a resize appended; width and height are clamped to [1, MAX_TERMINAL_DIMENSION]. */
  pushResize(width: number, height: number): UserStream {
    return this.#append([{
      width: clampDimension(width),
      height: clampDimension(height),
    }]);
  }

  /**
   * A new state with a tmosh hello offering `capabilities` appended (docs/wire.md §13).
   * Like any event it is sent once from the receiver's assumed state, resent
   * after loss, and dropped by `subtract` once acked.
   */
  pushHello(capabilities: readonly string[]): UserStream {
    return this.#append([{ hello: cleanCapabilities(capabilities) }]);
  }

  /**
   * A new state with a report of the client's scrollback writing appended
   * (`scrollflow.v1`, docs/wire.md §14.2): log records below `end` are in the
   * terminal.
   */
  pushWritten(end: number): UserStream {
    return this.#append([{ written: Math.max(0, Math.trunc(end)) }]);
  }

  /** Whether both streams hold the same events (mosh: operator==). */
  equals(other: UserStream): boolean {
    if (this.#len !== other.#len) return false;
    if (this.#log === other.#log && this.#off === other.#off) return true;
    const a = this.#log.events, b = other.#log.events;
    for (let i = 0; i < this.#len; i++) {
      if (!sameEvent(a[this.#off + i], b[other.#off + i])) return false;
    }
    return true;
  }

  /** UserMessage bytes holding the events after `old` (a prefix of this); empty when none (mosh: diff_from). */
  diffFrom(old: UserStream): Uint8Array {
    const events = this.eventsSince(old);
    return events.length === 0 ? new Uint8Array(0) : encodeUserMessage(events);
  }

  /**
   * A new state with the UserMessage `diff` appended; resizes outside
   * [1, MAX_TERMINAL_DIMENSION] are ignored, hellos keep only well-formed
   * names; null if malformed.
   */
  applyDiff(diff: Uint8Array): UserStream | null {
    if (diff.length === 0) return this;
    const decoded = decodeUserMessage(diff);
    if (decoded === null) return null;
    const add: Event[] = [];
    for (const ev of decoded) {
      if (ev.type === "keys") {
        for (const b of ev.keys) add.push(b);
      } else if (ev.type === "hello") {
        add.push({ hello: cleanCapabilities(ev.capabilities) });
      } else if (ev.type === "written") {
        add.push({ written: ev.end });
      } else if (validDimension(ev.width) && validDimension(ev.height)) {
        add.push({ width: ev.width, height: ev.height });
      }
    }
    return add.length === 0 ? this : this.#append(add);
  }

  /** This stream without the events up to the end of `prefix` (mosh: subtract). */
  subtract(prefix: UserStream): UserStream {
    const cut = Math.min(prefix.end - this.#abs, this.#len);
    if (cut <= 0) return this;
    return UserStream.#view(
      this.#log,
      this.#off + cut,
      this.#len - cut,
      this.#abs + cut,
    );
  }

  /** This state itself (UserStream is immutable). */
  clone(): UserStream {
    return this;
  }

  /** All held events, consecutive keystrokes merged. */
  events(): UserEvent[] {
    return this.#slice(0);
  }

  /** Held events positioned after the end of `old`, consecutive keystrokes merged. */
  eventsSince(old: UserStream): UserEvent[] {
    return this.#slice(old.end - this.#abs);
  }

  /** Events from relative index `from` to the end, keystroke runs merged. */
  #slice(from: number): UserEvent[] {
    const out: UserEvent[] = [];
    const events = this.#log.events;
    const stop = this.#off + this.#len;
    let i = this.#off + Math.max(0, from);
    while (i < stop) {
      const ev = events[i];
      if (typeof ev !== "number") {
        out.push(
          "hello" in ev
            ? { type: "hello", capabilities: [...ev.hello] }
            : "written" in ev
            ? { type: "written", end: ev.written }
            : { type: "resize", width: ev.width, height: ev.height },
        );
        i++;
        continue;
      }
      let j = i;
      while (j < stop && typeof events[j] === "number") j++;
      out.push({
        type: "keys",
        keys: Uint8Array.from(events.slice(i, j) as number[]),
      });
      i = j;
    }
    return out;
  }

  /** A new view with `add` appended: in place at the log's tip, else on a fresh log. */
  #append(add: Event[]): UserStream {
    const log = this.#log;
    const atTip = this.#off + this.#len === log.events.length;
    const deadPrefix = this.#off >= COMPACT_MIN && this.#off > this.#len;
    if (atTip && !deadPrefix) {
      for (const ev of add) log.events.push(ev);
      return UserStream.#view(
        log,
        this.#off,
        this.#len + add.length,
        this.#abs,
      );
    }
    const events = log.events.slice(this.#off, this.#off + this.#len);
    for (const ev of add) events.push(ev);
    return UserStream.#view({ events }, 0, events.length, this.#abs);
  }
}

/**
 * The user events the receiver's newest state gained since the previous call,
 * keystrokes merged, resizes already validated (mosh: get_remote_diff; docs/wire.md §7.3).
 * Also drops the oldest held state's prefix from every held state.
 */
export function takeNewEvents(receiver: UserStreamSource): UserEvent[] {
  const { lastRead, latest } = receiver.takeLatest();
  return latest.eventsSince(lastRead);
}

/** Where new user streams come from (a transport or its receiver), seen from this layer. */
export interface UserStreamSource {
  /** The last state read and the newest state, marking the newest as read. */
  takeLatest(): { lastRead: UserStream; latest: UserStream };
}

/** Whether two stored events are equal. */
function sameEvent(a: Event, b: Event): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  if ("hello" in a || "hello" in b) {
    return "hello" in a && "hello" in b && sameCapabilities(a.hello, b.hello);
  }
  if ("written" in a || "written" in b) {
    return "written" in a && "written" in b && a.written === b.written;
  }
  return a.width === b.width && a.height === b.height;
}

/** Clamps a sender-side dimension to [1, MAX_TERMINAL_DIMENSION]. */
function clampDimension(n: number): number {
  if (!Number.isFinite(n) || n < 1) return 1;
  return Math.min(Math.trunc(n), MAX_TERMINAL_DIMENSION);
}

/** Whether a received terminal width or height is usable (1..MAX_TERMINAL_DIMENSION). */
export function validDimension(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_TERMINAL_DIMENSION;
}
