/**
 * The server session (docs/wire.md §1.5, §1.7, §8; mosh: mosh-server.cc
 * serve()): a program on a pty, its output fed to an emulator whose screen is
 * synchronized to the client, the client's keystrokes and resizes applied to
 * the pty, echo acks, and the exit conditions.
 *
 * The program is spawned when the first client state arrives, after that
 * state's resizes are applied, so it starts at the client's window size (as
 * mosh-server, which starts its child early but only releases it then).
 * Before that the emulator has the ssh pty's size, which is state 0.
 * @module
 */

import {
  CompleteTerminal,
  EchoAckTracker,
} from "../protocol/statesync/complete_terminal.ts";
import { SEND_MINDELAY_SERVER } from "../protocol/network/constants.ts";
import { SERVER_FIRST_CONTACT_TIMEOUT } from "./constants.ts";
import { Emulator } from "../protocol/terminal/emulator.ts";
import {
  type SessionEnd,
  type SessionTransport,
  Transport,
} from "../protocol/network/transport.ts";
import type { Connection } from "../protocol/network/connection.ts";
import { errorText } from "../protocol/network/os_error.ts";
import {
  takeNewEvents,
  UserStream,
} from "../protocol/statesync/user_stream.ts";
import { Pty } from "./pty.ts";

/** Options of {@linkcode runSession}. */
export interface SessionOptions {
  /** The program's argv; `command[0]` is looked up in PATH. */
  command: string[];
  /** argv[0] if not `command[0]` (e.g. `-bash` for a login shell). */
  argv0?: string;
  /** The program's whole environment. */
  env: Record<string, string>;
  /** The program's working directory (default: ours). */
  cwd?: string;
  /** Initial window width (the ssh pty's), columns. */
  width: number;
  /** Initial window height, rows. */
  height: number;
  /** Text shown before the program starts (the motd), with `\n` line ends. */
  banner?: string;
  /** MOSH_SERVER_NETWORK_TMOUT in ms: shut down after this long without a new client state (0 = never). */
  networkTimeoutMs?: number;
  /** MOSH_SERVER_SIGNAL_TMOUT in ms: SIGUSR1 ends the session only after this long without one (0 = always). */
  signalTimeoutMs?: number;
  /** Receives status lines (attachment, exit reasons); default none. */
  log?: (line: string) => void;
}

/** Longest sleep between checks while no client has spoken or a shutdown is under way, ms (mosh: serve). */
const IDLE_CHECK_MS = 5000;
/** After the program exits, how long its last output may take to arrive before shutting down, ms. */
const EXIT_DRAIN_MS = 200;

/** Runs the session on `connection` until it ends; resolves to the exit status (0). */
export async function runSession(
  connection: Connection,
  options: SessionOptions,
): Promise<number> {
  const session = new ServerSession(connection, options);
  return await session.run();
}

/**
 * The server's arrow-key translation (docs/wire.md §8.4; mosh: UserInput):
 * clients always send `ESC O A`..`ESC O D`; unless the application enabled
 * application cursor keys, they become `ESC [ A`..`ESC [ D`.
 */
export class CursorKeyTranslator {
  #state: "ground" | "esc" | "ss3" = "ground";

  /** Translates `keys` given whether the application is in cursor-key application mode. */
  translate(keys: Uint8Array, appCursorKeys: boolean): Uint8Array {
    const out: number[] = [];
    for (const b of keys) {
      if (this.#state === "ground") {
        if (b === 0x1b) this.#state = "esc";
        out.push(b);
      } else if (this.#state === "esc") {
        if (b === 0x4f) {
          this.#state = "ss3"; // ESC O: hold the O until we see what follows
          continue;
        }
        this.#state = "ground";
        out.push(b);
      } else {
        this.#state = "ground";
        const arrow = b >= 0x41 && b <= 0x44;
        out.push(!appCursorKeys && arrow ? 0x5b : 0x4f, b);
      }
    }
    return Uint8Array.from(out);
  }
}

/** The log line for each way the SSP session can end. */
const END_MESSAGES: Record<SessionEnd, string> = {
  acknowledged: "Shutdown acknowledged by the client.",
  counterparty: "The client shut down.",
  timeout: "Shutdown not acknowledged; giving up.",
};

/** One server session; see the module doc. */
class ServerSession {
  readonly #options: SessionOptions;
  readonly #log: (line: string) => void;
  readonly #transport: SessionTransport<CompleteTerminal, UserStream>;
  readonly #emulator: Emulator;
  readonly #echo = new EchoAckTracker();
  readonly #keys = new CursorKeyTranslator();
  readonly #done = Promise.withResolvers<void>();
  readonly #startedAt = performance.now();
  readonly #signals: [Deno.Signal, () => void][] = [];
  #terminal: CompleteTerminal;
  #pty: Pty | null = null;
  #childAlive = false;
  #width: number;
  #height: number;
  #lastWrite: Promise<void> = Promise.resolve();
  #snapshotQueued = false;
  #hostEnded = false;
  #idleFired = false;
  #finished = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(connection: Connection, options: SessionOptions) {
    this.#options = options;
    this.#log = options.log ?? (() => {});
    this.#width = options.width;
    this.#height = options.height;
    this.#emulator = new Emulator(options.width, options.height);
    this.#terminal = new CompleteTerminal(this.#emulator.snapshot());
    this.#transport = new Transport(connection, {
      initialLocal: this.#terminal,
      initialRemote: new UserStream(),
      sendMinDelay: SEND_MINDELAY_SERVER,
    });
  }

  /** Runs until an exit condition holds, then tears everything down. */
  async run(): Promise<number> {
    this.#emulator.onReply((reply) => this.#writeHost(reply));
    if (this.#options.banner !== undefined) {
      this.#feed(this.#options.banner.replace(/\r?\n/g, "\r\n"));
    }
    this.#transport.onRemoteState(() => {
      try {
        this.#onRemoteState();
      } catch (err) {
        // A bug here must not take the session down with it.
        this.#log(`tmosh: applying client input failed: ${errorText(err)}`);
      }
    });
    this.#transport.onTick(() => this.#service());
    this.#listen("SIGTERM", () => this.#onStopSignal("SIGTERM"));
    this.#listen("SIGINT", () => this.#onStopSignal("SIGINT"));
    this.#listen("SIGUSR1", () => this.#onUsr1());
    this.#listen("SIGHUP", () => {}); // ignored, as mosh-server does
    this.#service();
    await this.#done.promise;
    await this.#teardown();
    return 0;
  }

  // ---- input from the client ----

  /** A newer client state arrived: apply its new events (mosh: serve, network branch). */
  #onRemoteState(): void {
    if (this.#finished) return;
    const now = performance.now();
    const num = this.#transport.remoteStateNum;
    const events = takeNewEvents(this.#transport);
    const pending: Uint8Array[] = [];
    events.forEach((ev, i) => {
      if (ev.type === "resize") {
        if (events[i + 1]?.type !== "resize") this.#resize(ev.width, ev.height);
      } else {
        const bytes = this.#keys.translate(
          ev.keys,
          this.#emulator.appCursorKeys,
        );
        if (this.#pty === null) pending.push(bytes);
        else this.#writeHost(bytes);
      }
    });
    if (events.length > 0) this.#echo.registerInputFrame(num, now);
    if (this.#pty === null && !this.#shuttingDown()) {
      this.#spawn();
      for (const bytes of pending) this.#writeHost(bytes);
    }
    this.#queueSnapshot();
    this.#service();
  }

  /** Applies a client resize to the pty and the emulator. */
  #resize(width: number, height: number): void {
    this.#width = width;
    this.#height = height;
    this.#emulator.resize(width, height);
    try {
      this.#pty?.resize(width, height);
    } catch (err) {
      this.#log(`tmosh: resizing the pty failed: ${errorText(err)}`);
      this.#startShutdown();
    }
  }

  /** Starts the program on a pty of the current size. */
  #spawn(): void {
    const o = this.#options;
    try {
      this.#pty = Pty.spawn(o.command, {
        cols: this.#width,
        rows: this.#height,
        env: o.env,
        cwd: o.cwd,
        argv0: o.argv0,
      });
    } catch (err) {
      this.#feed(`${errorText(err)}\r\n`);
      this.#onHostEnd(`the program did not start: ${errorText(err)}`);
      return;
    }
    const pty = this.#pty;
    this.#childAlive = true;
    pty.onData((chunk) => this.#feed(chunk));
    pty.closed.then(() => this.#onHostEnd("the pty closed"));
    pty.exited.then((exit) => {
      this.#childAlive = false;
      const how = exit.signal !== null
        ? `signal ${exit.signal}`
        : `status ${exit.code}`;
      setTimeout(
        () => this.#onHostEnd(`the program exited (${how})`),
        EXIT_DRAIN_MS,
      );
    });
  }

  /** Writes keystrokes or emulator replies to the pty; a failure ends the session. */
  #writeHost(data: Uint8Array | string): void {
    const pty = this.#pty;
    if (pty === null || this.#hostEnded) return;
    const bytes = typeof data === "string"
      ? new TextEncoder().encode(data)
      : data;
    pty.write(bytes).catch(() => this.#onHostEnd("writing to the pty failed"));
  }

  // ---- output of the program ----

  /** Feeds program output to the emulator; a snapshot follows once it is parsed. */
  #feed(data: Uint8Array | string): void {
    if (this.#finished) return;
    this.#lastWrite = this.#emulator.write(data).then(
      () => this.#queueSnapshot(),
      (err) => this.#log(`tmosh: emulator write failed: ${errorText(err)}`),
    );
  }

  /** Runs `fn` after every emulator write issued so far has been parsed. */
  #afterWrites(fn: () => void): void {
    this.#lastWrite.then(fn, fn);
  }

  /** Publishes the emulator's screen at most once per macrotask. */
  #queueSnapshot(): void {
    if (this.#snapshotQueued || this.#finished) return;
    this.#snapshotQueued = true;
    setTimeout(() => {
      this.#snapshotQueued = false;
      this.#publish();
    }, 0);
  }

  /** Makes the emulator's current screen the state the client should reach. */
  #publish(): void {
    if (this.#finished || this.#shuttingDown()) return;
    this.#terminal = this.#terminal.withFramebuffer(this.#emulator.snapshot());
    this.#transport.setCurrentState(this.#terminal);
  }

  /** The program is gone (EOF, exit or write failure): publish its last screen, then shut down. */
  #onHostEnd(why: string): void {
    if (this.#hostEnded || this.#finished) return;
    this.#hostEnded = true;
    this.#log(`Shutting down: ${why}.`);
    this.#afterWrites(() => {
      this.#publish();
      this.#startShutdown();
    });
  }

  // ---- exit conditions ----

  #shuttingDown(): boolean {
    return this.#transport.shuttingDown;
  }

  /** Starts the shutdown handshake (once). */
  #startShutdown(): void {
    if (this.#finished) return;
    if (!this.#shuttingDown()) this.#transport.startShutdown();
    this.#service();
  }

  /** SIGTERM/SIGINT, idle timeout: handshake if a client is attached, else stop now (mosh: serve). */
  #stopRequested(): void {
    if (this.#transport.hasRemote && !this.#shuttingDown()) {
      this.#startShutdown();
    } else {
      this.#finish();
    }
  }

  #onStopSignal(name: string): void {
    this.#log(`Received ${name}.`);
    this.#stopRequested();
  }

  #onUsr1(): void {
    const idle = performance.now() - this.#transport.remoteStateTime;
    const limit = this.#options.signalTimeoutMs ?? 0;
    if (limit > 0 && idle < limit) return;
    this.#log(
      `Network idle for ${
        Math.floor(idle / 1000)
      } seconds when SIGUSR1 received`,
    );
    this.#stopRequested();
  }

  /** Checks every exit condition and the echo ack, then sleeps until the next one can change. */
  #service(): void {
    if (this.#finished) return;
    const now = performance.now();
    const transport = this.#transport;
    const end = transport.sessionEnd();
    if (end !== null) return this.#finish(END_MESSAGES[end]);
    const contacted = transport.remoteStateNum !== 0n;
    if (!contacted && now - this.#startedAt >= SERVER_FIRST_CONTACT_TIMEOUT) {
      return this.#finish(
        `No connection within ${SERVER_FIRST_CONTACT_TIMEOUT / 1000} seconds.`,
      );
    }
    const idleLimit = this.#options.networkTimeoutMs ?? 0;
    const idle = now - transport.remoteStateTime;
    if (idleLimit > 0 && idle >= idleLimit && !this.#idleFired) {
      this.#idleFired = true;
      this.#log(`Network idle for ${Math.floor(idle / 1000)} seconds.`);
      this.#stopRequested();
      if (this.#finished) return;
    }
    const echoAck = this.#echo.update(now);
    if (echoAck !== null && !transport.shuttingDown) {
      this.#terminal = this.#terminal.withEchoAck(echoAck);
      this.#transport.setCurrentState(this.#terminal);
    }
    let wait = this.#echo.waitTime(now);
    if (!contacted) {
      wait = Math.min(
        wait,
        this.#startedAt + SERVER_FIRST_CONTACT_TIMEOUT - now,
      );
    }
    if (!contacted || transport.shuttingDown) {
      wait = Math.min(wait, IDLE_CHECK_MS);
    }
    if (idleLimit > 0 && !this.#idleFired) {
      wait = Math.min(wait, idleLimit - idle);
    }
    clearTimeout(this.#timer);
    this.#timer = Number.isFinite(wait)
      ? setTimeout(() => this.#service(), Math.max(0, Math.ceil(wait)))
      : undefined;
  }

  /** Ends the loop (once). */
  #finish(why?: string): void {
    if (this.#finished) return;
    this.#finished = true;
    if (why !== undefined) this.#log(why);
    clearTimeout(this.#timer);
    this.#done.resolve();
  }

  /** Hangs up on the program, closes the network and the emulator. */
  async #teardown(): Promise<void> {
    for (const [signal, handler] of this.#signals) {
      Deno.removeSignalListener(signal, handler);
    }
    const pty = this.#pty;
    if (pty !== null) {
      if (this.#childAlive) {
        try {
          Deno.kill(-pty.pid, "SIGHUP");
        } catch {
          // already gone
        }
      }
      pty.close();
    }
    await this.#transport.close();
    this.#emulator.dispose();
  }

  #listen(signal: Deno.Signal, handler: () => void): void {
    Deno.addSignalListener(signal, handler);
    this.#signals.push([signal, handler]);
  }
}
