/**
 * protocol/datagram.ts against a stock mosh-server: it accepts the docs/wire.md §11 first
 * packet we seal, and we open its reply.
 * @module
 */

import assert from "node:assert/strict";
import {
  DatagramCodec,
  timestampDiff,
} from "../../protocol/network/datagram.ts";
import { decodeKey } from "../../protocol/crypto/key.ts";
import { TO_SERVER } from "../../protocol/network/constants.ts";
import { peers } from "../../harness/require_peer.ts";
import { C2S_PAYLOAD } from "../../harness/wire_vectors.ts";

const stockServer = peers("mosh-server");

/** Runs `mosh-server new` on a random port; returns its port, key and pid. */
async function startStockServer(): Promise<
  { port: number; key: string; pid: number }
> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const out = await new Deno.Command("mosh-server", {
      args: [
        "new",
        "-i",
        "127.0.0.1",
        "-p",
        String(port),
        "--",
        "sleep",
        "20",
      ],
      env: { LANG: "C.UTF-8" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    const m = stdout.match(/^MOSH CONNECT (\d+) ([A-Za-z0-9/+]{22})\s*$/m);
    const p = stderr.match(/detached, pid = (\d+)/);
    if (m && p) return { port: Number(m[1]), key: m[2], pid: Number(p[1]) };
  }
  throw new Error("tmosh test: mosh-server did not start on 5 random ports");
}

stockServer.test("datagram: a stock mosh-server accepts our packet and we open its reply", async () => {
  const server = await startStockServer();
  const sock = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const codec = new DatagramCodec(decodeKey(server.key), {
      direction: TO_SERVER,
    });
    // The docs/wire.md §11 first packet: a Resize(80x24) instruction.
    const sentAt = 0x1234;
    await sock.send(
      codec.seal({
        timestamp: sentAt,
        timestampReply: 0xffff,
        payload: C2S_PAYLOAD,
      }),
      { transport: "udp", hostname: "127.0.0.1", port: server.port },
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("tmosh test: no reply from mosh-server in 3 s")),
        3000,
      );
    });
    const [bytes] = await Promise.race([sock.receive(), timeout]);
    const reply = codec.open(bytes);
    assert.ok(reply, "the stock server's datagram authenticates");
    assert.equal(reply.direction, 1);
    assert.equal(reply.seq, 0n);
    assert.notEqual(reply.timestamp, 0xffff);
    // The server echoes our timestamp, moved on by the time it held it.
    assert.ok(timestampDiff(reply.timestampReply, sentAt) < 1000);
    assert.ok(reply.payload.length >= 10, "carries a fragment header");
    // A packet of ours reflected back is not accepted.
    const ours = codec.seal({
      timestamp: 1,
      timestampReply: 0xffff,
      payload: C2S_PAYLOAD,
    });
    assert.equal(codec.open(ours), null);
  } finally {
    clearTimeout(timer);
    sock.close();
    try {
      // SIGKILL: SIGTERM would make it retry a shutdown handshake for ~10 s.
      // Its pty closes, so the `sleep` child gets SIGHUP and exits too.
      Deno.kill(server.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
