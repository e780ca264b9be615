/**
 * A minimal Mosh client built only from tmosh's wire modules (datagram,
 * fragment, messages), for interoperability tests against stock
 * `mosh-server`: no transport state machine. It sends UserStream states with
 * mosh's numbering (docs/wire.md §6.1), keeps the server's states by number as
 * the stock receiver does (docs/wire.md §7.1) and renders the newest one with
 * @xterm/headless.
 * @module
 */

import { Terminal } from "../protocol/terminal/xterm_esm.ts";
import { DatagramCodec, timestamp16 } from "../protocol/network/datagram.ts";
import {
  decodeFragment,
  FragmentAssembly,
  Fragmenter,
} from "../protocol/network/fragment.ts";
import {
  decodeHostMessage,
  decodeInstruction,
  encodeInstruction,
  encodeUserMessage,
  type HostEvent,
  type UserEvent,
} from "../protocol/protobufs/messages.ts";
import {
  ACK_INTERVAL,
  CHAFF_MAX,
  DEFAULT_IPV4_MTU,
  PROTOCOL_VERSION,
  SEND_INTERVAL_MAX,
  SHUTDOWN_NUM,
  TIMESTAMP_ECHO_WINDOW,
  TIMESTAMP_NONE,
  TO_SERVER,
} from "../protocol/network/constants.ts";

/** How often the client checks whether to send, ms. */
const TICK_MS = 10;
/** How often waitFor polls, ms. */
const POLL_MS = 20;
/** Sent datagrams kept for replay tests. */
const SENT_LOG = 64;

/** One instruction the client sent or received. */
export interface InstructionRecord {
  /** Sender's base state. */
  oldNum: bigint;
  /** Sender's new state (SHUTDOWN_NUM for shutdown). */
  newNum: bigint;
  /** Newest state of the other side the sender held. */
  ackNum: bigint;
  /** Sender's throwaway number. */
  throwawayNum: bigint;
  /** Serialized UserMessage or HostMessage. */
  diff: Uint8Array;
  /** Datagrams (fragments) the instruction travelled in. */
  fragments: number;
}

/** Counters of what arrived from the server. */
export interface WireStats {
  /** Datagrams received. */
  datagrams: number;
  /** Datagrams that did not authenticate (a stock server never sends these). */
  undecryptable: number;
  /** Reassembled instructions or diffs that did not parse. */
  unparsable: number;
  /** Instructions whose protocol_version was not 2. */
  badVersion: number;
  /** Instructions whose new_num we already held. */
  duplicates: number;
  /** Instructions whose old_num we did not hold (dropped, as stock mosh does). */
  missingBase: number;
  /** Newest echo ack seen. */
  echoAck: bigint;
  /** True if an echo ack ever went down. */
  echoAckDecreased: boolean;
}

/** The rendered newest server state. */
export interface Screen {
  /** Terminal width, cells. */
  cols: number;
  /** Terminal height, cells. */
  rows: number;
  /** Each row's text, trailing blanks trimmed. */
  lines: string[];
}

/** Options of {@linkcode WireClient}. */
export interface WireClientOptions {
  /** Server's UDP port on 127.0.0.1. */
  port: number;
  /** Decoded 16-byte session key. */
  key: Uint8Array;
  /** Initial terminal width (state 1 is Resize(width, height)); default 80. */
  width?: number;
  /** Initial terminal height; default 24. */
  height?: number;
}

/** A test-only Mosh client speaking to a server on 127.0.0.1. */
export class WireClient {
  /** Every instruction received and parsed, in arrival order. */
  readonly received: InstructionRecord[] = [];
  /** Every instruction sent, in order. */
  readonly sent: InstructionRecord[] = [];
  /** The first datagrams the client sent, as sent (at most SENT_LOG). */
  readonly sentDatagrams: Uint8Array[] = [];
  /** Contents sizes of all non-final fragments received, bytes. */
  readonly nonFinalFragmentSizes: number[] = [];
  /** Counters of what arrived. */
  readonly stats: WireStats = {
    datagrams: 0,
    undecryptable: 0,
    unparsable: 0,
    badVersion: 0,
    duplicates: 0,
    missingBase: 0,
    echoAck: 0n,
    echoAckDecreased: false,
  };
  #sock: Deno.DatagramConn;
  #server: Deno.NetAddr;
  #codec: DatagramCodec;
  #fragmenter = new Fragmenter();
  #assembly = new FragmentAssembly();
  #fragId: bigint | null = null;
  #fragNums = new Set<number>();
  #width: number;
  #height: number;
  // Our UserStream: events, and each sent state's length in events.
  #events: UserEvent[] = [];
  #sentLen = new Map<bigint, number>([[0n, 0]]);
  #lastSent = 0n;
  #lastSentAt = -Infinity;
  #acked = 0n;
  #shutdown = false;
  // The server's states: number -> all host events since state 0.
  #held = new Map<bigint, HostEvent[]>([[0n, []]]);
  #newest = 0n;
  #ackPending = false;
  #shutdownAckSent = false;
  #expectedSeq = 0n;
  #saved: { ts: number; at: number } | null = null;
  #timer: ReturnType<typeof setInterval>;
  #loop: Promise<void>;
  #pending = new Set<Promise<unknown>>();
  #errors: string[] = [];
  #closed = false;

  /** Binds a socket and sends state 1 = Resize(width, height) at once. */
  constructor(options: WireClientOptions) {
    this.#width = options.width ?? 80;
    this.#height = options.height ?? 24;
    this.#server = {
      transport: "udp",
      hostname: "127.0.0.1",
      port: options.port,
    };
    this.#codec = new DatagramCodec(options.key, { direction: TO_SERVER });
    this.#sock = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    this.#loop = this.#receiveLoop();
    this.#timer = setInterval(() => this.#tick(performance.now()), TICK_MS);
    this.input([{
      type: "resize",
      width: this.#width,
      height: this.#height,
    }]);
  }

  /** Newest of our states the server acknowledged. */
  get acked(): bigint {
    return this.#acked;
  }

  /** Newest server state held (what we acknowledge). */
  get serverState(): bigint {
    return this.#newest;
  }

  /** True once we sent an instruction acknowledging the server's shutdown. */
  get shutdownAckSent(): boolean {
    return this.#shutdownAckSent;
  }

  /** Appends user events as a new state and sends it now; returns its number. */
  input(events: UserEvent[]): bigint {
    if (this.#shutdown) throw new Error("tmosh: input after shutdown");
    this.#events.push(...events);
    this.#send(performance.now());
    return this.#lastSent;
  }

  /** Types `text` (UTF-8) as one keystroke event; returns the state number. */
  type(text: string): bigint {
    return this.input([{
      type: "keys",
      keys: new TextEncoder().encode(text),
    }]);
  }

  /** Starts our shutdown: sends new_num = 2^64-1 until the server acks it. */
  shutdown(): void {
    this.#shutdown = true;
    this.#send(performance.now());
  }

  /** Seals `payload` as the next in-order datagram and sends it. */
  sendPayload(payload: Uint8Array): Promise<void> {
    return this.sendRaw(this.sealPayload(payload));
  }

  /** Seals `payload` under the next sequence number without sending it. */
  sealPayload(payload: Uint8Array): Uint8Array {
    return this.#seal(payload, performance.now());
  }

  /**
   * Uses up one sequence number (its datagram is discarded, never sent) and
   * returns it, so a test can hand-craft a datagram under it.
   */
  reserveSeq(): bigint {
    const seq = this.#codec.sentCount;
    this.#codec.seal({
      timestamp: 0,
      timestampReply: TIMESTAMP_NONE,
      payload: new Uint8Array(0),
    });
    return seq;
  }

  /** Sends bytes as they are to the server from the client's socket. */
  sendRaw(bytes: Uint8Array): Promise<void> {
    const p = this.#sock.send(bytes, this.#server).then(
      () => {},
      (e) => {
        if (!this.#closed) this.#errors.push(`send: ${e}`);
      },
    );
    this.#pending.add(p);
    p.finally(() => this.#pending.delete(p));
    return p;
  }

  /** Host bytes of the newest server state, decoded as UTF-8 (for messages). */
  hostText(): string {
    const dec = new TextDecoder();
    return (this.#held.get(this.#newest) ?? [])
      .map((ev) => ev.type === "bytes" ? dec.decode(ev.bytes) : "")
      .join("");
  }

  /** Renders the newest server state into a fresh headless terminal. */
  async screen(): Promise<Screen> {
    const term = new Terminal({
      cols: this.#width,
      rows: this.#height,
      scrollback: 0,
      allowProposedApi: true,
    });
    try {
      for (const ev of this.#held.get(this.#newest) ?? []) {
        if (ev.type === "bytes") {
          await new Promise<void>((resolve) => term.write(ev.bytes, resolve));
        } else if (ev.type === "resize") {
          term.resize(ev.width, ev.height);
        }
      }
      const buf = term.buffer.active;
      const lines: string[] = [];
      for (let i = 0; i < term.rows; i++) {
        lines.push((buf.getLine(i)?.translateToString(true) ?? "").trimEnd());
      }
      return { cols: term.cols, rows: term.rows, lines };
    } finally {
      term.dispose();
    }
  }

  /** Polls until `cond` holds; throws a message with the wire state after `ms`. */
  async waitFor(cond: () => boolean, what: string, ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (!cond()) {
      if (performance.now() > end) {
        throw new Error(
          `timed out after ${ms} ms waiting for ${what}\n` +
            await this.describe(),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Polls the rendered screen until `pred` holds; returns that screen. */
  async waitForScreen(
    pred: (screen: Screen) => boolean,
    what: string,
    ms: number,
  ): Promise<Screen> {
    const end = performance.now() + ms;
    for (;;) {
      const screen = await this.screen();
      if (pred(screen)) return screen;
      if (performance.now() > end) {
        throw new Error(
          `timed out after ${ms} ms waiting for ${what}\n` +
            await this.describe(),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Describes what was seen (states, counters, screen, host bytes) for failure messages. */
  async describe(): Promise<string> {
    const screen = await this.screen();
    const tail = this.hostText().slice(-1500);
    const recent = this.received.slice(-8).map((r) =>
      `old ${r.oldNum} new ${r.newNum} ack ${r.ackNum} thr ${r.throwawayNum} ` +
      `diff ${r.diff.length} B in ${r.fragments} fragment(s)`
    );
    return [
      `server state ${this.#newest}, our last sent ${this.#lastSent}, acked ${this.#acked}`,
      `stats ${
        JSON.stringify(
          this.stats,
          (_k, v) => typeof v === "bigint" ? v.toString() : v,
        )
      }`,
      `errors: ${this.#errors.join("; ") || "none"}`,
      `last instructions received:\n  ${recent.join("\n  ") || "none"}`,
      `screen ${screen.cols}x${screen.rows}:\n  |${
        screen.lines.join("|\n  |")
      }|`,
      `host bytes (last 1500): ${JSON.stringify(tail)}`,
    ].join("\n");
  }

  /** Errors met while sending or receiving (should stay empty). */
  get errors(): readonly string[] {
    return this.#errors;
  }

  /** Stops sending, closes the socket and waits for pending operations. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.all(this.#pending);
    this.#sock.close();
    await this.#loop;
  }

  /** Decides whether to send now, like a (much simplified) mosh sender. */
  #tick(now: number): void {
    if (this.#closed || this.#shutdownAckSent) return;
    const since = now - this.#lastSentAt;
    if (this.#shutdown) {
      if (this.#acked !== SHUTDOWN_NUM && since >= SEND_INTERVAL_MAX) {
        this.#send(now);
      }
      return;
    }
    const current = this.#events.length;
    const unacked = this.#sentLen.get(this.#acked) !== current;
    if (
      this.#ackPending || this.#sentLen.get(this.#lastSent) !== current ||
      (unacked && since >= SEND_INTERVAL_MAX) || since >= ACK_INTERVAL
    ) {
      this.#send(now);
    }
  }

  /** Sends our current state as a new state, diffed against the acked one. */
  #send(now: number): void {
    if (this.#closed) return;
    const newNum = this.#shutdown ? SHUTDOWN_NUM : this.#lastSent + 1n;
    const current = this.#events.length;
    this.#sentLen.set(newNum, current);
    this.#lastSent = newNum;
    this.#lastSentAt = now;
    const ackedLen = this.#sentLen.get(this.#acked) ?? 0;
    const diff = current > ackedLen
      ? encodeUserMessage(this.#events.slice(ackedLen))
      : new Uint8Array(0);
    const chaff = crypto.getRandomValues(
      new Uint8Array(Math.floor(Math.random() * (CHAFF_MAX + 1))),
    );
    const instruction = {
      protocolVersion: PROTOCOL_VERSION,
      oldNum: this.#acked,
      newNum,
      ackNum: this.#newest,
      throwawayNum: this.#acked,
      diff,
      chaff,
    };
    const fragments = this.#fragmenter.makeFragments(
      encodeInstruction(instruction),
      DEFAULT_IPV4_MTU,
    );
    this.sent.push({ ...instruction, fragments: fragments.length });
    for (const f of fragments) {
      const datagram = this.#seal(f, now);
      if (this.sentDatagrams.length < SENT_LOG) {
        this.sentDatagrams.push(datagram);
      }
      this.sendRaw(datagram);
    }
    this.#ackPending = false;
    if (this.#newest === SHUTDOWN_NUM) this.#shutdownAckSent = true;
  }

  /** Seals one fragment, echoing the server's timestamp as in docs/wire.md §3.1. */
  #seal(payload: Uint8Array, now: number): Uint8Array {
    let reply = TIMESTAMP_NONE;
    if (this.#saved !== null && now - this.#saved.at < TIMESTAMP_ECHO_WINDOW) {
      reply = (this.#saved.ts + Math.floor(now - this.#saved.at)) % 65536;
      this.#saved = null;
    }
    return this.#codec.seal({
      timestamp: timestamp16(now),
      timestampReply: reply,
      payload,
    });
  }

  /** Receives datagrams until the socket closes. */
  async #receiveLoop(): Promise<void> {
    try {
      for (;;) {
        const [data] = await this.#sock.receive();
        this.#onDatagram(data, performance.now());
      }
    } catch (e) {
      if (!this.#closed) this.#errors.push(`receive: ${e}`);
    }
  }

  /** Handles one datagram: decrypt, reassemble, parse, apply (docs/wire.md §2–§4, §7.1). */
  #onDatagram(bytes: Uint8Array, now: number): void {
    this.stats.datagrams++;
    const d = this.#codec.open(bytes);
    if (d === null) {
      this.stats.undecryptable++;
      return;
    }
    if (d.seq >= this.#expectedSeq) {
      this.#expectedSeq = d.seq + 1n;
      if (d.timestamp !== TIMESTAMP_NONE) {
        this.#saved = { ts: d.timestamp, at: now };
      }
    }
    const f = decodeFragment(d.payload);
    if (f !== null && (this.#fragId === null || f.id >= this.#fragId)) {
      if (f.id !== this.#fragId) {
        this.#fragId = f.id;
        this.#fragNums.clear();
      }
      this.#fragNums.add(f.num);
      if (!f.final) this.nonFinalFragmentSizes.push(f.contents.length);
    }
    const assembled = this.#assembly.add(d.payload);
    if (assembled === null) return;
    const ins = decodeInstruction(assembled);
    if (ins === null) {
      this.stats.unparsable++;
      return;
    }
    this.received.push({ ...ins, fragments: this.#fragNums.size });
    if (ins.protocolVersion !== PROTOCOL_VERSION) {
      this.stats.badVersion++;
      return;
    }
    if (this.#sentLen.has(ins.ackNum)) {
      this.#acked = ins.ackNum;
      for (const num of this.#sentLen.keys()) {
        if (num < ins.ackNum) this.#sentLen.delete(num);
      }
    }
    this.#apply(ins.oldNum, ins.newNum, ins.throwawayNum, ins.diff);
  }

  /** Applies a server diff to the state it names, as Transport::recv does. */
  #apply(oldNum: bigint, newNum: bigint, thr: bigint, diff: Uint8Array): void {
    if (this.#held.has(newNum)) {
      this.stats.duplicates++;
      if (newNum === SHUTDOWN_NUM) this.#ackPending = true;
      return;
    }
    const base = this.#held.get(oldNum);
    if (base === undefined) {
      this.stats.missingBase++;
      return;
    }
    const events = diff.length === 0 ? [] : decodeHostMessage(diff);
    if (events === null) {
      this.stats.unparsable++;
      return;
    }
    for (const num of this.#held.keys()) {
      if (num < thr) this.#held.delete(num);
    }
    for (const ev of events) {
      if (ev.type !== "echoAck") continue;
      if (ev.num < this.stats.echoAck) this.stats.echoAckDecreased = true;
      this.stats.echoAck = ev.num;
    }
    this.#held.set(newNum, [...base, ...events]);
    if (newNum > this.#newest) {
      this.#newest = newNum;
      if (diff.length > 0 || newNum === SHUTDOWN_NUM) this.#ackPending = true;
    }
  }
}
