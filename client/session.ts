/**
 * The interactive client: keystrokes into the UserStream, server frames drawn
 * on the real terminal through the shared display diff, with prediction,
 * notification bar, title prefix and escape key (mosh: STMClient).
 * @module
 */
import {
  CompleteTerminal,
  framebufferBytes,
} from "../protocol/statesync/complete_terminal.ts";
import { Connection } from "../protocol/network/connection.ts";
import { ErrorGuard } from "../protocol/network/guard.ts";
import {
  BULK_SOCKET_BUFFER,
  SEND_MINDELAY_CLIENT,
} from "../protocol/network/constants.ts";
import { newFrame } from "../protocol/terminal/display.ts";
import { EmulatorApplier } from "../protocol/statesync/emulator_applier.ts";
import {
  blankFramebuffer,
  clipFramebuffer,
  type Framebuffer,
} from "../protocol/terminal/framebuffer.ts";
import { decodeKey } from "../protocol/crypto/key.ts";
import {
  type SessionTransport,
  Transport,
} from "../protocol/network/transport.ts";
import { UserStream } from "../protocol/statesync/user_stream.ts";
import {
  AGENT_CAPABILITY,
  CAPABILITIES,
  negotiatedCapabilities,
  SCROLLBACK_CAPABILITY,
} from "../protocol/statesync/capabilities.ts";
import { ClientForwarding } from "./forward.ts";
import { PullWatch, pushRowsBack } from "./pulled_rows.ts";
import { wantsForwarding } from "./bootstrap/forward_args.ts";
import { NativeScreen } from "./native_screen.ts";
import { EscapeKeyFilter, parseEscapeKey } from "./escape_key.ts";
import { NotificationEngine } from "./notification.ts";
import type { ClientOptions } from "./client_args.ts";
import { PredictionEngine } from "./prediction/engine.ts";
import {
  LocalTerminal,
  readTerminalCaps,
  type TerminalCaps,
} from "./terminal.ts";
import { applyTitlePrefix } from "./title.ts";
import { takenOverBy, takeoverMessage } from "./takeover.ts";
import { writeAll } from "../stdio.ts";
import { reportGarbage } from "../protocol/network/garbage_valve.ts";
import { LazyTimer } from "../protocol/network/lazy_timer.ts";
import { noteWork, WORK_BYTES } from "../protocol/network/idle_collect.ts";
import { relayPath } from "../protocol/network/relay_envelope.ts";

/** Window before the "nothing received" notice, ms (mosh: STMClient::main, 250). */
const NOTHING_RECEIVED_NOTICE = 250;
/** The client gives up when the server never answers for this long, ms (mosh: 15000). */
const FIRST_CONTACT_TIMEOUT = 15000;
/** A single read longer than this is a paste: no prediction, bytes (mosh: 100). */
const PASTE_THRESHOLD = 100;
/** Keyboard read buffer, bytes (mosh: 16384). */
const READ_BUFFER = 16384;
/**
 * Share of the time frames may take to apply and draw: after a frame that
 * took d ms, the next one not drawn for a keystroke waits at least
 * d * (1 / share - 1) ms, so a server sending huge screens cannot starve the
 * keyboard and the network (stock mosh-client draws after every datagram).
 */
const DRAW_SHARE = 0.5;
/** Synchronized output (DEC mode 2026) around a frame with scrollback records. */
const SYNC_BEGIN = "\x1b[?2026h", SYNC_END = "\x1b[?2026l";
/** How long the caller's notice (ClientOptions.notice) stays in the bar, ms. */
const NOTICE_MS = 8000;
/** Product name in the bar and exit messages. */
const NAME = "tmosh";

/** How a caller runs the client, beyond the mosh-client contract. */
export interface ClientRunOptions {
  /**
   * The caller started the server and ends it itself (`tmosh demo`): a
   * shutdown the server never acknowledged is not an error then, so it exits
   * 0 without the "server may still be running" notice.
   */
  ownsServer?: boolean;
  /** Observes every frame after it is written to the terminal (a test seam of drawing). */
  onFrame?: (frame: string) => void;
}

/** Starts reading the local terminal's capabilities (tput), so that {@linkcode runClient} finds them read. */
export function prefetchTerminalCaps(): void {
  readTerminalCaps(Deno.env.get("TERM")).catch(() => {});
}

/** Runs an interactive session until it ends; returns the exit status (0 after a clean shutdown). */
export async function runClient(
  options: ClientOptions,
  run: ClientRunOptions = {},
): Promise<number> {
  if (options.forward?.stdio) {
    // -W: no terminal at all (client/forward_stdio.ts).
    const { runStdioClient } = await import("./forward_stdio.ts");
    return await runStdioClient(options);
  }
  const caps = await readTerminalCaps(Deno.env.get("TERM"));
  let session: ClientSession;
  try {
    session = new ClientSession(options, caps, run);
  } catch (err) {
    // A -L/-D port that cannot be bound: nothing was sent.
    if (!(err instanceof Error) || !err.message.startsWith("tmosh: ")) {
      throw err;
    }
    console.error(err.message);
    return 1;
  }
  return await session.run();
}

/** One client session's state and event handlers. */
class ClientSession {
  readonly #opts: ClientOptions;
  readonly #run: ClientRunOptions;
  /** The loop boundary: every callback handed to the event loop runs through it. */
  readonly #guard: ErrorGuard;
  readonly #caps: TerminalCaps;
  readonly #term: LocalTerminal;
  readonly #transport: SessionTransport<UserStream, CompleteTerminal>;
  /** The session's socket (its receive buffer grows once native scrollback is on). */
  readonly #connection: Connection;
  readonly #applier = new EmulatorApplier();
  readonly #notify: NotificationEngine;
  readonly #predict: PredictionEngine;
  readonly #escape: EscapeKeyFilter;
  readonly #start = performance.now();
  #local: Framebuffer;
  /** The server's screen last drawn. */
  #lastRemoteFb: Framebuffer | null = null;
  /** What we offer in the hello: CAPABILITIES, without scrollback when it is off. */
  readonly #offered: readonly string[];
  /** The log end of the newest server state seen (docs/wire.md §14.2). */
  #logEndSeen = 0;
  /** Native scrollback (docs/wire.md §14.3). */
  readonly #native: NativeScreen;
  #repaint = true;
  /** The next frame the bar or the predictions need (lazy: see protocol/network/lazy_timer.ts). */
  readonly #drawTimer = new LazyTimer(
    () => this.#guard.run("drawing", () => this.#draw()),
  );
  #drawQueued = false;
  #moreLogTimer: ReturnType<typeof setTimeout> | null = null;
  /** Rows a taller window pulled back from the scrollback (client/pulled_rows.ts). */
  readonly #pull = new PullWatch();
  #pullTimer: ReturnType<typeof setTimeout> | null = null;
  /** Earliest time of the next frame not drawn for a keystroke, ms (see DRAW_SHARE). */
  #nextDraw = 0;
  #throttleTimer: ReturnType<typeof setTimeout> | null = null;
  #contact = false;
  #done: (code: number) => void = () => {};
  #finished = false;
  #quitting = false;
  #suspended = false;
  /** Another client attached to the session (its address), or null. */
  #takenOverBy: string | null = null;
  /** `detachedBy` at first contact: a takeover before ours, not news to us. */
  #takeoverSeen: string | null = null;
  /** -L/-R/-D/-A (client/forward.ts), or null. */
  #forward: ClientForwarding | null = null;
  /** Forwarding messages, printed again after the terminal is restored. */
  readonly #forwardLines: string[] = [];

  constructor(opts: ClientOptions, caps: TerminalCaps, run: ClientRunOptions) {
    // The key lives on only inside the connection's cipher.
    this.#opts = { ...opts, key: "", relayKeys: undefined };
    this.#run = run;
    this.#guard = new ErrorGuard(
      opts.verbose
        ? (line) =>
          writeAll(Deno.stderr, `${line.replaceAll("\n", "\r\n")}\r\n`)
        : undefined,
    );
    this.#caps = caps;
    const key = decodeKey(opts.key);
    this.#term = new LocalTerminal({ init: opts.init, caps });
    const { cols, rows } = this.#term.size();
    const connection = this.#connection = Connection.connect(key, {
      ip: opts.ip,
      port: opts.port,
      guard: this.#guard,
      path: relayPath(opts.relayKeys),
    });
    key.fill(0);
    this.#offered = CAPABILITIES.filter((c) =>
      (c !== SCROLLBACK_CAPABILITY || opts.scrollback !== "off") &&
      (c !== AGENT_CAPABILITY || opts.forward?.agent === true)
    );
    if (wantsForwarding(opts.forward)) {
      // -L/-D bind before anything is sent (a port in use ends it here).
      this.#forward = new ClientForwarding(connection, opts.forward!, {
        guard: this.#guard,
        report: (line) => this.#forwardReport(line),
        env: Deno.env.toObject(),
      });
      this.#forward.listen();
    }
    this.#native = new NativeScreen(this.#offered);
    const native = this.#native;
    const initialRemote = new CompleteTerminal(
      blankFramebuffer(cols, rows),
      0n,
      { applier: this.#applier, logFloor: () => native.written },
    );
    this.#transport = new Transport(connection, {
      initialLocal: new UserStream(),
      initialRemote,
      sendMinDelay: SEND_MINDELAY_CLIENT,
    });
    const esc = parseEscapeKey(opts.escapeKey);
    this.#escape = new EscapeKeyFilter(esc);
    this.#notify = new NotificationEngine({
      escapeKeyString: esc.display,
      prefix: NAME,
      now: performance.now(),
    });
    this.#predict = new PredictionEngine({
      mode: opts.predict,
      overwrite: opts.predictOverwrite,
    });
    this.#local = blankFramebuffer(cols, rows);
  }

  async run(): Promise<number> {
    const finished = new Promise<number>((resolve) => this.#done = resolve);
    const { cols, rows } = this.#term.size();
    // State 1: tmosh's hello (stock mosh-server skips it; docs/wire.md §13),
    // then the window size as mosh-client sends it. Features riding on a
    // capability check negotiatedCapabilities(remoteState.capabilities).
    this.#pushState(
      this.#transport.currentState.pushHello(this.#offered).pushResize(
        cols,
        rows,
      ),
    );
    this.#term.open();
    const guard = this.#guard;
    this.#term.onResize(
      guard.wrap("the SIGWINCH handler", () => this.#resized()),
    );
    const signals: Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP"];
    const onSignal = guard.wrap(
      "a signal handler",
      () => this.#quit("Signal received, shutting down..."),
    );
    for (const s of signals) Deno.addSignalListener(s, onSignal);
    const onCont = guard.wrap("the SIGCONT handler", () => this.#resume());
    Deno.addSignalListener("SIGCONT", onCont);
    this.#transport.onRemoteState(() => this.#remoteState());
    this.#transport.onTick(() => {
      this.#checkFinished();
      this.#armNotification(performance.now());
    });
    const firstContact = setTimeout(
      guard.wrap("a timer", () => {
        if (!this.#contact) {
          this.#notify.setNotification(
            `Nothing received from server on UDP port ${this.#opts.port}.`,
            {},
            performance.now(),
          );
          this.#requestDraw();
        }
      }),
      NOTHING_RECEIVED_NOTICE,
    );
    const giveUp = setTimeout(
      guard.wrap("a timer", () => {
        if (!this.#contact) {
          this.#notify.setNotification("Timed out waiting for server...", {
            permanent: true,
          }, performance.now());
          this.#finish(1);
        }
      }),
      FIRST_CONTACT_TIMEOUT,
    );
    guard.run("drawing", () => this.#draw());
    void this.#readKeys();
    const code = await finished;
    clearTimeout(firstContact);
    clearTimeout(giveUp);
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    Deno.removeSignalListener("SIGCONT", onCont);
    this.#drawTimer.cancel();
    if (this.#throttleTimer !== null) clearTimeout(this.#throttleTimer);
    if (this.#moreLogTimer !== null) clearTimeout(this.#moreLogTimer);
    if (this.#pullTimer !== null) clearTimeout(this.#pullTimer);
    // Last frame without the bar and the title prefix, then restore the terminal.
    guard.run(
      "drawing",
      () => this.#drawFrame({ overlays: false, last: true }),
    );
    this.#term.write(this.#native.release());
    guard.run("closing the terminal", () => this.#term.close());
    this.#term.dispose();
    this.#forward?.close();
    await this.#transport.close();
    this.#applier.dispose();
    guard.run(
      "closing the terminal",
      () => this.#term.write(`\r\n[${NAME} is exiting.]\r\n`),
    );
    if (this.#takenOverBy !== null) {
      console.error(`${NAME}: ${takeoverMessage(this.#takenOverBy)}`);
    }
    for (const line of this.#forwardLines) console.error(line);
    if (!this.#contact) {
      console.error(
        `${NAME} did not make a successful connection to ${this.#opts.ip}:${this.#opts.port}.\n` +
          "Please verify that UDP port " + this.#opts.port +
          " is not firewalled and can reach the server.\n\n" +
          "(By default, tmosh uses a UDP port between 60001 and 60999. " +
          "The -p option selects a specific UDP port number.)",
      );
    } else if (code !== 0) {
      console.error(
        `\n${NAME} did not shut down cleanly. Please note that the\n` +
          "server process may still be running on the server.",
      );
    }
    return code;
  }

  /** Sets our UserStream state and lets the transport send it. */
  #pushState(state: UserStream): void {
    if (this.#transport.shuttingDown) return;
    this.#transport.setCurrentState(state);
    this.#predict.setLocalFrameSent(this.#transport.lastSentNum);
  }

  async #readKeys(): Promise<void> {
    const buf = new Uint8Array(READ_BUFFER);
    while (!this.#finished) {
      let n: number | null;
      try {
        n = await Deno.stdin.read(buf);
      } catch {
        n = null;
      }
      if (this.#finished) return;
      if (n === null) {
        this.#guard.run("keyboard input", () => this.#quit("Exiting..."));
        return;
      }
      const keys = buf.slice(0, n);
      this.#guard.run("keyboard input", () => this.#userInput(keys));
    }
  }

  #userInput(input: Uint8Array): void {
    const now = performance.now();
    let bytes = input;
    const answer = this.#pull.take(bytes, this.#term.size());
    if (answer !== null) {
      // The rows a taller window pulled back go back to the scrollback.
      this.#term.write(pushRowsBack(answer.pulled, this.#term.size().rows));
      this.#repaint = true;
      this.#requestDraw();
      bytes = answer.rest;
      if (bytes.length === 0) return;
    }
    const r = this.#escape.feed(bytes);
    if (r.helpShown) {
      this.#notify.setNotification(this.#escape.helpText, {
        permanent: true,
        showQuitKeystroke: false,
      }, now);
    }
    if (r.helpCleared && this.#notify.message === this.#escape.helpText) {
      this.#notify.setNotification("", {}, now);
    }
    if (r.quit) {
      this.#quit("Exiting on user request...");
      return;
    }
    if (r.suspend) {
      this.#suspend();
    }
    if (r.send.length === 0) {
      this.#requestDraw();
      return;
    }
    if (r.send.includes(0x0c)) this.#repaint = true;
    const transport = this.#transport;
    this.#predict.setLocalFrameSent(transport.lastSentNum);
    if (r.send.length > PASTE_THRESHOLD) {
      this.#predict.reset();
    } else {
      this.#predict.newUserInput(r.send, this.#remoteFb(), now);
    }
    // Local echo first (drawn now, not queued), then the keys go to the
    // transport, which sends them on its own timer.
    this.#draw();
    this.#pushState(transport.currentState.pushKeys(r.send));
  }

  #resized(): void {
    const { cols, rows } = this.#term.size();
    if (this.#native.on && !this.#native.alternate) {
      // A taller window may show rows pulled back from the scrollback: ask
      // where the cursor went before the next frame repaints them away.
      const local = this.#local;
      this.#term.write(this.#pull.resized(
        { rows: local.height, cols: local.width, cursorRow: local.cursorRow },
        { rows, cols },
        performance.now(),
      ));
    }
    this.#predict.reset();
    this.#pushState(this.#transport.currentState.pushResize(cols, rows));
  }

  #remoteState(): void {
    const now = performance.now();
    if (!this.#contact) {
      this.#contact = true;
      // Start-up is over once the first screens settle: one collection,
      // and the runtime's start-up pages go back (idle_collect.ts).
      noteWork(WORK_BYTES);
      const notice = this.#opts.notice ?? "";
      this.#notify.setNotification(notice, {
        lifetimeMs: NOTICE_MS,
        showQuitKeystroke: notice === "",
      }, now);
      // Ack the first server state at once: the server's timestamp echo gives
      // it an RTT sample, so it sends the first prompt without waiting out
      // the 250 ms interval it uses before it has one.
      this.#transport.ackNow();
      this.#takeoverSeen = takenOverBy(this.#transport.remoteState);
      this.#forward?.negotiated(negotiatedCapabilities(
        this.#transport.remoteState.capabilities,
        this.#offered,
      ));
    }
    this.#notify.serverHeard(now);
    // Scrollback records are acked at once, not after the ack delay: the
    // server keeps only a small unacked window of them (docs/wire.md §14.2).
    const logEnd = this.#transport.remoteState.scroll.end;
    if (logEnd !== this.#logEndSeen) {
      this.#logEndSeen = logEnd;
      this.#transport.ackNow();
    }
    const by = takenOverBy(this.#transport.remoteState);
    if (
      by !== null && by !== this.#takeoverSeen && this.#takenOverBy === null
    ) {
      // The session goes on with the other client: no shutdown, exit 0.
      this.#takenOverBy = by;
      this.#notify.setNotification(takeoverMessage(by), {
        permanent: true,
      }, now);
      this.#finish(0);
      return;
    }
    this.#requestDraw();
  }

  /** A forwarding message: in the bar now, on stderr at exit. */
  #forwardReport(line: string): void {
    if (this.#forwardLines.length < 20) this.#forwardLines.push(line);
    this.#notify.setNotification(
      line,
      { lifetimeMs: NOTICE_MS },
      performance.now(),
    );
    this.#requestDraw();
  }

  #checkFinished(): void {
    const transport = this.#transport;
    const now = performance.now();
    this.#notify.serverAcked(transport.lastAckedSendTime);
    const err = transport.takeSendError();
    if (err !== null) {
      this.#notify.setNetworkError(err, now);
    } else {
      // Sends work again: a shown network error lasts at most 1 s more (mosh).
      this.#notify.clearNetworkError(now);
    }
    const end = transport.sessionEnd();
    // A server we own is ended by our caller even if it never acknowledged.
    if (end !== null) {
      this.#finish(end === "timeout" && !this.#run.ownsServer ? 1 : 0);
    }
    this.#requestDraw();
  }

  #quit(message: string): void {
    if (this.#quitting) return;
    this.#quitting = true;
    const now = performance.now();
    this.#notify.setNotification(message, { permanent: true }, now);
    if (!this.#transport.hasRemote || !this.#contact) {
      this.#finish(1);
      return;
    }
    this.#transport.startShutdown();
    this.#requestDraw();
  }

  #finish(code: number): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#done(code);
  }

  #suspend(): void {
    this.#suspended = true;
    // The shell gets the normal screen back; the mirror resumes with us.
    this.#term.write(this.#native.release());
    this.#term.close();
    this.#term.write(`\n\x1b[37;44m[${NAME} is suspended.]\x1b[m\n`);
    try {
      Deno.kill(Deno.pid, "SIGSTOP");
    } catch {
      this.#resume();
    }
  }

  #resume(): void {
    if (!this.#suspended) return;
    this.#suspended = false;
    this.#term.open();
    this.#repaint = true;
    this.#resized();
    this.#requestDraw();
  }

  #remoteFb(): Framebuffer {
    return this.#transport.remoteState.fb;
  }

  /**
   * Draws once the current event is handled, coalescing the events of one
   * task into one frame. A microtask, not a timer: a timer costs about 2 ms
   * before a keystroke's local echo reaches the screen (stock mosh-client
   * draws at the end of the same loop iteration).
   */
  #requestDraw(): void {
    if (this.#drawQueued || this.#finished) return;
    const wait = this.#nextDraw - performance.now();
    if (wait > 0) {
      this.#throttleTimer ??= setTimeout(
        this.#guard.wrap("drawing", () => {
          this.#throttleTimer = null;
          this.#requestDraw();
        }),
        Math.ceil(wait),
      );
      return;
    }
    this.#drawQueued = true;
    queueMicrotask(this.#guard.wrap("drawing", () => {
      this.#drawQueued = false;
      if (!this.#finished) this.#draw();
    }));
  }

  /** Draws the next share of the scrollback log once pending I/O (the socket) is handled. */
  #drawMoreLog(): void {
    if (this.#moreLogTimer !== null) return;
    this.#moreLogTimer = setTimeout(
      this.#guard.wrap("drawing", () => {
        this.#moreLogTimer = null;
        if (!this.#finished) this.#draw();
      }),
      0,
    );
  }

  #draw(): void {
    if (this.#suspended) return;
    if (this.#pull.waiting(performance.now())) {
      this.#pullTimer ??= setTimeout(
        this.#guard.wrap("drawing", () => {
          this.#pullTimer = null;
          this.#draw();
        }),
        Math.ceil(this.#pull.waitTime(performance.now())),
      );
      return;
    }
    const start = performance.now();
    // Its own boundary: a failed frame must not cost the keystroke being
    // echoed or the timer of the next frame.
    this.#guard.run("drawing", () => this.#drawFrame({ overlays: true }));
    const now = performance.now();
    this.#nextDraw = now + (now - start) * (1 / DRAW_SHARE - 1);
    this.#drawTimer.after(Math.max(1, Math.ceil(this.#predict.waitTime(now))));
    this.#armNotification(now);
  }

  /**
   * Wakes for the bar (a count-up due, a message expiring) only when that
   * comes before the transport's own next tick, which looks again: an idle
   * session with regular heartbeats then sets no timer for the bar.
   */
  #armNotification(now: number): void {
    const wait = this.#notify.waitTime(now);
    if (wait < this.#transport.waitTime()) {
      this.#drawTimer.within(Math.max(1, Math.ceil(wait)));
    }
  }

  #drawFrame(options: { overlays: boolean; last?: boolean }): void {
    const now = performance.now();
    const remote = this.#transport.remoteState;
    const size = this.#term.size();
    const wasNative = this.#native.on;
    const prelude = this.#native.prelude(remote, {
      size,
      leaveAlternate: () => this.#term.useNormalScreen(),
      flush: options.last,
    });
    if (prelude.repaint) this.#repaint = true;
    if (!wasNative && this.#native.on) {
      // A flood's log arrives while frames are written to the terminal (a
      // write can block for tens of ms): the default 208 KiB receive buffer
      // overflowed, each loss a retransmission timeout that halved the
      // server's log window (docs/wire.md §14.3).
      this.#connection.growReceiveBuffers(BULK_SOCKET_BUFFER);
    }
    if (prelude.more) this.#drawMoreLog();
    // A frame larger than the window (a resize under way, or a hostile
    // server) is drawn as far as the window shows it.
    let fb = clipFramebuffer(remote.fb, size);
    // Applying a screen leaves the emulator's previous snapshot behind (the
    // log is not garbage: it is held until written, then trimmed).
    if (remote.fb !== this.#lastRemoteFb) {
      const bytes = framebufferBytes(remote.fb);
      reportGarbage(bytes);
      noteWork(bytes); // a collection once the screen is quiet again
    }
    this.#lastRemoteFb = remote.fb;
    if (options.overlays) {
      this.#predict.setSendInterval(this.#transport.sendIntervalMs);
      this.#predict.setLocalFrameAcked(this.#transport.ackedNum);
      this.#predict.setLocalFrameLateAcked(remote.echoAck);
      this.#predict.cull(fb, now);
      fb = this.#predict.apply(fb);
      fb = this.#notify.apply(fb, now);
      if (!this.#opts.titleNoPrefix) fb = applyTitlePrefix(fb, `[${NAME}] `);
    }
    let out = newFrame(this.#local, fb, {
      initialized: !this.#repaint,
      bce: this.#caps.bce,
      titles: this.#caps.titles,
      nativeScrollback: this.#native.on,
    });
    this.#repaint = false;
    if (prelude.out.length > 0) {
      // The log's bytes go out as they are, around the frame's text.
      this.#term.writeParts([SYNC_BEGIN, prelude.out, out, SYNC_END]);
      if (this.#run.onFrame !== undefined) {
        out = SYNC_BEGIN + new TextDecoder().decode(prelude.out) + out +
          SYNC_END;
      }
    } else {
      this.#term.write(out);
    }
    this.#local = fb;
    this.#run.onFrame?.(out);
    // The server sends the log no faster than the terminal takes it.
    const written = this.#native.report();
    if (written !== null) {
      this.#pushState(this.#transport.currentState.pushWritten(written));
    }
  }
}
