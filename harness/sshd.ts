/**
 * A private, throwaway sshd on 127.0.0.1 for end-to-end tests: its own host
 * key, client key, authorized_keys and ssh_config in a temporary directory.
 * The system sshd is never touched.
 * @module
 */

import { findBinary, requirePeers } from "./require_peer.ts";
import { freeTcpPort } from "./ports.ts";
import { TEST_RUN_VAR } from "./leaks.ts";

/** Environment variable sshd accepts from clients, to tag processes a test starts. */
export const TEST_MARK_VAR = "TMOSH_TEST_MARK";

/** A running private sshd. */
export interface Sshd {
  /** TCP port on 127.0.0.1. */
  port: number;
  /** `ssh -F <tmp>/ssh_config`: usable as `mosh --ssh=...` (connect to root@127.0.0.1). */
  sshCommand: string;
  /** Path of the client config (Port, IdentityFile, no host key checks, SendEnv). */
  configPath: string;
  /** Path of the client's private key. */
  keyPath: string;
  /**
   * `env TMOSH_TEST_MARK=mark XDG_STATE_HOME=... ssh -F ...`: an ssh command
   * whose server carries `mark` and keeps its registry, hence its user
   * daemon (server/user_daemon.ts), in a directory of that mark's own, so
   * ending a test's server ends no other test's session. `state` names
   * another XDG_STATE_HOME (several connects sharing one daemon).
   */
  markedSsh(mark: string, state?: string): string;
  /** Kills sshd and removes its temporary directory. */
  stop(): Promise<void>;
}

/** The registry's variable (server/registry.ts registryDir), passed through to the server. */
const STATE_VAR = "XDG_STATE_HOME";

/** How long sshd may take to accept connections, ms. */
const START_TIMEOUT_MS = 10_000;

/** Where {@linkcode startSshd} listens: default 127.0.0.1 at a free port, in this network namespace. */
export interface SshdPlace {
  /** Network namespace to run sshd in (harness/netns.ts); default none. */
  netns?: string;
  /** Address to listen on; default 127.0.0.1. */
  listen?: string;
  /** TCP port; default a free one. */
  port?: number;
}

/** Starts a private sshd on 127.0.0.1 at a random free port (or as `place` says); resolves once it accepts. */
export async function startSshd(place: SshdPlace = {}): Promise<Sshd> {
  requirePeers("sshd");
  const sshd = (await findBinary("sshd"))!;
  const dir = await Deno.makeTempDir({ prefix: "tmosh_sshd_" });
  try {
    await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const hostKey = `${dir}/host_ed25519`;
    const keyPath = `${dir}/id_ed25519`;
    await keygen(hostKey);
    await keygen(keyPath);
    await Deno.copyFile(`${keyPath}.pub`, `${dir}/authorized_keys`);
    // sshd reads authorized_keys as the account logging in, which may be one
    // of harness/shell_accounts.ts: let others through to it (the keys stay 0600).
    await Deno.chmod(dir, 0o711);
    await Deno.chmod(`${dir}/authorized_keys`, 0o644);
    // Registries of the marked servers (markedSsh), of any account: sticky, as /tmp.
    await Deno.mkdir(`${dir}/state`);
    await Deno.chmod(`${dir}/state`, 0o1777);
    const port = place.port ?? await freeTcpPort();
    const listen = place.listen ?? "127.0.0.1";
    const serverConfig = `${dir}/sshd_config`;
    await Deno.writeTextFile(
      serverConfig,
      sshdConfig(dir, hostKey, port).replace(
        "ListenAddress 127.0.0.1",
        `ListenAddress ${listen}`,
      ),
    );
    const configPath = `${dir}/ssh_config`;
    await Deno.writeTextFile(configPath, clientConfig(keyPath, port));
    const inNs = place.netns === undefined
      ? []
      : ["netns", "exec", place.netns];
    const child = new Deno.Command(inNs.length > 0 ? "ip" : sshd, {
      args: [
        ...inNs,
        ...(inNs.length > 0 ? [sshd] : []),
        "-D",
        "-e",
        "-f",
        serverConfig,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const stop = async function stop(): Promise<void> {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      await child.status;
      await stderr;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    try {
      await waitForBanner(port, child.status, { listen, netns: place.netns });
    } catch (error) {
      await stop();
      throw new Error(
        `${(error as Error).message}; sshd said: ${(await stderr).trim()}`,
      );
    }
    const sshCommand = `ssh -F ${configPath}`;
    return {
      port,
      sshCommand,
      configPath,
      keyPath,
      markedSsh: (mark, state = `${dir}/state/${mark}`) =>
        `env ${TEST_MARK_VAR}=${mark} ${STATE_VAR}=${state} ${sshCommand}`,
      stop,
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Creates a passphrase-less ed25519 key pair at `path` and `path`.pub. */
async function keygen(path: string): Promise<void> {
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-q", "-t", "ed25519", "-N", "", "-C", "tmosh-test", "-f", path],
    stdin: "null",
  }).output();
  if (!out.success) {
    throw new Error(
      `tmosh: ssh-keygen failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** Returns the sshd_config text of the private sshd. */
function sshdConfig(dir: string, hostKey: string, port: number): string {
  return [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${hostKey}`,
    `PidFile ${dir}/sshd.pid`,
    "UsePAM no",
    "PermitRootLogin yes",
    "StrictModes no",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    `AcceptEnv ${TEST_MARK_VAR} ${TEST_RUN_VAR} ${STATE_VAR} LANG LC_*`,
    "PrintMotd no",
    "PrintLastLog no",
    "UseDNS no",
    "LogLevel ERROR",
    "",
  ].join("\n");
}

/** Returns the ssh_config text clients use to reach the private sshd. */
function clientConfig(keyPath: string, port: number): string {
  return [
    "Host *",
    `  Port ${port}`,
    "  User root",
    `  IdentityFile ${keyPath}`,
    "  IdentitiesOnly yes",
    "  StrictHostKeyChecking no",
    "  UserKnownHostsFile /dev/null",
    "  GlobalKnownHostsFile /dev/null",
    "  BatchMode yes",
    "  ControlMaster no",
    "  ControlPath none",
    `  SendEnv ${TEST_MARK_VAR} ${TEST_RUN_VAR} ${STATE_VAR} LANG LC_*`,
    "  LogLevel ERROR",
    "",
  ].join("\n");
}

/** Polls 127.0.0.1:port until sshd sends its SSH banner; fails if sshd exits first. */
async function waitForBanner(
  port: number,
  status: Promise<Deno.CommandStatus>,
  place: { listen: string; netns?: string },
): Promise<void> {
  let exited = false;
  status.then(() => exited = true);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error("tmosh: private sshd exited during startup");
    if (place.netns !== undefined) {
      if (await bannerInNetns(place.netns, place.listen, port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const buffer = new Uint8Array(64);
        const n = await conn.read(buffer);
        if (
          n !== null &&
          new TextDecoder().decode(buffer.subarray(0, n)).startsWith("SSH-")
        ) {
          return;
        }
      } finally {
        conn.close();
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `tmosh: private sshd did not accept connections within ${START_TIMEOUT_MS} ms`,
  );
}

/** Whether sshd at `listen`:`port` inside namespace `netns` sends its banner (bash's /dev/tcp, run there). */
async function bannerInNetns(
  netns: string,
  listen: string,
  port: number,
): Promise<boolean> {
  const out = await new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      netns,
      "timeout",
      "2",
      "bash",
      "-c",
      `exec 3<>/dev/tcp/${listen}/${port} && head -c 4 <&3`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).startsWith("SSH-");
}
