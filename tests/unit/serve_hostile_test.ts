/**
 * Hostile input against a running `tmosh serve` (docs/wire.md §12.2 lists
 * what makes STOCK mosh abort): unauthenticated junk, then authenticated but
 * malformed datagrams sealed with the real session key (bad zlib, garbage
 * protobuf, garbage diffs, absurd resizes, wrong protocol version, throwaway
 * beyond the newest state, fragments that never complete, thousands of
 * fragment ids, thousands of held states). Afterwards the server process is
 * alive, its memory did not balloon, and the session still runs commands.
 *
 * The client side is tmosh's own protocol stack (HeadlessClient). For the
 * authenticated flood the test takes over the client's sending: it seals
 * hand-made fragments through the client's Connection (so sequence numbers
 * stay in order and the server keeps talking to this socket), under fragment
 * ids far above the client's own, and continues the client's state chain
 * with hand-made instructions. The client's own later sends are dropped by
 * the server (their fragment ids are older than ours, and their base states
 * have been thrown away), so they cannot disturb the chain.
 */
import assert from "node:assert/strict";
import { Connection } from "../../protocol/network/connection.ts";
import {
  DEFAULT_IPV4_MTU,
  PROTOCOL_VERSION,
  TO_CLIENT,
  TO_SERVER,
} from "../../protocol/network/constants.ts";
import { DatagramCodec } from "../../protocol/network/datagram.ts";
import {
  compress,
  encodeFragment,
  fragmentPayloadSize,
} from "../../protocol/network/fragment.ts";
import { decodeKey, generateKey } from "../../protocol/crypto/key.ts";
import {
  encodeInstruction,
  encodeUserMessage,
  type Instruction,
  type UserEvent,
} from "../../protocol/protobufs/messages.ts";
import { HeadlessClient } from "../../harness/headless_client.ts";
import { processAlive } from "../../harness/stock_mosh.ts";
import { startTmoshServer } from "../../harness/tmosh_server.ts";
import { procMemoryIfAlive } from "../../harness/proc_memory.ts";

/** Generous limits: 2 cores shared with other tests. */
const STEP_MS = 15_000;
/**
 * Most the server's resident memory may grow during the authenticated flood,
 * kB. Measured: about 40 MB. One never-completing assembly may hold 8 MiB
 * (MAX_ASSEMBLY_BYTES), and Deno returns the native memory of thousands of
 * received datagrams and node:zlib inflates to the OS only slowly (it levels
 * off; it is not a leak). A leak per datagram would blow far past this.
 */
const RSS_GROWTH_LIMIT_KB = 64 * 1024;
/** Datagrams sent before yielding to let the server drain its socket. */
const BATCH = 32;
const encoder = new TextEncoder();

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Random bytes (at most 65536, getRandomValues' limit). */
function random(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

function randomInt(below: number): number {
  return Math.floor(Math.random() * below);
}

/** Resident set size of a process, kB (0 if it is gone). */
async function rssKb(pid: number): Promise<number> {
  return (await procMemoryIfAlive(pid)).rss / 1024;
}

/**
 * Sends hand-made, correctly sealed datagrams through the client's own
 * connection, and continues the client's state chain by hand.
 */
class Injector {
  readonly #conn: Connection;
  readonly #client: HeadlessClient;
  /** Far above any id the client's own Fragmenter reaches in a test. */
  #nextId = 1n << 40n;
  #sent = 0;
  /** Our newest state the server holds (the base of the next instruction). */
  num: bigint;
  /** Number of the next state; far above the client's own (its empty acks keep numbering). */
  #next = 1_000_000n;

  constructor(client: HeadlessClient) {
    this.#client = client;
    this.#conn = client.transport.connection;
    this.num = client.transport.sender.ackedNum;
  }

  /** A fresh fragment id, newer than every one sent before. */
  id(): bigint {
    return this.#nextId++;
  }

  /** Seals and sends one payload (a fragment, or junk); yields every BATCH sends. */
  async raw(payload: Uint8Array): Promise<void> {
    this.#conn.send(payload);
    if (++this.#sent % BATCH === 0) await delay(2);
  }

  /** Sends one fragment under `id` (default a fresh one). */
  async fragment(
    num: number,
    final: boolean,
    contents: Uint8Array,
    id = this.id(),
  ): Promise<void> {
    await this.raw(encodeFragment({ id, num, final, contents }));
  }

  /** Sends already compressed bytes, split into fragments under one fresh id. */
  async compressed(payload: Uint8Array): Promise<void> {
    const size = fragmentPayloadSize(DEFAULT_IPV4_MTU);
    const count = Math.max(1, Math.ceil(payload.length / size));
    const id = this.id();
    for (let num = 0; num < count; num++) {
      const chunk = payload.subarray(num * size, (num + 1) * size);
      await this.fragment(num, num === count - 1, chunk, id);
    }
  }

  /** An instruction continuing our chain, with fields overridden. */
  instruction(fields: Partial<Instruction> = {}): Instruction {
    return {
      protocolVersion: PROTOCOL_VERSION,
      oldNum: this.num,
      newNum: this.#next,
      ackNum: this.#client.transport.receiver.ackNum,
      throwawayNum: this.num,
      diff: new Uint8Array(0),
      chaff: new Uint8Array(0),
      ...fields,
    };
  }

  /** Sends an instruction (compressed, fragmented) as stock mosh would. */
  async send(instruction: Instruction): Promise<void> {
    await this.compressed(compress(encodeInstruction(instruction)));
  }

  /**
   * Advances the chain by one state carrying `events` after letting the
   * server drain; sent twice (the copy is dropped as a duplicate), so a
   * datagram lost to a full socket buffer does not break the chain.
   */
  async step(
    events: UserEvent[],
    fields: Partial<Instruction> = {},
  ): Promise<void> {
    await delay(100);
    const instruction = this.instruction({
      diff: events.length > 0 ? encodeUserMessage(events) : new Uint8Array(0),
      ...fields,
    });
    await this.send(instruction);
    await delay(20);
    await this.send(instruction);
    this.num = instruction.newNum;
    this.#next = instruction.newNum + 1n;
  }

  /** Types `text` as the next state of the chain. */
  async type(text: string): Promise<void> {
    await this.step([{ type: "keys", keys: encoder.encode(text) }]);
  }
}

/** Every kind of authenticated malformed input, once (fresh fragment ids each call). */
async function floodAuthenticated(inj: Injector): Promise<void> {
  // Bad zlib.
  for (let i = 0; i < 100; i++) {
    await inj.fragment(0, true, random(1 + randomInt(1000)));
    await inj.fragment(0, true, Uint8Array.of(0x78, 0x9c, ...random(40)));
  }
  // A zlib bomb: 32 MiB of zeros, far beyond the 4 MiB inflate limit.
  await inj.compressed(compress(new Uint8Array(32 * 1024 * 1024)));
  // zlib of bytes that are no Instruction.
  for (
    const garbage of [
      new Uint8Array(100).fill(0xff),
      Uint8Array.of(0x08, 0xff, 0xff, 0xff),
      Uint8Array.of(0x32, 0x7f, 0x01),
      Uint8Array.of(0x0a),
    ]
  ) {
    for (let i = 0; i < 20; i++) await inj.compressed(compress(garbage));
  }
  // Instructions whose diff is no UserMessage (dropped, so the number is reused).
  for (
    const diff of [
      new Uint8Array(64).fill(0xff),
      Uint8Array.of(0x0a, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(0x0a, 0x7f, 0x12),
      Uint8Array.of(0x0a, 0x04, 0xa2, 0x06, 0x01, 0xff),
    ]
  ) {
    for (let i = 0; i < 20; i++) await inj.send(inj.instruction({ diff }));
  }
  // Wrong protocol versions carrying a command that must never run.
  for (const protocolVersion of [0, 1, 3, 0x7fffffff]) {
    await inj.send(inj.instruction({
      protocolVersion,
      diff: keys("echo VERSION-LEAK\r"),
    }));
  }
  // A base the server never had.
  await inj.send(inj.instruction({
    oldNum: 999_999_999_999n,
    newNum: inj.num + 7n,
    diff: keys("echo BASE-LEAK\r"),
  }));
  // Absurd resizes inside accepted states: ignored, the pty keeps 80x24.
  for (
    const [width, height] of [
      [0, 0],
      [100_000, 100_000],
      [-5, -5],
      [1, 100_000],
      [0x7fffffff, 1],
      [-0x80000000, -0x80000000],
    ]
  ) {
    await inj.step([{ type: "resize", width, height }]);
  }
  // Throwaway numbers beyond the newest state; an absurd ack number.
  await inj.step([], { throwawayNum: inj.num + 1000n });
  await inj.step([], { throwawayNum: 0xfffffffffffffffen });
  await inj.step([], { ackNum: 0xfffffffffffffffen });
  // Fragments that never complete.
  await inj.fragment(32767, false, random(100));
  await inj.fragment(32767, true, random(100));
  const big = inj.id();
  for (let num = 0; num < 7200; num++) {
    await inj.fragment(num + 1, false, random(1200), big); // 0 never comes
  }
  for (let i = 0; i < 2000; i++) await inj.fragment(1, false, random(1000));
  // Same id and number, different contents.
  const twice = inj.id();
  await inj.fragment(0, false, random(50), twice);
  await inj.fragment(0, false, random(50), twice);
  // More states than the 1024 a receiver holds, never the newest (no throwaway): quenched.
  for (let i = 0; i < 1500; i++) {
    await inj.send(inj.instruction({
      newNum: BigInt(10 + i),
      throwawayNum: 0n,
      diff: keys("echo HELD-LEAK\r"),
    }));
  }
}

/**
 * Datagrams the server must drop before decrypting anything: random bytes of
 * every size, and a command sealed under a wrong key, in the wrong direction,
 * truncated or with a flipped bit.
 */
function unauthenticated(key: Uint8Array, base: bigint): Uint8Array[] {
  const leak = encodeFragment({
    id: 1n << 50n,
    num: 0,
    final: true,
    contents: compress(encodeInstruction({
      protocolVersion: PROTOCOL_VERSION,
      oldNum: base,
      newNum: 5_000_000n,
      ackNum: 0n,
      throwawayNum: 0n,
      diff: keys("echo JUNK-LEAK\r"),
      chaff: new Uint8Array(0),
    })),
  });
  const seal = (codec: DatagramCodec) =>
    codec.seal({ timestamp: 1, timestampReply: 0xffff, payload: leak });
  const wrongKey = new DatagramCodec(generateKey(), { direction: TO_SERVER });
  const reflected = new DatagramCodec(key, { direction: TO_CLIENT });
  const forged = new DatagramCodec(key, { direction: TO_SERVER });
  const out = [0, 1, 23, 24, 3000, 65000].map(random);
  for (let i = 0; i < 1500; i++) out.push(random(randomInt(1400)));
  for (let i = 0; i < 200; i++) out.push(seal(wrongKey), seal(reflected));
  for (let i = 0; i < 300; i++) {
    const whole = seal(forged);
    if (i % 2 === 0) {
      out.push(whole.subarray(0, randomInt(whole.length)));
    } else {
      const flipped = whole.slice();
      flipped[randomInt(flipped.length)] ^= 1 << randomInt(8);
      out.push(flipped);
    }
  }
  return out;
}

/** A UserMessage typing `text`. */
function keys(text: string): Uint8Array {
  return encodeUserMessage([{ type: "keys", keys: encoder.encode(text) }]);
}

/** Whether a screen line equals `text` exactly. */
function hasLine(client: HeadlessClient, text: string): boolean {
  return client.screenText().includes(text);
}

Deno.test("tmosh serve drops unauthenticated junk and authenticated malformed input, stays small, keeps working", async () => {
  const server = await startTmoshServer([
    "/bin/sh",
    "-c",
    "PS1='$ ' exec /bin/sh -i",
  ]);
  const client = HeadlessClient.connect({
    ip: "127.0.0.1",
    port: server.port,
    key: server.key,
    width: 80,
    height: 24,
  });
  const junk = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const to = {
    transport: "udp" as const,
    hostname: "127.0.0.1",
    port: server.port,
  };
  let peakKb = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakKb = Math.max(peakKb, await rssKb(server.pid));
      await delay(20);
    }
  })();
  try {
    // Phase 0: a normal session.
    await client.waitFor(() => hasLine(client, "$"), "the prompt", STEP_MS);
    client.type("echo base-$((1+1))\r");
    await client.waitFor(() => hasLine(client, "base-2"), "base-2", STEP_MS);
    const sender = client.transport.sender;
    await client.waitFor(
      () => sender.ackedNum === sender.lastSentNum,
      "the server acking all input",
      STEP_MS,
    );

    // Phase 1: unauthenticated junk from another socket.
    const junkDatagrams = unauthenticated(
      decodeKey(server.key),
      sender.ackedNum,
    );
    for (const [i, datagram] of junkDatagrams.entries()) {
      await junk.send(datagram, to).catch(() => 0);
      if (i % BATCH === 0) await delay(2);
    }
    await delay(300);
    assert.ok(await processAlive(server.pid), "alive after junk");
    client.type("echo junk-$((2+2))\r");
    await client.waitFor(
      () => hasLine(client, "junk-4"),
      "junk-4 (the server still talks to the real client)",
      STEP_MS,
    );
    await client.waitFor(
      () => sender.ackedNum === sender.lastSentNum,
      "the server acking all input",
      STEP_MS,
    );
    await delay(300);
    const baseKb = await rssKb(server.pid);
    peakKb = baseKb;

    // Phase 2: authenticated. First prove hand-made instructions reach the shell.
    const inj = new Injector(client);
    await inj.type("echo chain-$((1+4))\r");
    await client.waitFor(
      () => hasLine(client, "chain-5"),
      "chain-5 (hand-made instructions are applied)",
      STEP_MS,
    );

    await floodAuthenticated(inj);
    await delay(500);
    assert.ok(
      await processAlive(server.pid),
      "alive after the flood",
    );

    // The session still works: the chain continues (throwaway clears the held states).
    await inj.type("echo hostile-$((3+3))-ok; stty size\r");
    await client.waitFor(
      () => hasLine(client, "hostile-6-ok"),
      "hostile-6-ok after the flood",
      STEP_MS,
    );
    await client.waitFor(
      () => hasLine(client, "24 80"),
      "stty size still 24 80",
      STEP_MS,
    );
    const screen = client.screenText().join("\n");
    for (
      const leakText of ["JUNK-LEAK", "VERSION-LEAK", "BASE-LEAK", "HELD-LEAK"]
    ) {
      assert.ok(
        !screen.includes(leakText),
        `${leakText} never ran:\n${screen}`,
      );
    }
    sampling = false;
    await sampler;
    const afterKb = await rssKb(server.pid);
    const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
    console.log(
      `server RSS: ${mb(baseKb)} before the authenticated flood, ` +
        `peak ${mb(peakKb)}, ${mb(afterKb)} after`,
    );
    assert.ok(
      peakKb - baseKb < RSS_GROWTH_LIMIT_KB,
      `RSS grew by ${mb(peakKb - baseKb)} (limit ${mb(RSS_GROWTH_LIMIT_KB)})`,
    );
    assert.ok(await processAlive(server.pid), "alive at the end");
  } finally {
    sampling = false;
    await sampler;
    junk.close();
    await client.close();
    await server.stop();
  }
});
