/**
 * The channel multiplexer (docs/wire.md §17): channels opened by either side,
 * packet numbers acknowledged in ranges, loss detection by packet threshold,
 * time threshold and probe timeout (RFC 9002's rules, simplified), resending
 * of what a lost packet carried, per-channel receive windows, the shared
 * congestion window, and strict priority (agent channels before bulk ones).
 * Pure: the caller passes the time, feeds received payloads, and sends what
 * `nextPacket` returns.
 * @module
 */

import {
  CHANNEL_ACK_BYTES,
  CHANNEL_ACK_DELAY,
  CHANNEL_ACK_EVERY,
  CHANNEL_ACK_RANGES_MAX,
  CHANNEL_LOSS_PACKETS,
  CHANNEL_PTO_MAX,
  CHANNEL_PTO_MIN,
  CHANNEL_WINDOW,
  CHANNEL_WINDOW_MIN,
  CHANNELS_MAX,
  CHANNELS_RECEIVE_BUDGET,
  CWND_MAX,
  LISTENS_MAX,
} from "./constants.ts";
import { CongestionControl } from "./channel_congestion.ts";
import { DatagramSizer } from "./channel_size.ts";
import type { PathLimits } from "./channel_path.ts";
import {
  CHANNEL_KIND,
  dataHeaderSize,
  decodeChannelPacket,
  FRAME,
  type Frame,
  PacketWriter,
  RESET_CODE,
} from "./channel_frames.ts";
import { ReceiveStream, SendStream } from "./channel_streams.ts";
import { RttEstimator } from "./rtt.ts";

/** What the application hears from the multiplexer. */
export interface MuxEvents {
  /** The peer asks to open a channel: answer with accept() or reset(). */
  open(channel: number, kind: number, target: string): void;
  /** A channel we opened was accepted. */
  accepted(channel: number): void;
  /** Bytes of a channel, in order (a view of the payload given to receive()); call consumed() once they are written out. */
  data(channel: number, bytes: Uint8Array): void;
  /** The peer finished its stream. */
  fin(channel: number): void;
  /** The channel ended abnormally (never after closed()). */
  reset(channel: number, code: number, reason: string): void;
  /** Both streams ended and were acknowledged: the channel is gone. */
  closed(channel: number): void;
  /** Room in a channel's send buffer again. */
  writable(channel: number): void;
  /** The client asks the server to listen (-R): answer with listenResult(). */
  listen(listen: number, bind: string, port: number): void;
  /** The server's answer to our listen(). */
  listenResult(
    listen: number,
    code: number,
    port: number,
    message: string,
  ): void;
}

/** Options of a {@linkcode ChannelMux}. */
export interface MuxOptions {
  /** Client channels are even, server channels odd. */
  role: "client" | "server";
  /** Handlers; missing ones ignore the event. */
  events?: Partial<MuxEvents>;
  /** Receive window per channel, bytes (default CHANNEL_WINDOW). */
  window?: number;
}

/** Room taken in a datagram by the nonce, tag and timestamps, bytes. */
const DATAGRAM_OVERHEAD = 8 + 16 + 4;
/** Below this much room a packet is not worth another data frame, bytes. */
const MIN_DATA_ROOM = 64;
/** Probe timeouts in a row after which the loss counts as persistent (an outage). */
const PERSISTENT_PTOS = 2;

/** One open (or opening) channel. */
interface Channel {
  id: number;
  kind: number;
  /** 0: agent, 1: bulk (strict priority). */
  priority: number;
  /** We opened it and wait for the peer's accept. */
  opening: boolean;
  /** The peer opened it and the application has not answered yet. */
  pending: boolean;
  target: string;
  send: SendStream;
  recv: ReceiveStream;
  /** Last advertised receive offset and limit (-1: must advertise). */
  advOffset: number;
  advLimit: number;
  /** The application was told the buffer is full. */
  full: boolean;
  /** Data frames of this channel in packets neither acknowledged nor lost. */
  inflight: number;
}

/** A resendable item carried by a sent packet. */
type Carried =
  | { t: "data"; channel: number; offset: number; len: number; fin: boolean }
  | { t: "ctl"; frame: Frame }
  | { t: "chanAck"; channel: number };

interface SentPacket {
  sentAt: number;
  bytes: number;
  carried: Carried[];
  eliciting: boolean;
}

/** Channels and their reliable delivery over one connection; see the module doc. */
export class ChannelMux {
  readonly #events: Partial<MuxEvents>;
  readonly #window: number;
  readonly #server: boolean;
  readonly #channels = new Map<number, Channel>();
  readonly #cc = new CongestionControl();
  readonly #sizer = new DatagramSizer();
  readonly #rtt = new RttEstimator();
  #nextChannel: number;
  /** Highest channel id the peer opened. */
  #peerMax = -1;
  #nextPacket = 0;
  readonly #sent = new Map<number, SentPacket>();
  #largestAcked = -1;
  #lastElicitingAt = -Infinity;
  /** Where packets are written (a payload lives until the next nextPacket call). */
  #packetBuffer = new Uint8Array(0);
  /** Datagram size and window cap the congestion window was last told, bytes. */
  #ccSize = 0;
  #ccWindow = 0;
  #ptoCount = 0;
  #lossAt = Infinity;
  /** Received packet numbers as inclusive ranges, descending. */
  #received: [number, number][] = [];
  #largestReceivedAt = 0;
  #unackedEliciting = 0;
  /** Bytes of the ack-eliciting packets not yet acknowledged. */
  #unackedBytes = 0;
  #ackDueAt = Infinity;
  #ackWanted = false;
  readonly #control: Frame[] = [];
  /** Server: answers to listen requests by id (null while pending). */
  readonly #listens = new Map<number, Frame | null>();
  /** Client: listen requests without an answer. */
  readonly #listening = new Map<number, Frame>();
  /** Statistics, for tests and benchmarks. */
  readonly stats = { sent: 0, lost: 0, received: 0, resentBytes: 0 };

  /** A multiplexer for one side of a connection. */
  constructor(options: MuxOptions) {
    this.#events = options.events ?? {};
    this.#window = options.window ?? CHANNEL_WINDOW;
    this.#server = options.role === "server";
    this.#nextChannel = this.#server ? 1 : 0;
  }

  /** The congestion window, bytes (for tests and benchmarks). */
  get congestionWindow(): number {
    return this.#cc.window;
  }

  /** Size of the datagrams sent now, bytes (docs/wire.md §17.8). */
  get datagramSize(): number {
    return this.#sizer.size;
  }

  /** Probes sent and lost, black holes detected (for tests and benchmarks). */
  get sizeStats(): { probes: number; probesLost: number; blackHoles: number } {
    return this.#sizer.stats;
  }

  /** The path changed (a roam): datagrams go back to the base size and the search starts over. */
  pathChanged(): void {
    this.#sizer.reset();
  }

  /** Bytes in flight (for tests and benchmarks). */
  get inFlight(): number {
    return this.#cc.inFlight;
  }

  /** Bytes held out of order over all channels (for tests: bounded by the windows). */
  get heldBytes(): number {
    let n = 0;
    for (const ch of this.#channels.values()) n += ch.recv.heldBytes;
    return n;
  }

  /** Number of channels open. */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** Opens a channel of `kind` to `target`; returns its id, or null at CHANNELS_MAX. */
  open(kind: number, target: string): number | null {
    if (this.#channels.size >= CHANNELS_MAX) return null;
    const id = this.#nextChannel;
    this.#nextChannel += 2;
    const ch = this.#newChannel(id, kind, target);
    ch.opening = true;
    ch.recv.advertised(ch.recv.limit);
    this.#control.push({
      type: FRAME.open,
      channel: id,
      kind,
      window: ch.recv.window,
      target,
    });
    return id;
  }

  /** Accepts a channel the peer opened (the target is connected). */
  accept(channel: number): void {
    const ch = this.#channels.get(channel);
    if (ch === undefined || !ch.pending) return;
    ch.pending = false;
    this.#grant(ch);
    ch.recv.advertised(ch.recv.limit);
    ch.advLimit = ch.recv.limit;
    this.#control.push({ type: FRAME.accept, channel, window: ch.recv.limit });
  }

  /** Queues bytes on a channel (the caller keeps `buffered` bounded). */
  write(channel: number, bytes: Uint8Array): void {
    const ch = this.#channels.get(channel);
    if (ch === undefined || ch.send.finWritten) return;
    ch.send.write(bytes);
  }

  /** Bytes of a channel not yet acknowledged by the peer (0 for an unknown channel). */
  buffered(channel: number): number {
    return this.#channels.get(channel)?.send.buffered ?? 0;
  }

  /** Ends our stream of a channel (after the bytes written so far). */
  finish(channel: number): void {
    this.#channels.get(channel)?.send.finish();
    this.#maybeClosed(channel);
  }

  /** The application wrote out `n` delivered bytes: the window moves on. */
  consumed(channel: number, n: number): void {
    const ch = this.#channels.get(channel);
    if (ch === undefined) return;
    ch.recv.consumed += n;
  }

  /** Ends a channel at once and tells the peer why. */
  reset(channel: number, code: number, reason: string): void {
    if (!this.#channels.delete(channel)) return;
    this.#control.push({ type: FRAME.reset, channel, code, reason });
  }

  /** Client: asks the server to listen on `bind:port` (-R). */
  listen(listen: number, bind: string, port: number): void {
    const frame: Frame = { type: FRAME.listen, listen, bind, port };
    this.#listening.set(listen, frame);
    this.#control.push(frame);
  }

  /** Server: answers a listen request. */
  listenResult(
    listen: number,
    result: { code: number; port: number; message: string },
  ): void {
    const frame: Frame = { type: FRAME.listenResult, listen, ...result };
    this.#listens.set(listen, frame);
    this.#control.push(frame);
  }

  /** Resets every channel (the session ends, or another client attached). */
  resetAll(reason: string): void {
    for (const id of [...this.#channels.keys()]) {
      this.reset(id, RESET_CODE.aborted, reason);
      this.#events.reset?.(id, RESET_CODE.aborted, reason);
    }
  }

  /** Handles one authentic channel datagram payload received at `now`. */
  receive(payload: Uint8Array, now: number): void {
    const packet = decodeChannelPacket(payload);
    if (packet === null) return;
    this.stats.received++;
    if (!this.#record(packet.number)) return; // a duplicate
    let eliciting = false;
    for (const f of packet.frames) {
      if (f.type !== FRAME.ack) eliciting = true;
      this.#frame(f, now);
    }
    if (packet.number === this.#received[0][1]) this.#largestReceivedAt = now;
    if (eliciting) {
      this.#unackedEliciting++;
      this.#unackedBytes += payload.length;
      const due = this.#unackedEliciting >= CHANNEL_ACK_EVERY ||
        this.#unackedBytes >= CHANNEL_ACK_BYTES;
      this.#wantAck(due ? 0 : CHANNEL_ACK_DELAY, now);
    }
  }

  /** When the multiplexer next needs `onTimer`, ms on the caller's clock (Infinity: never). */
  nextWake(): number {
    return Math.min(this.#ackDueAt, this.#lossAt, this.#ptoAt());
  }

  /** Runs the loss and probe timers due at `now`. */
  onTimer(now: number): void {
    if (now >= this.#lossAt) this.#detectLoss(now);
    if (now >= this.#ptoAt()) {
      this.#ptoCount++;
      if (this.#ptoCount >= PERSISTENT_PTOS) this.#cc.onPersistentLoss(now);
      // Everything outstanding is sent again (the receiver drops duplicates).
      for (const [pn, p] of this.#sent) {
        this.#sent.delete(pn);
        this.#cc.onDiscarded(p.bytes);
        this.#requeue(p.carried);
      }
      this.#sizer.onTimeout(now);
      this.#lastElicitingAt = now;
    }
    if (now >= this.#ackDueAt) this.#ackWanted = true;
  }

  /**
   * The next datagram payload to send at `now`, or null when nothing is due
   * (or the congestion window is full). `mtu` is the base size every path
   * carries, bytes; the path's `ceiling`, the largest it might carry, bounds
   * the search for larger datagrams (docs/wire.md §17.8; default: no search),
   * and its `window` caps the bytes in flight (default CWND_MAX). The
   * payload is valid until the next call (send or copy it first).
   */
  nextPacket(
    now: number,
    mtu: number,
    path: Partial<PathLimits> = {},
  ): Uint8Array | null {
    const sizer = this.#sizer;
    sizer.limits(mtu, path.ceiling ?? mtu);
    const window = path.window ?? CWND_MAX;
    if (sizer.size !== this.#ccSize || window !== this.#ccWindow) {
      this.#ccSize = sizer.size;
      this.#ccWindow = window;
      this.#cc.setPath(sizer.size, window);
    }
    const hasData = this.#hasSendable();
    const room = hasData
      ? sizer.capacity(now, (bytes) => this.#cc.canSend(bytes))
      : sizer.size;
    if (this.#packetBuffer.length < room) {
      this.#packetBuffer = new Uint8Array(room);
    }
    const w = new PacketWriter(this.#nextPacket, room - DATAGRAM_OVERHEAD, {
      into: this.#packetBuffer,
    });
    const carried: Carried[] = [];
    const ackNow = this.#ackWanted || now >= this.#ackDueAt;
    const hasControl = this.#control.length > 0 || this.#urgentChanAck();
    const dataOk = hasData && this.#cc.canSend(room);
    if (!ackNow && !hasControl && !dataOk) return null;
    if (this.#received.length > 0 && (ackNow || this.#unackedEliciting > 0)) {
      w.add({
        type: FRAME.ack,
        ranges: this.#received.slice(0, CHANNEL_ACK_RANGES_MAX),
        delayMs: Math.max(0, Math.round(now - this.#largestReceivedAt)),
      });
      this.#ackWanted = false;
      this.#ackDueAt = Infinity;
      this.#unackedEliciting = 0;
      this.#unackedBytes = 0;
    }
    for (const ch of this.#dirtyChannels()) {
      this.#grant(ch);
      const frame: Frame = {
        type: FRAME.chanAck,
        channel: ch.id,
        offset: ch.recv.next,
        window: ch.recv.limit - ch.recv.next,
      };
      if (!w.add(frame)) break;
      ch.advOffset = ch.recv.next;
      ch.advLimit = ch.recv.limit;
      ch.recv.advertised(ch.advLimit);
      carried.push({ t: "chanAck", channel: ch.id });
    }
    while (this.#control.length > 0 && w.add(this.#control[0])) {
      carried.push({ t: "ctl", frame: this.#control.shift()! });
    }
    if (dataOk) this.#fillData(w, carried);
    if (w.empty) return null;
    const pn = this.#nextPacket++;
    const bytes = w.finish();
    const size = bytes.length + DATAGRAM_OVERHEAD;
    if (carried.length > 0) {
      this.#sent.set(pn, {
        sentAt: now,
        bytes: size,
        carried,
        eliciting: true,
      });
      this.#cc.onSent(size);
      sizer.onSent(pn, size);
      this.#lastElicitingAt = now;
    }
    this.stats.sent++;
    return bytes;
  }

  // ---- sending ----

  #hasSendable(): boolean {
    for (const ch of this.#channels.values()) {
      if (!ch.opening && !ch.pending && ch.send.sendable) return true;
    }
    return false;
  }

  /** Fills the packet with data frames: agent channels first, then bulk, rotating among equals. */
  #fillData(w: PacketWriter, carried: Carried[]): void {
    const ready = [...this.#channels.values()].filter((ch) =>
      !ch.opening && !ch.pending && ch.send.sendable
    );
    ready.sort((a, b) => a.priority - b.priority);
    for (const ch of ready) {
      while (w.room > MIN_DATA_ROOM) {
        const header = dataHeaderSize(ch.id, ch.send.end, w.room);
        const seg = ch.send.take(w.room - header);
        if (seg === null) break;
        const ok = w.add({
          type: FRAME.data,
          channel: ch.id,
          offset: seg.offset,
          fin: seg.fin,
          bytes: seg.bytes,
        });
        if (!ok) throw new Error("tmosh: internal error: data frame overflow");
        ch.inflight++;
        carried.push({
          t: "data",
          channel: ch.id,
          offset: seg.offset,
          len: seg.bytes.length,
          fin: seg.fin,
        });
      }
      if (w.room <= MIN_DATA_ROOM) break;
    }
    // The channel served first goes last next time among its priority.
    if (ready.length > 1) {
      const first = ready[0];
      this.#channels.delete(first.id);
      this.#channels.set(first.id, first);
    }
  }

  /** A receive window grew by an eighth, a fin arrived, or a resend is due: a channel ack must go out now. */
  #urgentChanAck(): boolean {
    for (const ch of this.#channels.values()) {
      if (ch.opening || ch.pending) continue;
      const r = ch.recv;
      if (
        ch.advOffset < 0 || r.limit - ch.advLimit >= this.#window / 8 ||
        (r.finDelivered && r.next !== ch.advOffset)
      ) return true;
    }
    return false;
  }

  /** Channels whose receive offset or limit changed since last advertised (they ride along). */
  #dirtyChannels(): Channel[] {
    const out: Channel[] = [];
    for (const ch of this.#channels.values()) {
      if (ch.opening || ch.pending) continue;
      if (ch.recv.next !== ch.advOffset || ch.recv.limit !== ch.advLimit) {
        out.push(ch);
      }
    }
    return out;
  }

  #wantAck(delay: number, now?: number): void {
    if (delay === 0) {
      this.#ackWanted = true;
      return;
    }
    if (now !== undefined && this.#ackDueAt === Infinity) {
      this.#ackDueAt = now + delay;
    } else if (now === undefined && this.#ackDueAt === Infinity) {
      this.#ackWanted = true;
    }
  }

  #ptoAt(): number {
    if (this.#sent.size === 0) return Infinity;
    const base = Math.max(
      CHANNEL_PTO_MIN,
      this.#rtt.srtt + 4 * this.#rtt.rttvar + CHANNEL_ACK_DELAY,
    );
    const pto = Math.min(CHANNEL_PTO_MAX, base * 2 ** this.#ptoCount);
    return this.#lastElicitingAt + pto;
  }

  // ---- receiving ----

  /** Adds a packet number to the received ranges; false if it was seen already. */
  #record(pn: number): boolean {
    const r = this.#received;
    let i = 0;
    while (i < r.length && r[i][0] > pn) i++;
    if (i < r.length && r[i][1] >= pn) return false;
    if (i < r.length && r[i][1] === pn - 1) {
      r[i][1] = pn;
      if (i > 0 && r[i - 1][0] === pn + 1) {
        r[i - 1][0] = r[i][0];
        r.splice(i, 1);
      }
    } else if (i > 0 && r[i - 1][0] === pn + 1) {
      r[i - 1][0] = pn;
    } else {
      r.splice(i, 0, [pn, pn]);
    }
    if (r.length > CHANNEL_ACK_RANGES_MAX * 2) {
      r.length = CHANNEL_ACK_RANGES_MAX;
    }
    return true;
  }

  #frame(f: Frame, now: number): void {
    switch (f.type) {
      case FRAME.ack:
        return this.#onAck(f.ranges, f.delayMs, now);
      case FRAME.open:
        return this.#onOpen(f.channel, f.kind, f.target, f.window);
      case FRAME.accept: {
        const ch = this.#channels.get(f.channel);
        if (ch === undefined) return this.#unknown(f.channel);
        if (!ch.opening) return;
        ch.opening = false;
        ch.send.onAck(0, f.window);
        this.#events.accepted?.(f.channel);
        return;
      }
      case FRAME.data:
        return this.#onData(f.channel, f.offset, f.bytes, f.fin);
      case FRAME.chanAck: {
        const ch = this.#channels.get(f.channel);
        if (ch === undefined) return;
        const before = ch.send.buffered;
        ch.send.onAck(f.offset, f.offset + f.window);
        if (ch.full && ch.send.buffered < before) {
          ch.full = false;
          this.#events.writable?.(f.channel);
        }
        this.#maybeClosed(f.channel);
        return;
      }
      case FRAME.reset: {
        const ch = this.#channels.get(f.channel);
        if (ch === undefined) return;
        this.#channels.delete(f.channel);
        if (f.code === RESET_CODE.unknown && ch.send.finWritten) {
          // The peer already forgot it: it had everything we sent.
          if (!ch.recv.finDelivered) this.#events.fin?.(f.channel);
          this.#events.closed?.(f.channel);
          return;
        }
        this.#events.reset?.(f.channel, f.code, f.reason);
        return;
      }
      case FRAME.listen: {
        if (!this.#server) return;
        const answer = this.#listens.get(f.listen);
        if (answer === undefined && this.#listens.size >= LISTENS_MAX) {
          this.#control.push({
            type: FRAME.listenResult,
            listen: f.listen,
            code: RESET_CODE.rejected,
            port: 0,
            message: `at most ${LISTENS_MAX} remote forwards`,
          });
        } else if (answer === undefined) {
          this.#listens.set(f.listen, null);
          this.#events.listen?.(f.listen, f.bind, f.port);
        } else if (answer !== null) this.#control.push(answer);
        return;
      }
      case FRAME.listenResult:
        if (this.#server || !this.#listening.delete(f.listen)) return;
        this.#events.listenResult?.(f.listen, f.code, f.port, f.message);
        return;
    }
  }

  #onOpen(id: number, kind: number, target: string, window: number): void {
    const peerParity = this.#server ? 0 : 1;
    if (id % 2 !== peerParity) return;
    const known = this.#channels.get(id);
    if (known !== undefined) {
      if (!known.pending) {
        this.#control.push({
          type: FRAME.accept,
          channel: id,
          window: known.recv.limit,
        });
      }
      return;
    }
    if (id <= this.#peerMax) return this.#unknown(id);
    this.#peerMax = id;
    const validKind = this.#server
      ? kind === CHANNEL_KIND.tcp || kind === CHANNEL_KIND.unix
      : kind === CHANNEL_KIND.forwarded || kind === CHANNEL_KIND.agent;
    if (!validKind || this.#channels.size >= CHANNELS_MAX) {
      this.#control.push({
        type: FRAME.reset,
        channel: id,
        code: RESET_CODE.rejected,
        reason: validKind
          ? "too many channels"
          : `unknown channel kind ${kind}`,
      });
      return;
    }
    const ch = this.#newChannel(id, kind, target);
    ch.pending = true;
    ch.send.onAck(0, window);
    this.#events.open?.(id, kind, target);
  }

  #onData(id: number, offset: number, bytes: Uint8Array, fin: boolean): void {
    const ch = this.#channels.get(id);
    if (ch === undefined || ch.pending) {
      if (ch === undefined) this.#unknown(id);
      return;
    }
    const out = ch.recv.add(offset, bytes, fin);
    if (out === null) return; // beyond the window: a broken peer
    for (const chunk of out) {
      if (chunk.length > 0) this.#events.data?.(id, chunk);
    }
    if (ch.recv.takeFin()) {
      this.#wantAck(0);
      this.#events.fin?.(id);
      this.#maybeClosed(id);
    }
  }

  /** A frame named a channel we do not have: tell the peer once per frame. */
  #unknown(id: number): void {
    const ours = id % 2 === (this.#server ? 1 : 0);
    if (ours ? id >= this.#nextChannel : id > this.#peerMax) return;
    if (this.#control.some((f) => f.type === FRAME.reset && f.channel === id)) {
      return;
    }
    this.#control.push({
      type: FRAME.reset,
      channel: id,
      code: RESET_CODE.unknown,
      reason: "unknown channel",
    });
  }

  #onAck(ranges: [number, number][], delayMs: number, now: number): void {
    const top = Math.min(ranges[0][1], this.#nextPacket - 1);
    if (top < 0) return;
    const previous = this.#largestAcked;
    const newly: [number, SentPacket][] = [];
    for (const [lo, hi] of ranges) {
      for (let pn = Math.min(hi, top); pn >= Math.max(lo, previous + 1); pn--) {
        const p = this.#sent.get(pn);
        if (p !== undefined) newly.push([pn, p]);
      }
    }
    for (const [pn, p] of this.#sent) {
      if (pn > previous) break;
      if (ranges.some(([lo, hi]) => pn >= lo && pn <= hi)) newly.push([pn, p]);
    }
    if (top > this.#largestAcked) {
      this.#largestAcked = top;
      const p = this.#sent.get(top);
      if (p !== undefined) {
        const raw = now - p.sentAt;
        const sample = Math.max(1, raw - Math.min(delayMs, raw / 2));
        this.#rtt.addSample(sample);
        this.#cc.onRtt(sample, now);
      }
    }
    const late = this.#sizer.lostProbe;
    if (late >= 0 && ranges.some(([lo, hi]) => late >= lo && late <= hi)) {
      this.#sizer.onLateAck();
    }
    if (newly.length === 0) return;
    this.#ptoCount = 0;
    for (const [pn, p] of newly) {
      this.#sent.delete(pn);
      this.#sizer.onAcked(pn, p.bytes);
      this.#cc.onAcked(p.bytes, { sentAt: p.sentAt, now });
      for (const c of p.carried) {
        if (c.t !== "data") continue;
        const ch = this.#channels.get(c.channel);
        if (ch === undefined) continue;
        ch.inflight--;
        if (c.fin) ch.send.finAcked = true;
        this.#maybeClosed(c.channel);
      }
    }
    this.#detectLoss(now);
  }

  #detectLoss(now: number): void {
    this.#lossAt = Infinity;
    const rtt = Math.max(this.#rtt.srtt, 1);
    const delay = Math.max(1, rtt * 9 / 8);
    for (const [pn, p] of this.#sent) {
      if (pn >= this.#largestAcked) break;
      if (
        this.#largestAcked - pn >= CHANNEL_LOSS_PACKETS ||
        p.sentAt <= now - delay
      ) {
        this.#sent.delete(pn);
        this.stats.lost++;
        // A lost probe says the size is too large, not that the path is congested.
        if (this.#sizer.isProbe(pn)) this.#cc.onDiscarded(p.bytes);
        else this.#cc.onLost(p.bytes, { sentAt: p.sentAt, now });
        this.#sizer.onLost(pn, p.bytes, now);
        this.#requeue(p.carried);
      } else {
        this.#lossAt = Math.min(this.#lossAt, p.sentAt + delay);
      }
    }
  }

  /** What a lost packet carried goes out again where it still matters. */
  #requeue(carried: Carried[]): void {
    for (const c of carried) {
      if (c.t === "data") {
        const ch = this.#channels.get(c.channel);
        if (ch === undefined) continue;
        ch.inflight--;
        if (c.len > 0) {
          ch.send.lost(c.offset, c.offset + c.len);
          this.stats.resentBytes += c.len;
        }
        if (c.fin && !ch.send.finAcked) ch.send.finPending = true;
      } else if (c.t === "chanAck") {
        const ch = this.#channels.get(c.channel);
        if (ch !== undefined) ch.advOffset = -1;
      } else {
        const f = c.frame;
        if (f.type === FRAME.open && !this.#channels.get(f.channel)?.opening) {
          continue;
        }
        if (f.type === FRAME.accept && !this.#channels.has(f.channel)) continue;
        if (f.type === FRAME.listen && !this.#listening.has(f.listen)) continue;
        this.#control.push(f);
      }
    }
  }

  #newChannel(id: number, kind: number, target: string): Channel {
    const window = this.#grant(null);
    const ch: Channel = {
      id,
      kind,
      priority: kind === CHANNEL_KIND.agent ? 0 : 1,
      opening: false,
      pending: false,
      target,
      send: new SendStream(),
      recv: new ReceiveStream(window),
      advOffset: 0,
      advLimit: window,
      full: false,
      inflight: 0,
    };
    this.#channels.set(id, ch);
    return ch;
  }

  /**
   * The receive window `ch` may advertise now: all channels together promise
   * at most CHANNELS_RECEIVE_BUDGET beyond what was consumed (plus
   * CHANNEL_WINDOW_MIN each), so memory stays bounded however many are open.
   */
  #grant(ch: Channel | null): number {
    let others = 0;
    for (const o of this.#channels.values()) {
      if (o !== ch) others += Math.max(0, o.advLimit - o.recv.consumed);
    }
    const window = Math.min(
      this.#window,
      Math.max(
        Math.min(CHANNEL_WINDOW_MIN, this.#window),
        CHANNELS_RECEIVE_BUDGET - others,
      ),
    );
    if (ch !== null) ch.recv.window = window;
    return window;
  }

  /** Marks a channel full when its buffer passed `max` (the caller then waits for `writable`). */
  markFull(channel: number): void {
    const ch = this.#channels.get(channel);
    if (ch !== undefined) ch.full = true;
  }

  /** Removes a channel whose two streams are done. */
  #maybeClosed(id: number): void {
    const ch = this.#channels.get(id);
    if (ch === undefined) return;
    // Every data frame acknowledged by packet and nothing left to resend:
    // the peer holds the whole stream.
    const s = ch.send;
    const sent = s.finWritten && s.finAcked && ch.inflight === 0 &&
      s.retx.length === 0 && s.next === s.end && !s.finPending;
    if (sent && ch.recv.finDelivered) {
      this.#channels.delete(id);
      this.#events.closed?.(id);
    }
  }
}
