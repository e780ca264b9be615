/**
 * Deterministic SSP simulation: two endpoints (each a TransportSender and a
 * TransportReceiver of UserStream) joined by a lossy, reordering, duplicating
 * link with 100 ms delay, on a virtual clock with a seeded PRNG.
 */
import assert from "node:assert/strict";
import { TransportSender } from "../../protocol/network/transport_sender.ts";
import {
  deliverInstruction,
  type DropReason,
  TransportReceiver,
} from "../../protocol/network/transport_receiver.ts";
import {
  takeNewEvents,
  UserStream,
} from "../../protocol/statesync/user_stream.ts";
import {
  decodeInstruction,
  encodeInstruction,
  type Instruction,
} from "../../protocol/protobufs/messages.ts";
import {
  SEND_MINDELAY_CLIENT,
  SEND_MINDELAY_SERVER,
  SHUTDOWN_NUM,
} from "../../protocol/network/constants.ts";
import { mulberry32 } from "../../harness/prng.ts";

/** One event as a comparable token: a key byte or "WxH". */
type Token = number | string;

interface Endpoint {
  sender: TransportSender<UserStream>;
  receiver: TransportReceiver<UserStream>;
  /** Everything this side pushed into its own state. */
  typed: Token[];
  /** Everything read from the peer's state via takeNewEvents. */
  got: Token[];
  /** Whether this endpoint has stopped (stock server exits after acking shutdown). */
  stopped: boolean;
}

interface Packet {
  at: number;
  seq: number;
  to: Endpoint;
  bytes: Uint8Array;
}

interface SimOptions {
  seed: number;
  initiator: "client" | "server";
  /** Stop the non-initiator right after it sent its shutdown ack, like stock mosh-server. */
  stopAfterAck: boolean;
}

const LOSS = 0.3;
const DUPLICATE = 0.1;
const DELAY = 100;
const JITTER = 150;
const INPUT_UNTIL = 20_000;
const LIMIT = 90_000;

function simulate(opts: SimOptions) {
  const rand = mulberry32(opts.seed);
  const fill = (buf: Uint8Array) => {
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rand() * 256);
  };
  const rtt = { srtt: 2 * DELAY, rto: 2 * (2 * DELAY) }; // as estimated from fast packets
  function endpoint(minDelay: number): Endpoint {
    return {
      sender: new TransportSender(new UserStream(), 0, {
        sendMinDelay: minDelay,
        rtt,
        randomFill: fill,
      }),
      receiver: new TransportReceiver(new UserStream(), 0),
      typed: [],
      got: [],
      stopped: false,
    };
  }
  const client = endpoint(SEND_MINDELAY_CLIENT);
  const server = endpoint(SEND_MINDELAY_SERVER);
  client.sender.hasRemote = true; // the server learns the client's address on first contact

  const queue: Packet[] = [];
  const drops = new Map<DropReason | "lost" | "reordered", number>();
  const count = (k: DropReason | "lost" | "reordered") =>
    drops.set(k, (drops.get(k) ?? 0) + 1);
  let seq = 0;
  let sent = 0;

  function transmit(to: Endpoint, i: Instruction, now: number): void {
    sent++;
    assert.ok(i.throwawayNum <= i.oldNum, "throwaway beyond old_num");
    assert.ok(i.newNum > i.oldNum, "new_num not above old_num");
    const bytes = encodeInstruction(i);
    const copies = rand() < DUPLICATE ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      if (rand() < LOSS) {
        count("lost");
        continue;
      }
      queue.push({
        at: now + DELAY + Math.floor(rand() * JITTER),
        seq: seq++,
        to,
        bytes,
      });
    }
    queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  function push(e: Endpoint, s: UserStream, tokens: Token[]): void {
    e.sender.setCurrentState(s);
    e.typed.push(...tokens);
  }

  function input(): void {
    // the client types bytes (all values) and sometimes resizes; the server prints
    if (rand() < 0.05) {
      const w = 1 + Math.floor(rand() * 300), h = 1 + Math.floor(rand() * 100);
      push(client, client.sender.currentState.pushResize(w, h), [`${w}x${h}`]);
    } else {
      const k = new Uint8Array(1 + Math.floor(rand() * 3));
      fill(k);
      push(client, client.sender.currentState.pushKeys(k), [...k]);
    }
    if (rand() < 0.5 && !server.sender.shutdownInProgress) {
      const out = new Uint8Array(1 + Math.floor(rand() * 40));
      fill(out);
      push(server, server.sender.currentState.pushKeys(out), [...out]);
    }
  }

  function read(e: Endpoint): void {
    for (const ev of takeNewEvents(e.receiver)) {
      if (ev.type === "keys") e.got.push(...ev.keys);
      else if (ev.type === "resize") e.got.push(`${ev.width}x${ev.height}`);
    }
  }

  const [initiator, responder] = opts.initiator === "client"
    ? [client, server]
    : [server, client];
  let now = 0;
  let nextInput = 50;
  let shutdownAt = -1;
  while (now < LIMIT) {
    while (queue.length > 0 && queue[0].at <= now) {
      const p = queue.shift()!;
      if (p.to.stopped) continue;
      const instr = decodeInstruction(p.bytes);
      assert.ok(instr);
      if (p.to === server) server.sender.hasRemote = true;
      const before = p.to.receiver.latestNum;
      const res = deliverInstruction(instr, now, p.to);
      if (res.reason) count(res.reason);
      else if (!res.ackNumChanged) count("reordered");
      assert.ok(p.to.receiver.latestNum >= before);
      read(p.to);
    }
    if (now >= nextInput && now < INPUT_UNTIL) {
      input();
      nextInput = now + Math.floor(rand() * 120);
    }
    const synced = client.got.length === server.typed.length &&
      server.got.length === client.typed.length;
    if (now >= INPUT_UNTIL && synced && shutdownAt < 0) {
      shutdownAt = now;
      initiator.sender.startShutdown(now);
    }
    for (const [e, peer] of [[client, server], [server, client]] as const) {
      if (e.stopped) continue;
      const i = e.sender.tick(now);
      if (i) transmit(peer, i, now);
    }
    if (opts.stopAfterAck && responder.sender.counterpartyShutdownAckSent) {
      responder.stopped = true;
    }
    if (shutdownAt >= 0) {
      const s = initiator.sender;
      if (s.shutdownAcknowledged || s.shutdownAckTimedOut(now)) break;
    }
    let next = Math.min(
      nextInput < INPUT_UNTIL ? nextInput : Infinity,
      queue[0]?.at ?? Infinity,
    );
    for (const e of [client, server]) {
      if (!e.stopped) next = Math.min(next, now + e.sender.waitTime(now));
    }
    now = Math.max(now + 1, next);
  }
  return { client, server, initiator, responder, now, shutdownAt, drops, sent };
}

for (const seed of [1, 2, 3]) {
  for (const initiator of ["client", "server"] as const) {
    Deno.test(`sim seed ${seed}, ${initiator} shuts down: every event once, in order`, () => {
      const r = simulate({ seed, initiator, stopAfterAck: false });
      assert.ok(
        r.client.typed.length > 150,
        `client typed ${r.client.typed.length}`,
      );
      assert.ok(r.server.typed.length > 1500);
      assert.deepEqual(r.server.got, r.client.typed);
      assert.deepEqual(r.client.got, r.server.typed);
      // the link really misbehaved
      assert.ok((r.drops.get("lost") ?? 0) > r.sent * 0.2);
      assert.ok((r.drops.get("duplicate") ?? 0) > 0);
      assert.ok((r.drops.get("missing-base") ?? 0) > 0);
      assert.ok((r.drops.get("reordered") ?? 0) > 0);
      // shutdown completed: acknowledged, and the peer saw the shutdown state
      assert.ok(r.shutdownAt > 0);
      assert.ok(
        r.initiator.sender.shutdownAcknowledged,
        "shutdown not acknowledged",
      );
      assert.equal(r.responder.receiver.latestNum, SHUTDOWN_NUM);
      assert.ok(r.responder.sender.counterpartyShutdownAckSent);
      assert.ok(r.now - r.shutdownAt < 10_000);
    });
  }
}

Deno.test("sim: a responder that quits after one ack still ends the initiator within 10 s", () => {
  let acked = 0;
  for (const seed of [11, 12, 13, 14, 15, 16]) {
    const r = simulate({ seed, initiator: "client", stopAfterAck: true });
    assert.deepEqual(r.server.got, r.client.typed);
    assert.ok(r.responder.sender.counterpartyShutdownAckSent);
    assert.ok(r.responder.stopped);
    const s = r.initiator.sender;
    assert.ok(s.shutdownAcknowledged || s.shutdownAckTimedOut(r.now));
    assert.ok(r.now - r.shutdownAt <= 10_000);
    if (s.shutdownAcknowledged) acked++;
  }
  assert.ok(acked > 0);
});
