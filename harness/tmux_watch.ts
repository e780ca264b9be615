/**
 * A real terminal (tmux) watched as it draws: a private tmux server runs one
 * command in a detached session of fixed size, and a tmux control-mode client
 * streams every byte the command writes (`%output`) into a screen model
 * (@xterm/headless), so a test sees each screen state the moment tmux does,
 * with a timestamp, without polling. Keys and tmux commands go through the
 * same control channel (about a millisecond each).
 * @module
 */

import { Terminal } from "../protocol/terminal/xterm_esm.ts";
import {
  type PreparedTmux,
  prepareTmux,
  runTmux,
  type TmuxOptions,
} from "./tmux.ts";

/** A screen state of the model: visible rows (trailing blanks trimmed) and the cursor. */
export interface Screen {
  /** One string per row. */
  rows: string[];
  /** Cursor column, 0-based. */
  x: number;
  /** Cursor row, 0-based. */
  y: number;
}

/** A screen state and when tmux delivered the output that produced it (performance.now(), ms). */
export interface TimedScreen extends Screen {
  /** Arrival time of the output, ms. */
  time: number;
  /** Per row, "_" at each underlined cell (trailing blanks trimmed); not compared by sameScreen. */
  underlined: string[];
}

/** Options of {@linkcode startWatchedTmux}. */
export type WatchOptions = TmuxOptions;

/** A command running under tmux, watched through control mode. */
export interface WatchedTmux {
  /** The newest screen state of the model. */
  screen(): TimedScreen;
  /** Every distinct screen state so far, oldest first. */
  readonly history: readonly TimedScreen[];
  /** Types keys (tmux key names like "Enter", "BSpace", "Left" unless `literal`); resolves to the send time. */
  sendKeys(keys: string, options?: { literal?: boolean }): Promise<number>;
  /** tmux's own view of the screen (`capture-pane -p`, `-e` with colours: SGR codes kept). */
  capture(options?: { colors?: boolean }): Promise<string>;
  /** Resolves with the first state (the current one included) that matches; throws on timeout. */
  waitFor(
    match: (screen: TimedScreen) => boolean,
    timeoutMs?: number,
  ): Promise<TimedScreen>;
  /** The command's exit status, or null while it runs. */
  exitStatus(): Promise<number | null>;
  /** Kills the tmux server (and the command) and removes the temporary directory. */
  kill(): Promise<void>;
}

/** Session name inside the private server. */
const SESSION = "watched";

/** Decodes a `%output` payload: tmux writes bytes below 0x20 and `\` as `\ooo`. */
export function decodeControlOutput(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x5c && i + 3 < data.length) {
      const oct = String.fromCharCode(data[i + 1], data[i + 2], data[i + 3]);
      if (/^[0-7]{3}$/.test(oct)) {
        out[n++] = parseInt(oct, 8);
        i += 3;
        continue;
      }
    }
    out[n++] = data[i];
  }
  return out.slice(0, n);
}

/** Reads the model's visible rows, underlines and cursor. */
function snapshot(
  term: InstanceType<typeof Terminal>,
  time: number,
): TimedScreen {
  const buffer = term.buffer.active;
  const cell = buffer.getNullCell();
  const rows: string[] = [];
  const underlined: string[] = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.baseY + y);
    rows.push(line?.translateToString(true).trimEnd() ?? "");
    let marks = "";
    for (let x = 0; line !== undefined && x < term.cols; x++) {
      marks += line.getCell(x, cell)?.isUnderline() ? "_" : " ";
    }
    underlined.push(marks.trimEnd());
  }
  return { rows, underlined, x: buffer.cursorX, y: buffer.cursorY, time };
}

/** True if two screens have the same rows and cursor. */
export function sameScreen(a: Screen, b: Screen): boolean {
  return a.x === b.x && a.y === b.y &&
    a.rows.every((row, i) => row === b.rows[i]);
}

/**
 * Starts `command` (a sh command line) in a detached tmux session of the
 * given size, attaches a control-mode client, and only then lets the command
 * start, so the model sees every byte it writes.
 */
export async function startWatchedTmux(
  command: string,
  options: WatchOptions = {},
): Promise<WatchedTmux> {
  const prepared = await prepareTmux(command, {
    ...options,
    session: SESSION,
    dirPrefix: "tmosh_watch_",
  });
  const { dir, socket } = prepared;
  let control: Deno.ChildProcess;
  try {
    control = new Deno.Command("tmux", {
      args: [
        "-u",
        "-f",
        "/dev/null",
        "-S",
        socket,
        "-C",
        "attach",
        "-t",
        SESSION,
      ],
      env: { LANG: "C.UTF-8" },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch (error) {
    await runTmux(socket, ["kill-server"]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  let watched: Watched | undefined;
  try {
    watched = new Watched(control, prepared);
    // A command's reply proves the client is attached.
    await watched.command("display-message -p ok");
    await prepared.go();
  } catch (error) {
    if (watched !== undefined) await watched.kill();
    else {
      await runTmux(socket, ["kill-server"]).catch(() => {});
      await control.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    throw error;
  }
  return watched;
}

interface Pending {
  resolve: (lines: string[]) => void;
  reject: (error: Error) => void;
}

interface Waiter {
  match: (screen: TimedScreen) => boolean;
  resolve: (screen: TimedScreen) => void;
}

/** The control-mode client and the screen model it feeds. */
class Watched implements WatchedTmux {
  readonly history: TimedScreen[] = [];
  readonly #control: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #term: InstanceType<typeof Terminal>;
  readonly #tmux: PreparedTmux;
  readonly #pending: Pending[] = [];
  #waiters: Waiter[] = [];
  #block: string[] | null = null;
  #reading: Promise<void>;
  #closed = false;

  constructor(control: Deno.ChildProcess, tmux: PreparedTmux) {
    this.#control = control;
    this.#writer = control.stdin.getWriter();
    this.#term = new Terminal({
      cols: tmux.width,
      rows: tmux.height,
      // `buffer` is a proposed API in @xterm/headless.
      allowProposedApi: true,
      scrollback: 0,
    });
    this.#tmux = tmux;
    this.history.push(snapshot(this.#term, performance.now()));
    this.#reading = this.#read();
  }

  screen(): TimedScreen {
    return this.history[this.history.length - 1];
  }

  /** Runs one tmux command through the control channel; resolves to its output lines. */
  command(line: string): Promise<string[]> {
    if (this.#closed) {
      return Promise.reject(new Error("tmosh: watched tmux is closed"));
    }
    const reply = new Promise<string[]>((resolve, reject) =>
      this.#pending.push({ resolve, reject })
    );
    void this.#writer.write(new TextEncoder().encode(line + "\n")).catch(
      () => {},
    );
    return reply;
  }

  async sendKeys(
    keys: string,
    options: { literal?: boolean } = {},
  ): Promise<number> {
    const args = options.literal
      ? "-H " +
        [...new TextEncoder().encode(keys)].map((b) =>
          b.toString(16).padStart(2, "0")
        ).join(" ")
      : keys;
    const sentAt = performance.now();
    await this.command(`send-keys -t ${SESSION} ${args}`);
    return sentAt;
  }

  async capture(options: { colors?: boolean } = {}): Promise<string> {
    const lines = await this.command(
      `capture-pane -p ${options.colors ? "-e " : ""}-t ${SESSION}`,
    );
    return lines.join("\n");
  }

  waitFor(
    match: (screen: TimedScreen) => boolean,
    timeoutMs = 5000,
  ): Promise<TimedScreen> {
    const now = this.screen();
    if (match(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (screen) => {
          clearTimeout(timer);
          resolve(screen);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `tmosh: screen did not match within ${timeoutMs} ms:\n` +
              this.screen().rows.join("\n").trimEnd(),
          ),
        );
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  exitStatus(): Promise<number | null> {
    return this.#tmux.exitStatus();
  }

  async kill(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await runTmux(this.#tmux.socket, ["kill-server"]).catch(() => {});
      await this.#writer.close().catch(() => {});
      await this.#control.status;
      await this.#reading;
      for (const p of this.#pending.splice(0)) {
        p.reject(new Error("tmosh: watched tmux was killed"));
      }
    }
    this.#term.dispose();
    await Deno.remove(this.#tmux.dir, { recursive: true }).catch(() => {});
  }

  async #read(): Promise<void> {
    let rest = new Uint8Array(0);
    for await (const chunk of this.#control.stdout) {
      const time = performance.now();
      const data = new Uint8Array(rest.length + chunk.length);
      data.set(rest);
      data.set(chunk, rest.length);
      const outputs: Uint8Array[] = [];
      let start = 0;
      for (let i = 0; i < data.length; i++) {
        if (data[i] !== 0x0a) continue;
        const out = this.#line(data.subarray(start, i));
        if (out !== null) outputs.push(out);
        start = i + 1;
      }
      rest = data.slice(start);
      if (outputs.length > 0) this.#feed(outputs, time);
    }
  }

  /** Handles one control-mode line; returns decoded pane output, if it is some. */
  #line(line: Uint8Array): Uint8Array | null {
    const OUTPUT = "%output ";
    const head = new TextDecoder().decode(line.subarray(0, OUTPUT.length));
    if (this.#block !== null) {
      const text = new TextDecoder().decode(line);
      if (/^%(end|error) \d+ \d+ 1$/.test(text)) {
        const lines = this.#block;
        this.#block = null;
        const p = this.#pending.shift();
        if (text.startsWith("%error")) {
          p?.reject(
            new Error(`tmosh: tmux command failed: ${lines.join(" ")}`),
          );
        } else p?.resolve(lines);
      } else this.#block.push(text);
      return null;
    }
    if (
      head.startsWith("%begin ") &&
      /^%begin \d+ \d+ 1$/.test(new TextDecoder().decode(line))
    ) {
      this.#block = [];
      return null;
    }
    if (head.startsWith(OUTPUT)) {
      const space = line.indexOf(0x20, OUTPUT.length);
      return space < 0 ? null : decodeControlOutput(line.subarray(space + 1));
    }
    return null;
  }

  #feed(outputs: Uint8Array[], time: number): void {
    const total = outputs.reduce((n, o) => n + o.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const o of outputs) {
      bytes.set(o, at);
      at += o.length;
    }
    this.#term.write(bytes, () => {
      const next = snapshot(this.#term, time);
      if (sameScreen(next, this.screen())) return;
      this.history.push(next);
      const ready = this.#waiters.filter((w) => w.match(next));
      this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
      for (const w of ready) w.resolve(next);
    });
  }
}
