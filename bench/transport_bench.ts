/**
 * Throughput of the SSP instruction pipeline on loopback: diff → encode →
 * fragment → seal → UDP send → receive → open → reassemble → decode →
 * receiver apply, for UserStream keystroke states (client to server) and
 * CompleteTerminal one-line screen diffs (server to client), with a bounded
 * number of instructions in flight. The transport's send timer is bypassed:
 * this measures what the pipeline can carry, not what SSP chooses to send.
 * @module
 */

import { CompleteTerminal } from "../protocol/statesync/complete_terminal.ts";
import { Connection } from "../protocol/network/connection.ts";
import { PROTOCOL_VERSION } from "../protocol/network/constants.ts";
import { Emulator } from "../protocol/terminal/emulator.ts";
import { EmulatorApplier } from "../protocol/statesync/emulator_applier.ts";
import { FragmentAssembly, Fragmenter } from "../protocol/network/fragment.ts";
import { blankFramebuffer } from "../protocol/terminal/framebuffer.ts";
import { generateKey } from "../protocol/crypto/key.ts";
import {
  decodeInstruction,
  encodeInstruction,
} from "../protocol/protobufs/messages.ts";
import type { SyncState } from "../protocol/network/sync_state.ts";
import { TransportReceiver } from "../protocol/network/transport_receiver.ts";
import {
  takeNewEvents,
  UserStream,
} from "../protocol/statesync/user_stream.ts";

/** Keystroke states sent in the UserStream case. */
const KEY_STATES = 20_000;
/** Screen states sent in the CompleteTerminal case. */
const SCREEN_STATES = 5_000;
/**
 * States sent ahead of the receiver's newest: 1 = lockstep (each diff is
 * exactly one state's change), 8 = pipelined (diffs from the acknowledged
 * state span several changes and the client's applier reloads its emulator
 * for diffs based on an older state, as under load).
 */
const WINDOWS = [1, 8];
/** Longest wait for an instruction in flight before declaring it lost, ms. */
const STALL_MS = 2000;

/** What one pipeline run measured. */
interface Figures {
  states: number;
  datagrams: number;
  bytes: number;
  ms: number;
  /** Instructions that arrived after a newer one (Deno may reorder concurrent sends). */
  skipped: number;
}

/**
 * Sends states[1..count] from `from` to `to`, each as a diff from the newest
 * state the receiver holds (as SSP does from the acknowledged state), with
 * at most `window` states ahead of it; returns what it took.
 */
async function pump<T extends SyncState<T>>(
  link: { from: Connection; to: Connection; window: number },
  states: { at(i: number): T; count: number; initialRemote: T },
  hooks: {
    /** Called when a newer state arrived. */
    onApplied(receiver: TransportReceiver<T>): void;
    /** Whether the receiver got exactly the final state. */
    verify(receiver: TransportReceiver<T>): boolean;
  },
): Promise<Figures> {
  const { from, to, window } = link;
  const receiver = new TransportReceiver(states.initialRemote, 0);
  const fragmenter = new Fragmenter();
  const assembly = new FragmentAssembly();
  let failure: string | null = null;
  let wake: (() => void) | null = null;
  let skipped = 0;
  to.onPayload((payload) => {
    const bytes = assembly.add(payload);
    if (bytes === null) return;
    const instr = decodeInstruction(bytes);
    if (instr === null) {
      failure = "an instruction did not decode";
    } else {
      const result = receiver.receive(instr, performance.now());
      if (result.ackNumChanged) hooks.onApplied(receiver);
      else if (result.reason === "malformed") failure = "a diff was malformed";
      else skipped++;
    }
    if (wake !== null) wake();
  });
  const latest = () => Number(receiver.latestNum);
  /** Waits until the receiver is at most `ahead` states behind state `sent`. */
  async function drain(sent: number, ahead: number): Promise<void> {
    while (sent - latest() > ahead) {
      if (failure !== null) throw new Error(`tmosh: bench failed: ${failure}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ok = await new Promise<boolean>((resolve) => {
        wake = () => resolve(true);
        timer = setTimeout(() => resolve(false), STALL_MS);
      });
      clearTimeout(timer);
      wake = null;
      if (!ok) {
        throw new Error(
          `tmosh: bench stalled at state ${latest()} of ${sent} on loopback`,
        );
      }
    }
  }
  let datagrams = 0, bytes = 0;
  const start = performance.now();
  for (let i = 1; i <= states.count; i++) {
    const base = latest();
    const encoded = encodeInstruction({
      protocolVersion: PROTOCOL_VERSION,
      oldNum: BigInt(base),
      newNum: BigInt(i),
      ackNum: 0n,
      throwawayNum: BigInt(base),
      diff: states.at(i).diffFrom(states.at(base)),
      chaff: new Uint8Array(0),
    });
    for (const fragment of fragmenter.makeFragments(encoded, from.mtu)) {
      from.send(fragment);
      datagrams++;
      bytes += fragment.length;
    }
    await drain(i, window - 1);
  }
  await drain(states.count, 0);
  const ms = performance.now() - start;
  if (!hooks.verify(receiver)) {
    throw new Error("tmosh: bench receiver did not reach the final state");
  }
  return { states: states.count, datagrams, bytes, ms, skipped };
}

/** Prints one case's figures. */
function report(name: string, f: Figures): void {
  const s = f.ms / 1000;
  console.log(
    `transport: ${name}: ${Math.round(f.states / s)} states/s, ` +
      `${Math.round(f.datagrams / s)} datagrams/s ` +
      `(${f.states} states, ${f.datagrams} datagrams, ` +
      `${Math.round(f.bytes / f.datagrams)} B/datagram before sealing, ` +
      `${f.skipped} overtaken)`,
  );
}

/** Keystroke states: each one byte longer than the last. */
function keystrokeStates(count: number) {
  const states: UserStream[] = [new UserStream()];
  const text = new TextEncoder().encode("the quick brown fox jumps over ");
  for (let i = 1; i <= count; i++) {
    states.push(
      states[i - 1].pushKeys(
        text.subarray(i % text.length, i % text.length + 1),
      ),
    );
  }
  return { at: (i: number) => states[i], count, initialRemote: states[0] };
}

/** Screen states: each rewrites one row of an 80x24 screen. */
async function screenStates(count: number) {
  const em = new Emulator(80, 24);
  const states: CompleteTerminal[] = [
    new CompleteTerminal(blankFramebuffer(80, 24)),
  ];
  for (let i = 1; i <= count; i++) {
    await em.write(
      `\x1b[${(i % 23) + 1};1H\x1b[K\x1b[3${i % 8}m${i}\x1b[0m ` +
        "drwxr-xr-x  4 user user  4096 Mar 12 12:00 projects/tmosh",
    );
    states.push(new CompleteTerminal(em.snapshot(), BigInt(i >> 4)));
  }
  em.dispose();
  return states;
}

/** Sends keystroke states from `from` to `to` and checks every byte arrived once, in order. */
async function keystrokes(from: Connection, to: Connection, window: number) {
  const keys = keystrokeStates(KEY_STATES);
  const want = keys.at(KEY_STATES).events().flatMap((ev) =>
    ev.type === "keys" ? [...ev.keys] : []
  );
  const got: number[] = [];
  return await pump({ from, to, window }, keys, {
    onApplied(r) {
      for (const ev of takeNewEvents(r)) {
        if (ev.type === "keys") got.push(...ev.keys);
      }
    },
    verify: () =>
      got.length === want.length && got.every((b, i) => b === want[i]),
  });
}

/** Sends screen states from `from` to `to` through the client's applier; checks the last screen. */
async function screens(
  from: Connection,
  to: Connection,
  options: { window: number; states: CompleteTerminal[] },
) {
  const { window, states } = options;
  const applier = new EmulatorApplier();
  const initialRemote = new CompleteTerminal(
    blankFramebuffer(80, 24),
    0n,
    { applier },
  );
  try {
    return await pump({ from, to, window }, {
      at: (i) => i === 0 ? initialRemote : states[i],
      count: states.length - 1,
      initialRemote,
    }, {
      onApplied() {},
      verify: (r) => r.latest.equals(states[states.length - 1]),
    });
  } finally {
    applier.dispose();
  }
}

/** Prints states/s and datagrams/s of the loopback pipeline for keystrokes and screen diffs. */
export async function benchTransport(): Promise<void> {
  const key = generateKey();
  const server = await Connection.listen(key, { ip: "127.0.0.1" });
  const client = Connection.connect(key, {
    ip: "127.0.0.1",
    port: server.port,
  });
  try {
    const states = await screenStates(SCREEN_STATES);
    for (const window of WINDOWS) {
      const mode = window === 1 ? "lockstep" : `${window} in flight`;
      // Client to server first: that also tells the server the client's address.
      report(
        `UserStream keystroke states, ${mode}`,
        await keystrokes(client, server, window),
      );
      report(
        `CompleteTerminal one-line changes, ${mode}`,
        await screens(server, client, { window, states }),
      );
    }
  } finally {
    await client.close();
    await server.close();
  }
}

if (import.meta.main) {
  await benchTransport();
}
