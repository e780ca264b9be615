/**
 * A host for `tmosh connect` with a session registry of its own: the private
 * sshd (harness/sshd.ts) and a `tmosh serve` script that runs tmosh from
 * source with XDG_STATE_HOME in a scratch directory, so tests and benchmarks
 * never see the user's real sessions. Every server started through it carries
 * a mark (TMOSH_TEST_MARK), for cleanup.
 * @module
 */

import { type Sshd, startSshd, TEST_MARK_VAR } from "./sshd.ts";
import { killPidsWithEnv } from "./stock_mosh.ts";
import { baseEnv } from "./serve_process.ts";
import { shellCommand, shq, tmoshCommand } from "./client_session.ts";

/** The host every client connects to. */
export const REMOTE_HOST = "root@127.0.0.1";

/** The private sshd, its scratch directory and the ssh/server options for tmosh. */
export interface RegistryRemote {
  /** The private sshd. */
  sshd: Sshd;
  /** Scratch directory (the server script, the registry, test files). */
  dir: string;
  /** The mark every server of this remote carries. */
  mark: string;
  /** `--ssh=... --server=...` as argv words. */
  options: string[];
  /** Environment of a local `tmosh serve list|attach|kill` on the same registry. */
  serveEnv: Record<string, string>;
  /** The sh command line `tmosh connect OPTIONS ARGS root@127.0.0.1 [-- test shell]` (no command with --attach). */
  connectCommand(args: string[]): string;
  /** Kills every marked process, stops sshd, removes the directory. */
  stop(): Promise<void>;
}

/** Starts the private sshd and writes the server script. */
export async function startRegistryRemote(): Promise<RegistryRemote> {
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_registry_remote_" });
  const mark = `e2e-${crypto.randomUUID()}`;
  const state = `${dir}/state`;
  const server = `${dir}/tmosh-serve`;
  try {
    await Deno.writeTextFile(
      server,
      `#!/bin/sh\nexec env XDG_STATE_HOME=${shq(state)} ${
        tmoshCommand("serve")
      } "$@"\n`,
    );
    await Deno.chmod(server, 0o755);
  } catch (error) {
    await sshd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const ssh = `env ${TEST_MARK_VAR}=${mark} ${sshd.sshCommand}`;
  const options = [`--ssh=${ssh}`, `--server=${server}`];
  return {
    sshd,
    dir,
    mark,
    options,
    serveEnv: baseEnv({ XDG_STATE_HOME: state }),
    connectCommand(args) {
      // A resumed session runs what it ran: no command then.
      const attach = args.some((a) => a.startsWith("--attach"));
      const command = attach ? "" : ` -- ${shellCommand().map(shq).join(" ")}`;
      return `${tmoshCommand("connect")} ${
        [...options, ...args].map(shq).join(" ")
      } ${REMOTE_HOST}${command}`;
    },
    async stop() {
      await killPidsWithEnv(TEST_MARK_VAR, mark);
      await sshd.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
