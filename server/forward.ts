/**
 * The server's side of forwarding (docs/wire.md §17): once a client's hello
 * offers chan.v1 its channels run on the session's connection; opens for
 * -L, -D and -W connect to TCP targets (names resolved here) or Unix
 * sockets, -R listens, and with agent.v1 a per-session agent socket,
 * exported as SSH_AUTH_SOCK to the program, carries connections to the
 * client's agent. The host's sshd policy decides what is allowed. Another
 * client attaching resets every channel and listener; the agent socket stays
 * (only which client backs it changes).
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
  type ForwardPolicy,
  listenAddress,
  prefetchPolicy,
  refuseAgent,
  refuseListen,
  refuseOpen,
} from "./sshd_policy.ts";
import { AgentSocket } from "./forward_agent.ts";

/** An agent request fails at once when the client was not heard from for this long, ms (it sends at least every 3 s). */
const AGENT_CLIENT_SILENCE_MS = 10_000;

/** Options of {@linkcode ServerForwarding}. */
export interface ServerForwardingOptions {
  /** Status lines. */
  log: (line: string) => void;
  /** The session's loop boundary. */
  guard: ErrorGuard;
  /** The policy, or what gives it when first needed (default: sshd_config's, read from now on, prefetchPolicy). */
  policy?: ForwardPolicy | (() => ForwardPolicy);
  /** The session's environment, whose USER and TMOSH_SSHD_CONFIG the policy reads (default: this process's; a user daemon hosts sessions of several fronts). */
  env?: Record<string, string>;
}

/** Splits `host:port` / `[v6]:port`; null if malformed. */
export function splitHostPort(
  target: string,
): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(target);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] ?? m[2], port };
}

/** Forwarding for one server session; see the module doc. */
export class ServerForwarding {
  readonly #connection: Connection;
  readonly #options: ServerForwardingOptions;
  #policy: ForwardPolicy | (() => ForwardPolicy);
  #link: ChannelLink | null = null;
  #pipes = new ChannelPipes();
  readonly #listeners = new Map<number, Deno.Listener>();
  #agent: AgentSocket | null = null;
  /** The current client negotiated agent.v1. */
  #agentClient = false;

  constructor(connection: Connection, options: ServerForwardingOptions) {
    this.#connection = connection;
    this.#options = options;
    this.#policy = options.policy ??
      prefetchPolicy(options.env ?? Deno.env.toObject());
  }

  /** The capabilities this server accepts: agent.v1 only where sshd allows agent forwarding. */
  supported(all: readonly string[]): string[] {
    const why = refuseAgent(this.#policyNow());
    return all.filter((c) => c !== AGENT_CAPABILITY || why === null);
  }

  /** A client's hello was answered with `accepted`: start channels if chan.v1 is in it. */
  hello(accepted: readonly string[]): void {
    if (!accepted.includes(CHANNEL_CAPABILITY)) return;
    this.#agentClient = accepted.includes(AGENT_CAPABILITY);
    if (this.#agentClient && this.#agent === null) {
      try {
        this.#agent = new AgentSocket({
          onConnection: (conn) => this.#agentConnection(conn),
          guard: this.#options.guard,
        });
      } catch (err) {
        this.#options.log(
          `tmosh: agent forwarding: cannot create the socket: ${
            errorText(err)
          }`,
        );
      }
    }
    if (this.#link === null) this.#link = this.#newLink();
    this.#link.enable();
  }

  /** Variables for the program's environment (SSH_AUTH_SOCK once agent forwarding was asked for). */
  childEnv(): Record<string, string> {
    return this.#agent === null ? {} : { SSH_AUTH_SOCK: this.#agent.path };
  }

  /**
   * Another client attached: every channel and listener of the old one ends.
   * Nothing is sent: the connection already talks to the new client, which
   * may be stock Mosh (the old one is told by its farewell, wire.md §15.3).
   */
  newEpoch(): void {
    this.#stopLink("another client attached", false);
    this.#agentClient = false;
  }

  /** Ends everything (the session is over). */
  close(): void {
    this.#stopLink("the session ended", true);
    this.#agent?.close();
    this.#agent = null;
  }

  #stopLink(reason: string, tell: boolean): void {
    const link = this.#link;
    if (link !== null && tell) {
      link.mux.resetAll(reason);
      link.kick();
      // The resets go out with the next flush; then the link stops.
      setTimeout(() => link.close(), 50);
    } else link?.close();
    this.#pipes.closeAll(reason);
    for (const l of this.#listeners.values()) l.close();
    this.#listeners.clear();
    this.#link = null;
    this.#pipes = new ChannelPipes();
    this.#connection.onChannelPayload(null);
  }

  #policyNow(): ForwardPolicy {
    if (typeof this.#policy === "function") this.#policy = this.#policy();
    return this.#policy;
  }

  #newLink(): ChannelLink {
    const pipes = this.#pipes;
    const guard = this.#options.guard;
    const link = new ChannelLink(this.#connection, {
      role: "server",
      guard,
      events: {
        open: (ch, kind, target) => void this.#open(link, ch, kind, target),
        data: (ch, b) => pipes.data(ch, b),
        fin: (ch) => pipes.fin(ch),
        reset: (ch, _code, reason) => pipes.reset(ch, reason),
        closed: (ch) => pipes.closed(ch),
        writable: (ch) => pipes.writable(ch),
        listen: (id, bind, port) => void this.#listen(link, id, bind, port),
      },
    });
    pipes.bind(link);
    return link;
  }

  /** A client's open: connect to the target the policy allows, then accept. */
  async #open(
    link: ChannelLink,
    ch: number,
    kind: number,
    target: string,
  ): Promise<void> {
    const refuse = (code: number, why: string) => {
      this.#options.log(`tmosh: channel to ${target} refused: ${why}`);
      link.mux.reset(ch, code, why);
      link.kick();
    };
    let conn: Deno.Conn;
    if (kind === CHANNEL_KIND.unix) {
      const why = refuseOpen(this.#policyNow(), { path: target });
      if (why !== null) {
        return refuse(RESET_CODE.policy, `refused by policy: ${why}`);
      }
      try {
        conn = await Deno.connect({ transport: "unix", path: target });
      } catch (err) {
        return refuse(
          RESET_CODE.refused,
          `connect to ${target}: ${errorText(err)}`,
        );
      }
    } else {
      const hp = splitHostPort(target);
      if (hp === null) {
        return refuse(RESET_CODE.rejected, `bad target "${target}"`);
      }
      const why = refuseOpen(this.#policyNow(), hp);
      if (why !== null) {
        return refuse(RESET_CODE.policy, `refused by policy: ${why}`);
      }
      try {
        const tcp = await Deno.connect({ hostname: hp.host, port: hp.port });
        tcp.setNoDelay(true);
        conn = tcp;
      } catch (err) {
        return refuse(
          RESET_CODE.refused,
          `connect to ${target}: ${errorText(err)}`,
        );
      }
    }
    if (link !== this.#link) {
      conn.close();
      return;
    }
    link.mux.accept(ch);
    this.#pipes.attach(ch, conn as ByteEnd);
    link.kick();
  }

  /** A client's -R: listen where policy and GatewayPorts say, then carry each connection. */
  async #listen(
    link: ChannelLink,
    id: number,
    bind: string,
    port: number,
  ): Promise<void> {
    const policy = this.#policyNow();
    const answer = (code: number, got: number, message: string) => {
      link.mux.listenResult(id, { code, port: got, message });
      link.kick();
    };
    const why = refuseListen(policy, bind, port);
    if (why !== null) {
      return answer(RESET_CODE.policy, 0, `refused by policy: ${why}`);
    }
    const hostname = listenAddress(policy, bind);
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname, port });
    } catch (err) {
      return answer(
        RESET_CODE.refused,
        0,
        `listen on ${hostname}:${port}: ${errorText(err)}`,
      );
    }
    if (link !== this.#link) return listener.close();
    this.#listeners.set(id, listener);
    const got = (listener.addr as Deno.NetAddr).port;
    this.#options.log(
      `tmosh: listening on ${hostname}:${got} for the client (-R)`,
    );
    answer(0, got, "");
    await this.#acceptLoop(listener, (conn) => {
      if (link !== this.#link) return conn.close();
      const ch = link.mux.open(CHANNEL_KIND.forwarded, String(id));
      if (ch === null) return conn.close();
      (conn as Deno.TcpConn).setNoDelay?.(true);
      this.#pipes.attach(ch, conn as ByteEnd);
      link.kick();
    });
  }

  async #acceptLoop(
    listener: Deno.Listener,
    each: (conn: Deno.Conn) => void,
  ): Promise<void> {
    try {
      for await (const conn of listener) {
        this.#options.guard.run("a forwarded connection", () => each(conn));
      }
    } catch {
      // closed
    }
  }

  /** A program connected to SSH_AUTH_SOCK: a channel to the client's agent, or at once closed. */
  #agentConnection(conn: Deno.Conn): void {
    const link = this.#link;
    const heard = this.#connection.lastHeard ?? -Infinity;
    const away = performance.now() - heard > AGENT_CLIENT_SILENCE_MS;
    if (link === null || !link.enabled || !this.#agentClient || away) {
      this.#options.log(
        "tmosh: agent request refused: no client with agent forwarding (-A) is attached",
      );
      conn.close();
      return;
    }
    const ch = link.mux.open(CHANNEL_KIND.agent, "");
    if (ch === null) return conn.close();
    this.#pipes.attach(ch, conn as ByteEnd);
    link.kick();
  }
}
