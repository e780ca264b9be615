/**
 * A bare account for the self-install tests (`tmosh connect` copying tmosh to
 * a host without it): `tmosh-fresh`, login shell bash, whose home is emptied
 * at the start of each test and on which no `tmosh` is on the PATH. It logs
 * in through the private sshd like harness/shell_accounts.ts's accounts
 * (whose `accountPeers` declares what tests on it need). Needs root.
 * @module
 */

import assert from "node:assert/strict";
import { findBinary } from "./require_peer.ts";
import { ensureAccount } from "./shell_accounts.ts";
import { passwdEntry } from "./other_account.ts";
import { shellCommand, shq, tmoshCommand } from "./client_session.ts";
import type { Sshd } from "./sshd.ts";

/** The bare account's name. */
export const FRESH_ACCOUNT = "tmosh-fresh";

/** The bare account. */
export interface FreshAccount {
  /** Its name. */
  user: string;
  /** Its uid (also its group's id, as useradd makes it). */
  uid: number;
  /** Its home directory, empty (0755, its own). */
  home: string;
  /** Where `tmosh connect` installs tmosh of `version` (`~/.local/share/tmosh/<version>`). */
  installDir(version: string): string;
}

/** Makes sure `tmosh-fresh` exists, empties its home and returns it. */
export async function freshAccount(): Promise<FreshAccount> {
  const bash = await findBinary("bash");
  assert.ok(bash, "bash");
  await ensureAccount(FRESH_ACCOUNT, bash);
  const { uid, home } = passwdEntry(FRESH_ACCOUNT);
  await emptyHome(home, uid);
  return {
    user: FRESH_ACCOUNT,
    uid,
    home,
    installDir: (version) => `${home}/.local/share/tmosh/${version}`,
  };
}

/** Removes everything in `home` (unmounting what a test mounted there) and gives it back to `uid`, 0755. */
export async function emptyHome(home: string, uid: number): Promise<void> {
  assert.match(home, /^\/home\/tmosh-fresh\/?$/, "only the bare account");
  for (const mount of await mountsUnder(home)) {
    await new Deno.Command("umount", { args: ["-l", mount] }).output();
  }
  await Deno.mkdir(home, { recursive: true });
  await Deno.chmod(home, 0o755);
  for await (const entry of Deno.readDir(home)) {
    await Deno.remove(`${home}/${entry.name}`, { recursive: true });
  }
  await Deno.chown(home, uid, uid);
}

/** Mount points at or under `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const base = dir.replace(/\/$/, "");
  const text = await Deno.readTextFile("/proc/self/mounts");
  return text.split("\n").map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m === base || m.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

/** The sh command line of `tmosh connect EXTRA` (from source) to the bare account, its ssh carrying `mark`, running a bash with the e2e prompt. */
export function freshConnectLine(
  sshd: Sshd,
  mark: string,
  extra: string[] = [],
): string {
  const ssh = sshd.markedSsh(mark);
  return [
    tmoshCommand("connect"),
    ...extra.map(shq),
    `--ssh=${shq(ssh)}`,
    `${FRESH_ACCOUNT}@127.0.0.1`,
    "--",
    ...shellCommand().map(shq),
  ].join(" ");
}
