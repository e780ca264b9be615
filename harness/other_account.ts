/**
 * A second local account for the tests that prove one user cannot reach
 * another's sessions (docs/architecture.md §8): the test account
 * `tmosh-dash` (harness/shell_accounts.ts) runs Deno through `setpriv`, with
 * a private DENO_DIR and nothing of our environment. Needs root.
 * @module
 */

import assert from "node:assert/strict";
import { peers, type PeerTests } from "./require_peer.ts";
import { accountsUnavailable, ensureShellAccount } from "./shell_accounts.ts";
import { runEnv } from "./leaks.ts";
import { MAIN, type Run } from "./serve_process.ts";

/** Tests needing a second local account: root and setpriv; otherwise ignored outside CI. */
export function otherAccountTests(): PeerTests {
  const all = peers("setpriv", "useradd", "usermod", "dash");
  const why = accountsUnavailable();
  if (why === null || Deno.env.get("CI") === "true") return all;
  return {
    test(name, fn) {
      console.log(`IGNORED ${name}: ${why}`);
      Deno.test({ name, ignore: true, fn });
    },
  };
}

/** An account's uid and home directory, from /etc/passwd. */
export function passwdEntry(user: string): { uid: number; home: string } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n")
    .find((l) => l.startsWith(`${user}:`));
  assert.ok(line, `${user} in /etc/passwd`);
  const fields = line.split(":");
  return { uid: Number(fields[2]), home: fields[5] };
}

/** Runs `deno ARGS` as `user` (setpriv), with nothing of our environment but `extraEnv`. */
export async function denoAs(
  user: string,
  args: string[],
  extraEnv: Record<string, string>,
): Promise<Run> {
  const out = await new Deno.Command("setpriv", {
    args: [
      "--reuid",
      user,
      "--regid",
      user,
      "--init-groups",
      "--",
      Deno.execPath(),
      ...args,
    ],
    env: {
      PATH: "/usr/bin:/bin",
      LANG: "C.UTF-8",
      ...runEnv(),
      ...extraEnv,
    },
    clearEnv: true,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** The other account, ready to run tmosh from source. */
export interface OtherAccount {
  /** Its name. */
  user: string;
  /** Its uid. */
  uid: number;
  /** Runs `tmosh serve ARGS` as the account (its own HOME unless `extra` says otherwise). */
  serve(args: string[], extra?: Record<string, string>): Promise<Run>;
  /** Tries to connect to the Unix socket at `path` as the account: "connected" or the error's name. */
  connect(path: string): Promise<string>;
  /** Removes its DENO_DIR. */
  close(): Promise<void>;
}

/** Sets up `tmosh-dash` with a DENO_DIR of its own (filled from our cache by --cached-only runs). */
export async function otherAccount(): Promise<OtherAccount> {
  const user = await ensureShellAccount("dash");
  const { uid, home } = passwdEntry(user);
  const denoDir = await Deno.makeTempDir({ prefix: "tmosh_other_deno_" });
  Deno.chownSync(denoDir, uid, null);
  const base = { HOME: home, DENO_DIR: denoDir };
  return {
    user,
    uid,
    serve: (args, extra = {}) =>
      denoAs(user, [
        "run",
        "-A",
        "--quiet",
        "--cached-only",
        "--node-modules-dir=manual",
        MAIN,
        "serve",
        ...args,
      ], { ...base, ...extra }),
    async connect(path) {
      const run = await denoAs(user, [
        "eval",
        "try { (await Deno.connect({ transport: 'unix', path: Deno.args[0] })).close(); console.log('connected'); } catch (e) { console.log(e.name); }",
        path,
      ], base);
      return run.stdout.trim();
    },
    close: () => Deno.remove(denoDir, { recursive: true }),
  };
}
