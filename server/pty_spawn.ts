/**
 * Opening a pseudo-terminal pair and starting a child on its slave side (Linux/glibc, FFI).
 *
 * The child is started with `posix_spawnp` (never `forkpty`, which crashes under Deno): a new
 * session (so opening the slave makes it the controlling tty: job control, ^C, ^Z work), every
 * signal back to SIG_DFL (Deno ignores SIGPIPE), an empty signal mask, the slave on fds 0/1/2 and
 * nothing else open. See docs/architecture.md §7 and docs/wire.md §1.5.
 *
 * @module
 */

import {
  cString,
  EINTR,
  errno,
  FILE_ACTIONS_SIZE,
  IUTF8,
  libc,
  libcError,
  O_CLOEXEC,
  O_NOCTTY,
  O_NONBLOCK,
  O_RDWR,
  pointerArray,
  POSIX_SPAWN_SETSID,
  POSIX_SPAWN_SETSIGDEF,
  POSIX_SPAWN_SETSIGMASK,
  SIGSET_SIZE,
  SPAWNATTR_SIZE,
  SYS_PIDFD_OPEN,
  TCSANOW,
  TERMIOS_SIZE,
  TIOCSWINSZ,
} from "../libc.ts";

/** The master side of a fresh pty pair and the path of its slave. */
export interface PtyPair {
  /** Non-blocking, close-on-exec master fd. */
  master: number;
  /** `/dev/pts/N`. */
  slavePath: string;
}

/** What the child runs and where. */
export interface SpawnOptions {
  /** The environment, exactly (no inheritance). */
  env: Record<string, string>;
  /** Working directory of the child; unchanged when absent. */
  cwd?: string;
  /** argv[0] of the child (e.g. "-bash" for a login shell); defaults to `command[0]`. */
  argv0?: string;
}

/** Open a pty pair: non-blocking master, unlocked slave. */
export function openPty(): PtyPair {
  const c = libc();
  const master = c.posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (master < 0) throw libcError("posix_openpt", errno());
  const name = new Uint8Array(128);
  let failed = "";
  if (c.grantpt(master) !== 0) failed = "grantpt";
  else if (c.unlockpt(master) !== 0) failed = "unlockpt";
  if (failed) {
    const code = errno();
    c.close(master);
    throw libcError(failed, code);
  }
  const rc = c.ptsname_r(master, name, BigInt(name.length));
  if (rc !== 0) {
    c.close(master);
    throw libcError("ptsname_r", rc);
  }
  const end = name.indexOf(0);
  return { master, slavePath: new TextDecoder().decode(name.subarray(0, end)) };
}

/** Throw unless `cols` × `rows` is a valid window size. */
export function checkWinsize(cols: number, rows: number): void {
  for (const [name, v] of [["cols", cols], ["rows", rows]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0xffff) {
      throw new RangeError(
        `tmosh: pty ${name} must be an integer in 1..65535, got ${v}`,
      );
    }
  }
}

/** Set the window size of the pty behind `master` (the foreground job gets SIGWINCH). */
export function setWinsize(master: number, cols: number, rows: number): void {
  checkWinsize(cols, rows);
  const ws = new Uint16Array([rows, cols, 0, 0]);
  if (libc().ioctl(master, BigInt(TIOCSWINSZ), ws) !== 0) {
    throw libcError("ioctl(TIOCSWINSZ)", errno());
  }
}

/** Turn on IUTF8 in the pty's termios (on Linux, termios calls on the master act on the slave). */
export function setIutf8(master: number): void {
  const c = libc();
  const termios = new Uint8Array(TERMIOS_SIZE);
  if (c.tcgetattr(master, termios) !== 0) throw libcError("tcgetattr", errno());
  const view = new DataView(termios.buffer);
  view.setUint32(0, view.getUint32(0, true) | IUTF8, true); // c_iflag
  if (c.tcsetattr(master, TCSANOW, termios) !== 0) {
    throw libcError("tcsetattr", errno());
  }
}

/** Start `command` with the pty slave at `slavePath` as its controlling tty; returns the pid. */
export function spawnOnPty(
  slavePath: string,
  command: string[],
  options: SpawnOptions,
): number {
  if (command.length === 0 || command[0] === "") {
    throw new Error(
      "tmosh: no command to run in the pty; pass at least a program name",
    );
  }
  const c = libc();
  const keep: Uint8Array<ArrayBuffer>[] = []; // C strings that must outlive posix_spawnp
  function str(s: string): Uint8Array<ArrayBuffer> {
    const b = cString(s);
    keep.push(b);
    return b;
  }
  const file = str(command[0]);
  const argv = pointerArray(
    [options.argv0 ?? command[0], ...command.slice(1)].map(str),
  );
  const envp = pointerArray(
    Object.entries(options.env).map(([k, v]) => {
      if (k === "" || k.includes("=")) {
        throw new Error(
          `tmosh: bad environment variable name ${JSON.stringify(k)}`,
        );
      }
      return str(`${k}=${v}`);
    }),
  );
  const slave = str(slavePath);
  const cwd = options.cwd === undefined ? null : str(options.cwd);

  const fa = new Uint8Array(FILE_ACTIONS_SIZE);
  const attr = new Uint8Array(SPAWNATTR_SIZE);
  const empty = new Uint8Array(SIGSET_SIZE);
  const all = new Uint8Array(SIGSET_SIZE);
  check("posix_spawn_file_actions_init", c.posix_spawn_file_actions_init(fa));
  try {
    check("posix_spawnattr_init", c.posix_spawnattr_init(attr));
    try {
      // glibc's child runs setsid() first, so this open (no O_NOCTTY) acquires the tty.
      check(
        "addopen",
        c.posix_spawn_file_actions_addopen(fa, 0, slave, O_RDWR, 0),
      );
      check("adddup2", c.posix_spawn_file_actions_adddup2(fa, 0, 1));
      check("adddup2", c.posix_spawn_file_actions_adddup2(fa, 0, 2));
      check(
        "addclosefrom_np",
        c.posix_spawn_file_actions_addclosefrom_np(fa, 3),
      );
      if (cwd !== null) {
        check("addchdir_np", c.posix_spawn_file_actions_addchdir_np(fa, cwd));
      }
      c.sigemptyset(empty);
      c.sigfillset(all);
      check("setsigmask", c.posix_spawnattr_setsigmask(attr, empty));
      check("setsigdefault", c.posix_spawnattr_setsigdefault(attr, all));
      const flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
        POSIX_SPAWN_SETSIGMASK;
      check(
        "posix_spawnattr_setflags",
        c.posix_spawnattr_setflags(attr, flags),
      );
      const pid = new Int32Array(1);
      let rc: number;
      do {
        rc = c.posix_spawnp(pid, file, fa, attr, argv, envp);
      } while (rc === EINTR);
      if (rc !== 0) {
        const where = cwd === null ? "" : ` in ${options.cwd}`;
        throw libcError(
          `starting ${JSON.stringify(command[0])}${where}`,
          rc,
          "check the command and the working directory",
        );
      }
      return pid[0];
    } finally {
      c.posix_spawnattr_destroy(attr);
    }
  } finally {
    c.posix_spawn_file_actions_destroy(fa);
  }
}

/** A pidfd for `pid` (readable once it exits), or -1 where the kernel has none. */
export function openPidfd(pid: number): number {
  const fd = Number(libc().syscall(BigInt(SYS_PIDFD_OPEN), BigInt(pid), 0n));
  return fd >= 0 ? fd : -1;
}

/** A close-on-exec, non-blocking pipe as [read end, write end]. */
export function openPipe(): [number, number] {
  const fds = new Int32Array(2);
  if (libc().pipe2(fds, O_CLOEXEC | O_NONBLOCK) !== 0) {
    throw libcError("pipe2", errno());
  }
  return [fds[0], fds[1]];
}

function check(what: string, rc: number): void {
  // posix_spawn* return the error number instead of setting errno.
  if (rc !== 0) throw libcError(`posix_spawn ${what}`, rc);
}
