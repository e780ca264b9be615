/**
 * What the attach tests share (docs/wire.md §15, docs/architecture.md §8):
 * `tmosh serve` session commands run to completion against a private
 * registry (XDG_STATE_HOME), the grant `tmosh serve attach` prints, and
 * datagrams forged under a given key, as a replaced client (or an attacker
 * holding its key) would send them.
 * @module
 */

import assert from "node:assert/strict";
import { baseEnv, type Run, tmoshProcess } from "./serve_process.ts";
import type { SessionRecord } from "../server/registry.ts";
import { DatagramCodec } from "../protocol/network/datagram.ts";
import { Fragmenter } from "../protocol/network/fragment.ts";
import {
  encodeInstruction,
  encodeUserMessage,
} from "../protocol/protobufs/messages.ts";
import {
  DEFAULT_IPV4_MTU,
  PROTOCOL_VERSION,
  TIMESTAMP_NONE,
  TO_SERVER,
} from "../protocol/network/constants.ts";

/** Runs `tmosh serve ARGS` to completion with `env` and no other environment. */
export async function serveCommand(
  args: string[],
  env: Record<string, string>,
): Promise<Run> {
  const out = await tmoshProcess(["serve", ...args], {
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** `tmosh serve ARGS` that must print MOSH CONNECT: its port and key. */
export async function attachGrant(
  args: string[],
  env: Record<string, string>,
): Promise<{ port: number; key: string; run: Run }> {
  const run = await serveCommand(args, env);
  assert.equal(run.code, 0, run.stderr);
  const m = /^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})$/m.exec(run.stdout);
  assert.ok(m, `a MOSH CONNECT line: ${JSON.stringify(run.stdout)}`);
  assert.match(run.stderr, /\[tmosh: attaching to session [a-z2-7]{8}/);
  return { port: Number(m[1]), key: m[2], run };
}

/** `tmosh serve list --json` of the registry in `env`, parsed. */
export async function listSessions(
  env: Record<string, string>,
): Promise<SessionRecord[]> {
  const run = await serveCommand(["list", "--json"], env);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** The only session of the registry in `env`. */
export async function onlySession(
  env: Record<string, string>,
): Promise<SessionRecord> {
  const sessions = await listSessions(env);
  assert.equal(sessions.length, 1, JSON.stringify(sessions));
  return sessions[0];
}

/** A temporary XDG_STATE_HOME and the environment of servers and commands using it. */
export async function stateHome(
  extra: Record<string, string> = {},
): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_attach_e2e_" });
  return { dir, env: baseEnv({ XDG_STATE_HOME: dir, ...extra }) };
}

/**
 * One datagram sealed with `key` towards the server, as a client would send
 * it: an instruction from state 0 typing `keys`, with sequence number `seq`.
 */
export function forgedDatagram(
  key: Uint8Array,
  keys: string,
  seq = 0,
): Uint8Array {
  const instruction = encodeInstruction({
    protocolVersion: PROTOCOL_VERSION,
    oldNum: 0n,
    newNum: 1000n,
    ackNum: 0n,
    throwawayNum: 0n,
    diff: encodeUserMessage([
      { type: "keys", keys: new TextEncoder().encode(keys) },
    ]),
    chaff: new Uint8Array(0),
  });
  const [fragment] = new Fragmenter().makeFragments(
    instruction,
    DEFAULT_IPV4_MTU,
  );
  const codec = new DatagramCodec(key, { direction: TO_SERVER });
  for (let i = 0; i < seq; i++) {
    codec.seal({ timestamp: 0, timestampReply: 0, payload: fragment });
  }
  return codec.seal({
    timestamp: 1,
    timestampReply: TIMESTAMP_NONE,
    payload: fragment,
  });
}

/** Sends `datagram` to 127.0.0.1:`port` from a fresh UDP socket. */
export async function sendRaw(
  port: number,
  datagram: Uint8Array,
): Promise<void> {
  const sock = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    await sock.send(datagram, {
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
  } finally {
    sock.close();
  }
}

/** Whether `path` exists (not following a symlink). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
