/**
 * The bootstrap half of `tmosh connect`: start the server over ssh (or
 * locally), read its `MOSH IP` / `MOSH SSH_CONNECTION` / `MOSH CONNECT`
 * lines, and hand the address, port and key to the client session, as
 * Mosh's `mosh` wrapper does (docs/wire.md §1.1). Also the `--fake-proxy`
 * mode that ssh runs as its ProxyCommand.
 * @module
 */

import { isIP } from "../../protocol/network/ip_syntax.ts";
import { selfCommand } from "../../self_command.ts";
import { writeAll } from "../../stdio.ts";
import { BootstrapScanner, runAndScan } from "./server_output.ts";
import { fakeProxy, resolveHost } from "./fake_proxy.ts";
import {
  clientEnvOptions,
  type ClientHooks,
  countColors,
} from "../client_args.ts";
import { type ConnectOptions, parseConnectArgs } from "./connect_args.ts";
import { detachedBarNotice, detachedNotice } from "./session_list.ts";
import { checkListenable } from "./forward_args.ts";
import { FinderWatch, finderWords, installMode } from "./install_script.ts";

/** Where the client finds the server. */
export interface ServerEndpoint {
  /** Numeric address of the server. */
  ip: string;
  /** UDP port from `MOSH CONNECT`. */
  port: number;
  /** Session key from `MOSH CONNECT` (22 characters). Never log it. */
  key: string;
  /** Other detached sessions the server reported (`TMOSH DETACHED n`), when it did. */
  detached?: number;
}

/** Extra settings of {@linkcode bootstrap}, mostly for tests. */
export interface BootstrapOptions {
  /** Command that runs tmosh itself (for the ProxyCommand); default {@linkcode selfCommand}. */
  selfCommand?: string[];
  /** Variables added to the environment of ssh / the local server. */
  env?: Record<string, string>;
  /** Receives the output lines that are not bootstrap messages; default: printed on stderr. */
  echo?: (line: string) => void;
  /** Called each time ssh (or the local server) is started, before its output is read. */
  onStart?: () => void;
  /** The local terminal's colour count (`tput colors`), when already being read; default read here. */
  colors?: Promise<number>;
}

/** Locale variables passed to the server with `-l` when set locally (mosh: locale_vars). */
export const LOCALE_VARS = [
  "LANG",
  "LANGUAGE",
  "LC_CTYPE",
  "LC_NUMERIC",
  "LC_TIME",
  "LC_COLLATE",
  "LC_MONETARY",
  "LC_MESSAGES",
  "LC_PAPER",
  "LC_NAME",
  "LC_ADDRESS",
  "LC_TELEPHONE",
  "LC_MEASUREMENT",
  "LC_IDENTIFICATION",
  "LC_ALL",
];

/** Prefix of the remote command in `remote` mode: prints the server's SSH_CONNECTION. */
const SSH_CONNECTION_PROBE = "sh -c " +
  shellQuote([
    '[ -n "$SSH_CONNECTION" ] && printf "\\nMOSH SSH_CONNECTION %s\\n" "$SSH_CONNECTION"',
  ]) + " ; ";

/**
 * Quotes words for the remote command, which ssh hands to the account's login
 * shell, and joins them with spaces. One form that bash, dash, zsh and fish
 * all read back as the same word: runs of characters other than `'` and `\`
 * go in single quotes (literal in all four; fish's only escapes there are
 * `\'` and `\\`, which such a run never holds), and each `'` or `\` is
 * written unquoted as `\'` or `\\` (one literal character in all four). No
 * two quoted runs touch, so zsh's RC_QUOTES (`''` inside quotes) never
 * applies; an empty word is `''`.
 */
export function shellQuote(words: string[]): string {
  return words.map((w) =>
    w === ""
      ? "''"
      : w.replace(/[^'\\]+|['\\]/g, (m) =>
        m === "'" || m === "\\" ? `\\${m}` : `'${m}'`)
  ).join(" ");
}

/**
 * What a `-W` session runs on the server: a program that only waits (for the
 * session's hangup), not the login shell, whose start-up files may print,
 * start programs or attach to tmux; `ssh -W` starts no shell either.
 */
export const STDIO_SESSION_COMMAND: readonly string[] = ["cat"];

/** Returns the words after the server command: `new -c N <bind> [-p P] [-l VAR=V]... [--name NAME] [-- cmd]`, or `attach ID|NAME`. */
export function serverArgs(
  options: ConnectOptions,
  context: { colors: number; env: Record<string, string | undefined> },
): string[] {
  if (options.attach) {
    if (options.attach.target === null) {
      throw new Error("tmosh: internal error: no session to attach chosen");
    }
    return ["attach", options.attach.target];
  }
  const args = ["new", "-c", String(context.colors)];
  const bind = options.bindServer;
  if (/^ssh$/i.test(bind)) {
    args.push(...(options.local ? ["-i", hostOf(options.userhost)] : ["-s"]));
  } else if (!/^any$/i.test(bind)) {
    args.push("-i", bind);
  }
  if (options.port !== null) args.push("-p", options.port);
  for (const name of LOCALE_VARS) {
    const value = context.env[name];
    if (value !== undefined) args.push("-l", `${name}=${value}`);
  }
  if (options.name) args.push("--name", options.name);
  const command = options.command.length > 0
    ? options.command
    : options.forward?.stdio
    ? STDIO_SESSION_COMMAND
    : [];
  if (command.length > 0) args.push("--", ...command);
  return args;
}

/** Returns ssh's argv for a session (ssh words, options, `userhost -- remoteCommand`); `stdin`: pass stdin on, no pty (the install's upload). */
export function sshArgv(
  options: ConnectOptions,
  context: {
    userhost: string;
    remoteCommand: string;
    selfCommand: string[];
    stdin?: boolean;
  },
): string[] {
  const opts = context.stdin ? ["-T"] : ["-n"];
  if (options.sshPty && !context.stdin) opts.push("-tt");
  let remote = context.remoteCommand;
  if (options.remoteIp === "remote") {
    remote = SSH_CONNECTION_PROBE + remote;
    if (options.family === "inet") opts.push("-4");
    if (options.family === "inet6") opts.push("-6");
  }
  if (options.remoteIp === "proxy") {
    const self = shellQuote([
      ...context.selfCommand,
      "connect",
      "--fake-proxy",
      `--family=${options.family}`,
    ]).replaceAll("%", "%%");
    // ssh pastes the host name into this /bin/sh command line as is, hence
    // the quotes ('%h'); checkHost refuses a host holding a quote.
    opts.push("-S", "none", "-o", `ProxyCommand=${self} -- '%h' %p`);
  }
  return [...options.ssh, ...opts, context.userhost, "--", remote];
}

/** Starts the server (over ssh unless `--local`) and returns where the client must connect. */
export async function bootstrap(
  options: ConnectOptions,
  extra: BootstrapOptions = {},
): Promise<ServerEndpoint> {
  const env: Record<string, string> = { ...Deno.env.toObject(), ...extra.env };
  delete env.MOSH_KEY;
  delete env.MOSH_PREDICTION_DISPLAY;
  const echo = extra.echo ?? printLine;
  const colors = await (extra.colors ?? countColors(env.TERM));
  const host = hostOf(options.userhost);
  let userhost = options.userhost;
  let knownIp: string | null = null;
  if (options.local || options.remoteIp === "local") {
    knownIp = (await resolveHost(host, options.family))[0];
    userhost =
      options.userhost.slice(0, options.userhost.length - host.length) +
      knownIp;
  }
  const local = options.local ? { ...options, userhost: knownIp! } : options;
  const args = serverArgs(local, { colors, env });
  // The default server goes through the finder, which may ask for an install.
  const install = installMode(options);
  const remoteCommand = install === null
    ? `${options.server} ${shellQuote(args)}`
    : shellQuote(finderWords(install, args));
  let argv: string[];
  let upload: ((remote: string) => string[]) | null = null;
  let cwd: string | undefined;
  if (options.local) {
    delete env.SSH_CONNECTION;
    cwd = env.HOME;
    argv = ["/bin/sh", "-c", `exec 2>&1; ${remoteCommand}`];
  } else {
    const ssh = await findExecutable(options.ssh[0], env.PATH ?? "");
    if (ssh === null) {
      throw new Error(
        `tmosh: cannot run ssh command '${
          options.ssh[0]
        }': not found; install OpenSSH or pass --ssh=COMMAND`,
      );
    }
    if (options.remoteIp === "proxy") env.SHELL = "/bin/sh";
    const self = extra.selfCommand ?? selfCommand();
    const words = sshArgv(options, {
      userhost,
      remoteCommand,
      selfCommand: self,
    });
    // The upload needs no ProxyCommand: the address is known by then.
    upload = (remote) => [
      ssh,
      ...sshArgv({ ...options, remoteIp: "local" }, {
        userhost,
        remoteCommand: remote,
        selfCommand: self,
        stdin: true,
      }).slice(1),
    ];
    // ssh's stderr (and the ProxyCommand's MOSH IP) join stdout, as in mosh.
    argv = [
      "/bin/sh",
      "-c",
      'exec 2>&1; exec "$@"',
      "tmosh-ssh",
      ssh,
      ...words.slice(1),
    ];
  }
  const scan = async (command: string[]) => {
    const scanner = new BootstrapScanner({
      ip: knownIp,
      portRange: options.port?.includes(":") ?? false,
    });
    const finder = new FinderWatch(echo);
    const running = runAndScan(command, { env, cwd }, scanner, finder.echo);
    extra.onStart?.(); // runAndScan spawns before its first await
    const status = await running;
    return { scanner, status, probe: finder.probe };
  };
  let { scanner, status, probe } = await scan(argv);
  if (probe !== null && upload !== null && scanner.port === null) {
    const { installOnHost } = await import("./install.ts");
    await installOnHost({ host, probe, env, sshArgv: upload });
    // Installed: the finder now runs it (never installing again).
    const again = shellQuote(finderWords("never", args));
    ({ scanner, status } = await scan(
      argv.with(-1, argv.at(-1)!.replace(remoteCommand, () => again)),
    ));
  }
  return endpointFrom(scanner, status, { options, host, echo });
}

/** Turns a finished scan into the endpoint, or throws the one-line reason it failed. */
function endpointFrom(
  scanner: BootstrapScanner,
  status: Deno.CommandStatus,
  context: {
    options: ConnectOptions;
    host: string;
    echo: (line: string) => void;
  },
): ServerEndpoint {
  const { options, host } = context;
  if (scanner.port === null || scanner.key === null) {
    if (scanner.badUdpPortRange) {
      throw new Error(
        "tmosh: the server does not support UDP port ranges; pass a single -p PORT",
      );
    }
    if (status.code === 127 && !options.local) {
      throw new Error(
        `tmosh: '${options.server}' was not found on ${host} (exit 127); copy the tmosh binary there or pass --server=PATH`,
      );
    }
    if (status.code !== 0) {
      throw new Error(
        options.local
          ? `tmosh: the server command exited with status ${status.code}`
          : `tmosh: ssh exited with status ${status.code}`,
      );
    }
    throw new Error(
      "tmosh: did not find the server's MOSH CONNECT line; is the server command right?",
    );
  }
  let ip = scanner.ip;
  if (ip === null && scanner.sshIp !== null) {
    context.echo(
      `tmosh: using remote IP address ${scanner.sshIp} from $SSH_CONNECTION for hostname ${options.userhost}`,
    );
    ip = scanner.sshIp;
  }
  if (ip === null) {
    throw new Error(
      "tmosh: did not find the remote IP address (is SSH ProxyCommand disabled?); try --experimental-remote-ip=remote",
    );
  }
  if (isIP(ip) === 0) {
    throw new Error(
      `tmosh: the server address "${ip}" is not a numeric IP address; check your ssh ProxyCommand`,
    );
  }
  const endpoint: ServerEndpoint = { ip, port: scanner.port, key: scanner.key };
  if (scanner.detached !== null) endpoint.detached = scanner.detached;
  return endpoint;
}

/** Runs `tmosh connect ARGS`: bootstrap, then the client session; returns the exit status. */
export async function connectMain(
  args: string[],
  hooks: ClientHooks,
): Promise<number> {
  const env = Deno.env.toObject();
  const parsed = parseConnectArgs(args, { env });
  switch (parsed.kind) {
    case "help":
    case "version":
      writeAll(Deno.stdout, parsed.text);
      return 0;
    case "error":
      writeAll(Deno.stderr, `${parsed.message}\n`);
      return 2;
    case "fake-proxy":
      return await fakeProxy(parsed.options);
  }
  let options = parsed.options;
  const unbindable = checkListenable(options.forward);
  if (unbindable !== null) {
    writeAll(Deno.stderr, `${unbindable}\n`);
    return 1;
  }
  let endpoint: ServerEndpoint & { relayKeys?: string[] };
  let notice: string | undefined;
  try {
    if (options.attach?.target === null) {
      const { chooseAttachTarget } = await import("./remote_sessions.ts");
      const { sshThroughJump } = await import("./jump.ts");
      options = {
        ...options,
        attach: { target: await chooseAttachTarget(sshThroughJump(options)) },
      };
    }
    // Through jump hosts (-J, ProxyJump) or straight (docs/wire.md §16).
    const { bootstrapRoute } = await import("./jump.ts");
    const { detached, ...found } = await bootstrapRoute(options, {
      onStart: hooks.prepare,
    });
    endpoint = found;
    if (!options.attach && detached !== undefined && detached > 0) {
      writeAll(Deno.stderr, `${detachedNotice(detached, options.userhost)}\n`);
      notice = detachedBarNotice(detached, options.userhost);
    }
  } catch (e) {
    writeAll(Deno.stderr, `${(e as Error).message}\n`);
    return 1;
  }
  const fromEnv = clientEnvOptions(env);
  return await hooks.runClient({
    ...endpoint,
    predict: options.predict,
    predictOverwrite: options.predictOverwrite || fromEnv.predictOverwrite,
    scrollback: options.scrollback ?? "native",
    init: options.init && fromEnv.init,
    escapeKey: fromEnv.escapeKey,
    titleNoPrefix: fromEnv.titleNoPrefix,
    verbose: false,
    notice,
    forward: options.forward,
  });
}

/** Returns the host part of `[user@]host`. */
function hostOf(userhost: string): string {
  return userhost.slice(userhost.lastIndexOf("@") + 1);
}

/** Prints a line on stderr. */
function printLine(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
}

/** Returns the path of executable `name` (searched on `path` unless it has a `/`), or null. */
export async function findExecutable(
  name: string,
  path: string,
): Promise<string | null> {
  const candidates = name.includes("/")
    ? [name]
    : path.split(":").filter((d) => d !== "").map((d) => `${d}/${name}`);
  for (const candidate of candidates) {
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
