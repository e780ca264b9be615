/**
 * Running the server's session commands on a host (`tmosh serve list`,
 * `kill`) over the same ssh `tmosh connect` uses, and choosing the session
 * `tmosh connect --attach` without an id resumes: the only detached one, or
 * the one the user names at a prompt (docs/architecture.md §8).
 * @module
 */

import { writeAll } from "../../stdio.ts";
import type { ConnectOptions } from "./connect_args.ts";
import { findExecutable, shellQuote } from "./connect.ts";
import { finderWords, installMode } from "./install_script.ts";
import {
  formatChoices,
  listInline,
  matchChoice,
  parseSessionList,
  pickSession,
  type RemoteSession,
} from "./session_list.ts";

/** What a server command run needs: where, through which ssh, which server. */
export type RemoteTarget = Pick<
  ConnectOptions,
  "userhost" | "ssh" | "server" | "local"
>;

/** How the choice prompt talks to the user; tests pass their own. */
export interface PromptIo {
  /** Whether there is a terminal to ask on. */
  isTerminal: boolean;
  /** Shows `text` (the list, a prompt, a complaint). */
  write(text: string): void;
  /** Reads one answer line (without its newline), or null at end of input. */
  readLine(): Promise<string | null>;
}

/** The result of a server command: its exit status and, when captured, its stdout. */
export interface RemoteRun {
  /** Exit status (ssh passes the remote one on; 255 is ssh's own failure). */
  code: number;
  /** Captured stdout ("" when it went to ours). */
  stdout: string;
}

/** Runs `SERVER words...` on the host (over ssh, or locally with --local); stderr is ours, stdout captured or ours. */
export async function runServerCommand(
  target: RemoteTarget,
  words: string[],
  options: { capture: boolean },
): Promise<RemoteRun> {
  const env = Deno.env.toObject();
  delete env.MOSH_KEY;
  // The default server also runs from where tmosh connect installed it.
  const remote = installMode({ ...target, install: "never" }) === null
    ? `${target.server} ${shellQuote(words)}`
    : shellQuote(finderWords("never", words));
  let argv: string[];
  let cwd: string | undefined;
  if (target.local) {
    delete env.SSH_CONNECTION;
    cwd = env.HOME;
    argv = ["/bin/sh", "-c", remote];
  } else {
    const ssh = await findExecutable(target.ssh[0], env.PATH ?? "");
    if (ssh === null) {
      throw new Error(
        `tmosh: cannot run ssh command '${
          target.ssh[0]
        }': not found; install OpenSSH or pass --ssh=COMMAND`,
      );
    }
    argv = [ssh, ...target.ssh.slice(1), "-n", target.userhost, "--", remote];
  }
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: options.capture ? "piped" : "inherit",
    stderr: "inherit",
  }).output();
  return {
    code: out.code,
    stdout: options.capture ? new TextDecoder().decode(out.stdout) : "",
  };
}

/** The one-line reason a server command failed with `code`, or null when the server said it itself. */
export function failureText(target: RemoteTarget, code: number): string | null {
  const host = hostOf(target.userhost);
  if (code === 127) {
    return `tmosh: '${target.server}' was not found on ${
      target.local ? "this machine" : host
    } (exit 127); copy the tmosh binary there or pass --server=PATH`;
  }
  if (code === 255 && !target.local) {
    return `tmosh: ssh to ${target.userhost} failed (exit 255); check that ssh ${target.userhost} works`;
  }
  return null;
}

/** The host's sessions (`SERVER list --json`); throws a one-line error. */
export async function listRemoteSessions(
  target: RemoteTarget,
): Promise<RemoteSession[]> {
  const run = await runServerCommand(target, ["list", "--json"], {
    capture: true,
  });
  if (run.code !== 0) {
    throw new Error(
      failureText(target, run.code) ??
        `tmosh: listing the sessions on ${target.userhost} failed (exit ${run.code})`,
    );
  }
  return parseSessionList(run.stdout);
}

/**
 * The id `--attach` without one resumes: the only detached session, else the
 * one the user picks from the list (no terminal: an error naming them all).
 * Throws a one-line error when there is none or nothing was chosen.
 */
export async function chooseAttachTarget(
  target: RemoteTarget,
  options: { io?: PromptIo; list?: () => Promise<RemoteSession[]> } = {},
): Promise<string> {
  const io = options.io ?? terminalIo();
  const sessions = await (options.list ?? (() => listRemoteSessions(target)))();
  const pick = pickSession(sessions);
  const host = target.userhost;
  if (pick.kind === "none") {
    throw new Error(
      `tmosh: no tmosh sessions on ${host} to attach to; start one with tmosh connect ${host}`,
    );
  }
  if (pick.kind === "attach") return pick.id;
  const detached = sessions.filter((s) => !s.attached).length;
  if (!io.isTerminal) {
    throw new Error(
      `tmosh: ${count(sessions.length)} on ${host} (${detached} detached): ${
        listInline(sessions)
      }; pick one with --attach=ID|NAME`,
    );
  }
  io.write(
    `tmosh: ${count(sessions.length)} on ${host} (${detached} detached):\n${
      formatChoices(sessions, Date.now())
    }`,
  );
  while (true) {
    io.write("Attach which one? (number, id or name; empty to cancel) ");
    const answer = await io.readLine();
    if (answer === null || answer.trim() === "") {
      throw new Error(
        "tmosh: no session chosen; pick one with tmosh connect --attach=ID|NAME",
      );
    }
    const chosen = matchChoice(answer, sessions);
    if (chosen !== null) return chosen.id;
    io.write(
      `tmosh: ${
        JSON.stringify(answer.trim())
      } is none of them; give 1 to ${sessions.length}, an id or a name\n`,
    );
  }
}

/** The prompt on this process's terminal: the list and questions on stderr, answers from stdin (still cooked). */
export function terminalIo(): PromptIo {
  return {
    isTerminal: Deno.stdin.isTerminal() && Deno.stderr.isTerminal(),
    write: (text) => writeAll(Deno.stderr, text),
    readLine: () => readStdinLine(),
  };
}

/** Reads one line from stdin, a byte at a time so nothing after it is taken from the session; null at end of input. */
async function readStdinLine(): Promise<string | null> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (true) {
    const n = await Deno.stdin.read(one);
    if (n === null) {
      return bytes.length === 0 ? null : new TextDecoder().decode(
        new Uint8Array(bytes),
      );
    }
    if (n === 0) continue;
    if (one[0] === 0x0a) {
      return new TextDecoder().decode(new Uint8Array(bytes)).replace(
        /\r$/,
        "",
      );
    }
    bytes.push(one[0]);
  }
}

/** `1 session`, `2 sessions`. */
function count(n: number): string {
  return n === 1 ? "1 session" : `${n} sessions`;
}

/** Returns the host part of `[user@]host`. */
function hostOf(userhost: string): string {
  return userhost.slice(userhost.lastIndexOf("@") + 1);
}
