/**
 * Throughput of AES-128-OCB3 seal/open (libcrypto and JavaScript) and
 * datagram seal/open for 1400-byte payloads. Run directly: `deno run --allow-all bench/crypto_bench.ts`.
 * @module
 */

import { Ocb } from "../protocol/crypto/ocb.ts";
import { DatagramCodec } from "../protocol/network/datagram.ts";
import { TO_CLIENT, TO_SERVER } from "../protocol/network/constants.ts";

const PAYLOAD_BYTES = 1400;
const WINDOW_MS = 500;

/** Runs `op` repeatedly for about WINDOW_MS and returns operations per second. */
function rate(op: () => void): number {
  for (let i = 0; i < 200; i++) op(); // warm up the JIT
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < WINDOW_MS) {
    for (let i = 0; i < 100; i++) op();
    count += 100;
    elapsed = performance.now() - start;
  }
  return (count * 1000) / elapsed;
}

function report(name: string, opsPerSec: number): void {
  const mbps = (opsPerSec * PAYLOAD_BYTES) / 1e6;
  console.log(
    `${name.padEnd(28)} ${Math.round(opsPerSec).toString().padStart(8)} /s  ${
      mbps.toFixed(1).padStart(6)
    } MB/s`,
  );
}

/** Prints seal/s and open/s for 1400-byte payloads (raw OCB and datagram codec). */
export async function benchCrypto(): Promise<void> {
  const key = crypto.getRandomValues(new Uint8Array(16));
  const payload = crypto.getRandomValues(new Uint8Array(PAYLOAD_BYTES));

  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  let n = 0;
  // Both implementations (libcrypto where it loads, and JavaScript).
  for (const backend of ["native", "js"] as const) {
    const ocb = new Ocb(key, { backend });
    if (ocb.backend !== backend) continue;
    report(
      `ocb seal 1400 B (${backend})`,
      rate(() => {
        view.setUint32(8, n++);
        ocb.seal(nonce, payload);
      }),
    );
    await breathe();
    view.setUint32(8, 12345);
    const sealed = ocb.seal(nonce, payload);
    report(
      `ocb open 1400 B (${backend})`,
      rate(() => {
        if (!ocb.open(nonce, sealed)) {
          throw new Error("tmosh: bench open failed");
        }
      }),
    );
    await breathe();
  }

  await breathe();
  const client = new DatagramCodec(key, { direction: TO_SERVER });
  const server = new DatagramCodec(key, { direction: TO_CLIENT });
  const fields = { timestamp: 1, timestampReply: 2, payload };
  report("datagram seal 1400 B", rate(() => client.seal(fields)));
  await breathe();
  const wire = client.seal(fields);
  report(
    "datagram open 1400 B",
    rate(() => {
      if (!server.open(wire)) throw new Error("tmosh: bench open failed");
    }),
  );
}

/** Lets pending timers and I/O run between timing windows. */
function breathe(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

if (import.meta.main) {
  await benchCrypto();
}
