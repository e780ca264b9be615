/**
 * `tmosh connect` through jump hosts (`-J`, or the ssh config's ProxyJump;
 * docs/wire.md §16): the server starts on the target over `ssh -J CHAIN`
 * (its address as the last jump host sees it comes from the target's
 * $SSH_CONNECTION), then a relay starts on each jump host, the last one
 * first, each pinned to the next hop's address as that jump host sees it.
 * The client sends to the first relay, with one relay key per hop.
 * @module
 */

import { selfCommand } from "../../self_command.ts";
import { countColors } from "../client_args.ts";
import {
  bootstrap,
  type BootstrapOptions,
  findExecutable,
  type ServerEndpoint,
  shellQuote,
  sshArgv,
} from "./connect.ts";
import type { ConnectOptions } from "./connect_args.ts";
import { DEFAULT_RELAY } from "./connect_args.ts";
import { resolveHost } from "./fake_proxy.ts";
import {
  configuredJump,
  formatChain,
  type JumpHop,
  parseJumpChain,
  proxyJumpOf,
} from "./jump_chain.ts";
import { BootstrapScanner, runAndScan } from "./server_output.ts";
import { isIP } from "../../protocol/network/ip_syntax.ts";

/** Where the client sends, with the relay keys of the chain (first relay first). */
export interface RoutedEndpoint extends ServerEndpoint {
  /** One relay key per jump host, the relay at `ip`:`port` first; absent when direct. */
  relayKeys?: string[];
}

/**
 * The jump chain of this connect: `-J` as given, else the ProxyJump of the
 * user's ssh config for the host (read with `ssh -G`, only in the default
 * proxy mode, where mosh's own ProxyCommand would otherwise bypass it), else
 * null. `-J none` and `--local` mean none. Throws a one-line error for a
 * configured chain that cannot be parsed.
 */
export async function jumpHops(
  options: ConnectOptions,
): Promise<JumpHop[] | null> {
  if (options.local || options.jump === "none") return null;
  if (options.jump !== undefined && options.jump !== null) {
    const hops = parseJumpChain(options.jump);
    if (typeof hops === "string") throw new Error(hops);
    return hops;
  }
  if (options.remoteIp !== "proxy") return null;
  const config = await configuredJump(options.ssh, options.userhost);
  const chain = config === null ? null : proxyJumpOf(config);
  if (chain === null) return null;
  const hops = parseJumpChain(chain);
  if (typeof hops === "string") {
    throw new Error(
      `${
        hops.replace(/; use -J .*$/, "")
      } (the ProxyJump of ${options.userhost} in your ssh config); fix it, or pass -J`,
    );
  }
  return hops;
}

/** The options with `-J CHAIN` added to the ssh words when `-J` was given (for commands run on the target over plain ssh, such as listing its sessions). */
export function sshThroughJump(options: ConnectOptions): ConnectOptions {
  const jump = options.jump;
  if (jump === undefined || jump === null || jump === "none" || options.local) {
    return options;
  }
  return { ...options, ssh: [...options.ssh, "-J", jump] };
}

/**
 * Starts the server (through the jump hosts, if any) and the relays; returns
 * where the client sends. The relays' ssh sessions start at once, beside the
 * server's, and each gets its target on stdin when it is known (the server's
 * address and port for the last relay, the next relay's for the others).
 */
export async function bootstrapRoute(
  options: ConnectOptions,
  extra: BootstrapOptions = {},
): Promise<RoutedEndpoint> {
  // `tput colors` runs while `ssh -G` reads the config: both precede ssh.
  const colors = extra.colors ??
    countColors(extra.env?.TERM ?? Deno.env.get("TERM"));
  const hops = await jumpHops(options);
  if (hops === null) return await bootstrap(options, { ...extra, colors });
  const echo = extra.echo ?? printLine;
  const targets = hops.map(() => Promise.withResolvers<Hop | null>());
  const relays = hops.map((_, k) =>
    startRelay(options, {
      hops,
      k,
      to: targets[k].promise,
      extra: { ...extra, echo },
    })
  );
  // Settled below; a relay failing while the server starts is no crash.
  for (const relay of relays) relay.catch(() => {});
  relays.forEach((relay, k) => {
    if (k > 0) {
      relay.then(
        (r) => targets[k - 1].resolve(r),
        () => targets[k - 1].resolve(null),
      );
    }
  });
  let target: ServerEndpoint;
  try {
    target = await bootstrap({
      ...options,
      remoteIp: "remote",
      ssh: [...options.ssh, "-J", formatChain(hops)],
    }, {
      ...extra,
      colors,
      // The address from $SSH_CONNECTION is the relay's business, not news.
      echo: (line) => {
        if (!line.startsWith("tmosh: using remote IP address ")) echo(line);
      },
    });
  } catch (error) {
    for (const t of targets) t.resolve(null);
    await Promise.allSettled(relays);
    throw error;
  }
  targets[hops.length - 1].resolve({ ip: target.ip, port: target.port });
  const settled = await Promise.allSettled(relays);
  // The failure nearest the target is the cause; the ones before it only lost their target.
  for (let k = settled.length - 1; k >= 0; k--) {
    const r = settled[k];
    if (r.status === "rejected") throw r.reason;
  }
  const started = settled.map((r) =>
    (r as PromiseFulfilledResult<Relayed>).value
  );
  const routed: RoutedEndpoint = {
    ip: started[0].ip,
    port: started[0].port,
    key: target.key,
    relayKeys: started.map((r) => r.key),
  };
  if (target.detached !== undefined) routed.detached = target.detached;
  return routed;
}

/** Where a relay forwards to. */
interface Hop {
  /** Numeric address, as the jump host sees it. */
  ip: string;
  /** UDP port. */
  port: number;
}

/** A started relay: its address (as the hop before sees it), port and key. */
interface Relayed extends Hop {
  /** The relay key, 22 characters. */
  key: string;
}

/** Starts the relay on jump host `hops[k]`, pinned to `to` once that resolves (null: give up); returns its address (as the hop before sees it), port and key. */
async function startRelay(
  options: ConnectOptions,
  context: {
    hops: JumpHop[];
    k: number;
    to: Promise<Hop | null>;
    extra: BootstrapOptions & { echo: (line: string) => void };
  },
): Promise<Relayed> {
  const { hops, k, to, extra } = context;
  const hop = hops[k];
  const relayCommand = options.relay ?? DEFAULT_RELAY;
  const env: Record<string, string> = { ...Deno.env.toObject(), ...extra.env };
  delete env.MOSH_KEY;
  const ssh = await findExecutable(options.ssh[0], env.PATH ?? "");
  if (ssh === null) {
    throw new Error(
      `tmosh: cannot run ssh command '${
        options.ssh[0]
      }': not found; install OpenSSH or pass --ssh=COMMAND`,
    );
  }
  // The first hop is reached directly, like a server without a jump; later
  // ones through the hops before them, their address from $SSH_CONNECTION.
  const remoteIp = k === 0 ? options.remoteIp : "remote";
  let userhost = `${hop.user === null ? "" : `${hop.user}@`}${hop.host}`;
  let knownIp: string | null = null;
  if (remoteIp === "local") {
    knownIp = (await resolveHost(hop.host, options.family))[0];
    userhost = `${hop.user === null ? "" : `${hop.user}@`}${knownIp}`;
  }
  const words = [...options.ssh];
  if (k > 0) words.push("-J", formatChain(hops.slice(0, k)));
  if (hop.port !== null) words.push("-p", String(hop.port));
  if (remoteIp === "proxy") env.SHELL = "/bin/sh";
  const argv = sshArgv({ ...options, ssh: words, sshPty: false, remoteIp }, {
    userhost,
    // -s: the relay listens on the address the client's ssh reached (as --bind-server=ssh).
    remoteCommand: `${relayCommand} ${
      shellQuote([
        ...(/^ssh$/i.test(options.bindServer) ? ["-s"] : []),
        TARGET_STDIN,
      ])
    }`,
    selfCommand: extra.selfCommand ?? selfCommand(),
  });
  // The target goes to the relay on ssh's stdin: no -n.
  if (argv[words.length] === "-n") argv.splice(words.length, 1);
  const scanner = new BootstrapScanner({ ip: knownIp });
  const lines: string[] = [];
  const running = runAndScan(
    [
      "/bin/sh",
      "-c",
      'exec 2>&1; exec "$@"',
      "tmosh-ssh",
      ssh,
      ...argv.slice(1),
    ],
    {
      env,
      input: to.then((hop) => hop === null ? null : `${hop.ip} ${hop.port}\n`),
    },
    scanner,
    (line) => {
      lines.push(line);
      if (!line.startsWith("tmosh: ")) extra.echo(line);
    },
  );
  extra.onStart?.(); // runAndScan spawns before its first await
  const status = await running;
  const where = `the jump host ${hop.host}`;
  if (scanner.port === null || scanner.key === null) {
    const said = lines.find((l) => /^tmosh: /.test(l));
    if (status.code === 127) {
      throw new Error(
        `tmosh: '${relayCommand}' was not found on ${where} (exit 127); install tmosh there (on its PATH), or pass --relay=COMMAND`,
      );
    }
    if (said !== undefined) throw new Error(said);
    throw new Error(
      status.code !== 0
        ? `tmosh: could not start the relay on ${where}: ssh exited with status ${status.code}`
        : `tmosh: ${where} printed no MOSH CONNECT line for '${relayCommand}'; does its tmosh have serve relay?`,
    );
  }
  for (const line of lines) if (line.startsWith("tmosh: ")) extra.echo(line);
  const ip = scanner.ip ?? scanner.sshIp;
  if (ip === null || isIP(ip) === 0) {
    throw new Error(
      `tmosh: could not learn the address of ${where} (got ${
        JSON.stringify(ip)
      }); try --experimental-remote-ip=remote`,
    );
  }
  return { ip, port: scanner.port, key: scanner.key };
}

/** The relay's option that takes its target on stdin (server/relay_args.ts). */
const TARGET_STDIN = "--target-stdin";

/** Prints a line on stderr. */
function printLine(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
}
