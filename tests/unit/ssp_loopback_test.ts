/**
 * Proof of the whole SSP stack: a tmosh server endpoint (Connection.listen,
 * Transport<CompleteTerminal, UserStream>, the mosh-semantics Emulator) and
 * the headless tmosh client, in one process over real UDP sockets on
 * 127.0.0.1, through the impairment relay (30% loss each way, reordering,
 * duplication, 100 ms delay each way). The client's framebuffer must become
 * exactly the server's after every burst of output, keystrokes must arrive
 * in order exactly once, and both shutdown handshakes must complete.
 * @module
 */

import assert from "node:assert/strict";
import { Relay } from "../../demo/impairment_relay.ts";
import {
  CompleteTerminal,
  EchoAckTracker,
} from "../../protocol/statesync/complete_terminal.ts";
import { Connection } from "../../protocol/network/connection.ts";
import {
  DEFAULT_IPV4_MTU,
  PROTOCOL_VERSION,
  SEND_MINDELAY_SERVER,
  SHUTDOWN_NUM,
} from "../../protocol/network/constants.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import {
  blankFramebuffer,
  cellAt,
  type Framebuffer,
  framebuffersEqual,
  paletteColor,
  rgbColor,
  rowsEqual,
} from "../../protocol/terminal/framebuffer.ts";
import { Fragmenter } from "../../protocol/network/fragment.ts";
import { encodeKey, generateKey } from "../../protocol/crypto/key.ts";
import {
  encodeInstruction,
  type UserEvent,
} from "../../protocol/protobufs/messages.ts";
import { Transport } from "../../protocol/network/transport.ts";
import {
  takeNewEvents,
  UserStream,
} from "../../protocol/statesync/user_stream.ts";
import { HeadlessClient, rowText } from "../../harness/headless_client.ts";
import { CAPABILITIES } from "../../protocol/statesync/capabilities.ts";
import { randomTestPort } from "../../harness/ports.ts";

/**
 * Longest wait for one convergence or handshake step, ms. A step usually
 * takes 0.1-1.5 s; the margin makes a run of unlucky losses (a 2-fragment
 * instruction gets through a 30% loss link about half the time per try,
 * tries are an RTO apart) practically impossible to time out.
 */
const STEP_MS = 10_000;
/** How often the server side advances its echo ack, ms. */
const ECHO_POLL_MS = 20;

/** The tmosh server side of the loopback: an emulator whose snapshots are the SSP state. */
class LoopbackServer {
  readonly transport: Transport<CompleteTerminal, UserStream>;
  readonly em: Emulator;
  /** Every user event received, in order, keystroke runs split per delivery. */
  readonly events: UserEvent[] = [];
  readonly #echo = new EchoAckTracker();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(connection: Connection, width: number, height: number) {
    this.em = new Emulator(width, height);
    this.em.onReply(() => {});
    this.transport = new Transport<CompleteTerminal, UserStream>(connection, {
      initialLocal: new CompleteTerminal(blankFramebuffer(width, height)),
      initialRemote: new UserStream(),
      sendMinDelay: SEND_MINDELAY_SERVER,
    });
    this.transport.onRemoteState(() => this.#userInput());
    this.#timer = setInterval(() => {
      if (this.#echo.update(performance.now()) !== null) this.publish();
    }, ECHO_POLL_MS);
  }

  /** The framebuffer the server is sending now. */
  get fb(): Framebuffer {
    return this.transport.sender.currentState.fb;
  }

  /** Every keystroke byte received, in order. */
  keys(): number[] {
    return this.events.flatMap((e) => e.type === "keys" ? [...e.keys] : []);
  }

  /** Feeds terminal output to the emulator and sends the resulting state. */
  async write(output: string): Promise<Framebuffer> {
    await this.em.write(output);
    return this.publish();
  }

  /** Sets the SSP state to the emulator's snapshot and the current echo ack. */
  publish(): Framebuffer {
    const fb = this.em.snapshot();
    if (!this.transport.sender.shutdownInProgress) {
      this.transport.setCurrentState(
        new CompleteTerminal(fb, this.#echo.echoAck),
      );
    }
    return fb;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.transport.close();
    this.em.dispose();
  }

  #userInput(): void {
    const now = performance.now();
    const fresh = takeNewEvents(this.transport.receiver);
    let typed = false;
    for (const ev of fresh) {
      this.events.push(ev);
      if (ev.type === "resize") this.em.resize(ev.width, ev.height);
      else typed = true;
    }
    if (typed) {
      this.#echo.registerInputFrame(this.transport.receiver.latestNum, now);
    }
    if (fresh.length > 0) this.publish();
  }
}

/** One client, one relay, one server, all on 127.0.0.1. */
interface Rig {
  server: LoopbackServer;
  relay: Relay;
  client: HeadlessClient;
  seed: number;
  close(): Promise<void>;
}

async function startRig(width: number, height: number): Promise<Rig> {
  const key = generateKey();
  const low = randomTestPort(16);
  const connection = await Connection.listen(key, {
    ip: "127.0.0.1",
    portRange: [low, low + 15],
  });
  const server = new LoopbackServer(connection, width, height);
  const seed = Math.floor(Math.random() * 2 ** 32);
  const relay = await Relay.start({
    upstream: { hostname: "127.0.0.1", port: connection.port },
    delayMs: 100,
    jitterMs: 10,
    loss: 0.3,
    reorder: 0.2,
    reorderDelayMs: 40,
    duplicate: 0.2,
    seed,
  });
  const client = HeadlessClient.connect({
    ip: "127.0.0.1",
    port: relay.port,
    key: encodeKey(key),
    width,
    height,
  });
  return {
    server,
    relay,
    client,
    seed,
    async close() {
      await client.close();
      await relay.close();
      await server.close();
    },
  };
}

/** Rows where two framebuffers differ, for failure messages. */
function rowDiff(want: Framebuffer, got: Framebuffer): string {
  const state = (fb: Framebuffer) =>
    `${fb.width}x${fb.height} cursor ${fb.cursorRow},${fb.cursorCol} ` +
    `visible ${fb.cursorVisible} title ${JSON.stringify(fb.title)} ` +
    `bells ${fb.bellCount}`;
  const lines = [`server ${state(want)}; client ${state(got)}`];
  for (let y = 0; y < Math.max(want.height, got.height); y++) {
    const w = want.rows[y], g = got.rows[y];
    if (w && g && rowsEqual(w, g)) continue;
    const wt = w ? rowText(w) : "<none>", gt = g ? rowText(g) : "<none>";
    lines.push(`row ${y}: server |${wt}| client |${gt}|`);
  }
  return lines.join("\n");
}

/** Waits until the client's framebuffer equals `want` exactly. */
async function converge(rig: Rig, want: Framebuffer, what: string) {
  const { client } = rig;
  try {
    await client.waitFor(
      () => framebuffersEqual(client.fb, want),
      `convergence after ${what} (relay seed ${rig.seed})`,
      STEP_MS,
    );
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n${rowDiff(want, client.fb)}`,
    );
  }
}

/** A screenful of random printable ASCII in random colours (a multi-fragment diff). */
function noiseScreen(width: number, height: number): string {
  const rand = crypto.getRandomValues(new Uint8Array(width * height * 2));
  let s = "\x1b[H";
  for (let y = 0; y < height; y++) {
    s += `\x1b[${y + 1};1H`;
    for (let x = 0; x < width; x++) {
      const r = rand[(y * width + x) * 2], c = rand[(y * width + x) * 2 + 1];
      if (x % 7 === 0) s += `\x1b[38;5;${c}m`;
      s += String.fromCharCode(33 + (r % 94));
    }
  }
  return s + "\x1b[0m";
}

/** An output burst and spot checks of the cells it must produce on the client. */
interface Burst {
  what: string;
  output: string;
  check(fb: Framebuffer): void;
}

/** Asserts cell (y, x)'s text and width. */
function assertCell(fb: Framebuffer, y: number, x: number, text: string) {
  const cell = cellAt(fb, y, x);
  assert.equal(cell.text, text, `cell ${y},${x}`);
  return cell;
}

/** Output bursts: text, colours, CJK, combining marks, scrolling, cursor motion, modes. */
const BURSTS: Burst[] = [{
  what: "plain text",
  output: "hello, world\r\n$ ",
  check(fb) {
    assertCell(fb, 0, 0, "h");
    assert.deepEqual([fb.cursorRow, fb.cursorCol], [1, 2]);
  },
}, {
  what: "colours",
  output:
    "\x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[0m \x1b[38;5;208mx256\x1b[0m " +
    "\x1b[38;2;1;2;3mrgb\x1b[48;2;200;100;50mbg\x1b[0m \x1b[4;7munder-inverse\x1b[0m\r\n",
  check(fb) {
    assert.equal(assertCell(fb, 1, 2, "r").rendition.fg, paletteColor(1));
    assert.equal(assertCell(fb, 1, 17, "x").rendition.fg, paletteColor(208));
    assert.equal(assertCell(fb, 1, 22, "r").rendition.fg, rgbColor(1, 2, 3));
    assert.equal(
      assertCell(fb, 1, 25, "b").rendition.bg,
      rgbColor(200, 100, 50),
    );
  },
}, {
  what: "CJK and combining marks",
  output: "中文字テスト\r\nwide at the edge:\x1b[5;80H中\r\n" +
    "e\u0301 a\u0308\u0304 \u0301alone\r\n",
  check(fb) {
    assert.equal(assertCell(fb, 2, 0, "中").width, 2);
    assert.equal(assertCell(fb, 2, 1, "").width, 0);
    assert.equal(assertCell(fb, 5, 0, "中").width, 2, "wrapped wide char");
    assertCell(fb, 6, 0, "e\u0301");
    assertCell(fb, 6, 2, "a\u0308\u0304");
  },
}, {
  what: "scrolling",
  output: Array.from({ length: 40 }, (_, i) => `scroll line ${i}\r\n`).join(""),
  check(fb) {
    assert.equal(rowText(fb.rows[22]), "scroll line 39");
    assert.equal(rowText(fb.rows[0]), "scroll line 17");
  },
}, {
  what: "cursor motion, erasing, scroll regions",
  output: "\x1b[10;20Hmiddle\x1b[2;5Hup\x1b[K\x1b[3;1H\x1b[2K\x1b[6;1H\x1b[2L" +
    "\x1b[7;3H\x1b[4P\x1b[5;15r\x1b[15;1H\n\n\n\x1b[r\x1b[20;70H",
  check(fb) {
    assert.equal(rowText(fb.rows[1]), "scroup");
    assert.deepEqual([fb.cursorRow, fb.cursorCol], [19, 69]);
  },
}, {
  what: "title, bell and modes",
  // One bell per frame: mosh's diff rings once however many bells a frame adds.
  output:
    "\x1b]0;tmosh loopback\x07\x07\x1b[?25l\x1b[?2004h\x1b[?1000h\x1b[?1006h" +
    "\x1b[3;3Hmodes",
  check(fb) {
    assert.equal(fb.title, "tmosh loopback");
    assert.equal(fb.bellCount, 1);
    assert.equal(fb.cursorVisible, false);
    assert.equal(fb.bracketedPaste, true);
    assert.deepEqual([fb.mouseReporting, fb.mouseEncoding], [1000, 1006]);
  },
}];

Deno.test("SSP loopback through a lossy relay: exact convergence, keystrokes once, client shutdown", async () => {
  const rig = await startRig(80, 24);
  const { server, client } = rig;
  try {
    const typed: Uint8Array[] = [];
    const type = (keys: string | Uint8Array) => {
      const bytes = typeof keys === "string"
        ? new TextEncoder().encode(keys)
        : keys;
      typed.push(bytes);
      return client.type(bytes);
    };

    for (const [i, { what, output, check }] of BURSTS.entries()) {
      type(`burst ${i} ${what}\r`);
      const want = await server.write(output);
      await converge(rig, want, what);
      check(client.fb);
    }

    // Several states in quick succession: only the last must arrive.
    for (let i = 0; i < 5; i++) {
      type(new Uint8Array([i, 0x1b, 0x7f, 0xff - i]));
      await server.write(`\x1b[${i + 1};1Hquick ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    await converge(rig, server.fb, "quick succession");

    // Half a screen of noise needs several fragments per instruction.
    const before = new CompleteTerminal(server.fb);
    await server.write("\x1b[?25h\x1b[2J");
    const noisy = await server.write(noiseScreen(80, 12));
    await converge(rig, noisy, "half a screen of coloured noise");
    const instruction = encodeInstruction({
      protocolVersion: PROTOCOL_VERSION,
      oldNum: 0n,
      newNum: 1n,
      ackNum: 0n,
      throwawayNum: 0n,
      diff: new CompleteTerminal(noisy).diffFrom(before),
      chaff: new Uint8Array(0),
    });
    assert.ok(
      new Fragmenter().makeFragments(instruction, DEFAULT_IPV4_MTU).length >= 2,
      "the noise diff spans several fragments",
    );

    // A client resize reaches the server's emulator; the new size comes back.
    client.resize(100, 30);
    await client.waitFor(
      () => client.fb.width === 100 && client.fb.height === 30,
      "the resized screen",
      STEP_MS,
    );
    const resized = await server.write(
      "\x1b[2J\x1b[30;1Hbottom of a 100x30 screen\x1b[1;95Hwrap around",
    );
    await converge(rig, resized, "output after the resize");
    assert.equal(cellAt(client.fb, 0, 99).text, "a");
    assert.equal(cellAt(client.fb, 1, 0).text, "r");

    // Every keystroke arrives once, in order; then the echo ack covers them.
    const all = new Uint8Array(256);
    for (let b = 0; b < 256; b++) all[b] = b;
    type(all);
    const last = type("exit\r");
    const want = typed.flatMap((t) => [...t]);
    await client.waitFor(
      () => server.keys().length >= want.length,
      `all ${want.length} keystrokes at the server`,
      STEP_MS,
    );
    assert.deepEqual(server.keys(), want);
    const resizes = server.events.filter((e) => e.type === "resize");
    assert.deepEqual(resizes, [
      { type: "resize", width: 80, height: 24 },
      { type: "resize", width: 100, height: 30 },
    ]);
    // State 1 is the tmosh hello, then the resize (docs/wire.md §13.4);
    // through the lossy relay the hello still arrives exactly once.
    assert.deepEqual(
      server.events[0],
      { type: "hello", capabilities: [...CAPABILITIES] },
      "state 1 opens with the hello",
    );
    assert.equal(server.events.filter((e) => e.type === "hello").length, 1);
    assert.deepEqual(server.events[1], resizes[0], "then the resize");
    await client.waitFor(
      () => client.echoAck >= last,
      `the echo ack of state ${last}`,
      STEP_MS,
    );
    assert.ok(client.echoAck <= client.transport.sender.lastSentNum);

    // Client-initiated shutdown under loss: the server acks 2^64-1.
    client.shutdown();
    await client.waitFor(
      () => client.finishReason !== null,
      "the client's shutdown to be acknowledged",
      STEP_MS,
    );
    assert.equal(await client.finished, "acknowledged");
    assert.equal(server.transport.receiver.latestNum, SHUTDOWN_NUM);
    assert.ok(server.transport.counterpartyShutdown);
    assert.ok(server.transport.sender.counterpartyShutdownAckSent);
    assert.ok(rig.relay.stats.dropped > 0, "the relay dropped datagrams");
    assert.ok(rig.relay.stats.duplicated > 0, "the relay duplicated some");
  } finally {
    await rig.close();
  }
});

Deno.test("SSP loopback through a lossy relay: server-initiated shutdown is acked by the client", async () => {
  const rig = await startRig(40, 10);
  const { server, client } = rig;
  try {
    const want = await server.write(
      "\x1b[1;31mbye\x1b[0m \x1b[38;2;9;8;7mnow\x1b[0m",
    );
    await converge(rig, want, "the farewell");
    assert.equal(cellAt(client.fb, 0, 0).rendition.fg, paletteColor(1));
    assert.equal(cellAt(client.fb, 0, 4).rendition.fg, rgbColor(9, 8, 7));

    server.transport.startShutdown();
    await client.waitFor(
      () => client.finishReason !== null,
      "the client's ack of the server's shutdown",
      STEP_MS,
    );
    assert.equal(await client.finished, "counterparty");
    assert.ok(client.transport.counterpartyShutdown);
    // The client stays up, acking retransmissions, until the server has its ack.
    await client.waitFor(
      () => server.transport.sender.shutdownAcknowledged,
      "the server to see its shutdown acknowledged",
      STEP_MS,
    );
    assert.ok(!server.transport.sender.shutdownAckTimedOut(performance.now()));
  } finally {
    await rig.close();
  }
});
