/**
 * A UDP socket's kernel receive buffer grows on request (Linux, FFI;
 * docs/wire.md §17.8), as far as net.core.rmem_max allows.
 */
import assert from "node:assert/strict";
import { growReceiveBuffer } from "../../protocol/network/socket_buffer.ts";

Deno.test("socket buffer: SO_RCVBUF grows to the request, capped by rmem_max", () => {
  if (Deno.build.os !== "linux") {
    console.log("skipped: Linux only");
    return;
  }
  const conn = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const max = Number(
      Deno.readTextFileSync("/proc/sys/net/core/rmem_max").trim(),
    );
    const want = 1024 * 1024;
    const got = growReceiveBuffer(conn, want);
    // The kernel doubles what it grants (its bookkeeping overhead).
    assert.equal(got, 2 * Math.min(want, max));
  } finally {
    conn.close();
  }
});
