/**
 * The per-session agent socket of `-A` (docs/wire.md §17.3): a Unix socket
 * in a fresh 0700 directory under /tmp (as sshd's /tmp/ssh-XXXX/agent.PID),
 * created once for the session, so SSH_AUTH_SOCK stays valid across
 * reattaches; removed with the session.
 * @module
 */

import type { ErrorGuard } from "../protocol/network/guard.ts";

/** Options of an {@linkcode AgentSocket}. */
export interface AgentSocketOptions {
  /** Each connection a program makes to the socket. */
  onConnection: (conn: Deno.Conn) => void;
  /** Where a throwing handler is caught. */
  guard: ErrorGuard;
}

/** A listening agent socket; see the module doc. */
export class AgentSocket {
  /** The socket's path (SSH_AUTH_SOCK). */
  readonly path: string;
  readonly #dir: string;
  readonly #listener: Deno.UnixListener;
  #closed = false;

  /** Creates the directory and the socket (throws when it cannot). */
  constructor(options: AgentSocketOptions) {
    this.#dir = Deno.makeTempDirSync({ dir: "/tmp", prefix: "tmosh-agent-" });
    Deno.chmodSync(this.#dir, 0o700);
    this.path = `${this.#dir}/agent.${Deno.pid}`;
    this.#listener = Deno.listen({ transport: "unix", path: this.path });
    Deno.chmodSync(this.path, 0o600);
    // Also on Deno.exit() paths that skip the session's teardown.
    globalThis.addEventListener("unload", this.#onUnload);
    void this.#accept(options);
  }

  readonly #onUnload = () => this.close();

  /** Stops listening and removes the socket and its directory. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    globalThis.removeEventListener("unload", this.#onUnload);
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    try {
      Deno.removeSync(this.#dir, { recursive: true });
    } catch {
      // already gone
    }
  }

  async #accept(options: AgentSocketOptions): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        options.guard.run("the agent socket", () => options.onConnection(conn));
      }
    } catch {
      // closed
    }
  }
}
