/**
 * A seeded man-in-the-middle fuzzer for a real tmosh session: a `tmosh serve`
 * process and a `tmosh client` process (keys on a pipe, screen on a pipe)
 * talk through a UDP relay in this process, which
 *
 * - relays the real traffic, reordering and duplicating some of it;
 * - blasts fuzzed datagrams at both processes from the relay's own sockets
 *   (so the server never roams away from the relay): garbage, cut and
 *   bit-flipped copies of real datagrams, replays, and forgeries that carry
 *   a live injection (sealed under a wrong key, with the wrong direction bit,
 *   bit-flipped or truncated after sealing with the real key); and, sealed
 *   with the real session key (the fuzzer started the server and read MOSH
 *   CONNECT), authentic but malformed instructions: bad zlib, zip bombs, bad
 *   protobuf, wrong protocol versions, absurd resizes, huge state numbers,
 *   fragments that never complete, hostile terminal output for the client's
 *   emulator;
 * - meanwhile makes the server's program write hostile terminal output
 *   (harness/hostile_soup.ts) through both emulators, and checks with probes
 *   that typed lines still come back.
 *
 * "Forged accepted" is measured, not assumed: every forgery and every
 * authentic instruction that must be dropped carries a marker (keystrokes
 * `LEAK-S-<category>-<n>` to the server, host bytes `LEAK-C-...` to the
 * client) in an instruction the receiver would apply as its newest state, under
 * a fresh fragment id. The server's program logs every line it reads and the
 * client's whole screen output is scanned, so one accepted forgery shows.
 * Intact authentic injections (`CONTROL-S1`/`CONTROL-C1` before the run,
 * `...2` after it) must show, proving the path is live and the detectors see
 * what gets through.
 *
 * Authentic injections keep the real session alive: the relay re-seals the
 * real traffic with renumbered fragment ids so every injection gets a fresh
 * id of its own (see DirectionView); they use sequence numbers below the real
 * peer's (a higher one would make the real datagrams "out of order"), ack
 * number 0 (acknowledges nothing), and new state numbers below the
 * receiver's oldest held state, so an accepted malformed state is never the
 * newest and is thrown away by the peer's next instruction; at most a few per
 * real instruction, so the receiver never reaches its 1024-state quench.
 * @module
 */

import { Emulator } from "../protocol/terminal/emulator.ts";
import { NONCE_BYTES } from "../protocol/crypto/constants.ts";
import { decodeKey, generateKey } from "../protocol/crypto/key.ts";
import { Ocb } from "../protocol/crypto/ocb.ts";
import {
  DEFAULT_IPV4_MTU,
  PROTOCOL_VERSION,
  SHUTDOWN_NUM,
  TO_CLIENT,
  TO_SERVER,
  WIRE_NONCE_BYTES,
} from "../protocol/network/constants.ts";
import { DatagramCodec } from "../protocol/network/datagram.ts";
import {
  compress,
  decodeFragment,
  encodeFragment,
  FragmentAssembly,
  fragmentPayloadSize,
} from "../protocol/network/fragment.ts";
import {
  decodeInstruction,
  encodeHostMessage,
  encodeInstruction,
  encodeUserMessage,
  type HostEvent,
  type Instruction,
  U64_MAX,
  type UserEvent,
} from "../protocol/protobufs/messages.ts";
import { rowText } from "./headless_client.ts";
import { hostileSoup } from "./hostile_soup.ts";
import { mulberry32 } from "./prng.ts";
import { procMemoryIfAlive } from "./proc_memory.ts";
import { spawnClient } from "./serve_process.ts";
import { processAlive } from "./stock_mosh.ts";
import { startTmoshServer, type TmoshServer } from "./tmosh_server.ts";

/** Options of {@linkcode runWireFuzzer}. */
export interface FuzzOptions {
  /** Seed of every random choice (datagrams, soups). */
  seed: number;
  /** Fuzzed datagrams to send (both directions together). */
  datagrams: number;
  /** Target rate, datagrams per second (default 6000). */
  rate?: number;
  /** Largest hostile soup the server's program writes at once, bytes (default 256 KiB). */
  soupBytes?: number;
  /** Soups to run at least, even if the datagrams are sent sooner (default 2). */
  minSoups?: number;
  /** Longest wait for a typed line to come back, ms (default 20000). */
  echoTimeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What a run did and found. */
export interface FuzzReport {
  seed: number;
  /** Fuzzed datagrams sent, all categories. */
  tried: number;
  /** Fuzzed datagrams per category. */
  categories: Record<string, number>;
  /** How long sending them took, and how much of it went into building them, ms. */
  blastMs: number;
  forgeMs: number;
  /** Real datagrams relayed client → server and server → client. */
  relayed: { up: number; down: number };
  /** Real datagrams delivered out of order / twice by the relay. */
  reordered: number;
  duplicated: number;
  /** Forgeries (wrong key, wrong direction, bit flips, truncation) carrying a live marker. */
  forgedMarked: number;
  /** Authentic instructions carrying a marker that must be dropped (bad version, no base). */
  malformedMarked: number;
  /** Markers of forgeries that showed up on the server's input or the client's screen. */
  forgedAccepted: string[];
  /** Markers of must-drop authentic instructions that showed up. */
  malformedAccepted: string[];
  /** Whether the intact control injections showed before the run (the detectors work)... */
  controls: { server: boolean; client: boolean };
  /** ... and after it (injections still reach both processes). */
  controlsAfter: { server: boolean; client: boolean };
  /** Processes that exited during the run, with what is known. */
  crashes: string[];
  /** Typed probe lines that came back / did not within the timeout. */
  probes: { ok: number; failed: number };
  /** Hostile soups the server's program wrote that completed / did not. */
  soups: { ok: number; failed: number; bytes: number };
  /** Peak resident memory (VmHWM), kB. */
  peakRssKb: { server: number; client: number };
  /** Resident memory at the end (VmRSS), kB. */
  endRssKb: { server: number; client: number };
  /** Whether a line typed after the run came back. */
  finalEcho: boolean;
  /** The client's exit status after it was told to quit (0: clean shutdown), null if it had to be killed. */
  clientExit: number | null;
  durationMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Real datagrams kept per direction for replays and mutations. */
const RECENT = 256;
/** Authentic states accepted (not newest) per real instruction, at most. */
const NON_NEWEST_CAP = 32;
/** Fuzzed datagrams sent between yields to the event loop. */
const BATCH = 48;
/** How long the relay holds a datagram it reorders, at most, ms. */
const HOLD_MS = 30;
/** Compressed zip bomb: this many zero bytes (4x the inflate limit). */
const BOMB_BYTES = 16 * 1024 * 1024;

/** The server's program: logs every line it reads, answers `got[LINE]`, writes soup files on `SOUP:N`. */
const PROGRAM = `dir=$1
printf 'got[READY]\\n'
while IFS= read -r line; do
  printf '%s\\n' "$line" >> "$dir/input.log"
  case "$line" in
    *SOUP:*) n=\${line##*SOUP:}; cat "$dir/soup-$n" 2>/dev/null
      printf '\\030\\033\\\\\\007\\033c'; printf 'got[SOUP-%s]\\n' "$n" ;;
    *) printf 'got[%s]\\n' "$line" ;;
  esac
done
`;

/** Weights of the datagram categories; `auth` ones are sealed with the real key. */
const CATEGORIES = {
  garbage: 10,
  "cut-real": 6,
  "flipped-real": 8,
  replay: 8,
  "wrong-key": 10,
  "wrong-direction": 8,
  "bit-flip": 12,
  truncated: 8,
  "bad-zlib": 6,
  "zip-bomb": 0.15,
  "bad-protobuf": 6,
  "bad-version": 3,
  "huge-numbers": 4,
  "absurd-resize": 2,
  "never-complete": 5,
  "hostile-bytes": 2,
} as const;
type Category = keyof typeof CATEGORIES;
/** Categories whose datagrams are forgeries (not sealed as the real peer would). */
const FORGED: ReadonlySet<string> = new Set([
  "garbage",
  "cut-real",
  "flipped-real",
  "wrong-key",
  "wrong-direction",
  "bit-flip",
  "truncated",
]);

/**
 * What the relay learned of one direction's real traffic (it knows the key),
 * and the fragment ids the receiver sees. The relay re-seals every real
 * datagram with its fragment id renumbered (same sequence number and
 * timestamps), so that each injection can take a fresh, higher id: the
 * receiver's fragment assembly starts afresh for every injection (a partial
 * or "dead" id from an earlier injection never hides the next one), and the
 * real peer's next instruction, renumbered above all injections, is never
 * taken for a stale straggler.
 */
class DirectionView {
  readonly #codec: DatagramCodec;
  readonly #ocb: Ocb;
  readonly #assembly = new FragmentAssembly();
  readonly #nonce = new Uint8Array(NONCE_BYTES);
  /** Real fragment id -> the id the receiver sees (the newest few). */
  readonly #ids = new Map<bigint, bigint>();
  #lastId = 0n;
  #busyUntil = 0;
  /** Real datagrams as forwarded (renumbered), the newest RECENT. */
  readonly recent: Uint8Array[] = [];
  /** Highest real sequence number, state number, throwaway number seen. */
  seq = 0n;
  latest = 0n;
  throwaway = 0n;
  /** Authentic states we made the receiver hold since the last real instruction. */
  nonNewest = 0;
  count = 0;

  constructor(key: Uint8Array, toward: 0 | 1) {
    // Opens datagrams travelling `toward`: a codec of the other side.
    this.#codec = new DatagramCodec(key, {
      direction: toward === TO_SERVER ? TO_CLIENT : TO_SERVER,
    });
    this.#ocb = new Ocb(key);
  }

  /** A fresh fragment id, above every one the receiver has seen. */
  nextId(): bigint {
    return ++this.#lastId;
  }

  /** Whether a real multi-fragment instruction is half forwarded (an injection now would cut it). */
  busy(): boolean {
    return performance.now() < this.#busyUntil;
  }

  /** Records one real datagram; returns it as it is to be forwarded (renumbered). */
  see(bytes: Uint8Array): Uint8Array {
    this.count++;
    const d = this.#codec.open(bytes);
    if (d === null) return this.#keep(bytes);
    if (d.seq > this.seq) this.seq = d.seq;
    const f = decodeFragment(d.payload);
    let out = bytes;
    if (f !== null) {
      let id = this.#ids.get(f.id);
      if (id === undefined) {
        id = this.nextId();
        this.#ids.set(f.id, id);
        if (this.#ids.size > 64) {
          this.#ids.delete(this.#ids.keys().next().value!);
        }
      }
      this.#busyUntil = f.final ? 0 : performance.now() + 100;
      const plain = new Uint8Array(4 + d.payload.length);
      plain[0] = d.timestamp >>> 8;
      plain[1] = d.timestamp & 0xff;
      plain[2] = d.timestampReply >>> 8;
      plain[3] = d.timestampReply & 0xff;
      plain.set(d.payload, 4);
      new DataView(plain.buffer).setBigUint64(4, id);
      this.#nonce.set(
        bytes.subarray(0, WIRE_NONCE_BYTES),
        NONCE_BYTES - WIRE_NONCE_BYTES,
      );
      out = this.#ocb.seal(this.#nonce, plain, { headroom: WIRE_NONCE_BYTES });
      out.set(bytes.subarray(0, WIRE_NONCE_BYTES), 0);
    }
    const done = this.#assembly.add(d.payload);
    if (done !== null) {
      const ins = decodeInstruction(done);
      if (ins !== null) {
        this.nonNewest = 0;
        if (ins.newNum !== SHUTDOWN_NUM && ins.newNum > this.latest) {
          this.latest = ins.newNum;
        }
        if (ins.throwawayNum > this.throwaway) {
          this.throwaway = ins.throwawayNum;
        }
      }
    }
    return this.#keep(out);
  }

  #keep(bytes: Uint8Array): Uint8Array {
    this.recent.push(bytes);
    if (this.recent.length > RECENT) this.recent.shift();
    return bytes;
  }
}

/** The relay between the client process and the server process. */
class Relay {
  readonly front: Deno.DatagramConn;
  readonly back: Deno.DatagramConn;
  readonly up: DirectionView;
  readonly down: DirectionView;
  readonly server: Deno.NetAddr;
  client: Deno.NetAddr | null = null;
  reordered = 0;
  duplicated = 0;
  sendErrors = 0;
  readonly #r: () => number;
  readonly #loops: Promise<void>[];
  readonly #held: [Uint8Array | null, Uint8Array | null] = [null, null];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;

  constructor(key: Uint8Array, serverPort: number, r: () => number) {
    this.#r = r;
    this.front = udp();
    this.back = udp();
    this.up = new DirectionView(key, TO_SERVER);
    this.down = new DirectionView(key, TO_CLIENT);
    this.server = {
      transport: "udp",
      hostname: "127.0.0.1",
      port: serverPort,
    };
    this.#loops = [this.#pump(true), this.#pump(false)];
  }

  get port(): number {
    return (this.front.addr as Deno.NetAddr).port;
  }

  /** Sends `bytes` toward the server (up) or the client, from the relay's socket on that side. */
  send(up: boolean, bytes: Uint8Array): Promise<void> {
    const to = up ? this.server : this.client;
    if (to === null || this.#closed) return Promise.resolve();
    return (up ? this.back : this.front).send(bytes, to).then(
      () => {},
      () => {
        this.sendErrors++;
      },
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.front.close();
    this.back.close();
    await Promise.all(this.#loops);
  }

  async #pump(up: boolean): Promise<void> {
    const conn = up ? this.front : this.back;
    const view = up ? this.up : this.down;
    const slot = up ? 0 : 1;
    for (;;) {
      let bytes: Uint8Array, from: Deno.Addr;
      try {
        [bytes, from] = await conn.receive();
      } catch {
        return; // closed
      }
      if (up) this.client = from as Deno.NetAddr;
      else if ((from as Deno.NetAddr).port !== this.server.port) continue;
      bytes = view.see(bytes);
      const held = this.#held[slot];
      if (held === null && this.#r() < 0.03) {
        // Hold this one back: it goes after the next one (or after HOLD_MS).
        this.#held[slot] = bytes;
        this.reordered++;
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          if (this.#held[slot] === bytes) {
            this.#held[slot] = null;
            void this.send(up, bytes);
          }
        }, 1 + Math.floor(this.#r() * HOLD_MS));
        this.#timers.add(timer);
        continue;
      }
      await this.send(up, bytes);
      if (held !== null) {
        this.#held[slot] = null;
        await this.send(up, held);
      }
      if (this.#r() < 0.02) {
        this.duplicated++;
        await this.send(up, bytes);
      }
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

/** Builds fuzzed datagrams for one side. */
class Forge {
  readonly #r: () => number;
  readonly #ocb: Ocb;
  #wrongKey: Ocb;
  #wrongUses = 0;
  readonly #nonce = new Uint8Array(NONCE_BYTES);
  readonly #bomb: Uint8Array;
  #marker = 0;
  /** The fragment id of the injection being built (fresh for each). */
  #id = 0n;
  readonly markers = new Map<string, string>();
  readonly counts: Record<string, number> = {};
  forgedMarked = 0;
  malformedMarked = 0;
  readonly #cats: [Category, number][];
  readonly #total: number;

  constructor(key: Uint8Array, r: () => number) {
    this.#r = r;
    this.#ocb = new Ocb(key);
    this.#wrongKey = new Ocb(generateKey());
    this.#bomb = compress(new Uint8Array(BOMB_BYTES));
    this.#cats = Object.entries(CATEGORIES) as [Category, number][];
    this.#total = this.#cats.reduce((a, [, w]) => a + w, 0);
    for (const [c] of this.#cats) this.counts[c] = 0;
  }

  int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  #bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = (this.#r() * 4294967296) >>> 0;
      out[i] = v;
      if (i + 1 < n) out[i + 1] = v >>> 8;
      if (i + 2 < n) out[i + 2] = v >>> 16;
      if (i + 3 < n) out[i + 3] = v >>> 24;
    }
    return out;
  }

  #pick(): Category {
    let x = this.#r() * this.#total;
    for (const [c, w] of this.#cats) {
      x -= w;
      if (x < 0) return c;
    }
    return "garbage";
  }

  /** A u64 far from anything real. */
  #huge(): bigint {
    const k = this.int(5);
    if (k === 0) return U64_MAX;
    if (k === 1) return U64_MAX - 1n;
    if (k === 2) return 1n << 63n;
    if (k === 3) return (1n << 32n) + BigInt(this.int(1000));
    return (BigInt(this.int(2 ** 31)) << 32n) | BigInt(this.int(2 ** 31));
  }

  /** Seals `payload` (a fragment) as a datagram travelling `toward`, with timestamps, under `ocb` and sequence `seq`. */
  #seal(toward: 0 | 1, payload: Uint8Array, seq: bigint, ocb = this.#ocb) {
    const plain = new Uint8Array(4 + payload.length);
    plain[0] = this.int(256);
    plain[1] = this.int(256);
    plain[2] = 0xff;
    plain[3] = 0xff;
    plain.set(payload, 4);
    const view = new DataView(this.#nonce.buffer);
    view.setBigUint64(4, (BigInt(toward) << 63n) | (seq & ((1n << 63n) - 1n)));
    const out = ocb.seal(this.#nonce, plain, { headroom: WIRE_NONCE_BYTES });
    out.set(this.#nonce.subarray(NONCE_BYTES - WIRE_NONCE_BYTES), 0);
    return out;
  }

  /** A sequence number the real peer already used (so the receiver's order is not disturbed). */
  #oldSeq(v: DirectionView): bigint {
    return v.seq === 0n
      ? 0n
      : BigInt(this.int(Number(v.seq < 1000000n ? v.seq : 1000000n)));
  }

  /** One fragment under the current injection's id. */
  #fragment(_v: DirectionView, contents: Uint8Array, num = 0, final = true) {
    return encodeFragment({ id: this.#id, num, final, contents });
  }

  /** A marker, remembered with its category. */
  #mark(side: "S" | "C", category: string): string {
    const m = `LEAK-${side}-${category}-${++this.#marker}`;
    this.markers.set(m, category);
    return m;
  }

  /** A diff that shows `text` on the screen (to the client) or types it as a line (to the server). */
  markerDiff(toward: 0 | 1, text: string): Uint8Array {
    return toward === TO_SERVER
      ? encodeUserMessage([{
        type: "keys",
        keys: encoder.encode(`\x15${text}\r`),
      }])
      : encodeHostMessage([{
        type: "bytes",
        bytes: encoder.encode(`\r\n${text}\r\n`),
      }]);
  }

  /** An instruction that the receiver would apply as its newest state if it accepted it. */
  liveInstruction(v: DirectionView, diff: Uint8Array): Instruction {
    return {
      protocolVersion: PROTOCOL_VERSION,
      oldNum: v.latest,
      newNum: v.latest + 1n + BigInt(this.int(3)),
      ackNum: 0n,
      throwawayNum: 0n,
      diff,
      chaff: new Uint8Array(0),
    };
  }

  /** An intact, authentic injection (the controls). */
  control(v: DirectionView, toward: 0 | 1, text: string): Uint8Array {
    const ins = this.liveInstruction(v, this.markerDiff(toward, text));
    ins.newNum = v.latest + 1n;
    this.#id = v.nextId();
    return this.#seal(
      toward,
      this.#fragment(v, compress(encodeInstruction(ins))),
      this.#oldSeq(v),
    );
  }

  /** A live injection carrying a fresh marker, as a fragment payload. */
  #injection(v: DirectionView, toward: 0 | 1, category: string) {
    const text = this.#mark(toward === TO_SERVER ? "S" : "C", category);
    const ins = this.liveInstruction(v, this.markerDiff(toward, text));
    return this.#fragment(v, compress(encodeInstruction(ins)));
  }

  /** A state number the receiver does not hold and that is below its oldest: accepted, never newest. */
  #belowOldest(v: DirectionView): bigint | null {
    if (v.nonNewest >= NON_NEWEST_CAP || v.throwaway < 2n) return null;
    v.nonNewest++;
    const room = v.throwaway - 1n;
    return v.throwaway - 1n -
      BigInt(this.int(Number(room < 50n ? room : 50n)));
  }

  /** An authentic instruction (fields overridden), compressed, as fragment payloads. */
  #authentic(v: DirectionView, fields: Partial<Instruction>): Uint8Array {
    const ins: Instruction = {
      protocolVersion: PROTOCOL_VERSION,
      oldNum: v.latest,
      newNum: v.latest,
      ackNum: 0n,
      throwawayNum: 0n,
      diff: new Uint8Array(0),
      chaff: this.#bytes(this.int(17)),
      ...fields,
    };
    return compress(encodeInstruction(ins));
  }

  /** Resizes no receiver may act on, and a few large but legal ones. */
  #resizes(): { width: number; height: number }[] {
    const dims = [
      0,
      -1,
      1,
      2,
      1024,
      1025,
      65535,
      100_000,
      0x7fffffff,
      -0x80000000,
    ];
    const out = [];
    for (let i = 1 + this.int(4); i > 0; i--) {
      out.push({
        width: dims[this.int(dims.length)],
        height: dims[this.int(dims.length)],
      });
    }
    return out;
  }

  /** Fuzzed datagrams (usually one) for the side `toward`; counts them under their category. */
  make(toward: 0 | 1, v: DirectionView, soupSeed: number): Uint8Array[] {
    let c = this.#pick();
    // Half-way through a real instruction only what never reaches the
    // receiver's fragment assembly (a fresh id there would cut it).
    while (v.busy() && !FORGED.has(c)) c = this.#pick();
    this.#id = v.nextId();
    const out = this.#build(c, toward, v, soupSeed);
    this.counts[c] += out.length;
    if (FORGED.has(c) && c !== "garbage" && !c.endsWith("-real")) {
      this.forgedMarked += out.length;
    }
    return out;
  }

  #build(
    c: Category,
    toward: 0 | 1,
    v: DirectionView,
    soupSeed: number,
  ): Uint8Array[] {
    const real = v.recent.length > 0
      ? v.recent[this.int(v.recent.length)]
      : null;
    const auth = (payload: Uint8Array) =>
      this.#seal(toward, payload, this.#oldSeq(v));
    switch (c) {
      case "garbage": {
        const k = this.int(10);
        const n = k === 0
          ? this.int(24)
          : k === 1
          ? 2040 + this.int(40)
          : this.int(1400);
        return [this.#bytes(n)];
      }
      case "cut-real":
        return real === null
          ? [this.#bytes(30)]
          : [real.subarray(0, this.int(real.length))];
      case "flipped-real": {
        if (real === null) return [this.#bytes(60)];
        return [this.#flip(real)];
      }
      case "replay":
        return real === null ? [] : [real];
      case "wrong-key": {
        if (++this.#wrongUses % 1000 === 0) {
          this.#wrongKey = new Ocb(generateKey());
        }
        return [
          this.#seal(
            toward,
            this.#injection(v, toward, c),
            this.#oldSeq(v),
            this.#wrongKey,
          ),
        ];
      }
      case "wrong-direction": {
        const wrong = toward === TO_SERVER ? TO_CLIENT : TO_SERVER;
        return [
          this.#seal(wrong, this.#injection(v, toward, c), this.#oldSeq(v)),
        ];
      }
      case "bit-flip":
        return [this.#flip(auth(this.#injection(v, toward, c)))];
      case "truncated": {
        const whole = auth(this.#injection(v, toward, c));
        if (this.int(3) === 0) {
          const longer = new Uint8Array(whole.length + 1 + this.int(16));
          longer.set(whole);
          longer.set(this.#bytes(longer.length - whole.length), whole.length);
          return [longer];
        }
        return [whole.subarray(0, this.int(whole.length))];
      }
      case "bad-zlib": {
        const k = this.int(4);
        const good = this.#authentic(v, { diff: this.markerDiff(toward, "x") });
        const contents = k === 0
          ? this.#bytes(1 + this.int(1200))
          : k === 1
          ? Uint8Array.of(0x78, 0x9c, ...this.#bytes(this.int(300)))
          : k === 2
          ? good.subarray(0, this.int(good.length))
          : this.#flipBytes(good);
        return [auth(this.#fragment(v, contents))];
      }
      case "zip-bomb": {
        const size = fragmentPayloadSize(DEFAULT_IPV4_MTU);
        const count = Math.ceil(this.#bomb.length / size);
        const out: Uint8Array[] = [];
        for (let n = 0; n < count; n++) {
          out.push(auth(this.#fragment(
            v,
            this.#bomb.subarray(n * size, (n + 1) * size),
            n,
            n === count - 1,
          )));
        }
        return out;
      }
      case "bad-protobuf": {
        const k = this.int(3);
        if (k === 0) {
          return [
            auth(this.#fragment(v, compress(this.#bytes(1 + this.int(200))))),
          ];
        }
        const newNum = this.#belowOldest(v) ?? v.latest;
        const diff = k === 1 ? this.#bytes(1 + this.int(100)) : Uint8Array.of(
          0x0a,
          0x05 + this.int(100),
          0x12,
          ...this.#bytes(this.int(4)),
        );
        return [auth(this.#fragment(v, this.#authentic(v, { newNum, diff })))];
      }
      case "bad-version": {
        this.malformedMarked++;
        const text = this.#mark(toward === TO_SERVER ? "S" : "C", c);
        const versions = [0, 1, 3, 255, 0x7fffffff, 0xffffffff];
        return [auth(this.#fragment(
          v,
          this.#authentic(v, {
            protocolVersion: versions[this.int(versions.length)],
            newNum: v.latest + 1n,
            diff: this.markerDiff(toward, text),
          }),
        ))];
      }
      case "huge-numbers": {
        this.malformedMarked++;
        const text = this.#mark(toward === TO_SERVER ? "S" : "C", c);
        return [auth(this.#fragment(
          v,
          this.#authentic(v, {
            oldNum: this.#huge(),
            newNum: this.int(2) === 0 ? this.#huge() : v.latest + 1n,
            ackNum: this.#huge(),
            throwawayNum: this.#huge(),
            diff: this.markerDiff(toward, text),
          }),
        ))];
      }
      case "absurd-resize": {
        const newNum = this.#belowOldest(v) ?? v.latest;
        const events = this.#resizes();
        const diff = toward === TO_SERVER
          ? encodeUserMessage(
            events.map((e): UserEvent => ({ type: "resize", ...e })),
          )
          : encodeHostMessage(
            events.map((e): HostEvent => ({ type: "resize", ...e })),
          );
        return [auth(this.#fragment(v, this.#authentic(v, { newNum, diff })))];
      }
      case "never-complete": {
        const k = this.int(5);
        const contents = this.#bytes(1 + this.int(1200));
        if (k === 0) {
          return [
            auth(this.#fragment(v, contents, 1 + this.int(32767), false)),
          ];
        }
        if (k === 1) {
          return [auth(this.#fragment(v, contents, 1 + this.int(32767), true))];
        }
        if (k === 2) return [auth(this.#fragment(v, contents, 32767, true))];
        if (k === 3) {
          // Many fragments of one id, the first never sent.
          const out: Uint8Array[] = [];
          for (let n = 1 + this.int(20); n > 0; n--) {
            out.push(auth(this.#fragment(v, this.#bytes(1200), n, false)));
          }
          return out;
        }
        // The same number twice with different contents.
        const num = this.int(100);
        return [
          auth(this.#fragment(v, contents, num, false)),
          auth(this.#fragment(v, this.#bytes(contents.length), num, false)),
        ];
      }
      case "hostile-bytes": {
        const newNum = this.#belowOldest(v) ?? v.latest;
        const soup = hostileSoup(
          soupSeed,
          256 + this.int(this.int(8) === 0 ? 60000 : 4000),
        );
        const diff = toward === TO_SERVER
          ? encodeUserMessage([{ type: "keys", keys: soup }])
          : encodeHostMessage([{ type: "bytes", bytes: soup }]);
        const whole = this.#authentic(v, { newNum, diff });
        const size = fragmentPayloadSize(DEFAULT_IPV4_MTU);
        const count = Math.max(1, Math.ceil(whole.length / size));
        const out: Uint8Array[] = [];
        for (let n = 0; n < count; n++) {
          out.push(auth(this.#fragment(
            v,
            whole.subarray(n * size, (n + 1) * size),
            n,
            n === count - 1,
          )));
        }
        return out;
      }
    }
  }

  /** A copy with 1 to 4 distinct random bits flipped (never the same bit twice, which would undo the flip). */
  #flip(bytes: Uint8Array): Uint8Array {
    const out = bytes.slice();
    const bits = new Set<number>();
    const want = Math.min(1 + this.int(4), bytes.length * 8);
    while (bits.size < want) bits.add(this.int(bytes.length * 8));
    for (const bit of bits) out[bit >>> 3] ^= 1 << (bit & 7);
    return out;
  }

  #flipBytes(bytes: Uint8Array): Uint8Array {
    return bytes.length === 0 ? bytes : this.#flip(bytes);
  }
}

/** The client process's screen, rebuilt from its output with tmosh's emulator, plus a scan for markers. */
class ClientScreen {
  readonly #em = new Emulator(80, 24);
  #tail = "";
  /** Markers (LEAK-..., CONTROL-C) ever seen in the raw output. */
  readonly seen = new Set<string>();
  bytes = 0;

  constructor() {
    this.#em.onReply(() => {});
  }

  feed(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.#em.writeSync(chunk);
    const text = this.#tail + decoder.decode(chunk, { stream: true });
    for (const m of text.matchAll(/(LEAK-[SC]-[a-z-]+-\d+|CONTROL-C\d)/g)) {
      this.seen.add(m[1]);
    }
    this.#tail = text.slice(-64);
  }

  lines(): string[] {
    return this.#em.snapshot().rows.map(rowText);
  }

  /** Whether a screen line contains `text`. */
  shows(text: string): boolean {
    return this.lines().some((l) => l.includes(text));
  }

  dispose(): void {
    this.#em.dispose();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resident memory of a process now and at its peak, kB; zeros if it is gone. */
async function memoryKb(pid: number): Promise<{ rss: number; peak: number }> {
  const m = await procMemoryIfAlive(pid);
  return { rss: m.rss / 1024, peak: m.peak / 1024 };
}

/** A running session under attack: the processes, the relay, the screen. */
class Session {
  readonly dir: string;
  readonly server: TmoshServer;
  readonly relay: Relay;
  readonly client: Deno.ChildProcess;
  readonly screen = new ClientScreen();
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;
  clientStatus: Deno.CommandStatus | null = null;
  clientStderr = "";

  private constructor(
    dir: string,
    server: TmoshServer,
    relay: Relay,
    client: Deno.ChildProcess,
  ) {
    this.dir = dir;
    this.server = server;
    this.relay = relay;
    this.client = client;
    this.#stdin = client.stdin.getWriter();
    this.#reading = Promise.all([
      (async () => {
        for await (const chunk of client.stdout) this.screen.feed(chunk);
      })(),
      (async () => {
        for await (const chunk of client.stderr) {
          this.clientStderr = (this.clientStderr + decoder.decode(chunk))
            .slice(-4000);
        }
      })(),
    ]).then(() => {}, () => {});
    client.status.then((s) => this.clientStatus = s);
  }

  static async start(r: () => number): Promise<Session> {
    const dir = await Deno.makeTempDir({ prefix: "tmosh-fuzz-" });
    await Deno.writeTextFile(`${dir}/program.sh`, PROGRAM);
    let server: TmoshServer | null = null;
    let relay: Relay | null = null;
    try {
      server = await startTmoshServer(["/bin/sh", `${dir}/program.sh`, dir]);
      relay = new Relay(decodeKey(server.key), server.port, r);
      const client = spawnClient(relay.port, {
        TERM: "xterm-256color",
        MOSH_KEY: server.key,
        MOSH_PREDICTION_DISPLAY: "never",
      });
      return new Session(dir, server, relay, client);
    } catch (e) {
      await relay?.close();
      await server?.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** Types a line (after Ctrl-U, which clears whatever junk the line held). */
  async type(line: string): Promise<void> {
    await this.#stdin.write(encoder.encode(`\x15${line}\r`));
  }

  /** Waits until the client's screen shows `text`; false after `ms`. */
  async waitScreen(text: string, ms: number): Promise<boolean> {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      if (this.screen.shows(text)) return true;
      if (this.clientStatus !== null) return false;
      await delay(25);
    }
    return this.screen.shows(text);
  }

  /** The end of what the server's program read and the client's screen, for failure messages. */
  async describe(): Promise<string> {
    const input = (await this.serverInput()).slice(-300);
    return `server program read (last 300 chars): ${JSON.stringify(input)}\n` +
      `client screen:\n  |${this.screen.lines().join("|\n  |")}|`;
  }

  /** What the server's program read, so far. */
  async serverInput(): Promise<string> {
    try {
      return await Deno.readTextFile(`${this.dir}/input.log`);
    } catch {
      return "";
    }
  }

  /** Asks the client to quit (end of input); returns its exit status, or null if it had to be killed. */
  async quit(ms: number): Promise<number | null> {
    try {
      await this.#stdin.close();
    } catch {
      // already closed
    }
    const end = performance.now() + ms;
    while (this.clientStatus === null && performance.now() < end) {
      await delay(25);
    }
    return this.clientStatus?.code ?? null;
  }

  async close(): Promise<void> {
    if (this.clientStatus === null) {
      try {
        this.client.kill("SIGKILL");
      } catch {
        // gone
      }
    }
    await this.client.status;
    await this.#reading;
    await this.relay.close();
    await this.server.stop();
    this.screen.dispose();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Runs one seeded fuzzing session against a real `tmosh serve` and a real
 * `tmosh client`; never throws for what it finds (see the report).
 */
export async function runWireFuzzer(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => {});
  const rate = options.rate ?? 6000;
  const echoMs = options.echoTimeoutMs ?? 20_000;
  const soupBytes = options.soupBytes ?? 256 * 1024;
  const minSoups = options.minSoups ?? 2;
  const r = mulberry32(options.seed);
  const start = performance.now();
  const report: FuzzReport = {
    seed: options.seed,
    tried: 0,
    categories: {},
    blastMs: 0,
    forgeMs: 0,
    relayed: { up: 0, down: 0 },
    reordered: 0,
    duplicated: 0,
    forgedMarked: 0,
    malformedMarked: 0,
    forgedAccepted: [],
    malformedAccepted: [],
    controls: { server: false, client: false },
    controlsAfter: { server: false, client: false },
    crashes: [],
    probes: { ok: 0, failed: 0 },
    soups: { ok: 0, failed: 0, bytes: 0 },
    peakRssKb: { server: 0, client: 0 },
    endRssKb: { server: 0, client: 0 },
    finalEcho: false,
    clientExit: null,
    durationMs: 0,
  };
  const s = await Session.start(r);
  const key = decodeKey(s.server.key);
  const forge = new Forge(key, r);
  const relay = s.relay;
  let stop = false;
  const crashed = async (): Promise<boolean> => {
    if (report.crashes.length > 0) return true;
    if (s.clientStatus !== null) {
      report.crashes.push(
        `client exited (code ${s.clientStatus.code}, signal ${s.clientStatus.signal}): ${
          s.clientStderr.slice(-1000)
        }`,
      );
    }
    if (!await processAlive(s.server.pid)) {
      report.crashes.push(`server (pid ${s.server.pid}) exited`);
    }
    return report.crashes.length > 0;
  };
  try {
    // A working session first.
    if (!await s.waitScreen("got[READY]", echoMs)) {
      throw new Error(
        `the session did not start: client stderr ${s.clientStderr}\nscreen:\n${
          s.screen.lines().join("\n")
        }`,
      );
    }
    await s.type("hello");
    if (!await s.waitScreen("got[hello]", echoMs)) {
      throw new Error("the session does not echo before fuzzing");
    }
    await delay(300);

    // Controls: an intact authentic injection each way must show.
    const control = async (up: boolean, text: string): Promise<boolean> => {
      for (let i = 0; i < 5; i++) {
        const v = up ? relay.up : relay.down;
        await relay.send(
          up,
          forge.control(v, up ? TO_SERVER : TO_CLIENT, text),
        );
        const end = performance.now() + 1000;
        while (performance.now() < end) {
          await delay(50);
          if (up && (await s.serverInput()).includes(text)) return true;
          if (!up && s.screen.seen.has(text)) return true;
        }
      }
      return false;
    };
    report.controls.server = await control(true, "CONTROL-S1");
    // The injected state took the number of the client's next one: the
    // client's keystrokes of that state are lost (the server acknowledged
    // "its" number). Type until a line gets through again.
    for (let i = 0; i < 20; i++) {
      await s.type(`sync-${i}`);
      if (await s.waitScreen(`sync-${i}]`, 2000)) break;
    }
    report.controls.client = await control(false, "CONTROL-C1");
    log(
      `controls: server ${
        report.controls.server ? "shown" : "NOT SHOWN"
      }, client ${report.controls.client ? "shown" : "NOT SHOWN"}`,
    );

    // The datagram blaster.
    const target = options.datagrams;
    const blaster = (async () => {
      let sent = 0, soupSeed = options.seed * 1_000_003;
      const t0 = performance.now();
      let lastLog = t0;
      while (sent < target && !stop) {
        const sends: Promise<void>[] = [];
        for (let i = 0; i < BATCH && sent < target; i++) {
          const up = r() < 0.5;
          const view = up ? relay.up : relay.down;
          const f0 = performance.now();
          const made = forge.make(up ? TO_SERVER : TO_CLIENT, view, soupSeed++);
          report.forgeMs += performance.now() - f0;
          for (const d of made) {
            sends.push(relay.send(up, d));
            sent++;
          }
        }
        await Promise.all(sends);
        const ahead = sent / rate * 1000 - (performance.now() - t0);
        await delay(ahead > 1 ? ahead : 0);
        if (performance.now() - lastLog > 10_000) {
          lastLog = performance.now();
          const [sk, ck] = (await Promise.all([
            memoryKb(s.server.pid),
            memoryKb(s.client.pid),
          ])).map((m) => m.rss);
          log(
            `${sent} datagrams (${
              Math.round(sent / ((lastLog - t0) / 1000))
            }/s), ` +
              `${report.probes.ok} probes ok, ${report.probes.failed} failed, ` +
              `${report.soups.ok} soups; RSS server ${
                (sk / 1024).toFixed(0)
              } MB, ` +
              `client ${(ck / 1024).toFixed(0)} MB`,
          );
        }
      }
      report.tried = sent;
      report.blastMs = performance.now() - t0;
    })();

    // Hostile soups through the server's program, and probes, until the blaster is done.
    let blasting = true;
    blaster.finally(() => blasting = false);
    const driver = (async () => {
      let n = 0;
      while (
        (blasting || report.soups.ok + report.soups.failed < minSoups) && !stop
      ) {
        if (await crashed()) {
          stop = true;
          return;
        }
        n++;
        const soup = hostileSoup(options.seed * 7_777 + n, soupBytes);
        await Deno.writeFile(`${s.dir}/soup-${n}`, soup);
        await s.type(`SOUP:${n}`);
        if (await s.waitScreen(`got[SOUP-${n}]`, echoMs)) {
          report.soups.ok++;
          report.soups.bytes += soup.length;
        } else {
          report.soups.failed++;
          log(
            `soup ${n} (seed ${
              options.seed * 7_777 + n
            }) did not finish within ` +
              `${echoMs} ms; ${await s.describe()}`,
          );
        }
        await Deno.remove(`${s.dir}/soup-${n}`).catch(() => {});
        await s.type(`P-${n}`);
        if (await s.waitScreen(`P-${n}]`, echoMs)) report.probes.ok++;
        else {
          report.probes.failed++;
          log(
            `probe ${n} did not come back within ${echoMs} ms; ${await s
              .describe()}`,
          );
        }
      }
    })();
    // Crash watch while the blaster runs.
    while (blasting && !stop) {
      await delay(250);
      if (await crashed()) stop = true;
    }
    await blaster;
    await driver;
    log(`blaster done; ${report.soups.ok} soups, ${report.probes.ok} probes`);

    // Afterwards: the session still echoes.
    if (!await crashed()) {
      await delay(500);
      const mark = `FINAL-${options.seed}`;
      for (let i = 0; i < 3 && !report.finalEcho; i++) {
        await s.type(mark);
        report.finalEcho = await s.waitScreen(`${mark}]`, echoMs);
      }
    }
    // The same controls again: injections still reach both after the run.
    if (report.finalEcho) {
      report.controlsAfter.server = await control(true, "CONTROL-S2");
      report.controlsAfter.client = await control(false, "CONTROL-C2");
    }
    // Anything that got through shows by now.
    await delay(300);
    const input = await s.serverInput();
    const leaks = new Set<string>(s.screen.seen);
    for (const m of input.matchAll(/LEAK-[SC]-[a-z-]+-\d+/g)) leaks.add(m[0]);
    for (const m of leaks) if (m.startsWith("CONTROL-")) leaks.delete(m);
    for (const m of leaks) {
      const category = forge.markers.get(m) ?? "unknown";
      (FORGED.has(category) ? report.forgedAccepted : report.malformedAccepted)
        .push(m);
    }
    const server = await memoryKb(s.server.pid);
    const client = await memoryKb(s.client.pid);
    report.peakRssKb = { server: server.peak, client: client.peak };
    report.endRssKb = { server: server.rss, client: client.rss };
    await crashed();
    log("quitting the client");
    report.clientExit = await s.quit(10_000);
    log("client quit");
  } finally {
    stop = true;
    report.categories = { ...forge.counts };
    report.forgedMarked = forge.forgedMarked;
    report.malformedMarked = forge.malformedMarked;
    report.relayed = { up: relay.up.count, down: relay.down.count };
    report.reordered = relay.reordered;
    report.duplicated = relay.duplicated;
    await s.close();
    report.durationMs = performance.now() - start;
  }
  return report;
}

/** The report as lines for people. */
export function formatReport(rep: FuzzReport): string {
  const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
  const cats = Object.entries(rep.categories)
    .map(([c, n]) => `  ${c.padEnd(16)} ${n}`).join("\n");
  return [
    `seed ${rep.seed}, ${(rep.durationMs / 1000).toFixed(1)} s`,
    `datagrams tried: ${rep.tried} in ${(rep.blastMs / 1000).toFixed(1)} s ` +
    `(${Math.round(rep.tried / (rep.blastMs / 1000))}/s; building them ${
      (rep.forgeMs / 1000).toFixed(1)
    } s)`,
    cats,
    `real datagrams relayed: ${rep.relayed.up} up, ${rep.relayed.down} down ` +
    `(${rep.reordered} reordered, ${rep.duplicated} duplicated)`,
    `crashes: ${rep.crashes.length}${
      rep.crashes.map((c) => `\n  ${c}`).join("")
    }`,
    `forged inputs accepted: ${rep.forgedAccepted.length} of ${rep.forgedMarked} marked forgeries` +
    (rep.forgedAccepted.length
      ? ` (${rep.forgedAccepted.slice(0, 10).join(", ")})`
      : ""),
    `must-drop authentic instructions applied: ${rep.malformedAccepted.length} of ${rep.malformedMarked}` +
    (rep.malformedAccepted.length
      ? ` (${rep.malformedAccepted.slice(0, 10).join(", ")})`
      : ""),
    `intact controls shown: before the run server ${rep.controls.server}, client ${rep.controls.client}; ` +
    `after it server ${rep.controlsAfter.server}, client ${rep.controlsAfter.client}`,
    `hostile soups: ${rep.soups.ok} ok (${
      mb(rep.soups.bytes / 1024)
    }), ${rep.soups.failed} failed; ` +
    `probes: ${rep.probes.ok} ok, ${rep.probes.failed} failed`,
    `peak RSS (VmHWM): server ${mb(rep.peakRssKb.server)}, client ${
      mb(rep.peakRssKb.client)
    }; ` +
    `at the end (VmRSS): server ${mb(rep.endRssKb.server)}, client ${
      mb(rep.endRssKb.client)
    }`,
    `final echo: ${rep.finalEcho ? "ok" : "FAILED"}; client exit ${
      rep.clientExit ?? "killed"
    }`,
  ].join("\n");
}

/** Whether the run found nothing wrong. */
export function reportClean(rep: FuzzReport): boolean {
  return rep.crashes.length === 0 && rep.forgedAccepted.length === 0 &&
    rep.malformedAccepted.length === 0 && rep.controls.server &&
    rep.controls.client && rep.controlsAfter.server &&
    rep.controlsAfter.client && rep.finalEcho && rep.probes.failed === 0 &&
    rep.soups.failed === 0;
}
