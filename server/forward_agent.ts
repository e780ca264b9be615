/**
 * The per-session agent socket of `-A` (docs/wire.md §17.3): a Unix socket
 * in a fresh 0700 directory under /tmp (as sshd's /tmp/ssh-XXXX/agent.PID),
 * created once for the session, so SSH_AUTH_SOCK stays valid across
 * reattaches; removed with the session. A server killed outright (SIGKILL)
 * cannot remove its own: the next server of the user that makes one removes
 * those whose process is gone.
 * @module
 */

import type { ErrorGuard } from "../protocol/network/guard.ts";

/** Where agent directories are made, and their names' start. */
const AGENT_PARENT = "/tmp", AGENT_PREFIX = "tmosh-agent-";

/** Whether this process swept stale agent directories already. */
let swept = false;

/**
 * Removes this user's agent directories (under `parent`, default /tmp)
 * whose server process is gone (its socket `agent.PID` names a PID that no
 * longer runs); returns how many it removed. Others' directories, and any
 * entry it cannot read, are left alone.
 */
export function sweepStaleAgentDirs(parent = AGENT_PARENT): number {
  const uid = Deno.uid();
  let removed = 0;
  try {
    for (const entry of Deno.readDirSync(parent)) {
      if (!entry.isDirectory || !entry.name.startsWith(AGENT_PREFIX)) continue;
      const dir = `${parent}/${entry.name}`;
      try {
        if (Deno.lstatSync(dir).uid !== uid) continue;
        const names = [...Deno.readDirSync(dir)].map((e) => e.name);
        const pids = names.map((n) => /^agent\.(\d+)$/.exec(n)?.[1]);
        if (pids.length !== 1 || pids[0] === undefined) continue;
        if (processRuns(Number(pids[0]))) continue;
        Deno.removeSync(dir, { recursive: true });
        removed++;
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
  } catch {
    // no such parent: nothing to sweep
  }
  return removed;
}

/** Whether process `pid` exists (a zombie counts). */
function processRuns(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

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
    if (!swept) {
      swept = true;
      sweepStaleAgentDirs();
    }
    this.#dir = Deno.makeTempDirSync({
      dir: AGENT_PARENT,
      prefix: AGENT_PREFIX,
    });
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
