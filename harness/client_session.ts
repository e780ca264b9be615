/**
 * End-to-end client sessions under tmux for the client tests: `tmosh connect`
 * against `tmosh serve` or stock mosh-server over the private sshd, stock
 * `mosh --client="tmosh client"`, and a bare `tmosh client` (MOSH_KEY) to a
 * server started directly; plus the steps every combination runs (echo, vi,
 * resize, CJK/combining/colour, exit, Ctrl-^ .).
 *
 * Every server a test starts carries `TMOSH_TEST_MARK=<mark>` in its
 * environment (ssh passes it through the private sshd's AcceptEnv), so a test
 * can prove the server is there and, at the end, that it is gone.
 * @module
 */

import assert from "node:assert/strict";
import { type Sshd, startSshd, TEST_MARK_VAR } from "./sshd.ts";
import { peers, requirePeers } from "./require_peer.ts";
import { startTmux, type TmuxSession } from "./tmux.ts";
import { findPids, findPidsWithEnv, killPidsWithEnv } from "./stock_mosh.ts";
import { selfCommand } from "../self_command.ts";
import { SERVE_FUNCTION } from "../client/bootstrap/install_script.ts";

/** How tmosh's client meets the server. */
export type Combination = "tmosh" | "stock-server" | "stock-wrapper";

/** The remote shell's fixed prompt. */
export const PS1 = "e2e$ ";
/** Longest wait for a session to show its first prompt (ssh + server start, under load), ms. */
export const CONNECT_MS = 60_000;
/** Longest wait for one interactive step, ms. */
export const STEP_MS = 20_000;
/** Longest wait for the server to be gone after the session ended, ms. */
export const GONE_MS = 20_000;

/** Quotes a word for sh. */
export function shq(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The sh command line that runs `tmosh <sub>` from source, as tmosh runs itself (self_command.ts). */
export function tmoshCommand(sub: string): string {
  return `${selfCommand().map(shq).join(" ")} ${sub}`;
}

/** Writes an executable sh script `dir/name` that runs `tmosh <sub> "$@"` (`serve` as the finder starts it, install_script.ts SERVE_FUNCTION); returns its path. */
export async function tmoshScript(dir: string, sub: string): Promise<string> {
  const path = `${dir}/tmosh-${sub}`;
  await Deno.writeTextFile(
    path,
    sub === "serve"
      ? `#!/bin/sh\n${SERVE_FUNCTION}\ntmosh_serve ${tmoshCommand(sub)} "$@"\n`
      : `#!/bin/sh\nexec ${tmoshCommand(sub)} "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** The remote command: a quiet, deterministic interactive bash with prompt {@linkcode PS1}. */
export function shellCommand(): string[] {
  return ["env", `PS1=${PS1}`, "bash", "--norc", "--noprofile", "-i"];
}

/** A client session running in tmux, and the mark of the server it talks to. */
export interface ClientRun {
  /** The terminal the client draws on. */
  tmux: TmuxSession;
  /** Value of TMOSH_TEST_MARK carried by the server and its shell. */
  mark: string;
  /** Kills tmux, and every process still carrying the mark. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startConnect}. */
export interface StartConnectOptions {
  /** The private sshd (its ssh command line reaches root@127.0.0.1). */
  sshd: Sshd;
  /** Scratch directory for wrapper scripts. */
  dir: string;
  /** Extra environment of the client. */
  env?: Record<string, string>;
}

/** Who connects: a combination of tmosh's client, or plain stock `mosh` (for comparisons). */
export type Connector = Combination | "stock-mosh";

/** Returns the sh command line that connects to root@127.0.0.1, and the mark its server gets (its own registry and daemon unless `state` names an XDG_STATE_HOME). */
export async function connectCommand(
  connector: Connector,
  options: { sshd: Sshd; dir: string; state?: string },
): Promise<{ command: string; mark: string }> {
  const mark = `e2e-${crypto.randomUUID()}`;
  // Only ssh (hence the server side) gets the mark, not the client.
  const ssh = options.sshd.markedSsh(mark, options.state);
  const target = `--ssh=${shq(ssh)} root@127.0.0.1 -- ${
    shellCommand().map(shq).join(" ")
  }`;
  if (connector === "stock-mosh") return { command: `mosh ${target}`, mark };
  if (connector === "stock-wrapper") {
    const client = await tmoshScript(options.dir, "client");
    return { command: `mosh --client=${shq(client)} ${target}`, mark };
  }
  const server = connector === "tmosh"
    ? await tmoshScript(options.dir, "serve")
    : "mosh-server";
  return {
    command: `${tmoshCommand("connect")} --server=${shq(server)} ${target}`,
    mark,
  };
}

/** Starts a client session of the given combination under tmux (80x24), not waiting for it. */
export async function startConnect(
  combination: Combination,
  options: StartConnectOptions,
): Promise<ClientRun> {
  const { command, mark } = await connectCommand(combination, options);
  const tmux = await startTmux(command, {
    env: { TERM: "xterm-256color", LANG: "C.UTF-8", ...options.env },
  });
  return {
    tmux,
    mark,
    async stop() {
      await tmux.kill();
      await killPidsWithEnv(TEST_MARK_VAR, mark);
    },
  };
}

/** Live processes carrying the mark (server, its shell and what the shell runs). */
export async function markedPids(mark: string): Promise<number[]> {
  return await findPidsWithEnv(TEST_MARK_VAR, mark);
}

/** Command lines of the marked processes, for messages and server checks. */
export async function markedCommands(mark: string): Promise<string[]> {
  const lines: string[] = [];
  for (const pid of await markedPids(mark)) {
    try {
      const text = await Deno.readTextFile(`/proc/${pid}/cmdline`);
      lines.push(`${pid}: ${text.replaceAll("\0", " ").trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return lines;
}

/** Asserts that a server process (tmosh serve or mosh-server) with the mark is running. */
export async function assertServerRunning(mark: string): Promise<void> {
  const commands = await markedCommands(mark);
  assert.ok(
    commands.some((c) => /mosh-server|main\.ts serve/.test(c)),
    `expected a marked server process, found: ${JSON.stringify(commands)}`,
  );
}

/** Asserts that the client drawing the session is tmosh (its argv names the mark: --ssh or -#). */
export async function assertClientIsTmosh(mark: string): Promise<void> {
  const clients = await findPids(
    new RegExp(`main\\.ts (connect|client) .*${mark}`),
  );
  assert.ok(clients.length > 0, "expected a running tmosh client process");
}

/** Waits until no process carries the mark; fails listing the survivors. */
export async function waitServerGone(
  mark: string,
  timeoutMs = GONE_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await markedPids(mark)).length > 0) {
    if (Date.now() > deadline) {
      throw new Error(
        `tmosh: server side still running ${timeoutMs} ms after the session ended: ${
          JSON.stringify(await markedCommands(mark))
        }`,
      );
    }
    await delay(100);
  }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Types a command line and Enter. */
export async function typeLine(tmux: TmuxSession, line: string): Promise<void> {
  await tmux.sendKeys(line, { literal: true });
  await tmux.sendKeys("Enter");
}

/** Lines of a screen, trailing blanks already trimmed by tmux. */
export function lines(screen: string): string[] {
  return screen.split("\n");
}

/** Waits for the first prompt. */
export async function waitPrompt(tmux: TmuxSession): Promise<void> {
  await tmux.waitFor(
    (s) => lines(s).some((l) => l.startsWith(PS1.trimEnd())),
    CONNECT_MS,
  );
}

/** Runs a command and waits for an output line exactly `expect` (never equal to the typed line); returns the screen. */
export async function roundTrip(
  tmux: TmuxSession,
  command: string,
  options: { expect: string; timeoutMs?: number },
): Promise<string> {
  await typeLine(tmux, command);
  return await tmux.waitFor(
    (s) => lines(s).some((l) => l === options.expect),
    options.timeoutMs ?? STEP_MS,
  );
}

/** Clears the screen and waits until only the prompt is left. */
export async function clearScreen(tmux: TmuxSession): Promise<void> {
  const bare = (screen: string) => screen.trimEnd() === PS1.trimEnd();
  // A screen that is the prompt alone already would satisfy the wait before
  // the shell ran `clear`: the next line's keys would then be echoed by the
  // tty during `clear` and show up again after the prompt.
  if (bare(await tmux.capture())) return;
  await typeLine(tmux, "clear");
  await tmux.waitFor(bare, STEP_MS);
}

/** Echo round trip: arithmetic done by the remote shell comes back. */
export async function stepEcho(tmux: TmuxSession): Promise<void> {
  await roundTrip(tmux, "echo echo-$((6*7))", { expect: "echo-42" });
}

/** vi: insert two lines, `:wq`; the file holds them and the prompt returns. */
export async function stepVi(tmux: TmuxSession, dir: string): Promise<void> {
  const file = `${dir}/vi-${crypto.randomUUID().slice(0, 8)}.txt`;
  await clearScreen(tmux);
  await typeLine(tmux, `vi ${file}`);
  // vim-tiny shows `~` on empty lines and the file name at the bottom.
  await tmux.waitFor(
    (s) => lines(s).filter((l) => l === "~").length >= 10,
    STEP_MS,
  );
  await tmux.sendKeys("i");
  await tmux.sendKeys("hello from vi", { literal: true });
  await tmux.sendKeys("Enter");
  await tmux.sendKeys("second line", { literal: true });
  await tmux.sendKeys("Escape");
  await tmux.waitFor(/second line/, STEP_MS);
  await tmux.sendKeys(":wq", { literal: true });
  await tmux.sendKeys("Enter");
  const deadline = Date.now() + STEP_MS;
  let content: string | null = null;
  while (Date.now() < deadline) {
    content = await Deno.readTextFile(file).catch(() => null);
    if (content !== null && content.includes("second line")) break;
    await delay(100);
  }
  assert.equal(content, "hello from vi\nsecond line\n");
  // Keys typed before vi has given the terminal back would be flushed by it.
  await tmux.waitFor((s) => lines(s).includes(PS1.trimEnd()), STEP_MS);
  await roundTrip(tmux, "echo after-vi-$((1+2))", { expect: "after-vi-3" });
}

/** Resize: tmux resizes the window; the remote pty follows (stty size), then back to 80x24. */
export async function stepResize(tmux: TmuxSession): Promise<void> {
  await tmux.resize(100, 30);
  // The resize reaches the server asynchronously: ask until the pty has it.
  await retryRoundTrip(tmux, "stty size", "30 100");
  // The client draws at the new width: 100 columns fit on one row.
  await roundTrip(tmux, "printf '%0100d\\n' 0", { expect: "0".repeat(100) });
  await tmux.resize(80, 24);
  await retryRoundTrip(tmux, "stty size", "24 80");
}

/** Runs `command` until a line equal to `expected` shows, clearing between tries. */
async function retryRoundTrip(
  tmux: TmuxSession,
  command: string,
  expected: string,
): Promise<void> {
  const deadline = Date.now() + STEP_MS;
  while (true) {
    await clearScreen(tmux);
    await typeLine(tmux, command);
    const screen = await tmux.waitFor(
      (s) => lines(s).filter((l) => l !== "").length >= 3,
      STEP_MS,
    );
    if (lines(screen).some((l) => l === expected)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `tmosh: '${command}' never printed '${expected}':\n${screen}`,
      );
    }
    await delay(200);
  }
}

/** The line {@linkcode stepUnicode} prints: 中文, e + U+0301, red, bold green. */
export const UNICODE_LINE = "中文|e\u0301|red|green|";

/**
 * CJK, a combining accent and colour arrive intact. printf uses octal escapes
 * (the typed line never equals the output) and absolute column moves: the
 * `|`s land right only if the server counts 中 and 文 as two columns and the
 * accent as none.
 */
export async function stepUnicode(tmux: TmuxSession): Promise<void> {
  await clearScreen(tmux);
  const command = "printf '\\344\\270\\255\\346\\226\\207\\033[5G|e\\314\\201" +
    "\\033[7G|\\033[31mred\\033[0m|\\033[1;32mgreen\\033[0m|\\n'";
  await roundTrip(tmux, command, { expect: UNICODE_LINE });
  const colours = await tmux.capture({ colors: true });
  // tmux re-encodes SGR its own way: plain text, red then default, bold green.
  assert.ok(
    lines(colours).some((l) =>
      /^中文\|e\u0301\|\x1b\[31mred\x1b\[39m\|\x1b\[1m\x1b\[32mgreen\x1b\[0m/
        .test(l)
    ),
    `red, then bold green, in ${JSON.stringify(colours)}`,
  );
}

/** Ends with the remote shell's `exit`: the client exits 0 and the server side goes away. */
export async function endWithExit(run: ClientRun): Promise<void> {
  await assertServerRunning(run.mark);
  await typeLine(run.tmux, "exit");
  assert.equal(await run.tmux.waitForExit(STEP_MS), 0);
  await waitServerGone(run.mark);
}

/** Ends with Ctrl-^ . : the client exits 0 after the shutdown handshake, and the server goes away. */
export async function endWithQuitKey(run: ClientRun): Promise<void> {
  await assertServerRunning(run.mark);
  await run.tmux.sendKeys("C-^");
  await run.tmux.sendKeys(".", { literal: true });
  assert.equal(await run.tmux.waitForExit(STEP_MS), 0);
  await waitServerGone(run.mark);
}

/** Programs each combination needs. */
const PEERS: Record<Combination, string[]> = {
  "tmosh": ["sshd", "ssh", "tmux", "vi"],
  "stock-server": ["sshd", "ssh", "tmux", "vi", "mosh-server"],
  "stock-wrapper": ["sshd", "ssh", "tmux", "vi", "mosh", "mosh-server"],
};

/** Runs `body` with a fresh session of `combination` showing its prompt; cleans everything up. */
async function withSession(
  combination: Combination,
  body: (run: ClientRun, dir: string) => Promise<void>,
): Promise<void> {
  requirePeers(...PEERS[combination]);
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_e2e_" });
  let run: ClientRun | null = null;
  try {
    run = await startConnect(combination, { sshd, dir });
    await waitPrompt(run.tmux);
    await assertClientIsTmosh(run.mark);
    await body(run, dir);
  } finally {
    await run?.stop();
    await sshd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Registers the end-to-end session tests (docs/architecture.md §6.2) of one combination (two sessions: one per way to end). */
export function registerClientE2e(
  combination: Combination,
  title: string,
): void {
  const sessions = peers(...PEERS[combination]);
  sessions.test(`${title}: echo, vi, resize, CJK/combining/colour, remote exit`, async () => {
    await withSession(combination, async (run, dir) => {
      await stepEcho(run.tmux);
      await stepVi(run.tmux, dir);
      await stepResize(run.tmux);
      await stepUnicode(run.tmux);
      await endWithExit(run);
    });
  });
  sessions.test(`${title}: Ctrl-^ . quits and the server goes away`, async () => {
    await withSession(combination, async (run) => {
      await stepEcho(run.tmux);
      await endWithQuitKey(run);
    });
  });
}
