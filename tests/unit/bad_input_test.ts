/**
 * Hostile datagrams against whole tmosh endpoints (docs/wire.md §12): a server-side
 * Transport<CompleteTerminal, UserStream> and a client-side
 * Transport<UserStream, CompleteTerminal> over real UDP sockets on
 * 127.0.0.1, the client talking through a capturing tap. Garbage, truncated,
 * wrong-key, wrong-direction, replayed, bit-flipped, bad-fragment, bad-zlib
 * and bad-protobuf datagrams are each dropped: no exception escapes, the
 * receiving side's state is unchanged, nothing is delivered, the drop
 * counters move exactly as expected, and the session still works afterwards.
 *
 * Forged payloads carry a real injection (keystrokes or host bytes
 * "INJECTED" under the fragment id the target is assembling), so any input
 * that slipped through would show. Authentic crafted datagrams use sequence
 * numbers from 2^40 up, which the real peers (counting from 0) never use.
 * @module
 */

import assert from "node:assert/strict";
import { CompleteTerminal } from "../../protocol/statesync/complete_terminal.ts";
import { Connection } from "../../protocol/network/connection.ts";
import { NONCE_BYTES } from "../../protocol/crypto/constants.ts";
import {
  DEFAULT_IPV4_MTU,
  PROTOCOL_VERSION,
  SEND_MINDELAY_CLIENT,
  SEND_MINDELAY_SERVER,
  TIMESTAMP_NONE,
  TO_CLIENT,
  TO_SERVER,
  WIRE_NONCE_BYTES,
} from "../../protocol/network/constants.ts";
import { DatagramCodec } from "../../protocol/network/datagram.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import { EmulatorApplier } from "../../protocol/statesync/emulator_applier.ts";
import {
  compress,
  decodeFragment,
  encodeFragment,
  fragmentPayloadSize,
} from "../../protocol/network/fragment.ts";
import {
  blankFramebuffer,
  type Framebuffer,
  framebuffersEqual,
  rowCells,
} from "../../protocol/terminal/framebuffer.ts";
import { generateKey } from "../../protocol/crypto/key.ts";
import {
  encodeHostMessage,
  encodeInstruction,
  encodeUserMessage,
  type Instruction,
  type UserEvent,
} from "../../protocol/protobufs/messages.ts";
import { Ocb } from "../../protocol/crypto/ocb.ts";
import { Transport } from "../../protocol/network/transport.ts";
import {
  takeNewEvents,
  UserStream,
} from "../../protocol/statesync/user_stream.ts";
import { randomTestPort } from "../../harness/ports.ts";

/** Longest wait for datagrams to be processed or a round trip, ms. */
const WAIT_MS = 3000;
/** First sequence number of crafted authentic datagrams (real peers count from 0). */
const CRAFTED_SEQ = 1n << 40n;
/** Text that reaches the application or the screen only if a forgery got through. */
const INJECTED = "INJECTED";
/** A datagram every endpoint drops (shorter than nonce + tag): marks "all before me processed". */
const SENTINEL = Uint8Array.of(0);
/** An Instruction that is not protobuf (field 0, wire type 7). */
const BAD_PROTOBUF = Uint8Array.of(0x07, 0x01, 0x02);
/** A User/HostMessage that is not protobuf (a 5-byte field holding 1 byte). */
const BAD_DIFF = Uint8Array.of(0x0a, 0x05, 0x01);

const encoder = new TextEncoder();
type AnyTransport =
  | Transport<CompleteTerminal, UserStream>
  | Transport<UserStream, CompleteTerminal>;

/** Returns `n` random bytes. */
function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  }
  return out;
}

/** A copy of `bytes` with bit `bit` of byte `index` (negative: from the end) flipped. */
function flip(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = bytes.slice();
  out[(index + out.length) % out.length] ^= 1 << bit;
  return out;
}

/** Plaintext of a datagram without timestamps: 0xFFFF, 0xFFFF, then `payload`. */
function plain(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length).fill(0xff, 0, 4);
  out.set(payload, 4);
  return out;
}

/** Waits until `pred` holds; fails with `what` after WAIT_MS. */
async function waitFor(pred: () => boolean, what: () => string) {
  const end = performance.now() + WAIT_MS;
  while (!pred()) {
    if (performance.now() > end) assert.fail(`timed out: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Every screen row's text, blank cells as spaces. */
function screenText(fb: Framebuffer): string {
  return fb.rows.map((row) =>
    rowCells(row).map((c) => c.width === 0 ? "" : c.text || " ").join("")
  ).join("\n");
}

/** A forwarding relay between client and server that records what it forwards and can hold traffic back. */
class Tap {
  readonly front = udp();
  readonly back = udp();
  /** Datagrams forwarded client → server, in order. */
  readonly up: Uint8Array[] = [];
  /** Datagrams forwarded server → client, in order. */
  readonly down: Uint8Array[] = [];
  client: Deno.NetAddr | null = null;
  readonly #server: Deno.NetAddr;
  readonly #loops: Promise<void>[];
  #held = false;
  #queue: [boolean, Uint8Array][] = [];

  constructor(serverPort: number) {
    this.#server = {
      transport: "udp",
      hostname: "127.0.0.1",
      port: serverPort,
    };
    this.#loops = [this.#pump(this.front, true), this.#pump(this.back, false)];
  }

  get port(): number {
    return (this.front.addr as Deno.NetAddr).port;
  }

  get server(): Deno.NetAddr {
    return this.#server;
  }

  /** Stops forwarding; later datagrams queue up. */
  hold(): void {
    this.#held = true;
  }

  /** Forwards the queue and resumes forwarding. */
  async release(): Promise<void> {
    this.#held = false;
    for (const [up, bytes] of this.#queue.splice(0)) {
      await this.#forward(up, bytes);
    }
  }

  async close(): Promise<void> {
    this.front.close();
    this.back.close();
    await Promise.all(this.#loops);
  }

  async #pump(conn: Deno.DatagramConn, up: boolean): Promise<void> {
    for (;;) {
      let bytes: Uint8Array, from: Deno.Addr;
      try {
        [bytes, from] = await conn.receive();
      } catch {
        return; // closed
      }
      if (up) this.client = from as Deno.NetAddr;
      if (this.#held) this.#queue.push([up, bytes]);
      else await this.#forward(up, bytes);
    }
  }

  async #forward(up: boolean, bytes: Uint8Array): Promise<void> {
    const to = up ? this.#server : this.client;
    if (to === null) return;
    (up ? this.up : this.down).push(bytes);
    try {
      await (up ? this.back : this.front).send(bytes, to);
    } catch {
      // closed while sending
    }
  }
}

/** A UDP socket on 127.0.0.1 with an OS-chosen port. */
function udp(): Deno.DatagramConn {
  return Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
}

/** What must not change when a hostile datagram is dropped. */
function stateOf(t: AnyTransport) {
  const remote = t.connection.remoteAddr;
  return {
    latestNum: t.receiver.latestNum,
    heldNums: t.receiver.heldNums(),
    ackNum: t.receiver.ackNum,
    ackedNum: t.sender.ackedNum,
    remote: remote === null ? null : { ...remote },
  };
}

/** A tmosh server endpoint and a tmosh client endpoint in session through a tap, plus an attacker socket. */
class Rig {
  readonly key: Uint8Array;
  readonly errors: unknown[] = [];
  readonly attacker = udp();
  attackerHeard = 0;
  readonly server: Transport<CompleteTerminal, UserStream>;
  readonly client: Transport<UserStream, CompleteTerminal>;
  readonly tap: Tap;
  /** User events the server application received, in order. */
  readonly events: UserEvent[] = [];
  /** Times the client was told of a newer screen state. */
  clientUpdates = 0;
  typed = "";
  readonly #em = new Emulator(80, 24);
  readonly #applier = new EmulatorApplier();
  #user = new UserStream();
  #seq = CRAFTED_SEQ;
  readonly #attackerLoop: Promise<void>;
  readonly #onError = (e: ErrorEvent) => {
    e.preventDefault();
    this.errors.push(e.error ?? e.message);
  };
  readonly #onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    this.errors.push(e.reason);
  };

  private constructor(key: Uint8Array, serverConnection: Connection) {
    this.key = key;
    globalThis.addEventListener("error", this.#onError);
    globalThis.addEventListener("unhandledrejection", this.#onRejection);
    this.#em.onReply(() => {});
    this.server = new Transport(serverConnection, {
      initialLocal: new CompleteTerminal(blankFramebuffer(80, 24)),
      initialRemote: new UserStream(),
      sendMinDelay: SEND_MINDELAY_SERVER,
    });
    this.server.onRemoteState(() => this.#serverInput());
    this.tap = new Tap(serverConnection.port);
    this.client = new Transport(
      Connection.connect(this.key, { ip: "127.0.0.1", port: this.tap.port }),
      {
        initialLocal: new UserStream(),
        initialRemote: new CompleteTerminal(blankFramebuffer(80, 24), 0n, {
          applier: this.#applier,
        }),
        sendMinDelay: SEND_MINDELAY_CLIENT,
      },
    );
    this.client.onRemoteState(() => this.clientUpdates++);
    this.#attackerLoop = (async () => {
      try {
        for (;;) {
          await this.attacker.receive();
          this.attackerHeard++;
        }
      } catch {
        // closed
      }
    })();
  }

  /** Starts both endpoints and establishes a session (resize + keys up, screen down). */
  static async start(): Promise<Rig> {
    const key = generateKey();
    const low = randomTestPort(16);
    const connection = await Connection.listen(key, {
      ip: "127.0.0.1",
      portRange: [low, low + 15],
    });
    const rig = new Rig(key, connection);
    rig.#user = rig.#user.pushResize(80, 24);
    await rig.roundTrip("hello");
    assert.deepEqual(rig.events[0], { type: "resize", width: 80, height: 24 });
    assert.deepEqual({ ...rig.tap.client }, rig.addressOf(rig.client));
    assert.deepEqual(rig.server.connection.remoteAddr, {
      hostname: "127.0.0.1",
      port: (rig.tap.back.addr as Deno.NetAddr).port,
    });
    return rig;
  }

  /** The client's screen. */
  get clientScreen(): Framebuffer {
    return this.client.receiver.latest.fb;
  }

  /** Every keystroke the server application received, as text. */
  serverKeys(): string {
    return this.events.map((e) =>
      e.type === "keys" ? new TextDecoder().decode(e.keys) : ""
    ).join("");
  }

  /** Types `text` on the client. */
  type(text: string): void {
    this.typed += text;
    this.#user = this.#user.pushKeys(encoder.encode(text));
    this.client.setCurrentState(this.#user);
  }

  /** Resumes traffic, types `tag`, and waits until the server got it and the client shows the server's screen with it. */
  async roundTrip(tag: string): Promise<void> {
    await this.tap.release();
    this.type(`${tag}\r`);
    await waitFor(
      () =>
        this.serverKeys().endsWith(`${tag}\r`) &&
        screenText(this.clientScreen).includes(tag) &&
        framebuffersEqual(
          this.clientScreen,
          this.server.sender.currentState.fb,
        ),
      () =>
        `"${tag}" to reach the server and its echo the client; server got ${
          JSON.stringify(this.serverKeys())
        }, client shows:\n${screenText(this.clientScreen).trimEnd()}`,
    );
  }

  /** Holds the tap and waits until both endpoints processed everything already forwarded. */
  async quiesce(): Promise<void> {
    this.tap.hold();
    await this.deliver(this.server, this.tap.back, []);
    await this.deliver(this.client, this.tap.front, []);
  }

  /** Where datagrams for `t` go. */
  addressOf(t: AnyTransport): Deno.NetAddr {
    return t === this.server
      ? this.tap.server
      : { transport: "udp", hostname: "127.0.0.1", port: t.connection.port };
  }

  /**
   * Sends `datagrams` to `t` from `from`, then a sentinel, and waits until
   * `dropped` of them and the sentinel were dropped; returns the counter
   * increases (without the sentinel).
   */
  async deliver(
    t: AnyTransport,
    from: Deno.DatagramConn,
    datagrams: Uint8Array[],
    dropped = 0,
  ): Promise<{ dropped: number; instructions: number }> {
    const to = this.addressOf(t);
    const drops = t.connection.droppedCount;
    const instructions = t.instructionsDropped;
    for (const d of datagrams) await from.send(d, to);
    await from.send(SENTINEL, to);
    // Datagrams from one socket to another arrive in order on loopback.
    await waitFor(
      () => t.connection.droppedCount - drops >= dropped + 1,
      () =>
        `${dropped} hostile datagrams and the sentinel to be dropped; ${
          t.connection.droppedCount - drops
        } were`,
    );
    // Let anything dropped beyond the expected show up in the counts.
    await new Promise((resolve) => setTimeout(resolve, 10));
    return {
      dropped: t.connection.droppedCount - drops - 1,
      instructions: t.instructionsDropped - instructions,
    };
  }

  /** Seals `plaintext` as an authentic-looking datagram under a fresh crafted sequence number. */
  craft(direction: 0 | 1, plaintext: Uint8Array, key = this.key): Uint8Array {
    const nonce = new Uint8Array(NONCE_BYTES);
    const seq = this.#seq++;
    new DataView(nonce.buffer).setBigUint64(
      NONCE_BYTES - WIRE_NONCE_BYTES,
      (BigInt(direction) << 63n) | seq,
    );
    const sealed = new Ocb(key).seal(nonce, plaintext, {
      headroom: WIRE_NONCE_BYTES,
    });
    sealed.set(nonce.subarray(NONCE_BYTES - WIRE_NONCE_BYTES), 0);
    return sealed;
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.server.close();
    await this.tap.close();
    this.attacker.close();
    await this.#attackerLoop;
    this.#em.dispose();
    this.#applier.dispose();
    globalThis.removeEventListener("error", this.#onError);
    globalThis.removeEventListener("unhandledrejection", this.#onRejection);
  }

  #serverInput(): void {
    const fresh = takeNewEvents(this.server.receiver);
    for (const ev of fresh) {
      this.events.push(ev);
      if (ev.type === "resize") this.#em.resize(ev.width, ev.height);
      else if (ev.type === "keys") {
        this.#em.writeSync(
          new TextDecoder().decode(ev.keys).replaceAll("\r", "\r\n"),
        );
      }
    }
    if (fresh.length > 0) {
      this.server.setCurrentState(new CompleteTerminal(this.#em.snapshot()));
    }
  }
}

/** The endpoint under attack and how to forge input for it. */
interface Target {
  rig: Rig;
  t: AnyTransport;
  /** Direction bit of the datagrams it accepts. */
  toward: 0 | 1;
  /** Where authentic crafted datagrams come from: the client's address for the server (no roaming), else the attacker. */
  authFrom: Deno.DatagramConn;
  /** Real datagrams forwarded to it so far. */
  captured: Uint8Array[];
  /** A diff that would put INJECTED into the application or onto the screen. */
  injectedDiff: Uint8Array;
  /** How many times the application was handed something. */
  delivered(): number;
}

/** The forged datagrams of one category and what the target must do with them. */
interface Attack {
  /** Sent from the peer's own address (authentic, in-order input that would otherwise move the server's remote), not the attacker's. */
  asPeer: boolean;
  datagrams: Uint8Array[];
  /** How many Connection drops (unauthentic or malformed datagrams). */
  dropped: number;
  /** How many Transport drops (authentic but unusable instructions). */
  instructions: number;
}

/** Helpers for building one category's forgeries against `target`. */
class Forge {
  readonly id: bigint;
  constructor(readonly target: Target) {
    // The fragment id the target is assembling: forgeries under it are not stale.
    const codec = new DatagramCodec(target.rig.key, {
      direction: target.toward === TO_SERVER ? TO_CLIENT : TO_SERVER,
    });
    const newest = codec.open(target.captured.at(-1)!);
    assert.ok(newest !== null, "the newest captured datagram opens");
    this.id = decodeFragment(newest.payload)!.id;
  }

  /** An instruction that would be applied on top of the target's newest state. */
  injection(changes: Partial<Instruction> = {}): Instruction {
    const r = this.target.t.receiver;
    return {
      protocolVersion: PROTOCOL_VERSION,
      oldNum: r.latestNum,
      newNum: r.latestNum + 1000n,
      ackNum: this.target.t.sender.ackedNum,
      throwawayNum: r.latestNum,
      diff: this.target.injectedDiff,
      chaff: new Uint8Array(0),
      ...changes,
    };
  }

  /** One fragment under the current id. */
  fragment(contents: Uint8Array, num = 0, final = true): Uint8Array {
    return encodeFragment({ id: this.id, num, final, contents });
  }

  /** An authentic datagram carrying `payload` (a fragment) to the target. */
  seal(payload: Uint8Array): Uint8Array {
    return this.target.rig.craft(this.target.toward, plain(payload));
  }

  /** An authentic datagram carrying a whole compressed instruction. */
  sealInstruction(changes: Partial<Instruction> = {}): Uint8Array {
    return this.seal(
      this.fragment(compress(encodeInstruction(this.injection(changes)))),
    );
  }
}

/** One test per category of hostile input. */
const ATTACKS: [string, (f: Forge) => Attack][] = [
  ["garbage", () => ({
    asPeer: false,
    datagrams: [
      random(24),
      random(100),
      random(1500),
      new Uint8Array(64),
      new Uint8Array(2048).fill(0xff),
      random(3000), // over RECEIVE_MTU
    ],
    dropped: 6,
    instructions: 0,
  })],
  ["truncated (under 24 bytes, and cut authentic datagrams)", (f) => {
    const real = f.sealInstruction();
    const rig = f.target.rig;
    return {
      asPeer: false,
      datagrams: [
        new Uint8Array(0),
        random(1),
        random(23),
        real.subarray(0, 23),
        real.subarray(0, 24),
        real.subarray(0, real.length - 1),
        rig.craft(f.target.toward, new Uint8Array(0)), // no timestamps
        rig.craft(f.target.toward, random(3)), // 3 of 4 timestamp bytes
      ],
      dropped: 8,
      instructions: 0,
    };
  }],
  ["wrong key", (f) => {
    const stranger = generateKey();
    const plaintext = plain(
      f.fragment(compress(encodeInstruction(f.injection()))),
    );
    const fresh = new DatagramCodec(stranger, {
      direction: f.target.toward,
    }).seal({
      timestamp: 1,
      timestampReply: TIMESTAMP_NONE,
      payload: plaintext.subarray(4),
    });
    return {
      asPeer: false,
      datagrams: [
        f.target.rig.craft(f.target.toward, plaintext, stranger),
        fresh,
      ],
      dropped: 2,
      instructions: 0,
    };
  }],
  ["wrong direction (reflected)", (f) => ({
    asPeer: false,
    datagrams: [
      f.target.rig.craft(
        f.target.toward === TO_SERVER ? TO_CLIENT : TO_SERVER,
        plain(f.fragment(compress(encodeInstruction(f.injection())))),
      ),
    ],
    dropped: 1,
    instructions: 0,
  })],
  ["replayed from another address", (f) => ({
    asPeer: false,
    // Every real datagram so far, then the newest again: older fragment ids
    // are stale; the newest is reassembled and dropped as a duplicate state.
    datagrams: [...f.target.captured, f.target.captured.at(-1)!],
    dropped: 0,
    instructions: 2,
  })],
  ["bit-flipped (nonce, ciphertext, tag)", (f) => {
    const real = f.sealInstruction();
    return {
      asPeer: false,
      datagrams: [
        flip(real, 0, 7), // direction bit
        flip(real, 3), // sequence number
        flip(real, 7),
        flip(real, 8), // ciphertext: timestamp
        flip(real, 20), // ciphertext: fragment
        flip(real, -17), // last ciphertext byte
        flip(real, -16), // tag
        flip(real, -1, 7),
      ],
      dropped: 8,
      instructions: 0,
    };
  }],
  ["oversized and inconsistent fragment numbers", (f) => {
    const whole = compress(encodeInstruction(f.injection()));
    return {
      asPeer: true,
      datagrams: [
        f.seal(random(5)), // shorter than the 10-byte fragment header
        f.seal(f.fragment(whole, 32767, false)),
        f.seal(f.fragment(whole, 5, true)), // final below one seen: id dropped
        f.seal(f.fragment(whole, 0, true)), // complete, but the id is dead
      ],
      dropped: 0,
      instructions: 0,
    };
  }],
  ["bad zlib (not zlib, truncated, bomb)", (f) => {
    const whole = compress(encodeInstruction(f.injection()));
    const bomb = compress(new Uint8Array(5 * 1024 * 1024));
    const size = fragmentPayloadSize(DEFAULT_IPV4_MTU);
    const count = Math.ceil(bomb.length / size);
    assert.ok(count >= 2);
    const bombParts = Array.from({ length: count }, (_, n) =>
      f.seal(
        f.fragment(
          bomb.subarray(n * size, (n + 1) * size),
          n,
          n === count - 1,
        ),
      ));
    return {
      asPeer: true,
      datagrams: [
        f.seal(f.fragment(encoder.encode("this is not zlib"))),
        f.seal(f.fragment(whole.subarray(0, whole.length - 4))),
        ...bombParts,
      ],
      dropped: 0,
      instructions: 0,
    };
  }],
  ["bad protobuf (Instruction, diff, protocol version)", (f) => ({
    asPeer: true,
    datagrams: [
      f.seal(f.fragment(compress(BAD_PROTOBUF))),
      f.sealInstruction({
        diff: BAD_DIFF,
        throwawayNum: f.target.t.receiver.latestNum + 500n,
      }),
      f.sealInstruction({ protocolVersion: PROTOCOL_VERSION + 1 }),
    ],
    dropped: 0,
    instructions: 3,
  })],
];

/** Runs every attack against one endpoint, each as a step, then checks the whole session. */
async function attackEach(
  t: Deno.TestContext,
  rig: Rig,
  target: Target,
): Promise<void> {
  const side = target.t === rig.server ? "server" : "client";
  for (const [i, [name, build]] of ATTACKS.entries()) {
    await t.step({
      name,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        await rig.quiesce();
        const before = stateOf(target.t);
        const latest = target.t.receiver.latest;
        const delivered = target.delivered();
        const attack = build(new Forge(target));
        const from = attack.asPeer ? target.authFrom : rig.attacker;
        const counts = await rig.deliver(
          target.t,
          from,
          attack.datagrams,
          attack.dropped,
        );
        assert.deepEqual(rig.errors, [], "an exception escaped");
        assert.deepEqual(counts, {
          dropped: attack.dropped,
          instructions: attack.instructions,
        });
        assert.deepEqual(stateOf(target.t), before, "the state changed");
        assert.ok(target.t.receiver.latest === latest, "a new state appeared");
        assert.equal(target.delivered(), delivered, "something was delivered");
        assert.equal(rig.attackerHeard, 0, `the ${side} answered the attacker`);
        await rig.roundTrip(`ok-${side}-${i}`);
      },
    });
  }
  assert.equal(rig.serverKeys(), rig.typed, "keystrokes arrived exactly once");
  assert.ok(!screenText(rig.clientScreen).includes(INJECTED));
  assert.ok(!screenText(rig.server.sender.currentState.fb).includes(INJECTED));
  assert.deepEqual(rig.errors, []);

  // Control: the same forgery, intact, IS applied; so every attack above
  // carried a live injection and was dropped for the reason it tests.
  await t.step({
    name: "control: an intact forgery is applied",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await rig.quiesce();
      const delivered = target.delivered();
      const forgery = new Forge(target).sealInstruction();
      const counts = await rig.deliver(target.t, target.authFrom, [forgery]);
      assert.deepEqual(counts, { dropped: 0, instructions: 0 });
      assert.equal(target.delivered(), delivered + 1);
      const shown = target.t === rig.server
        ? rig.serverKeys()
        : screenText(rig.clientScreen);
      assert.ok(shown.includes(INJECTED), `${INJECTED} was not applied`);
    },
  });
}

Deno.test("bad input: a tmosh server endpoint drops hostile datagrams and keeps serving", async (t) => {
  const rig = await Rig.start();
  try {
    await attackEach(t, rig, {
      rig,
      t: rig.server,
      toward: TO_SERVER,
      authFrom: rig.tap.back, // the client's address as the server knows it
      captured: rig.tap.up,
      injectedDiff: encodeUserMessage([{
        type: "keys",
        keys: encoder.encode(INJECTED),
      }]),
      delivered: () => rig.events.length,
    });
  } finally {
    await rig.close();
  }
});

Deno.test("bad input: a tmosh client endpoint drops hostile datagrams and keeps working", async (t) => {
  const rig = await Rig.start();
  try {
    await attackEach(t, rig, {
      rig,
      t: rig.client,
      toward: TO_CLIENT,
      authFrom: rig.attacker, // a client never roams: any source will do
      captured: rig.tap.down,
      injectedDiff: encodeHostMessage([{
        type: "bytes",
        bytes: encoder.encode(INJECTED),
      }]),
      delivered: () => rig.clientUpdates,
    });
  } finally {
    await rig.close();
  }
});
