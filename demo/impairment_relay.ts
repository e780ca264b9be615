/**
 * A userspace UDP impairment relay: sits between a Mosh client and server and
 * adds delay, jitter, loss, reordering, duplication, outages and roaming.
 * Used by `tmosh demo` and by the tests (the kernel here has no netem).
 * @module
 */

/** A UDP endpoint (host name or numeric address, and port). */
export interface Endpoint {
  /** Host name or numeric address. */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** Impairments a relay applies to each datagram, the same in both directions. */
export interface Impairments {
  /** One-way delay added to every datagram, ms (applied in each direction). */
  delayMs: number;
  /** Extra random delay, uniform in [0, jitterMs], ms (may reorder datagrams). */
  jitterMs: number;
  /** Probability (0..1) that a datagram is dropped, in each direction. */
  loss: number;
  /** Probability (0..1) that a datagram is held back by `reorderDelayMs` more. */
  reorder: number;
  /** Extra delay of a reordered datagram, ms. */
  reorderDelayMs: number;
  /** Probability (0..1) that a datagram is sent twice. */
  duplicate: number;
  /** Outage: when true every datagram is dropped, both ways. */
  blackhole: boolean;
}

/** Options of {@linkcode Relay.start}. */
export interface RelayOptions extends Partial<Omit<Impairments, "blackhole">> {
  /** Where clients send; default 127.0.0.1 and a port chosen by the OS. */
  listen?: { hostname: string; port?: number };
  /** The server the relay forwards to. */
  upstream: Endpoint;
  /** Local address of the upstream socket; default the wildcard of the upstream's family. */
  source?: string;
  /** Seed of the random choices (loss, jitter, ...), for reproducible runs. */
  seed?: number;
}

/** Counters of what a relay did with the datagrams it received. */
export interface RelayStats {
  /** Datagrams sent onward (each copy of a duplicated datagram counts). */
  forwarded: number;
  /** Datagrams dropped (loss, outage, no known client, queue full, send error). */
  dropped: number;
  /** Extra copies made by duplication. */
  duplicated: number;
}

/** Most datagrams a relay holds in its delay queue; more are dropped (bounded memory). */
const MAX_PENDING = 10_000;
/** Receive buffer size, bytes (the largest UDP payload). */
const RECEIVE_BUFFER = 65_536;
/** Default extra delay of a reordered datagram, ms. */
const DEFAULT_REORDER_DELAY_MS = 30;

type Direction = "up" | "down";

/** Returns a seeded uniform random generator in [0, 1) (mulberry32). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns the wildcard address of the family of `hostname`. */
function wildcardFor(hostname: string): string {
  return hostname.includes(":") ? "::" : "0.0.0.0";
}

/** Checks that a probability option is in 0..1. */
function checkProbability(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && value <= 1)) {
    throw new RangeError(
      `tmosh: relay ${name} must be between 0 and 1, got ${value}`,
    );
  }
}

/** Checks that a duration option is a finite, non-negative number of ms. */
function checkDuration(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && Number.isFinite(value))) {
    throw new RangeError(
      `tmosh: relay ${name} must be a duration >= 0 ms, got ${value}`,
    );
  }
}

/** Validates impairment options; throws RangeError on a bad value. */
function checkImpairments(options: Partial<Impairments>): void {
  checkDuration("delayMs", options.delayMs);
  checkDuration("jitterMs", options.jitterMs);
  checkDuration("reorderDelayMs", options.reorderDelayMs);
  checkProbability("loss", options.loss);
  checkProbability("reorder", options.reorder);
  checkProbability("duplicate", options.duplicate);
}

/** True for receive errors after which a socket is unusable (closed). */
function isFatal(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}

/** Binds a UDP socket; numeric or named host, port 0 lets the OS choose. */
function bindUdp(hostname: string, port: number): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname, port });
}

/** A userspace UDP relay between one client and one server, with impairments. */
export class Relay {
  /** Counters of forwarded, dropped and duplicated datagrams. */
  readonly stats: RelayStats = { forwarded: 0, dropped: 0, duplicated: 0 };

  #listener: Deno.DatagramConn;
  #upstreamSocket: Deno.DatagramConn;
  #upstream: Endpoint;
  #source: string;
  #client: Deno.NetAddr | null = null;
  #impairments: Impairments;
  #random: () => number;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #sends = new Set<Promise<void>>();
  #loops = new Set<Promise<void>>();
  #closed = false;

  private constructor(
    listener: Deno.DatagramConn,
    upstreamSocket: Deno.DatagramConn,
    options: RelayOptions,
    source: string,
  ) {
    this.#listener = listener;
    this.#upstreamSocket = upstreamSocket;
    this.#upstream = { ...options.upstream };
    this.#source = source;
    this.#impairments = {
      delayMs: options.delayMs ?? 0,
      jitterMs: options.jitterMs ?? 0,
      loss: options.loss ?? 0,
      reorder: options.reorder ?? 0,
      reorderDelayMs: options.reorderDelayMs ?? DEFAULT_REORDER_DELAY_MS,
      duplicate: options.duplicate ?? 0,
      blackhole: false,
    };
    this.#random = seededRandom(
      options.seed ?? Math.floor(Math.random() * 2 ** 32),
    );
  }

  /** Binds the listening and upstream sockets and starts relaying. */
  static start(options: RelayOptions): Promise<Relay> {
    checkImpairments(options);
    const listen = options.listen ?? { hostname: "127.0.0.1" };
    const source = options.source ?? wildcardFor(options.upstream.hostname);
    const listener = bindUdp(listen.hostname, listen.port ?? 0);
    let upstreamSocket: Deno.DatagramConn;
    try {
      upstreamSocket = bindUdp(source, 0);
    } catch (error) {
      listener.close();
      throw error;
    }
    const relay = new Relay(listener, upstreamSocket, options, source);
    relay.#spawn(relay.#clientLoop());
    relay.#spawn(relay.#upstreamLoop(upstreamSocket));
    return Promise.resolve(relay);
  }

  /** The UDP port clients send to. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** The address clients send to. */
  get hostname(): string {
    return (this.#listener.addr as Deno.NetAddr).hostname;
  }

  /** The local address and port the server currently sees the client come from. */
  get upstreamAddr(): Deno.NetAddr {
    return this.#upstreamSocket.addr as Deno.NetAddr;
  }

  /** The current impairments (a copy). */
  get impairments(): Impairments {
    return { ...this.#impairments };
  }

  /** Changes impairments from now on (datagrams already queued keep their delay). */
  set(options: Partial<Impairments>): void {
    checkImpairments(options);
    for (const [key, value] of Object.entries(options)) {
      if (value !== undefined) {
        (this.#impairments as unknown as Record<string, unknown>)[key] = value;
      }
    }
  }

  /** Moves the client: opens a new upstream socket (new source port/address) and closes the old one. */
  async roam(options: { hostname?: string } = {}): Promise<void> {
    if (this.#closed) {
      throw new Error("tmosh: relay is closed; start a new one");
    }
    const source = options.hostname ?? this.#source;
    const fresh = bindUdp(source, 0);
    const old = this.#upstreamSocket;
    this.#upstreamSocket = fresh;
    this.#source = source;
    this.#spawn(this.#upstreamLoop(fresh));
    old.close();
    await Promise.resolve();
  }

  /** Stops relaying: cancels queued datagrams, closes sockets, waits for loops to end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const socket of [this.#listener, this.#upstreamSocket]) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
    await Promise.allSettled([...this.#loops, ...this.#sends]);
  }

  /** Tracks a receive loop so close() can wait for it. */
  #spawn(loop: Promise<void>): void {
    this.#loops.add(loop);
    loop.finally(() => this.#loops.delete(loop));
  }

  /** Receives from clients; remembers the latest client address; forwards upstream. */
  async #clientLoop(): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER);
    while (!this.#closed) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await this.#listener.receive(buffer);
      } catch (error) {
        if (this.#closed || isFatal(error)) return;
        continue; // transient error (e.g. ICMP unreachable reported on the socket)
      }
      const [data, addr] = received;
      this.#client = addr as Deno.NetAddr;
      this.#impair(data.slice(), "up");
    }
  }

  /** Receives from the server on one upstream socket until it is closed. */
  async #upstreamLoop(socket: Deno.DatagramConn): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER);
    while (!this.#closed) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await socket.receive(buffer);
      } catch (error) {
        if (this.#closed || socket !== this.#upstreamSocket || isFatal(error)) {
          return;
        }
        continue;
      }
      if (socket !== this.#upstreamSocket) return; // roamed away meanwhile
      this.#impair(received[0].slice(), "down");
    }
  }

  /** Decides the fate of one datagram: drop, or send once or twice after a delay. */
  #impair(data: Uint8Array, direction: Direction): void {
    const imp = this.#impairments;
    if (imp.blackhole || (imp.loss > 0 && this.#random() < imp.loss)) {
      this.stats.dropped++;
      return;
    }
    this.#schedule(data, direction);
    if (imp.duplicate > 0 && this.#random() < imp.duplicate) {
      this.stats.duplicated++;
      this.#schedule(data, direction);
    }
  }

  /** Queues one copy of a datagram with the configured delay, jitter and reordering. */
  #schedule(data: Uint8Array, direction: Direction): void {
    const imp = this.#impairments;
    let delay = imp.delayMs;
    if (imp.jitterMs > 0) delay += this.#random() * imp.jitterMs;
    if (imp.reorder > 0 && this.#random() < imp.reorder) {
      delay += imp.reorderDelayMs;
    }
    if (delay <= 0) {
      this.#send(data, direction);
      return;
    }
    if (this.#timers.size >= MAX_PENDING) {
      this.stats.dropped++;
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#send(data, direction);
    }, delay);
    this.#timers.add(timer);
  }

  /** Sends a datagram now: upstream from the current socket, or down to the latest client. */
  #send(data: Uint8Array, direction: Direction): void {
    if (this.#closed) return;
    const target = direction === "up" ? this.#upstream : this.#client;
    if (target === null) {
      this.stats.dropped++; // no client has spoken yet
      return;
    }
    const socket = direction === "up" ? this.#upstreamSocket : this.#listener;
    const addr: Deno.NetAddr = {
      transport: "udp",
      hostname: target.hostname,
      port: target.port,
    };
    const sending = socket.send(data, addr).then(
      () => {
        this.stats.forwarded++;
      },
      () => {
        this.stats.dropped++; // socket closed by roam/close, or unreachable
      },
    );
    this.#sends.add(sending);
    sending.finally(() => this.#sends.delete(sending));
  }
}
