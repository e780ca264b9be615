/**
 * The C library calls tmosh makes through Deno FFI (needs `--allow-ffi`): the pty
 * and its child (server/), the core-dump limit and the environment (secrets.ts), resident pages
 * (protocol/network/trim_resident.ts).
 *
 * Linux/glibc (x86_64, ≥ 2.34 for `posix_spawn_file_actions_addclosefrom_np`) only; the values
 * below are Linux's. macOS differs (not implemented): the library is `libSystem.B.dylib`, errno
 * comes from `__error()`, O_NONBLOCK 0x4, O_NOCTTY 0x20000, O_CLOEXEC 0x1000000, EAGAIN 35,
 * TIOCSWINSZ 0x80087467, IUTF8 the same 0x4000 but in a 64-bit `tcflag_t`, POSIX_SPAWN_SETSID 0x400,
 * POSIX_SPAWN_CLOEXEC_DEFAULT 0x4000 instead of `addclosefrom_np`, opaque 8-byte spawn
 * attribute/file-action handles, a 4-byte `sigset_t`, no pidfd, and variadic calls (`ioctl`) pass
 * their variadic arguments on the stack on arm64. See docs/architecture.md §7.
 *
 * @module
 */

/** open(2) flags: O_RDWR. */
export const O_RDWR = 0x2;
/** open(2) flags: do not make the tty our controlling terminal. */
export const O_NOCTTY = 0x100;
/** open(2) flags: non-blocking I/O. */
export const O_NONBLOCK = 0x800;
/** open(2) flags: close on exec. */
export const O_CLOEXEC = 0x80000;

/** Signal numbers (Linux): interrupt (^C) and quit (^\\). */
export const SIGINT = 2;
export const SIGQUIT = 3;

/** errno: interrupted system call. */
export const EINTR = 4;
/** errno: I/O error (a pty master reads this once every slave fd is closed). */
export const EIO = 5;
/** errno: no such child (already reaped elsewhere). */
export const ECHILD = 10;
/** errno: try again (non-blocking fd not ready). */
export const EAGAIN = 11;

/** ioctl: set the window size (`struct winsize`, 4 × u16 rows, cols, xpixel, ypixel). */
export const TIOCSWINSZ = 0x5414;
/** ioctl: get the window size. */
export const TIOCGWINSZ = 0x5413;
/** tcsetattr: apply now. */
export const TCSANOW = 0;
/** termios c_iflag: input is UTF-8 (erase deletes whole characters), as mosh sets. */
export const IUTF8 = 0o40000;
/** Size of glibc's `struct termios` (60 B) rounded up; c_iflag is the first u32. */
export const TERMIOS_SIZE = 64;

/** posix_spawnattr flags: restore these signals to SIG_DFL in the child. */
export const POSIX_SPAWN_SETSIGDEF = 0x4;
/** posix_spawnattr flags: set the child's signal mask. */
export const POSIX_SPAWN_SETSIGMASK = 0x8;
/** posix_spawnattr flags: setsid() in the child (glibc runs it before the file actions). */
export const POSIX_SPAWN_SETSID = 0x80;
/** Bytes for a `posix_spawn_file_actions_t` (80 B on glibc x86_64; generous). */
export const FILE_ACTIONS_SIZE = 256;
/** Bytes for a `posix_spawnattr_t` (336 B on glibc x86_64; generous). */
export const SPAWNATTR_SIZE = 1024;
/** Bytes of a glibc `sigset_t`. */
export const SIGSET_SIZE = 128;

/** madvise: drop the range's pages from this process; clean file pages come back from the page cache on the next touch. */
export const MADV_DONTNEED = 4;

/** poll events: readable. */
export const POLLIN = 0x1;
/** poll events: writable. */
export const POLLOUT = 0x4;
/** poll revents: error. */
export const POLLERR = 0x8;
/** poll revents: hung up. */
export const POLLHUP = 0x10;
/** poll revents: fd not open. */
export const POLLNVAL = 0x20;

/** setsockopt level: the socket itself. */
export const SOL_SOCKET = 1;
/** setsockopt: the receive buffer size (the kernel doubles it, capped by net.core.rmem_max). */
export const SO_RCVBUF = 8;

/** waitpid options: do not block. */
export const WNOHANG = 1;
/** Linux syscall number of pidfd_open (the same on every architecture; kernel ≥ 5.3). */
export const SYS_PIDFD_OPEN = 434;

const SYMBOLS = {
  posix_openpt: { parameters: ["i32"], result: "i32" },
  madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
  /** glibc: returns the free memory of every malloc arena to the system (1: some was). */
  malloc_trim: { parameters: ["usize"], result: "i32" },
  grantpt: { parameters: ["i32"], result: "i32" },
  unlockpt: { parameters: ["i32"], result: "i32" },
  ptsname_r: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32" },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  sigemptyset: { parameters: ["buffer"], result: "i32" },
  sigfillset: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_addopen: {
    parameters: ["buffer", "i32", "buffer", "i32", "u32"],
    result: "i32",
  },
  posix_spawn_file_actions_adddup2: {
    parameters: ["buffer", "i32", "i32"],
    result: "i32",
  },
  posix_spawn_file_actions_addclosefrom_np: {
    parameters: ["buffer", "i32"],
    result: "i32",
  },
  posix_spawn_file_actions_addchdir_np: {
    parameters: ["buffer", "buffer"],
    result: "i32",
  },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigmask: {
    parameters: ["buffer", "buffer"],
    result: "i32",
  },
  posix_spawnattr_setsigdefault: {
    parameters: ["buffer", "buffer"],
    result: "i32",
  },
  posix_spawnp: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  /** Runs on a worker thread (returns a Promise); errno is not meaningful after it. */
  poll: {
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  syscall: { parameters: ["i64", "i64", "i64"], result: "i64" },
  getuid: { parameters: [], result: "u32" },
  setsid: { parameters: [], result: "i32" },
  signal: { parameters: ["i32", "pointer"], result: "pointer" },
  getpwuid: { parameters: ["u32"], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  getenv: { parameters: ["buffer"], result: "pointer" },
  strlen: { parameters: ["pointer"], result: "usize" },
  memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound libc symbols. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;

/** The libc symbols, opened on first use (so importing this module needs no FFI permission). */
export function libc(): Libc {
  if (library === null) {
    if (Deno.build.os !== "linux") {
      throw new Error(
        `tmosh: the pty is only implemented for Linux/glibc, not ${Deno.build.os}`,
      );
    }
    try {
      library = Deno.dlopen("libc.so.6", SYMBOLS);
    } catch (err) {
      throw new Error(
        `tmosh: cannot load libc.so.6 through FFI (${
          (err as Error).message
        }); run with --allow-ffi on Linux with glibc ≥ 2.34`,
      );
    }
  }
  return library.symbols;
}

/** errno of the last synchronous libc call on this thread; read it right after the call. */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** The C library's message for an errno value. */
export function strerror(code: number): string {
  const p = libc().strerror(code);
  return p === null ? `errno ${code}` : Deno.UnsafePointerView.getCString(p);
}

/** An Error saying which call failed and why, prefixed `tmosh: `. */
export function libcError(what: string, code: number, hint = ""): Error {
  return new Error(
    `tmosh: ${what} failed: ${strerror(code)} (errno ${code})${
      hint ? `; ${hint}` : ""
    }`,
  );
}

/** A NUL-terminated copy of `s`; throws if `s` itself holds a NUL. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) {
    throw new Error(
      `tmosh: ${JSON.stringify(s)} contains a NUL byte; remove it`,
    );
  }
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** A NULL-terminated `char*[]` pointing into `strings`, which the caller must keep alive. */
export function pointerArray(
  strings: Uint8Array<ArrayBuffer>[],
): BigUint64Array<ArrayBuffer> {
  const arr = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => {
    arr[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)));
  });
  return arr;
}

/** The C string at `offset` bytes into the struct at `p` (a `char*` field), or null. */
export function cStringField(
  p: Deno.PointerObject,
  offset: number,
): string | null {
  const field = new Deno.UnsafePointerView(p).getPointer(offset);
  return field === null ? null : Deno.UnsafePointerView.getCString(field);
}

/** Close `fd`, ignoring errors (cleanup paths). */
export function closeQuietly(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

/**
 * Points fds 0, 1 and 2 at /dev/null, and the copies Deno keeps of them (a
 * daemon's stdio must not hold ssh's pipes or pty).
 */
export function redirectStdioToDevNull(): void {
  const c = libc();
  const fd = c.open(cString("/dev/null"), O_RDWR);
  if (fd < 0) return;
  for (const target of [0, 1, 2, ...stdioCopies()]) {
    if (target !== fd) c.dup2(fd, target);
  }
  if (fd > 2) c.close(fd);
}

/** Fds past 2 open on the same pipe, pty or file as fd 0, 1 or 2 (Deno's `Deno.stdout` and the others write through such copies). */
function stdioCopies(): number[] {
  const target = (fd: number | string) => {
    try {
      return Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return null; // closed, or no /proc
    }
  };
  const stdio = new Set([0, 1, 2].map(target));
  stdio.delete(null);
  stdio.delete("/dev/null");
  const copies: number[] = [];
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      const fd = Number(entry.name);
      if (fd > 2 && stdio.has(target(fd))) copies.push(fd);
    }
  } catch {
    // no /proc: fds 0-2 only
  }
  return copies;
}
