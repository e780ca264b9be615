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
 *
 * Another client may attach with a fresh key (docs/wire.md §15): when its
 * first datagram commits the key, the old client's epoch says goodbye
 * (server/epoch.ts) and the synchronization starts over with a new transport
 * from a blank terminal, so the new client gets the whole screen (and, with
 * scrollback.v1, the recent history first in its log).
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
  type ResendClock,
  type SessionEnd,
  type SessionTransport,
  Transport,
} from "../protocol/network/transport.ts";
import type { Connection } from "../protocol/network/connection.ts";
import { ErrorGuard } from "../protocol/network/guard.ts";
import { errorText } from "../protocol/network/os_error.ts";
import {
  takeNewEvents,
  UserStream,
} from "../protocol/statesync/user_stream.ts";
import { Pty } from "./pty.ts";
import { watchOwner } from "./owner.ts";
import {
  acceptCapabilities,
  ATTACH_CAPABILITY,
  CAPABILITIES,
  SCROLLBACK_CAPABILITY,
  SCROLLBLOCK_CAPABILITY,
  SCROLLFLOW_CAPABILITY,
} from "../protocol/statesync/capabilities.ts";
import {
  ScrollBacklog,
  toLogRecords,
} from "../protocol/statesync/scroll_backlog.ts";
import { ScrollHistory } from "../protocol/statesync/scroll_history.ts";
import type { ScrollRecord } from "../protocol/terminal/scroll_record.ts";
import { hasInterrupt, LogFlow } from "./log_flow.ts";
import { blankFramebuffer } from "../protocol/terminal/framebuffer.ts";
import { type Farewell, formatAddr, sayFarewell } from "./epoch.ts";
import { idleLimit, idleMessage } from "./detached_timeout.ts";
import { ServerForwarding } from "./forward.ts";
import type { ForwardPolicy } from "./sshd_policy.ts";
import { LazyTimer } from "../protocol/network/lazy_timer.ts";
import { noteWork } from "../protocol/network/idle_collect.ts";

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
  /** The host's forwarding policy, as prefetchPolicy gives it (default: read from the session's start on). */
  forwardPolicy?: () => ForwardPolicy;
  /** Initial window width (the ssh pty's), columns. */
  width: number;
  /** Initial window height, rows. */
  height: number;
  /** Text shown before the program starts (the motd), with `\n` line ends. */
  banner?: string;
  /** MOSH_SERVER_NETWORK_TMOUT in ms: shut down after this long without a new client state (0 = never). */
  networkTimeoutMs?: number;
  /** The detached timeout in ms (server/detached_timeout.ts): shut down after this long without a client heard from (0 = never); the smaller of it and networkTimeoutMs applies. */
  detachedTimeoutMs?: number;
  /** MOSH_SERVER_SIGNAL_TMOUT in ms: SIGUSR1 ends the session only after this long without one (0 = always). */
  signalTimeoutMs?: number;
  /** Receives status lines (attachment, exit reasons, internal errors); default none. */
  log?: (line: string) => void;
  /** Observes each chunk of program output after the emulator got it (a test seam of the pty reader). */
  onOutput?: (chunk: Uint8Array) => void;
  /** The session ends as soon as this process has ended (TMOSH_OWNER_PID; `tmosh demo`). */
  ownerPid?: number;
  /** The tmosh capabilities this server accepts in a client's hello (docs/wire.md §13); default CAPABILITIES. */
  capabilities?: readonly string[];
  /** Told the window size each time a client changes it (the session registry). */
  onResize?: (width: number, height: number) => void;
  /** Told the new client's address when another client attached with a fresh key (the session registry). */
  onAttach?: (client: string) => void;
  /** Aborting it ends the session as SIGTERM does (the control socket's kill). */
  stop?: AbortSignal;
  /** Called each time the loop wakes (a transport tick, a client state), so the registry needs no timer of its own. */
  onWake?: () => void;
}

/** Longest sleep between checks while no client has spoken or a shutdown is under way, ms (mosh: serve). */
const IDLE_CHECK_MS = 5000;
/** Longest timer delay, ms (setTimeout fires at once beyond 2^31 - 1). */
const MAX_TIMER_MS = 2 ** 31 - 1;
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
  /** The loop boundary: every callback handed to the event loop runs through it. */
  readonly #guard: ErrorGuard;
  readonly #connection: Connection;
  /** The current client's epoch (a new one each time another client attaches). */
  #transport: SessionTransport<CompleteTerminal, UserStream>;
  readonly #emulator: Emulator;
  #echo = new EchoAckTracker();
  #keys = new CursorKeyTranslator();
  /** The newest scrollback-log records, for a client that attaches later (docs/wire.md §15). */
  readonly #history = new ScrollHistory();
  /** Replaced clients' epochs still sending their shutdown. */
  readonly #farewells = new Set<Farewell>();
  /** Whether a client state ever arrived, in any epoch. */
  #contacted = false;
  readonly #done = Promise.withResolvers<void>();
  readonly #startedAt = performance.now();
  readonly #signals: [Deno.Signal, () => void][] = [];
  #terminal: CompleteTerminal;
  /** The scrollback log's pending records, once a client negotiated scrollback.v1 (docs/wire.md §14). */
  #backlog: ScrollBacklog | null = null;
  /** When the program's output is held back for the scrollback log (server/log_flow.ts). */
  #flow = new LogFlow();
  #pty: Pty | null = null;
  /** Channels: -L, -R, -D, -A, -W (server/forward.ts, docs/wire.md §17). */
  readonly #forward: ServerForwarding;
  #childAlive = false;
  #width: number;
  #height: number;
  #lastWrite: Promise<void> = Promise.resolve();
  #snapshotQueued = false;
  /**
   * The screen or the log changed since the state last set, which the
   * transport has not sent yet: the state is refreshed just before it goes
   * out (#queueSnapshot), not once per read of the program's output.
   */
  #stale = false;
  #hostEnded = false;
  #idleFired = false;
  #finished = false;
  /** The next check (lazy: re-arming on every tick costs no wake-up, protocol/network/lazy_timer.ts). */
  readonly #timer = new LazyTimer(
    () => this.#guard.run("the session timer", () => this.#service()),
  );

  constructor(connection: Connection, options: SessionOptions) {
    this.#options = options;
    this.#log = options.log ?? (() => {});
    this.#guard = new ErrorGuard(this.#log);
    this.#width = options.width;
    this.#height = options.height;
    this.#emulator = new Emulator(options.width, options.height);
    this.#terminal = new CompleteTerminal(this.#emulator.snapshot());
    this.#connection = connection;
    this.#forward = new ServerForwarding(connection, {
      log: this.#log,
      guard: this.#guard,
      env: options.env,
      policy: options.forwardPolicy,
    });
    this.#transport = this.#newTransport(this.#terminal);
    connection.onRekey(
      this.#guard.wrap(
        "the key switch",
        (farewell) => this.#newEpoch(farewell),
      ),
    );
  }

  /** A transport whose state 0 is `initial`, with the session's handlers (ignored once it is not the current one). */
  #newTransport(
    initial: CompleteTerminal,
  ): SessionTransport<CompleteTerminal, UserStream> {
    const transport = new Transport(this.#connection, {
      initialLocal: initial,
      initialRemote: new UserStream(),
      sendMinDelay: SEND_MINDELAY_SERVER,
      guard: this.#guard,
    });
    // The transport runs these through the guard.
    transport.onRemoteState(() => {
      if (transport === this.#transport) this.#onRemoteState();
    });
    transport.onTick(() => {
      if (transport === this.#transport) this.#service();
    });
    transport.onResend((clock) => {
      if (transport === this.#transport) this.#publish(clock);
    });
    transport.onBeforeSend(() => {
      if (transport === this.#transport && this.#stale) this.#publish();
    });
    return transport;
  }

  /**
   * Another client committed a fresh key (docs/wire.md §15): the old client
   * gets its final state (with the detached notice if it speaks attach.v1)
   * and the shutdown under its old key; a new epoch starts from a blank
   * terminal of the current size, with fresh echo acks and no capabilities
   * until the new client's hello.
   */
  #newEpoch(farewell: Connection): void {
    const old = this.#transport;
    const by = formatAddr(this.#connection.remoteAddr) ?? "";
    this.#log(`tmosh: another client attached from ${by}.`);
    if (this.#stale) this.#publish();
    const tell = this.#terminal.capabilities?.includes(ATTACH_CAPABILITY);
    const bye = sayFarewell(old, farewell, {
      final: tell ? this.#terminal.withDetachedBy(by) : this.#terminal,
      guard: this.#guard,
    });
    this.#farewells.add(bye);
    bye.done.then(() => this.#farewells.delete(bye));
    this.#scrollRecords(this.#emulator.takeScrollRecords());
    this.#backlog = null;
    // The new client's log is numbered from 0 again.
    this.#flow = new LogFlow();
    this.#forward.newEpoch();
    this.#echo = new EchoAckTracker();
    this.#keys = new CursorKeyTranslator();
    const fb = this.#emulator.snapshot();
    this.#terminal = new CompleteTerminal(fb);
    this.#transport = this.#newTransport(
      new CompleteTerminal(blankFramebuffer(fb.width, fb.height)),
    );
    this.#transport.setCurrentState(this.#terminal);
    this.#options.onAttach?.(by);
    this.#service();
  }

  /** Runs until an exit condition holds, then tears everything down. */
  async run(): Promise<number> {
    const guard = this.#guard;
    this.#emulator.onReply(
      guard.wrap("emulator replies", (reply) => this.#writeHost(reply)),
    );
    if (this.#options.banner !== undefined) {
      this.#feed(this.#options.banner.replace(/\r?\n/g, "\r\n"));
    }
    this.#listen("SIGTERM", () => this.#onStopSignal("SIGTERM"));
    this.#listen("SIGINT", () => this.#onStopSignal("SIGINT"));
    this.#listen("SIGUSR1", () => this.#onUsr1());
    this.#listen("SIGHUP", () => {}); // ignored, as mosh-server does
    const stop = this.#options.stop;
    const onStop = guard.wrap("the stop request", () => {
      this.#log("Asked to end on the control socket.");
      this.#stopRequested();
    });
    stop?.addEventListener("abort", onStop, { once: true });
    const owner = this.#options.ownerPid;
    const stopWatching = owner === undefined ? () => {} : watchOwner(
      owner,
      guard.wrap("watching the owner", () =>
        this.#finish(
          `The process that owns this server (pid ${owner}) has ended.`,
        )),
    );
    this.#service();
    if (stop?.aborted) onStop();
    await this.#done.promise;
    stop?.removeEventListener("abort", onStop);
    stopWatching();
    await this.#teardown();
    return 0;
  }

  // ---- input from the client ----

  /** A newer client state arrived: apply its new events (mosh: serve, network branch). */
  #onRemoteState(): void {
    if (this.#finished) return;
    this.#contacted = true;
    const now = performance.now();
    const num = this.#transport.remoteStateNum;
    const events = takeNewEvents(this.#transport);
    const pending: Uint8Array[] = [];
    let input = false;
    events.forEach((ev, i) => {
      if (ev.type === "hello") {
        this.#hello(ev.capabilities);
        return;
      }
      input = true;
      if (ev.type === "written") {
        // The terminal's pace (scrollflow.v1): the log waits for it.
        if (this.#terminal.capabilities?.includes(SCROLLFLOW_CAPABILITY)) {
          this.#backlog?.clientWrote(ev.end);
        }
        return;
      }
      if (ev.type === "resize") {
        if (events[i + 1]?.type !== "resize") this.#resize(ev.width, ev.height);
      } else {
        const bytes = this.#keys.translate(
          ev.keys,
          this.#emulator.appCursorKeys,
        );
        if (this.#backlog !== null && hasInterrupt(bytes)) {
          // The rest of a flood is not wanted: the prompt comes back at once.
          this.#backlog.collapsePending();
          this.#flow.release();
          this.#pty?.resume();
        }
        if (this.#pty === null) pending.push(bytes);
        else this.#writeHost(bytes);
      }
    });
    // As mosh-server, only a state with keys or resizes (not a lone hello) is echo-acked.
    if (input) this.#echo.registerInputFrame(num, now);
    if (this.#pty === null && !this.#shuttingDown()) {
      this.#spawn();
      for (const bytes of pending) this.#writeHost(bytes);
    }
    // A heartbeat (no events) changes no screen: no snapshot, so an idle
    // session is not woken again for it (docs/architecture.md §12.1).
    const logWaits = this.#backlog !== null && this.#backlog.pendingCount > 0;
    if (events.length > 0 || logWaits) this.#queueSnapshot();
    this.#service();
  }

  /**
   * A tmosh client's hello (docs/wire.md §13): answer in the synced state with
   * the capabilities both sides speak. Until this, no diff holds an extension.
   */
  #hello(offered: readonly string[]): void {
    const accepted = acceptCapabilities(
      offered,
      this.#forward.supported(this.#options.capabilities ?? CAPABILITIES),
    );
    this.#forward.hello(accepted);
    this.#log(`tmosh: client capabilities: ${accepted.join(" ") || "none"}`);
    if (accepted.includes(SCROLLBACK_CAPABILITY) && this.#backlog === null) {
      // From here on the emulator has a real alternate screen and records
      // the rows leaving the top of the normal one (stock clients never
      // get here: they send no hello). A client that attached later gets the
      // recent history first (docs/wire.md §15).
      this.#emulator.enableNativeScrollback({
        // Called inside the parser: an error must not cut the chunk short.
        onRecords: this.#guard.wrap(
          "the scrollback log",
          (records: ScrollRecord[]) => this.#scrollRecords(records),
        ),
      });
      this.#scrollRecords(this.#emulator.takeScrollRecords());
      const backlog = new ScrollBacklog({
        blocks: accepted.includes(SCROLLBLOCK_CAPABILITY),
      });
      backlog.addLog(this.#history.records());
      this.#backlog = backlog;
    }
    this.#terminal = this.#terminal.withCapabilities(accepted);
    this.#transport.setCurrentState(this.#terminal);
  }

  /** Applies a client resize to the pty and the emulator. */
  #resize(width: number, height: number): void {
    this.#width = width;
    this.#height = height;
    this.#options.onResize?.(width, height);
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
        env: { ...o.env, ...this.#forward.childEnv() },
        cwd: o.cwd,
        argv0: o.argv0,
        onError: (err) => this.#guard.report("the pty reader", err),
      });
    } catch (err) {
      this.#feed(`${errorText(err)}\r\n`);
      this.#onHostEnd(`the program did not start: ${errorText(err)}`);
      return;
    }
    const pty = this.#pty;
    const guard = this.#guard;
    this.#childAlive = true;
    pty.onData(guard.wrap("the pty reader", (chunk) => {
      noteWork(chunk.length); // a collection once the output is quiet again
      this.#feed(chunk);
      this.#options.onOutput?.(chunk);
    }));
    pty.closed.then(
      guard.wrap("the pty reader", () => this.#onHostEnd("the pty closed")),
    );
    pty.exited.then(guard.wrap("reaping the program", (exit) => {
      this.#childAlive = false;
      this.#regulate(performance.now());
      const how = exit.signal !== null
        ? `signal ${exit.signal}`
        : `status ${exit.code}`;
      setTimeout(
        guard.wrap(
          "reaping the program",
          () => this.#onHostEnd(`the program exited (${how})`),
        ),
        EXIT_DRAIN_MS,
      );
    }));
  }

  /** Writes keystrokes or emulator replies to the pty; a failure ends the session. */
  #writeHost(data: Uint8Array | string): void {
    const pty = this.#pty;
    if (pty === null || this.#hostEnded) return;
    const bytes = typeof data === "string"
      ? new TextEncoder().encode(data)
      : data;
    pty.write(bytes).catch(
      this.#guard.wrap(
        "writing to the pty",
        () => this.#onHostEnd("writing to the pty failed"),
      ),
    );
  }

  // ---- output of the program ----

  /** Feeds program output to the emulator; a snapshot follows once it is parsed. */
  #feed(data: Uint8Array | string): void {
    if (this.#finished) return;
    this.#lastWrite = this.#emulator.write(data).then(
      this.#guard.wrap("the emulator", () => {
        this.#scrollRecords(this.#emulator.takeScrollRecords());
        this.#queueSnapshot();
      }),
      (err) => this.#guard.report("the emulator", err),
    );
  }

  /** Rows that left the screen: into the history, and the log of a client with scrollback. */
  #scrollRecords(records: readonly ScrollRecord[]): void {
    if (records.length === 0) return;
    const log = toLogRecords(records);
    this.#history.add(log);
    this.#backlog?.addLog(log);
    this.#regulate(performance.now());
  }

  /** Holds or releases the program's output for the scrollback log (server/log_flow.ts). */
  #regulate(now: number): void {
    const backlog = this.#backlog, pty = this.#pty;
    if (pty === null) return;
    if (backlog === null || !this.#childAlive || this.#hostEnded) {
      this.#flow.release();
    } else {
      // A client that reports its writing is as fast as its terminal.
      const ackedEnd = this.#transport.ackedState.scroll.end;
      this.#flow.acked(backlog.writtenEnd(ackedEnd), now);
      this.#flow.update(
        { records: backlog.pendingCount, bytes: backlog.pendingBytes },
        now,
      );
    }
    if (this.#flow.paused) pty.pause();
    else pty.resume();
  }

  /** Runs `fn` after every emulator write issued so far has been parsed. */
  #afterWrites(fn: () => void): void {
    const guarded = this.#guard.wrap("the session loop", fn);
    this.#lastWrite.then(guarded, guarded);
  }

  /**
   * Publishes the emulator's screen at most once per macrotask; while the
   * state set last still waits to be sent, only marks it stale, so a flood
   * costs one snapshot per state sent (the transport's before-send hook
   * refreshes it), and the first change after a send still starts Mosh's
   * collection delay at once.
   */
  #queueSnapshot(): void {
    if (this.#snapshotQueued || this.#finished) return;
    this.#snapshotQueued = true;
    // setImmediate, not a timer: a timer costs a millisecond or two of
    // keystroke echo; the check phase still comes after this task's writes.
    setImmediate(
      this.#guard.wrap("publishing the screen", () => {
        this.#snapshotQueued = false;
        if (this.#transport.changePending) this.#stale = true;
        else this.#publish();
      }),
    );
  }

  /**
   * Makes the emulator's current screen the state the client should reach;
   * with `timeout`, a retransmission is due: the log first takes back what
   * its shrunken window does not hold (ScrollBacklog.timeout).
   */
  #publish(timeout?: ResendClock): void {
    if (this.#finished || this.#shuttingDown()) return;
    this.#stale = false;
    let terminal = this.#terminal.withFramebuffer(this.#emulator.snapshot());
    const backlog = this.#backlog;
    if (backlog !== null) {
      this.#scrollRecords(this.#emulator.takeScrollRecords());
      const transport = this.#transport;
      const ackedEnd = transport.ackedState.scroll.end;
      if (timeout !== undefined) backlog.timeout(ackedEnd, timeout);
      // A state sent after records were taken back may end below the
      // acknowledged one, and a diff may still start from it.
      let floor = ackedEnd;
      for (const s of transport.unackedStates) {
        floor = Math.min(floor, s.scroll.end);
      }
      const log = backlog.next({
        sentEnd: transport.lastSentState.scroll.end,
        ackedEnd,
        floor,
      });
      terminal = terminal.withScroll(log, this.#emulator.alternateScreen);
    }
    this.#terminal = terminal;
    this.#transport.setCurrentState(terminal);
  }

  /** Whether log records wait and the state sent last holds all the log has: time for the next slice. */
  #logSliceDue(): boolean {
    const backlog = this.#backlog;
    return backlog !== null && backlog.pendingCount > 0 &&
      this.#transport.lastSentState.scroll.end >= this.#terminal.scroll.end;
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
    if (!this.#shuttingDown()) {
      this.#connection.closeRekey(); // no client attaches to a session that ends
      this.#transport.startShutdown();
    }
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
    this.#options.onWake?.();
    const now = performance.now();
    const transport = this.#transport;
    const end = transport.sessionEnd();
    if (end !== null) return this.#finish(END_MESSAGES[end]);
    const contacted = this.#contacted || transport.remoteStateNum !== 0n;
    if (!contacted && now - this.#startedAt >= SERVER_FIRST_CONTACT_TIMEOUT) {
      return this.#finish(
        `No connection within ${SERVER_FIRST_CONTACT_TIMEOUT / 1000} seconds.`,
      );
    }
    const limit = idleLimit(
      this.#options.networkTimeoutMs ?? 0,
      this.#options.detachedTimeoutMs ?? 0,
    );
    const idleLimitMs = limit.ms;
    const idle = now - transport.remoteStateTime;
    if (idleLimitMs > 0 && idle >= idleLimitMs && !this.#idleFired) {
      this.#idleFired = true;
      this.#log(idleMessage(limit, idle));
      this.#stopRequested();
      if (this.#finished) return;
    }
    if (this.#logSliceDue()) this.#publish();
    this.#regulate(now);
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
    if (idleLimitMs > 0 && !this.#idleFired) {
      wait = Math.min(wait, idleLimitMs - idle);
    }
    wait = Math.min(wait, this.#flow.waitTime(now), MAX_TIMER_MS);
    this.#timer.after(wait);
  }

  /** Ends the loop (once). */
  #finish(why?: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#connection.closeRekey();
    if (why !== undefined) this.#log(why);
    this.#timer.cancel();
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
    this.#forward.close();
    await Promise.all([...this.#farewells].map((f) => f.close()));
    await this.#transport.close();
    this.#emulator.dispose();
  }

  #listen(signal: Deno.Signal, handler: () => void): void {
    const guarded = this.#guard.wrap(`the ${signal} handler`, handler);
    Deno.addSignalListener(signal, guarded);
    this.#signals.push([signal, guarded]);
  }
}
