/**
 * The user daemon's socket (server/user_daemon.ts, docs/architecture.md
 * §12.3): `daemon-VERSION.sock` in the registry directory, bound and removed
 * under the start lock `daemon-VERSION.lock` (created O_EXCL, holding `PID
 * STARTTIME`; one whose holder has ended is removed), so that two daemons
 * starting at once end up as one and a daemon exiting never removes a
 * successor's socket.
 * @module
 */

import { startTime } from "./owner.ts";
import { ensurePrivateDir, fallbackSocketDir, FILE_MODE } from "./registry.ts";
import { closeConn, listenPrivate } from "./control_socket.ts";
import { daemonLockPath, daemonSocketPath } from "./daemon_protocol.ts";

/** How long a daemon tries to take the start lock to remove its socket on exit, ms. */
const EXIT_LOCK_MS = 1000;
/** A lock file this old whose holder cannot be read is taken for a dead starter's, ms. */
const UNREADABLE_LOCK_MS = 5000;

/** The daemon's listening socket and the identity of its file. */
export interface Bound {
  listener: Deno.Listener;
  path: string;
  ino: number | null;
}

/**
 * Binds the daemon socket of registry `dir` (made if missing) under the start
 * lock; null when another daemon holds the lock or answers on the socket (the
 * front connects to it).
 */
export async function bindSocket(dir: string): Promise<Bound | null> {
  ensurePrivateDir(dir);
  const release = await takeLock(dir, 0);
  if (release === null) return null;
  try {
    const path = daemonSocketPath(dir);
    if (!path.startsWith(`${dir}/`)) ensurePrivateDir(fallbackSocketDir());
    if (await answers(path)) return null;
    try {
      if (Deno.lstatSync(path).isSocket) Deno.removeSync(path); // a dead daemon's
    } catch {
      // not there
    }
    const listener = listenPrivate(path);
    return { listener, path, ino: Deno.lstatSync(path).ino };
  } finally {
    release();
  }
}

/** Stops listening and removes the socket, under the start lock, if it is still `bound`'s. */
export async function closeSocket(dir: string, bound: Bound): Promise<void> {
  const { listener, path, ino } = bound;
  const release = await takeLock(dir, EXIT_LOCK_MS);
  try {
    listener.close();
  } catch {
    // already closed
  }
  try {
    const info = Deno.lstatSync(path);
    if (info.isSocket && (ino === null || info.ino === ino)) {
      Deno.removeSync(path);
    }
  } catch {
    // gone
  }
  release?.();
}

/** Whether something listens on the socket at `path`. */
async function answers(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    closeConn(conn);
    return true;
  } catch {
    return false;
  }
}

/**
 * Takes the start lock (`daemon-VERSION.lock`, created O_EXCL, holding
 * `PID STARTTIME`), trying for up to `waitMs`; a lock whose holder has
 * ended is removed. Resolves to its release, or null when a live process
 * holds it.
 */
async function takeLock(
  dir: string,
  waitMs: number,
): Promise<(() => void) | null> {
  const path = daemonLockPath(dir);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const file = Deno.openSync(path, {
        write: true,
        createNew: true, // O_EXCL: never through a symlink
        mode: FILE_MODE,
      });
      try {
        file.writeSync(
          new TextEncoder().encode(`${Deno.pid} ${startTime(Deno.pid)}\n`),
        );
      } finally {
        file.close();
      }
      return () => {
        try {
          Deno.removeSync(path);
        } catch {
          // gone
        }
      };
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    if (lockIsStale(path)) {
      try {
        Deno.removeSync(path);
      } catch {
        // another starter removed it
      }
      continue;
    }
    if (Date.now() >= deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Whether the lock at `path` was left by a process that has ended. */
function lockIsStale(path: string): boolean {
  let text: string;
  let age: number;
  try {
    text = Deno.readTextFileSync(path);
    age = Date.now() - (Deno.lstatSync(path).mtime?.getTime() ?? 0);
  } catch {
    return false; // gone meanwhile: try again
  }
  const m = /^(\d+) (\S+)\n$/.exec(text);
  if (m === null) return age >= UNREADABLE_LOCK_MS; // being written
  return startTime(Number(m[1])) !== m[2];
}
