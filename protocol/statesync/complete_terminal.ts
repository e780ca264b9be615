/**
 * The server-to-client state: a terminal framebuffer plus the echo ack
 * (mosh: Terminal::Complete; docs/wire.md §8.2–§8.3), plus tmosh's negotiated
 * capabilities (docs/wire.md §13), null until the server has seen a hello,
 * and the attach notice to a replaced client (docs/wire.md §15).
 * @module
 */
import { ECHO_TIMEOUT } from "./constants.ts";
import { cleanCapabilities, sameCapabilities } from "./capabilities.ts";
import { newFrame } from "../terminal/display.ts";
import {
  type Framebuffer,
  framebuffersEqual,
} from "../terminal/framebuffer.ts";
import {
  decodeHostMessage,
  encodeHostMessage,
  type HostEvent,
} from "../protobufs/messages.ts";
import { validDimension } from "./user_stream.ts";
import { ScrollLog } from "./scroll_log.ts";
import { ReceivedLog } from "./received_log.ts";

/** Turns a framebuffer plus received host events into the next framebuffer (the client's emulator). */
export interface FrameApplier {
  /** The framebuffer `base` becomes after `events` (bytes and resizes, in order). */
  apply(base: Framebuffer, events: HostEvent[]): Framebuffer;
}

const encoder = new TextEncoder();

/** A received screen not applied yet: the state it is based on and the events that turn it into this one. */
interface PendingScreen {
  base: CompleteTerminal;
  events: HostEvent[];
  /** Bytes the events hold. */
  bytes: number;
  /** The result, once applied (states with the same screen share it). */
  fb?: Framebuffer;
}

/**
 * A terminal state synchronized from server to client (mosh: Complete).
 *
 * On the client a received screen is applied lazily, when its framebuffer is
 * first read (drawn, or the base of the next diff): a server that sends
 * screens faster than they can be applied costs one emulator pass per frame
 * drawn, not one per state received (docs/wire.md §7.3).
 */
export class CompleteTerminal {
  /** Newest client state whose keystrokes reached the application ≥ 50 ms ago. */
  readonly echoAck: bigint;
  /**
   * The server's answer to the client's hello (docs/wire.md §13): the
   * capabilities in use; null until the server has seen a hello, and then
   * never part of a diff, so a stock client never receives the extension.
   */
  readonly capabilities: readonly string[] | null;
  /**
   * The scrollback log (docs/wire.md §14); stays empty unless
   * `scrollback.v1` is in use. A state received by a client holds a
   * ReceivedLog (records kept as they travelled).
   */
  readonly scroll: ScrollLog | ReceivedLog;
  /** The server shows its alternate screen (only with `scrollback.v1`). */
  readonly alternate: boolean;
  /**
   * Another client attached from this address and replaced this one
   * (docs/wire.md §15; only with `attach.v1`), or null.
   */
  readonly detachedBy: string | null;
  readonly #applier: FrameApplier | undefined;
  readonly #logFloor: (() => number) | undefined;
  #fb: Framebuffer | null;
  #pending: PendingScreen | null = null;
  #bytes = -1;

  /** A state of `fb` with `echoAck`; `applier` is needed only where diffs are applied (client). */
  constructor(
    fb: Framebuffer,
    echoAck = 0n,
    options: StateOptions & Partial<Omit<Fields, "fb" | "echoAck">> = {},
  ) {
    this.#fb = fb;
    this.echoAck = echoAck;
    this.capabilities = options.capabilities ?? null;
    this.scroll = options.scroll ?? ScrollLog.empty();
    this.alternate = options.alternate ?? false;
    this.detachedBy = options.detachedBy ?? null;
    this.#applier = options.applier;
    this.#logFloor = options.logFloor;
  }

  /** The screen (applied now if it was received and not yet applied). */
  get fb(): Framebuffer {
    if (this.#fb === null) {
      const pending = this.#pending!;
      pending.fb ??= this.#applier!.apply(pending.base.fb, pending.events);
      this.#fb = pending.fb;
      this.#pending = null;
      this.#bytes = -1;
    }
    return this.#fb;
  }

  /**
   * Approximate bytes the state keeps alive, rows shared with other states
   * counted too (the receiver's byte budget): the screen, or for a screen
   * not applied yet its events plus the state they apply to; and the log.
   */
  byteSize(): number {
    if (this.#bytes < 0) {
      this.#bytes = this.scroll.byteSize() +
        (this.#pending !== null
          ? this.#pending.bytes + this.#pending.base.byteSize()
          : framebufferBytes(this.#fb!));
    }
    return this.#bytes;
  }

  /** The same state with another framebuffer. */
  withFramebuffer(fb: Framebuffer): CompleteTerminal {
    if (fb === this.fb) return this;
    return this.#with({ fb });
  }

  /** The same state with another echo ack. */
  withEchoAck(echoAck: bigint): CompleteTerminal {
    if (echoAck === this.echoAck) return this;
    return this.#with({ echoAck });
  }

  /** The same state answering a hello with `capabilities` (server; docs/wire.md §13). */
  withCapabilities(capabilities: readonly string[]): CompleteTerminal {
    if (sameCapabilities(capabilities, this.capabilities)) return this;
    return this.#with({ capabilities: [...capabilities] });
  }

  /** The same state with another scrollback log and screen (server; docs/wire.md §14). */
  withScroll(scroll: ScrollLog, alternate: boolean): CompleteTerminal {
    if (scroll === this.scroll && alternate === this.alternate) return this;
    return this.#with({ scroll, alternate });
  }

  /** The same state telling a replaced client who attached (server; docs/wire.md §15). */
  withDetachedBy(by: string): CompleteTerminal {
    if (by === this.detachedBy) return this;
    return this.#with({ detachedBy: by });
  }

  #with(fields: Partial<Fields>): CompleteTerminal {
    const state = new CompleteTerminal(
      blankPlaceholder,
      fields.echoAck ?? this.echoAck,
      {
        applier: this.#applier,
        logFloor: this.#logFloor,
        capabilities: fields.capabilities !== undefined
          ? fields.capabilities
          : this.capabilities,
        scroll: fields.scroll ?? this.scroll,
        alternate: fields.alternate ?? this.alternate,
        detachedBy: fields.detachedBy !== undefined
          ? fields.detachedBy
          : this.detachedBy,
      },
    );
    if (fields.fb !== undefined) {
      state.#fb = fields.fb;
    } else {
      // Same screen: shared, applied or not.
      state.#fb = this.#fb;
      state.#pending = this.#pending;
    }
    return state;
  }

  /** Mosh's equality (framebuffer and echo ack), plus tmosh's fields. */
  equals(other: CompleteTerminal): boolean {
    return this.echoAck === other.echoAck &&
      sameCapabilities(this.capabilities, other.capabilities) &&
      this.scroll.end === other.scroll.end &&
      this.alternate === other.alternate &&
      this.detachedBy === other.detachedBy &&
      framebuffersEqual(this.fb, other.fb);
  }

  /**
   * HostMessage turning `old` into this: tmosh's Welcome (only once the
   * capabilities are set), then EchoAck, tmosh's log slice and screen mode
   * (only once scrollback is in use), tmosh's detached notice (only to a
   * replaced client), Resize, HostBytes (docs/wire.md §8.2, §13, §14, §15).
   */
  diffFrom(old: CompleteTerminal): Uint8Array {
    const events: HostEvent[] = [];
    if (
      this.capabilities !== null &&
      !sameCapabilities(this.capabilities, old.capabilities)
    ) {
      events.push({ type: "welcome", capabilities: [...this.capabilities] });
    }
    if (this.echoAck !== old.echoAck) {
      events.push({ type: "echoAck", num: this.echoAck });
    }
    if (this.scroll.end > old.scroll.end) {
      events.push({ type: "scroll", slice: this.scroll.since(old.scroll.end) });
    }
    if (this.alternate !== old.alternate) {
      events.push({ type: "screen", alternate: this.alternate });
    }
    if (this.detachedBy !== null && this.detachedBy !== old.detachedBy) {
      events.push({ type: "detached", by: this.detachedBy });
    }
    if (!framebuffersEqual(this.fb, old.fb)) {
      if (
        this.fb.width !== old.fb.width || this.fb.height !== old.fb.height
      ) {
        events.push({
          type: "resize",
          width: this.fb.width,
          height: this.fb.height,
        });
      }
      const bytes = newFrame(old.fb, this.fb, { initialized: true });
      if (bytes.length > 0) {
        events.push({ type: "bytes", bytes: encoder.encode(bytes) });
      }
    }
    return events.length === 0 ? new Uint8Array(0) : encodeHostMessage(events);
  }

  /** A lower bound of diffFrom(old).length: the log records it carries, encoded (docs/wire.md §14.2). */
  diffSizeAtLeast(old: CompleteTerminal): number {
    return this.scroll.encodedSizeSince(old.scroll.end);
  }

  /** The state after a received HostMessage; null when malformed or no applier is set. */
  applyDiff(diff: Uint8Array): CompleteTerminal | null {
    if (diff.length === 0) return this;
    // Log records this state holds or the terminal already has are not
    // decoded again (a slice resent from an older state).
    const floor = this.#logFloor?.() ?? 0;
    const events = decodeHostMessage(diff, {
      scrollFrom: Math.max(this.scroll.end, floor),
    });
    if (events === null || this.#applier === undefined) return null;
    const fields: Partial<Fields> = {};
    let echoAck = this.echoAck;
    let scroll = this.scroll;
    const screen: HostEvent[] = [];
    for (const ev of events) {
      if (ev.type === "welcome") {
        fields.capabilities = cleanCapabilities(ev.capabilities);
      } else if (ev.type === "echoAck") {
        // The echo ack never goes down; a peer that lowers it is ignored.
        if (ev.num > echoAck) echoAck = ev.num;
      } else if (ev.type === "scroll") {
        scroll = ReceivedLog.of(scroll).receive(ev.slice, floor);
      } else if (ev.type === "screen") {
        fields.alternate = ev.alternate;
      } else if (ev.type === "detached") {
        fields.detachedBy = ev.by;
      } else if (ev.type === "resize") {
        if (validDimension(ev.width) && validDimension(ev.height)) {
          screen.push(ev);
        }
      } else {
        screen.push(ev);
      }
    }
    fields.echoAck = echoAck;
    fields.scroll = scroll;
    if (screen.length === 0) return this.#with(fields);
    // Apply this state first if it is itself pending: at most one state
    // waits on each applied one, so nothing holds a chain of them.
    void this.fb;
    const next = this.#with({ ...fields, fb: null });
    next.#pending = { base: this, events: screen, bytes: eventBytes(screen) };
    return next;
  }
}

/** What a client state needs to apply diffs. */
interface StateOptions {
  /** Applies received screens (client). */
  applier?: FrameApplier;
  /** Log records below this number are written out and need not be kept (client). */
  logFloor?: () => number;
}

/** The fields #with may replace. */
interface Fields {
  fb: Framebuffer | null;
  echoAck: bigint;
  capabilities: readonly string[] | null;
  scroll: ScrollLog | ReceivedLog;
  alternate: boolean;
  detachedBy: string | null;
}

/** Stands in for a framebuffer about to be replaced (never read). */
const blankPlaceholder = Object.freeze({}) as Framebuffer;

/** Approximate bytes a list of host events holds. */
function eventBytes(events: HostEvent[]): number {
  let n = 0;
  for (const ev of events) {
    n += 32 + (ev.type === "bytes" ? ev.bytes.length : 0);
  }
  return n;
}

/** Estimated overhead of one row object and of one framebuffer, bytes. */
const ROW_OVERHEAD = 96, FRAMEBUFFER_OVERHEAD = 512;

/** Approximate bytes a framebuffer holds: cell words, cluster texts, titles and clipboard. */
export function framebufferBytes(fb: Framebuffer): number {
  let n = FRAMEBUFFER_OVERHEAD +
    2 * (fb.title.length + fb.iconName.length + fb.clipboard.length);
  for (const row of fb.rows) {
    n += ROW_OVERHEAD + row.cells.byteLength;
    if (row.texts === undefined) continue;
    n += 8 * row.texts.length;
    for (const t of row.texts) if (t !== undefined) n += 16 + 2 * t.length;
  }
  return n;
}

/**
 * The server's echo-ack bookkeeping: which client state's keystrokes reached
 * the application at least ECHO_TIMEOUT ago (mosh: register_input_frame, set_echo_ack).
 */
export class EchoAckTracker {
  #history: { num: bigint; time: number }[] = [];
  #echoAck = 0n;

  /** The current echo ack. */
  get echoAck(): bigint {
    return this.#echoAck;
  }

  /** Records that client state `num`'s input was handed to the application at `now`. */
  registerInputFrame(num: bigint, now: number): void {
    this.#history.push({ num, time: now });
  }

  /** Advances the echo ack; returns the new value when it changed, else null. */
  update(now: number): bigint | null {
    let newest: bigint | null = null;
    while (
      this.#history.length > 0 && this.#history[0].time <= now - ECHO_TIMEOUT
    ) {
      newest = this.#history.shift()!.num;
    }
    if (newest === null || newest <= this.#echoAck) return null;
    this.#echoAck = newest;
    return newest;
  }

  /** Milliseconds until update() may change the echo ack (Infinity when nothing is pending). */
  waitTime(now: number): number {
    if (this.#history.length === 0) return Infinity;
    return Math.max(0, this.#history[0].time + ECHO_TIMEOUT - now);
  }
}
