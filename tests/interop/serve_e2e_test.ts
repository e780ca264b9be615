/**
 * End to end: the STOCK `mosh` wrapper, through a private sshd, starts
 * `tmosh serve` as its `--server` and runs stock `mosh-client` in a real
 * terminal (tmux, 80x24). One session, steps in order: an echo round trip,
 * editing a file in vi, a resize that `stty size` sees, CJK / combining marks
 * / 256 and true colour as tmux draws them, and `exit` ending the client with
 * status 0 and leaving no tmosh process behind.
 */
import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import { startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import { shq, tmoshCommand } from "../../harness/client_session.ts";
import {
  findPidsWithEnv,
  killPidsWithEnv,
  processAlive,
} from "../../harness/stock_mosh.ts";
import { startTmux, type TmuxSession } from "../../harness/tmux.ts";

const stockWrapper = peers("sshd", "ssh", "mosh", "mosh-client", "tmux");

/** The remote shell's prompt (set through the environment: bash runs without rc files). */
const PROMPT = "e2e$ ";
/** A screen whose last non-blank line is an empty prompt (capture-pane trims trailing blanks). */
function atPrompt(screen: string): boolean {
  return screen.trimEnd().endsWith(PROMPT.trimEnd());
}
/** A screen holding nothing but an empty prompt on its first line. */
function onlyPrompt(screen: string): boolean {
  return screen.trim() === PROMPT.trim();
}
/** Generous limits: the machine's 2 cores are shared with other tests. */
const START_MS = 20_000;
const STEP_MS = 10_000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Types a command line and presses Enter. */
async function run(tmux: TmuxSession, line: string): Promise<void> {
  await tmux.sendKeys(line, { literal: true });
  await tmux.sendKeys("Enter");
}

/** Waits until every pid is gone; returns those still alive after `ms`. */
async function survivors(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (true) {
    const alive: number[] = [];
    for (const pid of pids) if (await processAlive(pid)) alive.push(pid);
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await delay(50);
  }
}

/** The script mosh's `--server` names: runs tmosh serve with the words ssh passes, tagged with `mark`. */
function serverScript(mark: string): string {
  return [
    "#!/bin/sh",
    // Only the server side (tmosh serve, its daemon, the shell) carries the mark.
    `export ${TEST_MARK_VAR}=${shq(mark)}`,
    `export PS1=${shq(PROMPT)}`,
    `exec ${tmoshCommand("serve")} "$@"`,
    "",
  ].join("\n");
}

stockWrapper.test("stock mosh wrapper + mosh-client over ssh drive tmosh serve: echo, vi, resize, Unicode, colours, exit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_e2e_" });
  const mark = `e2e-${crypto.randomUUID()}`;
  const script = `${dir}/tmosh-serve`;
  await Deno.writeTextFile(script, serverScript(mark), { mode: 0o755 });
  const sshd = await startSshd();
  const command = [
    "mosh",
    `--ssh=${sshd.markedSsh(mark)}`, // its own registry, so its own daemon
    `--server=${script}`,
    "root@127.0.0.1",
    "--",
    "bash",
    "--norc",
    "--noprofile",
    "-i",
  ].map(shq).join(" ");
  let tmux: TmuxSession | null = null;
  try {
    tmux = await startTmux(command, {
      width: 80,
      height: 24,
      env: { LANG: "C.UTF-8", TERM: "xterm-256color" },
    });
    await tmux.waitFor(atPrompt, START_MS);
    const servers = await findPidsWithEnv(TEST_MARK_VAR, mark);
    assert.ok(
      servers.length >= 2,
      `tmosh serve's daemon and the shell carry the test mark (found ${servers.length})`,
    );

    // 1. Echo round trip: the output line differs from the typed command.
    await run(tmux, "echo round-$((6*7))-trip");
    await tmux.waitFor(/^round-42-trip$/m, STEP_MS);

    // 2. vi: append to a line, save, quit; the file holds the edit.
    const file = `${dir}/note.txt`;
    await Deno.writeTextFile(file, "hello\n");
    await run(tmux, `vi -u NONE -N ${file}`);
    await tmux.waitFor(/note\.txt" 1L/, STEP_MS);
    await tmux.sendKeys("A", { literal: true });
    await tmux.sendKeys(" world", { literal: true });
    await tmux.sendKeys("Escape");
    await tmux.waitFor(/^hello world$/m, STEP_MS);
    await run(tmux, ":wq");
    await tmux.waitFor(atPrompt, STEP_MS);
    assert.equal(await Deno.readTextFile(file), "hello world\n");
    await run(tmux, "clear");
    await tmux.waitFor(onlyPrompt, STEP_MS);

    // 3. Resize: the client's SIGWINCH reaches the program's pty.
    await tmux.resize(100, 30);
    await delay(300);
    await run(tmux, "stty size");
    await tmux.waitFor(/^30 100$/m, STEP_MS);
    await tmux.resize(80, 24);
    await delay(300);
    await run(tmux, "stty size");
    await tmux.waitFor(/^24 80$/m, STEP_MS);

    // 4. Unicode and colours, printed from octal escapes so only the output has them.
    await run(tmux, "clear");
    await tmux.waitFor(onlyPrompt, STEP_MS);
    await run(
      tmux,
      "printf '<\\344\\270\\255\\346\\226\\207|e\\314\\201|" +
        "\\033[38;5;196mX\\033[38;2;1;2;3mY\\033[0m>\\n'",
    );
    const plain = await tmux.waitFor(/^<.*>$/m, STEP_MS);
    const line = plain.split("\n").find((l) => /^<.*>$/.test(l))!;
    assert.equal(line.normalize("NFC"), "<中文|é|XY>", JSON.stringify(line));
    // tmux re-encodes what mosh-client drew; the SGR codes must survive the trip.
    const colored = await tmux.capture({ colors: true });
    const sgrLine = colored.split("\n").find((l) => l.startsWith("<"))!;
    assert.match(sgrLine, /\x1b\[38;5;196mX/, JSON.stringify(sgrLine));
    assert.match(sgrLine, /\x1b\[38;2;1;2;3mY/, JSON.stringify(sgrLine));
    assert.match(sgrLine, /<中文\|e\u0301\|/u, JSON.stringify(sgrLine));
    // Wide characters take two cells each: the cursor ends after five.
    await run(tmux, "printf '\\344\\270\\255\\346\\226\\207@'; read -r _");
    await tmux.waitFor(/^中文@$/m, STEP_MS);
    const cursor = await tmux.cursor();
    assert.equal(cursor.x, 5, "two wide characters and '@' take five cells");
    await tmux.sendKeys("Enter");

    // 5. exit: the stock client exits 0 and every tmosh process goes away.
    await run(tmux, "exit");
    assert.equal(await tmux.waitForExit(STEP_MS), 0);
    const left = await survivors(
      [...servers, ...await findPidsWithEnv(TEST_MARK_VAR, mark)],
      5000,
    );
    assert.deepEqual(left, [], "no tmosh serve process or shell remains");
  } finally {
    await tmux?.kill();
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    await sshd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
