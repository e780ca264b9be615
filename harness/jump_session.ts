/**
 * `tmosh connect -J bastion target` sessions across three network namespaces
 * (harness/netns.ts) for the jump-host tests: private sshds on the bastion and
 * the target (harness/sshd.ts), an ssh config naming them, tmosh's server and
 * relay commands with their own registries, and the client under tmux inside
 * the client's namespace. With `edge`, the client reaches the bastion through
 * harness/jump_edge.ts (impairments, roaming, replays).
 * @module
 */

import assert from "node:assert/strict";
import { createJumpNet, type JumpNet } from "./netns.ts";
import { type Sshd, startSshd, TEST_MARK_VAR } from "./sshd.ts";
import { type Edge, startEdge } from "./jump_edge.ts";
import { startTmux, type TmuxSession } from "./tmux.ts";
import {
  markedCommands,
  shellCommand,
  shq,
  tmoshCommand,
  waitPrompt,
} from "./client_session.ts";
import { killPidsWithEnv } from "./stock_mosh.ts";
import type { SessionRecord } from "../server/registry.ts";
import { selfCommand } from "../self_command.ts";

/** TCP port of the namespaces' sshds. */
const SSH_PORT = 2222;
/** UDP port of the bastion's relay (a fresh namespace has all of them free). */
export const RELAY_PORT = 60001;
/** Programs a jump session needs. */
export const JUMP_PEERS = ["ip", "sshd", "ssh", "tmux", "bash"];

/** Options of {@linkcode startJumpSession}. */
export interface JumpSessionOptions {
  /** Through harness/jump_edge.ts (impairments) rather than straight to the bastion. */
  edge?: boolean;
  /** The server command on the target; default tmosh's. */
  server?: string;
  /** `-J` and the host to connect to; default `-J bastion target` (`-J bastion-edge` with `edge`). */
  route?: { jump: string | null; target: string };
  /** The relay's UDP port: default {@linkcode RELAY_PORT}; null lets each relay take the first free one. */
  relayPort?: number | null;
}

/** A running jump session and everything under it. */
export interface JumpSession {
  /** The namespaces. */
  net: JumpNet;
  /** The client's terminal. */
  tmux: TmuxSession;
  /** Value of TMOSH_TEST_MARK carried by the server, its shell and the relay. */
  mark: string;
  /** The edge, with `edge: true`. */
  edge: Edge | null;
  /** The bastion's registry records (`tmosh serve list --json` there). */
  relays(): Promise<SessionRecord[]>;
  /** Marked processes whose command line is a relay. */
  relayProcesses(): Promise<string[]>;
  /** Ends everything and removes the namespaces. */
  stop(): Promise<void>;
}

/** A scratch directory with the ssh config and the tmosh scripts, and the sshds. */
interface Stage {
  dir: string;
  config: string;
  sshds: Sshd[];
}

/** Writes an executable script that runs `tmosh <sub>` with its own registry. */
async function script(dir: string, name: string, sub: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.mkdir(`${dir}/state-${name}`, { mode: 0o700 });
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nexec env XDG_STATE_HOME=${dir}/state-${name} ${
      tmoshCommand(sub)
    } "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** Starts the sshds and writes the ssh config and scripts. */
async function stage(net: JumpNet, dir: string): Promise<Stage> {
  const sshds: Sshd[] = [];
  try {
    sshds.push(
      await startSshd({
        netns: net.ns.bastion,
        listen: net.addr.bastionOuter,
        port: SSH_PORT,
      }),
    );
    sshds.push(
      await startSshd({
        netns: net.ns.target,
        listen: net.addr.target,
        port: SSH_PORT,
      }),
    );
  } catch (error) {
    for (const s of sshds) await s.stop();
    throw error;
  }
  const config = `${dir}/ssh_config`;
  await Deno.writeTextFile(
    config,
    [
      "Host bastion",
      `  HostName ${net.addr.bastionOuter}`,
      "Host bastion-edge",
      `  HostName ${net.addr.edge}`,
      "Host target",
      `  HostName ${net.addr.target}`,
      "Host target-via-bastion",
      `  HostName ${net.addr.target}`,
      "  ProxyJump bastion",
      "Host *",
      `  Port ${SSH_PORT}`,
      "  User root",
      ...sshds.map((s) => `  IdentityFile ${s.keyPath}`),
      "  IdentitiesOnly yes",
      "  StrictHostKeyChecking no",
      "  UserKnownHostsFile /dev/null",
      "  GlobalKnownHostsFile /dev/null",
      "  BatchMode yes",
      "  ControlMaster no",
      "  ControlPath none",
      `  SendEnv ${TEST_MARK_VAR} TMOSH_TEST_RUN LANG LC_*`,
      "  LogLevel ERROR",
      "",
    ].join("\n"),
  );
  await script(dir, "target", "serve");
  await script(dir, "bastion", "serve relay");
  return { dir, config, sshds };
}

/** Namespaces, sshds, ssh config and scripts, ready for `tmosh connect -J`. */
export interface JumpStage {
  /** The namespaces. */
  net: JumpNet;
  /** Scratch directory: `ssh_config`, the `target` and `bastion` scripts (tmosh serve, tmosh serve relay) and their registries. */
  dir: string;
  /** Value of TMOSH_TEST_MARK that ssh passes to everything it starts. */
  mark: string;
  /** The ssh config (hosts bastion, bastion-edge, target, target-via-bastion). */
  config: string;
  /** The `tmosh connect` argv (words) run in the client's namespace; `jump` names the bastion alias or chain (null: no -J), `target` the host (default "target"). */
  connectArgv(
    options: {
      jump: string | null;
      target?: string;
      server?: string;
      relay?: string;
      /** `--attach` (the only detached session) instead of a new session's command. */
      attach?: boolean;
    },
  ): string[];
  /** Runs `argv` in namespace `ns` with `env` added; resolves to its status and output. */
  run(
    ns: string,
    argv: string[],
    env?: Record<string, string>,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The bastion's registry records (`tmosh serve list --json` there). */
  relays(): Promise<SessionRecord[]>;
  /** Kills everything marked, stops the sshds, removes the namespaces and the directory. */
  stop(): Promise<void>;
}

/** Creates the namespaces (`routed`: see harness/netns.ts), starts the bastion's and the target's sshds, writes config and scripts. */
export async function prepareJumpStage(
  options: { routed?: boolean } = {},
): Promise<JumpStage> {
  const net = await createJumpNet(options);
  const dir = await Deno.makeTempDir({ prefix: "tmosh_jump_" });
  const mark = `jump-${crypto.randomUUID()}`;
  let staged: Stage | null = null;
  const stop = async function stop(): Promise<void> {
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    for (const s of staged?.sshds.splice(0) ?? []) await s.stop();
    await net.remove();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await Deno.chmod(dir, 0o755);
    staged = await stage(net, dir);
  } catch (error) {
    await stop();
    throw error;
  }
  const config = staged.config;
  const run: JumpStage["run"] = async (ns, argv, env = {}) => {
    const out = await new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns,
        "env",
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...argv,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return {
      code: out.code,
      stdout: text(out.stdout),
      stderr: text(out.stderr),
    };
  };
  return {
    net,
    dir,
    mark,
    config,
    connectArgv: (options) => [
      ...net.exec(net.ns.client, []),
      ...selfCommand(),
      "connect",
      `--ssh=env ${TEST_MARK_VAR}=${mark} ssh -F ${config}`,
      `--server=${options.server ?? `${dir}/target`}`,
      `--relay=${options.relay ?? `${dir}/bastion -p ${RELAY_PORT}`}`,
      ...(options.jump === null ? [] : ["-J", options.jump]),
      ...(options.attach ? ["--attach"] : []),
      options.target ?? "target",
      ...(options.attach ? [] : ["--", ...shellCommand()]),
    ],
    run,
    async relays() {
      const out = await run(
        net.ns.bastion,
        [
          ...selfCommand(),
          "serve",
          "list",
          "--json",
        ],
        { XDG_STATE_HOME: `${dir}/state-bastion` },
      );
      assert.equal(out.code, 0, out.stderr);
      return JSON.parse(out.stdout);
    },
    stop,
  };
}

/** Starts a jump session under tmux and waits for its first prompt. */
export async function startJumpSession(
  options: JumpSessionOptions = {},
): Promise<JumpSession> {
  const stage = await prepareJumpStage();
  const { net, mark } = stage;
  let edge: Edge | null = null;
  let tmux: TmuxSession | null = null;
  const stop = async function stop(): Promise<void> {
    await tmux?.kill();
    await edge?.close();
    await stage.stop();
  };
  try {
    if (options.edge) {
      edge = await startEdge({
        netns: net.ns.client,
        edge: net.addr.edge,
        bastion: net.addr.bastionOuter,
        source: net.addr.client,
        tcpPort: SSH_PORT,
        udpPort: RELAY_PORT,
      });
    }
    const argv = stage.connectArgv({
      ...(options.route ??
        { jump: options.edge ? "bastion-edge" : "bastion", target: "target" }),
      server: options.server,
      relay: `${stage.dir}/bastion${
        options.relayPort === null
          ? ""
          : ` -p ${options.relayPort ?? RELAY_PORT}`
      }`,
    });
    tmux = await startTmux(argv.map(shq).join(" "), {
      env: { TERM: "xterm-256color", LANG: "C.UTF-8" },
    });
    await waitPrompt(tmux);
  } catch (error) {
    const screen = await tmux?.capture().catch(() => "") ?? "";
    await stop();
    throw new Error(`${(error as Error).message}\nscreen:\n${screen}`);
  }
  return {
    net,
    tmux,
    mark,
    edge,
    relays: stage.relays,
    relayProcesses: async () =>
      (await markedCommands(mark)).filter((c) => / serve relay /.test(c)),
    stop,
  };
}
