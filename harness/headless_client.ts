/**
 * A headless tmosh client for tests, built only from tmosh's protocol
 * modules (Connection, Transport, UserStream, CompleteTerminal with the
 * EmulatorApplier): it sends keystrokes and resizes and keeps the server's
 * newest framebuffer, without a terminal, predictions or a status bar.
 * @module
 */

import { EmulatorApplier } from "../protocol/statesync/emulator_applier.ts";
import { CompleteTerminal } from "../protocol/statesync/complete_terminal.ts";
import { Connection } from "../protocol/network/connection.ts";
import { SEND_MINDELAY_CLIENT } from "../protocol/network/constants.ts";
import {
  blankFramebuffer,
  type Framebuffer,
  type Row,
  rowCells,
} from "../protocol/terminal/framebuffer.ts";
import { decodeKey } from "../protocol/crypto/key.ts";
import { type SessionEnd, Transport } from "../protocol/network/transport.ts";
import { UserStream } from "../protocol/statesync/user_stream.ts";
import {
  CAPABILITIES,
  negotiatedCapabilities,
} from "../protocol/statesync/capabilities.ts";

/** How often waitFor polls, ms. */
const POLL_MS = 10;

/** Options of {@linkcode HeadlessClient.connect}. */
export interface HeadlessClientOptions {
  /** The server's (or relay's) numeric IP address. */
  ip: string;
  /** The server's (or relay's) UDP port. */
  port: number;
  /** Session key as printed by MOSH CONNECT (22 base64 characters). Never log it. */
  key: string;
  /** Terminal width, cells. */
  width: number;
  /** Terminal height, cells. */
  height: number;
  /**
   * Capabilities offered in the hello that opens the user stream, as the
   * tmosh client does (docs/wire.md §13); default CAPABILITIES, null for no
   * hello at all (a client exactly like stock mosh-client).
   */
  hello?: readonly string[] | null;
}

/** How a session ended: our shutdown was acked, we acked the server's, or ours timed out. */
export type FinishReason = SessionEnd;

const encoder = new TextEncoder();

/** A tmosh client without a terminal: the protocol stack plus a framebuffer to inspect. */
export class HeadlessClient {
  /** The SSP endpoint: our UserStream out, the server's CompleteTerminal in. */
  readonly transport: Transport<UserStream, CompleteTerminal>;
  /** Settles when the shutdown handshake is over (either side's), with how it ended. */
  readonly finished: Promise<FinishReason>;
  readonly #applier: EmulatorApplier;
  #finish: (reason: FinishReason) => void = () => {};
  #reason: FinishReason | null = null;
  #closed = false;
  #offered: readonly string[] | null = null;

  private constructor(
    transport: Transport<UserStream, CompleteTerminal>,
    applier: EmulatorApplier,
  ) {
    this.transport = transport;
    this.#applier = applier;
    this.finished = new Promise((resolve) => this.#finish = resolve);
    transport.onTick(() => this.#checkFinished());
    transport.onRemoteState(() => this.#checkFinished());
  }

  /** Opens a client towards `ip`:`port` and sends state 1 = [Hello,] Resize(width, height). */
  static connect(options: HeadlessClientOptions): HeadlessClient {
    const applier = new EmulatorApplier();
    const connection = Connection.connect(decodeKey(options.key), {
      ip: options.ip,
      port: options.port,
    });
    const transport = new Transport<UserStream, CompleteTerminal>(
      connection,
      {
        initialLocal: new UserStream(),
        initialRemote: new CompleteTerminal(
          blankFramebuffer(options.width, options.height),
          0n,
          { applier },
        ),
        sendMinDelay: SEND_MINDELAY_CLIENT,
      },
    );
    const client = new HeadlessClient(transport, applier);
    const hello = options.hello === undefined ? CAPABILITIES : options.hello;
    client.#offered = hello;
    if (hello !== null) client.#push(transport.currentState.pushHello(hello));
    client.resize(options.width, options.height);
    return client;
  }

  /** The server's newest framebuffer. */
  get fb(): Framebuffer {
    return this.transport.remoteState.fb;
  }

  /** The newest echo ack received from the server. */
  get echoAck(): bigint {
    return this.transport.remoteState.echoAck;
  }

  /** The negotiated tmosh capabilities (docs/wire.md §13); null until the server answered the hello. */
  get capabilities(): ReadonlySet<string> | null {
    if (this.#offered === null) return null;
    return negotiatedCapabilities(
      this.transport.remoteState.capabilities,
      this.#offered,
    );
  }

  /** How the session ended, or null while it runs. */
  get finishReason(): FinishReason | null {
    return this.#reason;
  }

  /** Appends keystrokes (a string is sent as UTF-8); returns the number of the first state that holds them. */
  type(keys: string | Uint8Array): bigint {
    const bytes = typeof keys === "string" ? encoder.encode(keys) : keys;
    this.#push(this.transport.currentState.pushKeys(bytes));
    return this.transport.lastSentNum + 1n;
  }

  /** Appends a resize event. */
  resize(width: number, height: number): void {
    this.#push(this.transport.currentState.pushResize(width, height));
  }

  /** Rows of the newest framebuffer as text: wide characters once, trailing blanks trimmed. */
  screenText(): string[] {
    return this.fb.rows.map(rowText);
  }

  /** Polls until `pred` holds; throws with the screen and transport state after `ms`. */
  async waitFor(pred: () => boolean, what: string, ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (!pred()) {
      if (performance.now() > end) {
        throw new Error(
          `timed out after ${ms} ms waiting for ${what}\n${this.describe()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Starts the shutdown handshake; `finished` settles when it is over. */
  shutdown(): void {
    if (this.#closed) return;
    this.transport.startShutdown();
  }

  /** Stops the transport, closes the socket and releases the emulator. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.transport.close();
    this.#applier.dispose();
  }

  /** Transport numbers, RTT and the screen, for failure messages. */
  describe(): string {
    const t = this.transport, s = t.sender, r = t.receiver;
    const c = t.connection;
    return [
      `client: sent up to ${s.lastSentNum}, acked ${s.ackedNum}, ` +
      `server newest ${r.latestNum} (held ${r.heldNums().join(",")}), ` +
      `echo ack ${this.echoAck}, shutdown ${s.shutdownInProgress}, ` +
      `finished ${this.#reason ?? "no"}`,
      `srtt ${c.srtt.toFixed(0)} ms, rto ${c.rto.toFixed(0)} ms, ` +
      `dropped datagrams ${c.droppedCount}, bad instructions ${t.instructionsDropped}`,
      `screen ${this.fb.width}x${this.fb.height} cursor ${this.fb.cursorRow},${this.fb.cursorCol}, ` +
      `clipboard ${JSON.stringify(this.fb.clipboard.slice(0, 40))}:`,
      ...this.screenText().map((l) => `  |${l}|`),
    ].join("\n");
  }

  /** Sets our state unless the handshake has begun (the state is frozen then). */
  #push(state: UserStream): void {
    if (this.#closed || this.transport.shuttingDown) return;
    this.transport.setCurrentState(state);
  }

  #checkFinished(): void {
    if (this.#reason !== null) return;
    const reason = this.transport.sessionEnd();
    if (reason === null) return;
    this.#reason = reason;
    this.#finish(reason);
  }
}

/** A row's text: wide continuation cells skipped, blanks as spaces, trailing blanks trimmed. */
export function rowText(row: Row): string {
  let out = "";
  for (const cell of rowCells(row)) {
    if (cell.width === 0) continue;
    out += cell.text === "" ? " " : cell.text;
  }
  return out.trimEnd();
}
