/**
 * A pseudo-terminal running a child process, for `tmosh serve` (Linux/glibc through FFI; needs
 * `--allow-ffi`).
 *
 * The master is non-blocking and is read and written with synchronous FFI calls; when it is not
 * ready, the wait is a `poll()` on a worker thread over [master, wake-up pipe], so the event loop
 * never blocks. `close()` writes to the wake-up pipe first and closes the master only once no
 * poll holds it, so the child really gets its hangup (docs/architecture.md §7).
 *
 * @example
 * ```ts
 * const pty = Pty.spawn(["/bin/bash", "-i"], { cols: 80, rows: 24 });
 * pty.onData((chunk) => emulator.write(chunk));
 * await pty.write(new TextEncoder().encode("exit 3\n"));
 * console.log(await pty.exited); // { code: 3, signal: null }
 * ```
 *
 * @module
 */

import {
  closeQuietly,
  EAGAIN,
  ECHILD,
  EINTR,
  errno,
  libc,
  libcError,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  WNOHANG,
} from "../libc.ts";
import {
  checkWinsize,
  openPidfd,
  openPipe,
  openPty,
  setIutf8,
  setWinsize,
  spawnOnPty,
} from "./pty_spawn.ts";

export { buildChildEnv, isUtf8Locale, loginShell } from "./child_env.ts";
export type { ChildEnvOptions, LoginShell } from "./child_env.ts";

/** Options of {@linkcode Pty.spawn}. */
export interface PtyOptions {
  /** Initial window width, columns. */
  cols: number;
  /** Initial window height, rows. */
  rows: number;
  /** The child's whole environment; defaults to this process's environment. */
  env?: Record<string, string>;
  /** The child's working directory; defaults to ours. */
  cwd?: string;
  /** argv[0] of the child, e.g. "-bash" for a login shell; defaults to `command[0]`. */
  argv0?: string;
  /** Receives what the data handler throws (the read loop goes on); default: ignored. */
  onError?: (err: unknown) => void;
}

/** How the child ended: an exit code, or the signal that killed it (both null if unknown). */
export interface PtyExit {
  /** Exit status when it exited normally. */
  code: number | null;
  /** Signal number when a signal killed it. */
  signal: number | null;
}

/**
 * While output floods, the read loop yields to timers and I/O at least this
 * often, ms. Each such yield costs a timer turn (a millisecond or two) in
 * which nothing reads the pty and the program blocks on its full buffer: at
 * 10 ms, `seq 1 2000000` with scrollback off took 2.25-2.34 s against stock
 * mosh's 1.81-1.89 s in the same minutes; at 30 ms 2.01-2.11 s against
 * 1.76-1.89 (bench/scrollback_bench.ts). Keystrokes and acks wait at most
 * this long during a flood.
 */
const IO_YIELD_MS = 30;
/** Largest chunk handed to the data handler, bytes. */
const READ_CHUNK = 16 * 1024;
/** Longest pause between exit checks when no pidfd can signal the exit, ms. */
const REAP_BACKOFF_MAX_MS = 100;
/** How long after close() a child that has not died keeps this process alive, ms. */
const CLOSE_GRACE_MS = 2000;
/** Returned by #poll when close() woke it up. */
const WOKEN = -1;

interface PendingWrite {
  data: Uint8Array<ArrayBuffer>;
  offset: number;
  done: PromiseWithResolvers<void>;
}

/** A child process on its own pseudo-terminal (it is the session leader; the pty is its tty). */
export class Pty {
  /** Process id of the child. */
  readonly pid: number;
  /** Resolves when the child has been reaped. */
  readonly exited: Promise<PtyExit>;
  /** Resolves when reading the master hit EOF/EIO (every slave fd closed) or close() ran. */
  readonly closed: Promise<void>;

  #master: number;
  #wakeRead: number;
  #wakeWrite: number;
  #pidfd: number;
  #closing = false;
  /** When the read loop last yielded through a timer, ms. */
  #lastTimerYield = 0;
  /** The read loop waited for output (poll) since its last read. */
  #waited = false;
  #closedAt = -1;
  #readDone = false;
  #reaped = false;
  #polls = new Set<Promise<number>>();
  #handler: ((chunk: Uint8Array) => void) | null = null;
  #onError: (err: unknown) => void = () => {};
  #handlerSet = Promise.withResolvers<void>();
  /** While set, the read loop waits for it (pause/resume). */
  #hold: PromiseWithResolvers<void> | null = null;
  #writes: PendingWrite[] = [];
  #writing = false;
  #writeError: Error | null = null;
  #exited = Promise.withResolvers<PtyExit>();
  #closed = Promise.withResolvers<void>();

  private constructor(
    pid: number,
    master: number,
    wake: [number, number],
    pidfd: number,
  ) {
    this.pid = pid;
    this.#master = master;
    [this.#wakeRead, this.#wakeWrite] = wake;
    this.#pidfd = pidfd;
    this.exited = this.#exited.promise;
    this.closed = this.#closed.promise;
    this.#readLoop();
    this.#reapLoop();
  }

  /** Start `command` (argv; `command[0]` is looked up in PATH) on a new pty of the given size. */
  static spawn(command: string[], options: PtyOptions): Pty {
    checkWinsize(options.cols, options.rows);
    const { master, slavePath } = openPty();
    let wake: [number, number] | null = null;
    try {
      setWinsize(master, options.cols, options.rows);
      setIutf8(master);
      wake = openPipe();
      const pid = spawnOnPty(slavePath, command, {
        env: options.env ?? Deno.env.toObject(),
        cwd: options.cwd,
        argv0: options.argv0,
      });
      const pty = new Pty(pid, master, wake, openPidfd(pid));
      if (options.onError) pty.#onError = options.onError;
      return pty;
    } catch (err) {
      closeQuietly(master);
      if (wake) wake.forEach(closeQuietly);
      throw err;
    }
  }

  /**
   * Receive the child's output: chunks as read (≤ 16 KiB), one per macrotask. Reading starts
   * with the first handler; a later call replaces the handler.
   */
  onData(handler: (chunk: Uint8Array) => void): void {
    this.#handler = handler;
    this.#handlerSet.resolve();
  }

  /** Stops reading the child's output (it blocks once the pty's buffer fills) until resume(). */
  pause(): void {
    if (!this.#closing) this.#hold ??= Promise.withResolvers<void>();
  }

  /** Reads the child's output again after pause(). */
  resume(): void {
    this.#hold?.resolve();
    this.#hold = null;
  }

  /** Write `data` to the child's input, after any earlier writes; rejects once the pty failed or closed. */
  write(data: Uint8Array): Promise<void> {
    if (this.#writeError) return Promise.reject(this.#writeError);
    if (this.#closing) return Promise.reject(closedError());
    if (data.length === 0) return Promise.resolve();
    const done = Promise.withResolvers<void>();
    this.#writes.push({ data: data.slice(), offset: 0, done });
    if (!this.#writing) this.#writeLoop();
    return done.promise;
  }

  /** Set the window size (the child's foreground job gets SIGWINCH); ignored once closed. */
  resize(cols: number, rows: number): void {
    checkWinsize(cols, rows);
    if (!this.#closing) setWinsize(this.#master, cols, rows);
  }

  /**
   * Hang up: close the master, so the child gets SIGHUP. Pending writes reject, `closed`
   * resolves; `exited` resolves when the child is reaped (if it outlives this process, it is
   * left running, as mosh-server does). Idempotent.
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#closedAt = performance.now();
    this.#handlerSet.resolve();
    this.resume();
    // Wake every poll blocked on a worker thread; a poll holding the master keeps the tty open.
    libc().write(this.#wakeWrite, new Uint8Array(1), 1n);
    Promise.allSettled([...this.#polls]).then(() => {
      for (
        const fd of [this.#master, this.#wakeRead, this.#wakeWrite]
      ) {
        closeQuietly(fd);
      }
    });
    this.#failWrites(closedError());
  }

  async #readLoop(): Promise<void> {
    const c = libc();
    const buf = new Uint8Array(READ_CHUNK);
    try {
      await this.#handlerSet.promise;
      while (!this.#closing) {
        if (this.#hold !== null) {
          await this.#hold.promise;
          continue;
        }
        let n = Number(c.read(this.#master, buf, BigInt(buf.length)));
        if (n > 0) {
          // A pty hands out at most 4 KiB a read: during a flood, whatever
          // more is there already joins this chunk, so the handler (the
          // emulator, the scrollback log) runs once per batch, not per 4 KiB.
          // An EOF or an error is seen on the next turn.
          while (n < buf.length) {
            const rest = buf.subarray(n);
            const more = Number(
              c.read(this.#master, rest, BigInt(rest.length)),
            );
            if (more <= 0) break;
            n += more;
          }
          const chunk = buf.slice(0, n);
          // setImmediate alone lets a flood starve the UDP socket (acks
          // unread for half a second); a timer now and then lets I/O in.
          // Output after a wait (an echo) goes on at once: the wait let
          // everything else run, and a timer costs a millisecond or two.
          const now = performance.now();
          if (this.#waited) {
            this.#waited = false;
            this.#lastTimerYield = now;
          } else if (now - this.#lastTimerYield >= IO_YIELD_MS) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            this.#lastTimerYield = performance.now();
          } else {
            await new Promise((resolve) => setImmediate(resolve));
          }
          if (this.#closing) break;
          try {
            this.#handler!(chunk);
          } catch (err) {
            // reportError would end the process: the loop boundary is here.
            this.#onError(err);
          }
          continue;
        }
        if (n === 0) break; // EOF
        const code = errno();
        if (code === EINTR) continue;
        if (code !== EAGAIN) break; // EIO: every slave fd is closed
        const revents = await this.#poll(this.#master, POLLIN);
        if (revents === WOKEN || revents & POLLNVAL) break;
        this.#waited = true;
      }
    } finally {
      this.#readDone = true;
      this.#closed.resolve();
      this.#maybeFinish();
    }
  }

  async #writeLoop(): Promise<void> {
    const c = libc();
    this.#writing = true;
    while (this.#writes.length > 0 && !this.#closing) {
      const w = this.#writes[0];
      const rest = w.data.subarray(w.offset);
      const n = Number(c.write(this.#master, rest, BigInt(rest.length)));
      if (n >= 0) {
        w.offset += n;
        if (w.offset === w.data.length) {
          this.#writes.shift();
          w.done.resolve();
        }
        continue;
      }
      const code = errno();
      if (code === EINTR) continue;
      if (code === EAGAIN) {
        const revents = await this.#poll(this.#master, POLLOUT);
        if (revents === WOKEN) break;
        if (!(revents & POLLNVAL)) continue;
      }
      this.#writeError = libcError(
        "writing to the pty",
        code,
        "the child has probably exited",
      );
      this.#failWrites(this.#writeError);
    }
    this.#writing = false;
  }

  #failWrites(err: Error): void {
    for (const w of this.#writes.splice(0)) w.done.reject(err);
  }

  async #reapLoop(): Promise<void> {
    const pidfd = this.#pidfd;
    try {
      if (pidfd >= 0) {
        while (!this.#closing) {
          const revents = await this.#poll(pidfd, POLLIN);
          if (revents === WOKEN) break;
          if (this.#tryReap()) return;
        }
        // Closed: wait a grace period for the hung-up child, keeping the process alive.
        if (this.#tryReap()) return;
        const { fds } = pollfds([[pidfd, POLLIN]]);
        await libc().poll(fds, 1n, CLOSE_GRACE_MS);
      }
      // No pidfd, or the grace period is over: check on timers, which stop keeping the
      // process alive once the child outlived close() by the grace period.
      let delay = 1;
      while (!this.#tryReap()) {
        const keepAlive = this.#closedAt < 0 ||
          performance.now() - this.#closedAt < CLOSE_GRACE_MS;
        await new Promise((resolve) => {
          const id = setTimeout(resolve, delay);
          if (!keepAlive) Deno.unrefTimer(id);
        });
        delay = Math.min(delay * 2, REAP_BACKOFF_MAX_MS);
      }
    } finally {
      closeQuietly(pidfd);
    }
  }

  /** waitpid(WNOHANG); true once the child's fate is settled. */
  #tryReap(): boolean {
    const status = new Int32Array(1);
    const r = libc().waitpid(this.pid, status, WNOHANG);
    if (r === 0) return false;
    if (r < 0) {
      const code = errno();
      if (code === EINTR) return false;
      if (code !== ECHILD) console.error(libcError("waitpid", code).message);
      this.#settleExit({ code: null, signal: null });
      return true;
    }
    const s = status[0];
    const sig = s & 0x7f;
    this.#settleExit(
      sig === 0
        ? { code: (s >> 8) & 0xff, signal: null }
        : { code: null, signal: sig },
    );
    return true;
  }

  #settleExit(exit: PtyExit): void {
    this.#reaped = true;
    this.#exited.resolve(exit);
    this.#maybeFinish();
  }

  /** Release the fds once the child is reaped and its output fully read. */
  #maybeFinish(): void {
    if (this.#readDone && this.#reaped) this.close();
  }

  /** poll() `fd` for `events` and the wake-up pipe on a worker thread; WOKEN after close(). */
  async #poll(fd: number, events: number): Promise<number> {
    if (this.#closing) return WOKEN;
    const { fds, view } = pollfds([[fd, events], [this.#wakeRead, POLLIN]]);
    for (;;) {
      const p = libc().poll(fds, 2n, -1);
      this.#polls.add(p);
      const r = await p;
      this.#polls.delete(p);
      if (this.#closing || view.getInt16(14, true) !== 0) return WOKEN;
      if (r > 0) return view.getInt16(6, true);
      // r < 0: interrupted (errno is not readable from here); retry.
    }
  }
}

/** An array of `struct pollfd { int fd; short events; short revents; }` (little endian). */
function pollfds(
  entries: [fd: number, events: number][],
): { fds: Uint8Array<ArrayBuffer>; view: DataView } {
  // An explicit ArrayBuffer lives off the V8 heap, so a worker thread may write revents to it.
  const buffer = new ArrayBuffer(8 * entries.length);
  const fds = new Uint8Array(buffer);
  const view = new DataView(buffer);
  entries.forEach(([fd, events], i) => {
    view.setInt32(8 * i, fd, true);
    view.setInt16(8 * i + 4, events, true);
  });
  return { fds, view };
}

function closedError(): Error {
  return new Error(
    "tmosh: the pty is closed; no more input can be written to it",
  );
}
