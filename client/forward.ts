/**
 * The client's side of forwarding (docs/wire.md §17): -L and -D listeners
 * bound before anything is sent (a port in use is an error at once),
 * connections carried as channels once the server's welcome lists chan.v1,
 * -R listeners asked of the server, and agent and -R connections the server
 * opens towards this side. With a server that lacks chan.v1 (stock
 * mosh-server) nothing is ever sent on a channel and the user is told.
 * @module
 */

import type { Connection } from "../protocol/network/connection.ts";
import type { ErrorGuard } from "../protocol/network/guard.ts";
import { ChannelLink } from "../protocol/network/channel_link.ts";
import {
  type ByteEnd,
  ChannelPipes,
} from "../protocol/network/channel_pipe.ts";
import {
  CHANNEL_KIND,
  RESET_CODE,
} from "../protocol/network/channel_frames.ts";
import {
  AGENT_CAPABILITY,
  CHANNEL_CAPABILITY,
} from "../protocol/statesync/capabilities.ts";
import { errorText } from "../protocol/network/os_error.ts";
import {
  describeListen,
  describeTarget,
  type ForwardRequest,
  listenHost,
  type LocalForward,
  type TargetSpec,
} from "./bootstrap/forward_args.ts";
import { socksHandshake } from "./forward_socks.ts";

/** Options of {@linkcode ClientForwarding}. */
export interface ClientForwardingOptions {
  /** The loop boundary. */
  guard: ErrorGuard;
  /** One line for the user (the notification bar, or stderr without a terminal). */
  report: (line: string) => void;
  /** The client's environment (SSH_AUTH_SOCK). */
  env: Record<string, string | undefined>;
}

/** Why forwarding cannot run against a server without chan.v1. */
export function noChannelsMessage(request: ForwardRequest): string {
  const what = request.stdio !== null ? "-W" : [
    request.local.some((l) => l.target !== null) ? "-L" : "",
    request.local.some((l) => l.target === null) ? "-D" : "",
    request.remote.length > 0 ? "-R" : "",
    request.agent ? "-A" : "",
  ].filter((s) => s !== "").join(", ");
  return `tmosh: ${what} refused: the server does not speak chan.v1 (stock mosh-server or an older tmosh); nothing was forwarded; install tmosh serve on the host`;
}

/** Connects to a local target: a TCP host and port or a Unix socket. */
export async function connectTarget(t: TargetSpec): Promise<Deno.Conn> {
  if ("path" in t) {
    return await Deno.connect({ transport: "unix", path: t.path });
  }
  const conn = await Deno.connect({ hostname: t.host, port: t.port });
  conn.setNoDelay(true);
  return conn;
}

/** Forwarding for one client session; see the module doc. */
export class ClientForwarding {
  readonly #request: ForwardRequest;
  readonly #options: ClientForwardingOptions;
  readonly #link: ChannelLink;
  readonly #pipes = new ChannelPipes();
  readonly #listeners: Deno.Listener[] = [];
  /** Connections accepted before the server's answer. */
  #waiting: (() => void)[] = [];
  /** Per channel: told when the server accepts or resets it (SOCKS waits). */
  readonly #openers = new Map<number, (error: string | null) => void>();
  /** null: not known yet; then whether chan.v1 was negotiated. */
  #on: boolean | null = null;
  #closed = false;

  constructor(
    connection: Connection,
    request: ForwardRequest,
    options: ClientForwardingOptions,
  ) {
    this.#request = request;
    this.#options = options;
    const pipes = this.#pipes;
    this.#link = new ChannelLink(connection, {
      role: "client",
      guard: options.guard,
      events: {
        open: (ch, kind, target) => void this.#peerOpen(ch, kind, target),
        accepted: (ch) => this.#openers.get(ch)?.(null),
        data: (ch, b) => pipes.data(ch, b),
        fin: (ch) => pipes.fin(ch),
        reset: (ch, _code, reason) => {
          this.#openers.get(ch)?.(reason);
          pipes.reset(ch, reason);
        },
        closed: (ch) => pipes.closed(ch),
        writable: (ch) => pipes.writable(ch),
        listenResult: (id, code, port, message) =>
          this.#listenResult(id, code, port, message),
      },
    });
    pipes.bind(this.#link);
  }

  /** The link (for tests and the stdio mode). */
  get link(): ChannelLink {
    return this.#link;
  }

  /** Capabilities to offer beyond CAPABILITIES' chan.v1: agent.v1 with -A. */
  extraOffer(): string[] {
    return this.#request.agent ? [AGENT_CAPABILITY] : [];
  }

  /** Binds every -L and -D listener; throws the one-line reason (e.g. the port is in use). */
  listen(): void {
    for (const l of this.#request.local) {
      let listener: Deno.Listener;
      try {
        listener = "path" in l.listen
          ? Deno.listen({ transport: "unix", path: l.listen.path })
          : Deno.listen({
            hostname: listenHost(l.listen.bind),
            port: l.listen.port,
          });
      } catch (err) {
        this.close();
        const opt = l.target === null ? "-D" : "-L";
        throw new Error(
          `tmosh: ${opt} ${l.spec}: cannot listen on ${
            describeListen(l.listen)
          }: ${errorText(err)}; choose another port`,
        );
      }
      this.#listeners.push(listener);
      void this.#acceptLoop(listener, l);
    }
  }

  /** The negotiated capabilities are known (null: the server never answered a hello). */
  negotiated(caps: ReadonlySet<string> | null): void {
    if (this.#on !== null || this.#closed) return;
    this.#on = caps?.has(CHANNEL_CAPABILITY) ?? false;
    if (!this.#on) {
      this.#options.report(noChannelsMessage(this.#request));
      for (const l of this.#listeners) l.close();
      this.#listeners.length = 0;
    } else {
      this.#link.enable();
      if (this.#request.agent && !caps!.has(AGENT_CAPABILITY)) {
        this.#options.report(
          "tmosh: -A refused by the server: its sshd has AllowAgentForwarding no",
        );
      }
      this.#request.remote.forEach((r, i) =>
        this.#link.mux.listen(i, r.bind, r.port)
      );
      this.#link.kick();
    }
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const go of waiting) go();
  }

  /** Whether channels run (chan.v1 negotiated). */
  get enabled(): boolean {
    return this.#on === true;
  }

  /** Opens a channel to a server-side target and joins `end` to it; `onEnd` hears how it ended. */
  openChannel(
    target: TargetSpec,
    end: ByteEnd,
    onEnd?: (error: string | null) => void,
  ): number | null {
    const kind = "path" in target ? CHANNEL_KIND.unix : CHANNEL_KIND.tcp;
    const ch = this.#link.mux.open(kind, describeTarget(target));
    if (ch === null) return null;
    this.#pipes.attach(ch, end, onEnd);
    this.#link.kick();
    return ch;
  }

  /** Resets every channel and closes every listener. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch {
        // closed
      }
      if ("path" in l.addr) {
        try {
          Deno.removeSync((l.addr as Deno.UnixAddr).path);
        } catch {
          // gone
        }
      }
    }
    this.#link.mux.resetAll("the session ended");
    this.#link.kick();
    this.#pipes.closeAll("the session ended");
    setTimeout(() => this.#link.close(), 50);
  }

  async #acceptLoop(listener: Deno.Listener, l: LocalForward): Promise<void> {
    try {
      for await (const conn of listener) {
        const go = () =>
          this.#options.guard.run("a forwarded connection", () => {
            if (this.#on !== true) return conn.close();
            if (l.target === null) void this.#socks(conn, l);
            else this.#local(conn, l, l.target);
          });
        if (this.#on === null) this.#waiting.push(go);
        else go();
      }
    } catch {
      // closed
    }
  }

  #local(conn: Deno.Conn, l: LocalForward, target: TargetSpec): void {
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    const ch = this.openChannel(target, conn, (error) => {
      if (error !== null) this.#options.report(`tmosh: -L ${l.spec}: ${error}`);
    });
    if (ch === null) conn.close();
  }

  async #socks(conn: Deno.Conn, l: LocalForward): Promise<void> {
    let req;
    try {
      req = await socksHandshake(conn);
    } catch {
      req = null;
    }
    if (req === null) return conn.close();
    const target = { host: req.host, port: req.port };
    const ch = this.#link.mux.open(CHANNEL_KIND.tcp, describeTarget(target));
    if (ch === null) {
      await req.reply(false).catch(() => {});
      return conn.close();
    }
    this.#link.kick();
    const error = await new Promise<string | null>((resolve) =>
      this.#openers.set(ch, resolve)
    );
    this.#openers.delete(ch);
    try {
      await req.reply(error === null);
    } catch {
      this.#link.mux.reset(ch, RESET_CODE.aborted, "SOCKS client went away");
      return conn.close();
    }
    if (error !== null) {
      this.#options.report(`tmosh: -D ${l.spec}: ${error}`);
      return conn.close();
    }
    if (req.rest.length > 0) this.#link.mux.write(ch, req.rest);
    (conn as Deno.TcpConn).setNoDelay?.(true);
    this.#pipes.attach(ch, conn);
    this.#link.kick();
  }

  /** The server opens a channel: a -R connection or an agent request. */
  async #peerOpen(ch: number, kind: number, target: string): Promise<void> {
    const mux = this.#link.mux;
    let to: TargetSpec;
    if (kind === CHANNEL_KIND.agent) {
      const sock = this.#options.env.SSH_AUTH_SOCK;
      if (!this.#request.agent || !sock) {
        mux.reset(ch, RESET_CODE.noAgent, "the client has no agent to forward");
        return this.#link.kick();
      }
      to = { path: sock };
    } else {
      const r = this.#request.remote[Number(target)];
      if (r === undefined || !/^\d+$/.test(target)) {
        mux.reset(ch, RESET_CODE.rejected, `no -R listener ${target}`);
        return this.#link.kick();
      }
      to = r.target;
    }
    let conn: Deno.Conn;
    try {
      conn = await connectTarget(to);
    } catch (err) {
      const why = `connect to ${describeTarget(to)}: ${errorText(err)}`;
      if (kind !== CHANNEL_KIND.agent) {
        this.#options.report(`tmosh: -R: ${why}`);
      }
      mux.reset(ch, RESET_CODE.refused, why);
      return this.#link.kick();
    }
    mux.accept(ch);
    this.#pipes.attach(ch, conn);
    this.#link.kick();
  }

  #listenResult(id: number, code: number, port: number, message: string): void {
    const r = this.#request.remote[id];
    if (r === undefined) return;
    if (code !== 0) {
      this.#options.report(`tmosh: -R ${r.spec}: ${message}`);
    } else if (r.port === 0) {
      this.#options.report(
        `Allocated port ${port} for remote forward to ${
          describeTarget(r.target)
        }`,
      );
    }
  }
}
