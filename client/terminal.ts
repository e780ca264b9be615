/**
 * The user's real terminal: raw mode, Mosh's init/restore sequences, size and
 * resize events, and writing frames (docs/architecture.md §4; mosh: STMClient::init,
 * Display::open, Display::close).
 * @module
 */

import { libc, TCSANOW, TERMIOS_SIZE } from "../libc.ts";

/** What the local terminal can do, from terminfo for $TERM (mosh: Display::Display). */
export interface TerminalCaps {
  /** Enter the alternate screen (terminfo smcup); "" when none. */
  smcup: string;
  /** Leave it (terminfo rmcup). */
  rmcup: string;
  /** Erasing uses the current background colour (terminfo bce). */
  bce: boolean;
  /** The terminal shows window titles (mosh: TERM starts with xterm, rxvt, ...). */
  titles: boolean;
}

/** TERM prefixes of terminals that take OSC 0/1/2 titles (mosh: Display::Display). */
const TITLE_TERMS = [
  "xterm",
  "rxvt",
  "kterm",
  "Eterm",
  "alacritty",
  "screen",
  "tmux",
];

/** Capabilities read so far, by terminal name: read once per process. */
const capsRead = new Map<string, Promise<TerminalCaps>>();

/** Reads the capabilities of `term` with tput (once per name; a connect starts it while ssh runs); xterm's values when tput is missing. */
export function readTerminalCaps(
  term: string | undefined,
): Promise<TerminalCaps> {
  const name = term && term.length > 0 ? term : "xterm";
  let caps = capsRead.get(name);
  if (caps === undefined) {
    caps = queryTerminalCaps(name);
    capsRead.set(name, caps);
  }
  return caps;
}

/** Asks tput for the capabilities of terminal `name`. */
async function queryTerminalCaps(name: string): Promise<TerminalCaps> {
  const titles = TITLE_TERMS.some((p) => name.startsWith(p));
  async function tput(cap: string): Promise<{ ok: boolean; out: string }> {
    try {
      const r = await new Deno.Command("tput", {
        args: ["-T", name, cap],
        stdout: "piped",
        stderr: "null",
        stdin: "null",
      }).output();
      return { ok: r.success, out: new TextDecoder().decode(r.stdout) };
    } catch {
      return { ok: false, out: "" };
    }
  }
  const [smcup, rmcup, bce] = await Promise.all([
    tput("smcup"),
    tput("rmcup"),
    tput("bce"),
  ]);
  if (!smcup.ok && !rmcup.ok && !bce.ok) {
    return {
      smcup: "\x1b[?1049h\x1b[22;0;0t",
      rmcup: "\x1b[?1049l\x1b[23;0;0t",
      bce: true,
      titles,
    };
  }
  return { smcup: smcup.out, rmcup: rmcup.out, bce: bce.ok, titles };
}

/** Sequence that prepares the terminal: smcup (unless `init` is off), then application cursor keys (mosh: Display::open). */
export function openSequence(
  options: { init: boolean; smcup: string },
): string {
  return (options.init ? options.smcup : "") + "\x1b[?1h";
}

/** Sequence that restores the terminal on exit or suspend (mosh: Display::close). */
export function closeSequence(
  options: { init: boolean; rmcup: string },
): string {
  return "\x1b[?1l\x1b[0m\x1b[?25h" +
    "\x1b[?1003l\x1b[?1002l\x1b[?1001l\x1b[?1000l" +
    "\x1b[?1015l\x1b[?1006l\x1b[?1005l" +
    (options.init ? options.rmcup : "");
}

/** Window size in character cells. */
export interface WindowSize {
  /** Columns. */
  cols: number;
  /** Rows. */
  rows: number;
}

/** The terminal's file descriptor the client writes to. */
const STDOUT = 1;
/** termios c_oflag's OPOST (Linux): the kernel's output processing, ONLCR among it. */
const OPOST = 0o1;
/** Byte offset of c_oflag in glibc's struct termios (after c_iflag). */
const C_OFLAG = 4;

/**
 * Turns the kernel's output processing off on terminal `fd`, as mosh-client
 * (cfmakeraw) and ssh do; Deno's setRaw keeps it. With it on, the tty layer
 * hands a flood's text to the pty one line at a time, each LF a separate
 * write and wake-up of the terminal: a quarter of the client's CPU. Frames
 * never rely on it (they write CR themselves, as Mosh's). Returns the
 * settings to restore, or null when nothing changed (no FFI, not a terminal).
 */
function rawOutput(fd: number): Uint8Array<ArrayBuffer> | null {
  try {
    if (
      !Deno.stdout.isTerminal() ||
      Deno.permissions.querySync({ name: "ffi" }).state !== "granted"
    ) return null;
    const c = libc();
    const termios = new Uint8Array(TERMIOS_SIZE);
    if (c.tcgetattr(fd, termios) !== 0) return null;
    const view = new DataView(termios.buffer);
    const oflag = view.getUint32(C_OFLAG, true);
    if ((oflag & OPOST) === 0) return null;
    const saved = termios.slice();
    view.setUint32(C_OFLAG, oflag & ~OPOST, true);
    return c.tcsetattr(fd, TCSANOW, termios) === 0 ? saved : null;
  } catch {
    return null;
  }
}

/** The local terminal the client draws on. */
export class LocalTerminal {
  readonly #init: boolean;
  /** open() enters, and close() leaves, the alternate screen (smcup/rmcup). */
  #alternate: boolean;
  readonly #caps: TerminalCaps;
  readonly #encoder = new TextEncoder();
  #out = new Uint8Array(64 * 1024);
  #raw = false;
  /** The output settings open() changed, to restore (null when unchanged). */
  #cooked: Uint8Array<ArrayBuffer> | null = null;
  #open = false;
  #winchHandlers: (() => void)[] = [];
  #winch = () => {
    for (const h of this.#winchHandlers) h();
  };

  /** Creates the terminal front; `init` false keeps the normal screen (MOSH_NO_TERM_INIT). */
  constructor(options: { init: boolean; caps: TerminalCaps }) {
    this.#init = options.init;
    this.#alternate = options.init;
    this.#caps = options.caps;
  }

  /** Whether stdin is a terminal. */
  static isTerminal(): boolean {
    return Deno.stdin.isTerminal();
  }

  /** Current window size; 80x24 when unknown. */
  size(): WindowSize {
    try {
      const { columns, rows } = Deno.consoleSize();
      if (columns > 0 && rows > 0) return { cols: columns, rows };
    } catch {
      // not a terminal
    }
    return { cols: 80, rows: 24 };
  }

  /** Enters raw mode and writes the init sequence. */
  open(): void {
    if (Deno.stdin.isTerminal()) {
      Deno.stdin.setRaw(true);
      this.#raw = true;
      this.#cooked = rawOutput(STDOUT);
    }
    this.write(
      openSequence({ init: this.#alternate, smcup: this.#caps.smcup }),
    );
    this.#open = true;
  }

  /** Writes the restore sequence and leaves raw mode. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.write(
      closeSequence({ init: this.#alternate, rmcup: this.#caps.rmcup }),
    );
    if (this.#cooked !== null) {
      libc().tcsetattr(STDOUT, TCSANOW, this.#cooked);
      this.#cooked = null;
    }
    if (this.#raw) {
      try {
        Deno.stdin.setRaw(false);
      } catch {
        // stdin gone
      }
      this.#raw = false;
    }
  }

  /**
   * From now on the session draws on the terminal's normal screen (native
   * scrollback): leaves the alternate screen if open() entered it, and
   * open()/close() no longer switch screens.
   */
  useNormalScreen(): void {
    if (!this.#alternate) return;
    this.#alternate = false;
    if (this.#open) this.write(this.#caps.rmcup);
  }

  /** Calls `handler` when the window size changes (SIGWINCH). */
  onResize(handler: () => void): void {
    if (this.#winchHandlers.length === 0) {
      try {
        Deno.addSignalListener("SIGWINCH", this.#winch);
      } catch {
        // no signals on this platform
      }
    }
    this.#winchHandlers.push(handler);
  }

  /** Stops listening for resizes. */
  dispose(): void {
    if (this.#winchHandlers.length > 0) {
      try {
        Deno.removeSignalListener("SIGWINCH", this.#winch);
      } catch {
        // ignore
      }
    }
    this.#winchHandlers = [];
  }

  /** Writes text to the terminal completely (synchronously, so frames never interleave). */
  write(text: string): void {
    if (text.length > 0) this.writeParts([text]);
  }

  /** Writes texts and bytes to the terminal, in order, in one write (as write). */
  writeParts(parts: readonly (string | Uint8Array)[]): void {
    let max = 0;
    for (const p of parts) {
      max += typeof p === "string" ? 3 * p.length : p.length;
    }
    if (max === 0) return;
    // One reused buffer: a flood's frames would otherwise leave megabytes of
    // short-lived external memory behind (each a push towards a full GC).
    if (this.#out.length < max) this.#out = new Uint8Array(max);
    let n = 0;
    for (const p of parts) {
      if (typeof p === "string") {
        n += this.#encoder.encodeInto(p, this.#out.subarray(n)).written;
      } else {
        this.#out.set(p, n);
        n += p.length;
      }
    }
    const bytes = this.#out.subarray(0, n);
    let off = 0;
    while (off < bytes.length) {
      try {
        off += Deno.stdout.writeSync(bytes.subarray(off));
      } catch (e) {
        if (e instanceof Deno.errors.WouldBlock) continue;
        throw e;
      }
    }
  }
}
