/**
 * tmux as a real terminal for end-to-end tests: a private tmux server running
 * one command in a detached session of fixed size, whose screen, cursor and
 * exit status tests can read and whose keyboard and size they can drive.
 * @module
 */

/** Options of {@linkcode startTmux}. */
export interface TmuxOptions {
  /** Columns; default 80. */
  width?: number;
  /** Rows; default 24. */
  height?: number;
  /** Variables exported to the command (e.g. TERM, LANG, MOSH_KEY). */
  env?: Record<string, string>;
  /** Lines of scrollback the pane keeps (tmux's `history-limit`); default tmux's 2000. */
  historyLimit?: number;
}

/** A command running in a private tmux session. */
export interface TmuxSession {
  /** The visible screen, one line per row, trailing blanks trimmed; `colors` keeps SGR codes. */
  capture(options?: { colors?: boolean }): Promise<string>;
  /** Rows in the pane's history (the user's scrollback, above the screen). */
  historySize(): Promise<number>;
  /** The pane's history (above the screen), oldest first, soft-wrapped rows joined. */
  history(): Promise<string[]>;
  /** The cursor position, 0-based. */
  cursor(): Promise<{ x: number; y: number }>;
  /** Types keys: tmux key names ("Enter", "C-c") unless `literal`. */
  sendKeys(keys: string, options?: { literal?: boolean }): Promise<void>;
  /** Resizes the window (the command gets SIGWINCH). */
  resize(width: number, height: number): Promise<void>;
  /** Polls the screen until it matches; returns it, or throws with the last screen on timeout. */
  waitFor(
    match: RegExp | ((screen: string) => boolean),
    timeoutMs?: number,
  ): Promise<string>;
  /** The command's exit status, or null while it runs. */
  exitStatus(): Promise<number | null>;
  /** Waits for the command to exit and returns its status; throws on timeout. */
  waitForExit(timeoutMs?: number): Promise<number>;
  /** Kills the tmux server (and the command) and removes the temporary directory. */
  kill(): Promise<void>;
}

/** Session name inside the private server. */
const SESSION = "tmosh";
/** Interval between screen polls, ms. */
const POLL_MS = 50;

/** Quotes a word for sh. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Runs `tmux -S socket ...` and returns its stdout; throws with stderr on failure. */
export async function runTmux(socket: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("tmux", {
    args: ["-u", "-f", "/dev/null", "-S", socket, ...args],
    env: { LANG: "C.UTF-8" },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `tmosh: tmux ${args[0]} failed: ${decoder.decode(out.stderr).trim()}`,
    );
  }
  return decoder.decode(out.stdout);
}

/**
 * Returns the wrapper script: waits for the go file, runs the command in a
 * subshell (so `exit` and `exec` in it still let us record `$?`), writes `$?`,
 * then keeps the pane alive so its last screen stays readable.
 */
function wrapperScript(
  dir: string,
  command: string,
  env: Record<string, string>,
): string {
  const exports = Object.entries(env).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`tmosh: bad environment variable name '${name}'`);
    }
    return `export ${name}=${shellQuote(value)}`;
  });
  return [
    "#!/bin/sh",
    `while [ ! -e ${shellQuote(`${dir}/go`)} ]; do sleep 0.02; done`,
    ...exports,
    "(",
    command,
    ")",
    `echo $? > ${shellQuote(`${dir}/status.tmp`)}`,
    `mv ${shellQuote(`${dir}/status.tmp`)} ${shellQuote(`${dir}/status`)}`,
    // Keep the pane alive: tmux 3.3a scrolls a dead pane's screen away.
    "exec sleep 86400",
    "",
  ].join("\n");
}

/** Options of {@linkcode prepareTmux}. */
export interface PrepareTmuxOptions extends TmuxOptions {
  /** Name of the tmux session. */
  session: string;
  /** Prefix of the temporary directory's name. */
  dirPrefix: string;
}

/** A configured private tmux session whose command waits for {@linkcode PreparedTmux.go}. */
export interface PreparedTmux {
  /** Temporary directory (socket, wrapper script, exit status). */
  dir: string;
  /** The private tmux server's socket. */
  socket: string;
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
  /** Lets the command start. */
  go(): Promise<void>;
  /** The command's exit status, or null while it runs. */
  exitStatus(): Promise<number | null>;
}

/**
 * Creates a private tmux server with one detached session running `command`
 * (a sh command line), configured (status line off, fixed window size) before
 * the command may start; on failure nothing is left behind.
 */
export async function prepareTmux(
  command: string,
  options: PrepareTmuxOptions,
): Promise<PreparedTmux> {
  const width = options.width ?? 80;
  const height = options.height ?? 24;
  const dir = await Deno.makeTempDir({ prefix: options.dirPrefix });
  const socket = `${dir}/sock`;
  const script = `${dir}/run.sh`;
  await Deno.writeTextFile(
    script,
    wrapperScript(dir, command, options.env ?? {}),
  );
  try {
    // history-limit applies to panes created after it is set.
    const history = options.historyLimit === undefined
      ? []
      : ["set-option", "-g", "history-limit", `${options.historyLimit}`, ";"];
    await runTmux(socket, [
      ...history,
      "new-session",
      "-d",
      "-s",
      options.session,
      "-x",
      `${width}`,
      "-y",
      `${height}`,
      `sh ${shellQuote(script)}`,
    ]);
    for (
      const [name, value] of [
        ["status", "off"],
        ["window-size", "manual"],
        ["remain-on-exit", "on"],
        ["escape-time", "0"],
      ]
    ) {
      await runTmux(socket, ["set-option", "-g", name, value]);
    }
    await runTmux(socket, [
      "resize-window",
      "-t",
      options.session,
      "-x",
      `${width}`,
      "-y",
      `${height}`,
    ]);
  } catch (error) {
    await runTmux(socket, ["kill-server"]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  return {
    dir,
    socket,
    width,
    height,
    async go() {
      await Deno.writeTextFile(`${dir}/go`, "");
    },
    async exitStatus() {
      try {
        return Number((await Deno.readTextFile(`${dir}/status`)).trim());
      } catch {
        return null;
      }
    },
  };
}

/** Attempts at starting a tmux server that stays up (tmux 3.3a occasionally dies at startup when many start at once). */
const START_ATTEMPTS = 3;

/**
 * Prepares the session and lets the command go, checking that the tmux server
 * is still up; a server that died before the command could run is started again.
 */
async function startAlive(
  command: string,
  options: TmuxOptions,
): Promise<PreparedTmux> {
  for (let attempt = 1;; attempt++) {
    const prepared = await prepareTmux(command, {
      ...options,
      session: SESSION,
      dirPrefix: "tmosh_tmux_",
    });
    await prepared.go();
    await new Promise((resolve) => setTimeout(resolve, 30));
    const alive = await runTmux(prepared.socket, ["has-session", "-t", SESSION])
      .then(() => true, () => false);
    if (alive || attempt >= START_ATTEMPTS) return prepared;
    console.warn(`tmux server died at startup (attempt ${attempt}); retrying`);
    await Deno.remove(prepared.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Starts `command` (a sh command line) in a detached tmux session of the given
 * size. The command starts only after the session is fully configured (status
 * line off, fixed window size), so it sees the final size from its first byte.
 */
export async function startTmux(
  command: string,
  options: TmuxOptions = {},
): Promise<TmuxSession> {
  const prepared = await startAlive(command, options);
  const { dir, socket } = prepared;
  const target = ["-t", SESSION];

  const session: TmuxSession = {
    async capture(opts = {}) {
      const args = ["capture-pane", "-p", ...target];
      if (opts.colors) args.splice(2, 0, "-e");
      return (await runTmux(socket, args)).replace(/\n$/, "");
    },
    async historySize() {
      const out = await runTmux(socket, [
        "display-message",
        "-p",
        ...target,
        "#{history_size}",
      ]);
      return Number(out.trim());
    },
    async history() {
      // `-E -1` is the newest history row; with no history it would be the screen's.
      if (await session.historySize() === 0) return [];
      const args = ["capture-pane", "-p", "-J", "-S", "-", "-E", "-1"];
      const out = await runTmux(socket, [...args, ...target]);
      return out.replace(/\n$/, "").split("\n");
    },
    async cursor() {
      const out = await runTmux(socket, [
        "display-message",
        "-p",
        ...target,
        "#{cursor_x} #{cursor_y}",
      ]);
      const [x, y] = out.trim().split(" ").map(Number);
      return { x, y };
    },
    async sendKeys(keys, opts = {}) {
      await runTmux(socket, [
        "send-keys",
        ...target,
        ...(opts.literal ? ["-l"] : []),
        keys,
      ]);
    },
    async resize(w, h) {
      await runTmux(socket, [
        "resize-window",
        ...target,
        "-x",
        `${w}`,
        "-y",
        `${h}`,
      ]);
    },
    async waitFor(match, timeoutMs = 5000) {
      const test = match instanceof RegExp
        ? (s: string) => match.test(s)
        : match;
      const deadline = Date.now() + timeoutMs;
      let screen = "";
      while (true) {
        screen = await session.capture();
        if (test(screen)) return screen;
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      throw new Error(
        `tmosh: screen did not match ${match} within ${timeoutMs} ms:\n${screen}`,
      );
    },
    exitStatus: prepared.exitStatus,
    async waitForExit(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const status = await session.exitStatus();
        if (status !== null) return status;
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      throw new Error(
        `tmosh: command in tmux still running after ${timeoutMs} ms`,
      );
    },
    async kill() {
      await runTmux(socket, ["kill-server"]).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return session;
}
