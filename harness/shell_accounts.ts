/**
 * Local accounts whose login shell is bash, dash, zsh or fish, for tests that
 * log in through the private sshd (harness/sshd.ts accepts its key for any
 * account). The names are fixed (`tmosh-bash`, ...) and creating one is
 * idempotent, so runs reuse them and leave nothing new behind. Needs root.
 * @module
 */

import {
  findBinary,
  peers,
  type PeerTests,
  requirePeers,
} from "./require_peer.ts";

/** The login shells the bootstrap must survive. */
export const LOGIN_SHELLS = ["bash", "dash", "zsh", "fish"] as const;

/** One of {@linkcode LOGIN_SHELLS}. */
export type LoginShell = typeof LOGIN_SHELLS[number];

/** Name of the test account whose login shell is `shell`. */
export function accountName(shell: LoginShell): string {
  return `tmosh-${shell}`;
}

/** Why accounts cannot be created here (not root), or null if they can. */
export function accountsUnavailable(): string | null {
  return Deno.uid() === 0 ? null : "tmosh test: creating the login-shell " +
    "test accounts needs root; run the test as root (CI does)";
}

/** Words that mean something to at least one of the login shells. */
export const TRICKY_WORDS: readonly string[] = [
  "it's",
  "a\\b",
  "\\",
  "\\\\",
  "'\\''",
  "\\'",
  "''",
  "",
  "two words",
  "tab\there",
  "line\nbreak",
  "trailing\n",
  "$HOME",
  "${HOME}",
  "$(touch /tmp/tmosh-shell-test-pwned)",
  "`id`",
  ";id",
  "a&&b||c|d",
  "<in >out",
  '"q"',
  '"\\"',
  "*",
  "~",
  "{a,b}",
  "#x",
  "%self",
  "(x)",
  "!",
  "!!",
  "^x",
  "--",
  "-c",
  "é 日本 😀",
  "\x01\x1b[1m\x7f",
];

/**
 * Tests that log in as the shell accounts through the private sshd, needing
 * also the programs `names`: like {@linkcode peers}, and when not root they
 * are ignored outside CI (under CI=true they run and fail, saying why).
 */
export function accountPeers(...names: string[]): PeerTests {
  const all = peers(
    "sshd",
    "ssh",
    "useradd",
    "usermod",
    ...LOGIN_SHELLS,
    ...names,
  );
  const why = accountsUnavailable();
  if (why === null || Deno.env.get("CI") === "true") return all;
  return {
    test(name, fn) {
      console.log(`IGNORED ${name}: ${why}`);
      Deno.test({ name, ignore: true, fn });
    },
  };
}

/** useradd/usermod exit status when /etc/passwd is locked by another run. */
const PASSWD_LOCKED = 10;

/** useradd's exit status when the account exists already. */
const USER_EXISTS = 9;

/**
 * Makes sure account `tmosh-<shell>` exists with that login shell, a home
 * directory and a password field that is not locked (sshd without PAM
 * refuses `!` accounts, even for keys); returns its name.
 */
export async function ensureShellAccount(shell: LoginShell): Promise<string> {
  requirePeers(shell);
  const name = accountName(shell);
  await ensureAccount(name, (await findBinary(shell))!);
  return name;
}

/** Makes sure account `name` exists with login shell `path`, a home directory and an unlocked password field. */
export async function ensureAccount(name: string, path: string): Promise<void> {
  requirePeers("useradd", "usermod");
  const why = accountsUnavailable();
  if (why !== null) throw new Error(why);
  const settings = ["--shell", path, "--password", "*"];
  let code = await run("useradd", [
    "--create-home",
    "--comment",
    "tmosh test account",
    ...settings,
    name,
  ]);
  if (code === USER_EXISTS) code = await run("usermod", [...settings, name]);
  if (code !== 0) {
    throw new Error(
      `tmosh test: could not set up account ${name} (exit ${code})`,
    );
  }
}

/** Runs a passwd tool, retrying while a concurrent run holds the lock; returns its exit code. */
async function run(tool: string, args: string[]): Promise<number> {
  const path = (await findBinary(tool))!;
  for (let attempt = 0;; attempt++) {
    const out = await new Deno.Command(path, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (out.code !== PASSWD_LOCKED || attempt >= 20) return out.code;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
