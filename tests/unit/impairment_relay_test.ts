import assert from "node:assert/strict";
import { Relay } from "../../demo/impairment_relay.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A UDP socket on 127.0.0.1 that records what it receives (and optionally echoes it). */
class Peer {
  readonly socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  readonly received: { text: string; from: Deno.NetAddr; at: number }[] = [];
  #loop: Promise<void>;

  constructor(echo = false) {
    this.#loop = (async () => {
      try {
        for (;;) {
          const [data, from] = await this.socket.receive();
          const addr = from as Deno.NetAddr;
          this.received.push({
            text: decoder.decode(data),
            from: addr,
            at: performance.now(),
          });
          if (echo) await this.socket.send(data, addr);
        }
      } catch {
        // socket closed
      }
    })();
  }

  get port(): number {
    return (this.socket.addr as Deno.NetAddr).port;
  }

  send(text: string, port: number): Promise<number> {
    return this.socket.send(encoder.encode(text), {
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.#loop;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `condition` holds; throws after `timeoutMs`. */
async function until(
  condition: () => boolean,
  timeoutMs = 2000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error("condition not met in time");
    }
    await sleep(2);
  }
}

/** Starts an upstream peer, a client peer and a relay between them. */
async function setup(
  options: Partial<Parameters<typeof Relay.start>[0]> = {},
  echo = true,
) {
  const server = new Peer(echo);
  const client = new Peer();
  const relay = await Relay.start({
    upstream: { hostname: "127.0.0.1", port: server.port },
    seed: 1,
    ...options,
  });
  const close = async () => {
    await relay.close();
    await client.close();
    await server.close();
  };
  return { server, client, relay, close };
}

Deno.test("relay forwards both ways and replies reach the client", async () => {
  const { server, client, relay, close } = await setup();
  try {
    assert.notEqual(relay.port, server.port);
    await client.send("ping", relay.port);
    await until(() => client.received.length === 1);
    assert.equal(server.received[0].text, "ping");
    assert.equal(server.received[0].from.port, relay.upstreamAddr.port);
    assert.equal(client.received[0].text, "ping");
    assert.equal(client.received[0].from.port, relay.port);
    await until(() => relay.stats.forwarded === 2);
    assert.deepEqual(relay.stats, { forwarded: 2, dropped: 0, duplicated: 0 });
  } finally {
    await close();
  }
});

Deno.test("relay drops about the configured fraction over 2000 datagrams", async () => {
  const { server, client, relay, close } = await setup(
    { loss: 0.3, seed: 7 },
    false,
  );
  try {
    const total = 2000;
    for (let i = 0; i < total; i += 20) {
      // Paced bursts, so loopback socket buffers never overflow.
      await Promise.all(
        Array.from(
          { length: 20 },
          (_, j) => client.send(`${i + j}`, relay.port),
        ),
      );
      await sleep(1);
    }
    await until(() => relay.stats.forwarded + relay.stats.dropped === total);
    await until(() => server.received.length === relay.stats.forwarded);
    const rate = relay.stats.dropped / total;
    // Binomial(2000, 0.3): sd ≈ 0.0102; allow ±4 sd.
    assert.ok(Math.abs(rate - 0.3) < 0.041, `loss rate ${rate}`);
  } finally {
    await close();
  }
});

Deno.test("relay loss applies to the way back too", async () => {
  const { client, relay, close } = await setup({ seed: 3 });
  try {
    await client.send("first", relay.port); // teaches the relay the client address
    await until(() => client.received.length === 1);
    relay.set({ loss: 0.5 });
    for (let i = 0; i < 200; i++) {
      await client.send(`${i}`, relay.port);
      if (i % 20 === 19) await sleep(1);
    }
    await sleep(50);
    // Each round trip survives with p = 0.25: 50 expected of 200, sd ≈ 6.
    const back = client.received.length - 1;
    assert.ok(back > 20 && back < 80, `round trips that survived: ${back}`);
  } finally {
    await close();
  }
});

Deno.test("relay delays each direction by at least delayMs", async () => {
  const { client, relay, close } = await setup({ delayMs: 40, jitterMs: 10 });
  try {
    for (let i = 0; i < 5; i++) {
      const sent = performance.now();
      await client.send(`d${i}`, relay.port);
      await until(() => client.received.length === i + 1);
      const rtt = client.received[i].at - sent;
      assert.ok(
        rtt >= 80,
        `round trip ${rtt.toFixed(1)} ms shorter than 2 × 40 ms`,
      );
      assert.ok(
        rtt < 80 + 20 + 150,
        `round trip ${rtt.toFixed(1)} ms far too long`,
      );
    }
  } finally {
    await close();
  }
});

Deno.test("relay duplicates datagrams", async () => {
  const { server, client, relay, close } = await setup({ duplicate: 1 }, false);
  try {
    for (let i = 0; i < 10; i++) await client.send(`x${i}`, relay.port);
    await until(() => server.received.length === 20);
    await sleep(20);
    assert.equal(server.received.length, 20);
    assert.equal(relay.stats.duplicated, 10);
    assert.equal(relay.stats.forwarded, 20);
    for (let i = 0; i < 10; i++) {
      assert.equal(server.received.filter((r) => r.text === `x${i}`).length, 2);
    }
  } finally {
    await close();
  }
});

Deno.test("relay reorders some datagrams", async () => {
  const { server, client, relay, close } = await setup(
    { reorder: 0.3, reorderDelayMs: 20, seed: 11 },
    false,
  );
  try {
    for (let i = 0; i < 40; i++) {
      await client.send(`${i}`, relay.port);
      await sleep(1);
    }
    await until(() => server.received.length === 40);
    const order = server.received.map((r) => Number(r.text));
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i),
    );
    assert.notDeepEqual(
      order,
      Array.from({ length: 40 }, (_, i) => i),
      "nothing was reordered",
    );
  } finally {
    await close();
  }
});

Deno.test("relay blackhole drops everything both ways, then recovers", async () => {
  const { server, client, relay, close } = await setup();
  try {
    await client.send("before", relay.port);
    await until(() => client.received.length === 1);
    relay.set({ blackhole: true });
    for (let i = 0; i < 5; i++) await client.send(`lost${i}`, relay.port);
    await server.socket.send(encoder.encode("down"), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: relay.upstreamAddr.port,
    });
    await until(() => relay.stats.dropped === 6);
    await sleep(30);
    assert.equal(server.received.length, 1);
    assert.equal(client.received.length, 1);
    relay.set({ blackhole: false });
    await client.send("after", relay.port);
    await until(() => client.received.length === 2);
    assert.equal(client.received[1].text, "after");
  } finally {
    await close();
  }
});

Deno.test("relay roam moves the source port and address the server sees", async () => {
  const { server, client, relay, close } = await setup();
  try {
    await client.send("a", relay.port);
    await until(() => client.received.length === 1);
    const first = server.received[0].from;
    await relay.roam();
    await client.send("b", relay.port);
    await until(() => client.received.length === 2);
    const second = server.received[1].from;
    assert.equal(second.hostname, "127.0.0.1");
    assert.notEqual(second.port, first.port);
    // The old source is closed: the server's reply to it goes nowhere.
    await server.socket.send(encoder.encode("stale"), first);
    await relay.roam({ hostname: "127.0.0.2" });
    await client.send("c", relay.port);
    await until(() => client.received.length === 3);
    assert.equal(server.received[2].from.hostname, "127.0.0.2");
    assert.deepEqual(client.received.map((r) => r.text), ["a", "b", "c"]);
  } finally {
    await close();
  }
});

Deno.test("relay follows the client when its port changes", async () => {
  const { client, relay, close } = await setup();
  const moved = new Peer();
  try {
    await client.send("one", relay.port);
    await until(() => client.received.length === 1);
    await moved.send("two", relay.port);
    await until(() => moved.received.length === 1);
    assert.equal(moved.received[0].text, "two");
    assert.equal(client.received.length, 1);
  } finally {
    await moved.close();
    await close();
  }
});

Deno.test("relay rejects bad options and close stops delivery", async () => {
  const upstream = { hostname: "127.0.0.1", port: 9 };
  await assert.rejects(
    async () => await Relay.start({ upstream, loss: 2 }),
    RangeError,
  );
  const { server, client, relay, close } = await setup({ delayMs: 30 }, false);
  try {
    assert.throws(() => relay.set({ duplicate: -1 }), RangeError);
    await client.send("queued", relay.port);
    await sleep(5);
    await relay.close(); // clears the pending 30 ms timer
    await sleep(50);
    assert.equal(server.received.length, 0);
  } finally {
    await close();
  }
});
