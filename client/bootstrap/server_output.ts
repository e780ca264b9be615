/**
 * Reading the bootstrap output (ssh's or the local server's, stderr merged):
 * the `MOSH IP`, `MOSH SSH_CONNECTION` and `MOSH CONNECT` lines, as Mosh's
 * wrapper scans them (docs/wire.md §1.1 item 5, §12.1 item 1), and tmosh's
 * optional `TMOSH DETACHED <n>` (other detached sessions on the host).
 * @module
 */

import { decodeKey } from "../../protocol/crypto/key.ts";

/** How long to keep reading output after the child exited (a ProxyCommand may hold the pipe), ms. */
const EXIT_GRACE_MS = 500;

/** What the bootstrap output said so far; fed one line at a time (mosh's scan loop). */
export class BootstrapScanner {
  /** Server IP from `MOSH IP` (or known beforehand). */
  ip: string | null;
  /** Server IP from `MOSH SSH_CONNECTION` (word 4). */
  sshIp: string | null = null;
  /** Port from `MOSH CONNECT`. */
  port: number | null = null;
  /** Key from `MOSH CONNECT`. */
  key: string | null = null;
  /** A `Bad UDP port` line was seen while a port range was requested. */
  badUdpPortRange = false;
  /** Other detached sessions, from an optional `TMOSH DETACHED <n>` line (tmosh servers), or null. */
  detached: number | null = null;
  readonly #portRange: boolean;

  /** Starts a scan; `ip` is set when the address is already known (local modes). */
  constructor(options: { ip?: string | null; portRange?: boolean } = {}) {
    this.ip = options.ip ?? null;
    this.#portRange = options.portRange ?? false;
  }

  /** Takes one line (no `\n`); returns whether to echo it, consume it, or stop (CONNECT seen). Throws on a fatal line. */
  feed(line: string): "echo" | "consumed" | "done" {
    if (line.startsWith("MOSH IP ")) {
      if (this.ip !== null) {
        throw new Error(
          "tmosh: the bootstrap output tried to redefine MOSH IP; check the server command and your ssh ProxyCommand",
        );
      }
      const match = /^MOSH IP (\S+)\s*$/.exec(line);
      if (match === null) {
        throw new Error(`tmosh: bad MOSH IP line: ${line.trimEnd()}`);
      }
      this.ip = match[1];
      return "consumed";
    }
    if (line.startsWith("MOSH SSH_CONNECTION ")) {
      const words = line.trim().split(/\s+/);
      if (words.length !== 6) {
        throw new Error(
          `tmosh: bad MOSH SSH_CONNECTION line: ${line.trimEnd()}`,
        );
      }
      this.sshIp = words[4];
      return "consumed";
    }
    const detached = /^TMOSH DETACHED (\d{1,6})(\s.*)?$/.exec(line);
    if (detached !== null) {
      this.detached = Number(detached[1]);
      return "consumed";
    }
    if (line.startsWith("MOSH CONNECT ")) {
      const match = /^MOSH CONNECT (\d+?) ([A-Za-z0-9/+]{22})\s*$/.exec(line);
      const port = match === null ? 0 : Number(match[1]);
      if (
        match === null || port < 1 || port > 65535 || !canonicalKey(match[2])
      ) {
        // The line is not quoted: it may hold a key.
        throw new Error(
          "tmosh: bad MOSH CONNECT line from the server (expected MOSH CONNECT <port> <22-character key>); is the server command right?",
        );
      }
      this.port = port;
      this.key = match[2];
      return "done";
    }
    if (this.#portRange && line.includes("Bad UDP port")) {
      this.badUdpPortRange = true;
    }
    return "echo";
  }
}

/** Runs `argv` with stdout piped, feeds its lines to `scanner`, and returns its exit status; `input`, once it resolves, is written to its stdin (else stdin is /dev/null). */
export async function runAndScan(
  argv: string[],
  spawn: {
    env: Record<string, string>;
    cwd?: string;
    input?: Promise<string | null>;
  },
  scanner: BootstrapScanner,
  echo: (line: string) => void,
): Promise<Deno.CommandStatus> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: spawn.env,
    clearEnv: true,
    cwd: spawn.cwd,
    stdin: spawn.input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  if (spawn.input !== undefined) {
    const writer = child.stdin.getWriter();
    spawn.input.then(async (text) => {
      if (text !== null) await writer.write(new TextEncoder().encode(text));
    }).catch(() => {}).finally(() => writer.close().catch(() => {}));
  }
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exitedLongAgo = child.status.then(() =>
    new Promise<null>((resolve) =>
      timer = setTimeout(() => resolve(null), EXIT_GRACE_MS)
    )
  );
  let pending = "";
  let done = false;
  const take = function take(line: string): void {
    const verdict = scanner.feed(line);
    if (verdict === "done") done = true;
    const shown = line.replace(/\r+$/, "");
    if (verdict === "echo" && shown !== "") echo(shown);
  };
  try {
    while (true) {
      const chunk = await Promise.race([reader.read(), exitedLongAgo]);
      if (chunk === null || chunk.done) break;
      if (done) continue; // drain what follows MOSH CONNECT, unread (as mosh)
      pending += chunk.value;
      for (
        let nl = pending.indexOf("\n");
        nl >= 0 && !done;
        nl = pending.indexOf("\n")
      ) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        take(line);
      }
    }
    if (!done && pending !== "") take(pending);
  } catch (error) {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
    throw error;
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return await child.status;
}

/** True if `key` is a canonical session key. */
function canonicalKey(key: string): boolean {
  try {
    decodeKey(key);
    return true;
  } catch {
    return false;
  }
}
