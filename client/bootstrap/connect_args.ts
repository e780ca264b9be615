/**
 * The `tmosh connect` command line: the options of Mosh's `mosh` wrapper
 * (docs/wire.md §1.1), parsed into typed options without side effects.
 * @module
 */

import {
  chooseScrollback,
  type Env,
  isPredictMode,
  PREDICT_MODES,
  type PredictMode,
  type ScrollbackMode,
  VERSION_TEXT,
} from "../client_args.ts";
import { checkSessionTarget } from "./session_list.ts";
import {
  type ForwardRequest,
  parseForwards,
  wantsForwarding,
} from "./forward_args.ts";
import { parseJumpChain } from "./jump_chain.ts";

/** Address families accepted by `--family`. */
export type Family =
  | "inet"
  | "inet6"
  | "auto"
  | "all"
  | "prefer-inet"
  | "prefer-inet6";

/** Every `--family` value. */
export const FAMILIES: readonly Family[] = [
  "inet",
  "inet6",
  "auto",
  "all",
  "prefer-inet",
  "prefer-inet6",
];

/** How the client learns the server's IP address (`--experimental-remote-ip`). */
export type RemoteIpMode = "proxy" | "local" | "remote";

/** Options of one `tmosh connect` session. */
export interface ConnectOptions {
  /** `[user@]host` as given. */
  userhost: string;
  /** Command words to run on the server; empty runs the login shell. */
  command: string[];
  /** `--client=PATH`: accepted for compatibility with mosh; tmosh uses its own client. */
  client: string | null;
  /** `--ssh`, split into words with shell rules (default `["ssh"]`). */
  ssh: string[];
  /** `--server`: the server command, inserted unquoted in the remote command line. */
  server: string;
  /** Prediction display mode. */
  predict: PredictMode;
  /** `-o`/`--predict-overwrite`. */
  predictOverwrite: boolean;
  /** `--scrollback` (else TMOSH_SCROLLBACK); undefined counts as "native". */
  scrollback?: ScrollbackMode;
  /** Address family policy for name resolution. */
  family: Family;
  /** `-p`: server-side UDP port or `LOW:HIGH` range, or null for the server's default. */
  port: string | null;
  /** `--bind-server`: `ssh`, `any`, or a numeric IP. */
  bindServer: string;
  /** Allocate a pty on the ssh connection (`-tt`). */
  sshPty: boolean;
  /** Send the terminal init strings (`--no-init` turns this off). */
  init: boolean;
  /** `--local`: run the server command locally, without ssh. */
  local: boolean;
  /** `--experimental-remote-ip`. */
  remoteIp: RemoteIpMode;
  /** `--attach[=ID|NAME]`: resume a session (target null: pick one); null or absent: a new session. */
  attach?: { target: string | null } | null;
  /** `--name`: the new session's name in the server's registry; null or absent: none. */
  name?: string | null;
  /** `-L`, `-R`, `-D`, `-A`, `-W` (client/bootstrap/forward_args.ts); absent: none. */
  forward?: ForwardRequest;
  /** `-J`/`--jump`: jump hosts `[user@]host[:port][,...]` (checked); null or absent: the ssh config's ProxyJump, if any. */
  jump?: string | null;
  /** `--relay`: the relay command on a jump host (default "tmosh serve relay"), inserted unquoted. */
  relay?: string;
  /** `--install`: copy tmosh to a host without it (only for the default --server); absent: auto. */
  install?: InstallMode;
}

/** `--install` modes: copy tmosh to the host when missing, never, or always. */
export type InstallMode = "auto" | "never" | "always";

/** Options of the internal `--fake-proxy` mode (ssh's ProxyCommand). */
export interface FakeProxyOptions {
  /** Host name or address to connect to (ssh's `%h`). */
  host: string;
  /** TCP port (ssh's `%p`). */
  port: number;
  /** Address family policy. */
  family: Family;
}

/** Result of parsing `tmosh connect` arguments. */
export type ConnectArgs =
  | { kind: "connect"; options: ConnectOptions }
  | { kind: "fake-proxy"; options: FakeProxyOptions }
  | { kind: "help"; text: string }
  | { kind: "version"; text: string }
  | { kind: "error"; message: string };

/** Usage text of `tmosh connect`. */
export const CONNECT_USAGE =
  `Usage: tmosh connect [options] [--] [user@]host [command...]
        --client=PATH        accepted for compatibility (tmosh is its own client)
        --server=COMMAND     tmosh or mosh server on remote machine
                                (default: "tmosh serve")
        --install=auto|never|always  copy tmosh to the host when it has
                                none (auto, default: into
                                ~/.local/share/tmosh/VERSION), never, or
                                always (reinstall, upgrade)

        --attach[=ID|NAME]   resume a session that outlived its client
                                (tmosh servers); alone: the only detached
                                session, else ask which
        --name=NAME          name the new session (see tmosh sessions)

        --predict=adaptive      local echo for slower links [default]
-a      --predict=always        use local echo even on fast links
-n      --predict=never         never use local echo
        --predict=experimental  aggressively echo even when incorrect

-o      --predict-overwrite     prediction overwrites instead of inserting

        --scrollback=native     lines that scroll off reach your terminal's
                                own scrollback (tmosh servers) [default]
        --scrollback=off        as mosh

-4      --family=inet        use IPv4 only
-6      --family=inet6       use IPv6 only
        --family=auto        autodetect network type for single-family hosts only
        --family=all         try all network types
        --family=prefer-inet use all network types, but try IPv4 first [default]
        --family=prefer-inet6 use all network types, but try IPv6 first
-p PORT[:PORT2]
        --port=PORT[:PORT2]  server-side UDP port or range
                                (No effect on server-side SSH port)
        --bind-server={ssh|any|IP}  ask the server to reply from an IP address
                                       (default: "ssh")

-J HOST[,HOST...]
        --jump=[user@]host[:port][,...]  reach the server through jump hosts;
                                the UDP session goes through a relay on
                                each (default: the ssh config's ProxyJump)
        --relay=COMMAND      relay command on the jump host
                                (default: "tmosh serve relay")

-L [bind:]port:host:hostport  forward a local port (or -L port:/socket,
                             -L /socket:host:hostport) over the session
-R [bind:]port:host:hostport  forward a port on the server to here
-D [bind:]port       SOCKS4/5 proxy here, connecting from the server
-A                   forward your ssh agent (SSH_AUTH_SOCK on the server)
-W host:port         stdin/stdout to host:port from the server, no
                             terminal (ssh -o ProxyCommand='tmosh connect
                             -W %h:%p HOST' ...); these need tmosh serve

        --ssh=COMMAND        ssh command to run when setting up session
                                (example: "ssh -p 2222")
                                (default: "ssh")

        --no-ssh-pty         do not allocate a pseudo tty on ssh connection

        --no-init            do not send terminal initialization string

        --local              run the server locally without using ssh

        --experimental-remote-ip=(local|remote|proxy)  select the method for
                             discovering the remote IP address to use for mosh
                             (default: "proxy")

        --help               this message
        --version            version information

Sessions on a host: tmosh sessions [user@]host
                    tmosh kill [user@]host ID|NAME|--detached
`;

/** The default server command. */
export const DEFAULT_SERVER = "tmosh serve";

/** The default relay command on a jump host. */
export const DEFAULT_RELAY = "tmosh serve relay";

/** Long options and whether they take a value ("value", "optional": only as `=VALUE`) or are flags ("flag", "negatable"). */
const LONG_OPTIONS: Record<
  string,
  "value" | "optional" | "flag" | "negatable"
> = {
  "client": "value",
  "server": "value",
  "predict": "value",
  "predict-overwrite": "negatable",
  "scrollback": "value",
  "port": "value",
  "family": "value",
  "ssh": "value",
  "ssh-pty": "negatable",
  "init": "negatable",
  "local": "flag",
  "help": "flag",
  "version": "flag",
  "fake-proxy": "negatable",
  "bind-server": "value",
  "experimental-remote-ip": "value",
  "attach": "optional",
  "name": "value",
  "forward-local": "value",
  "forward-remote": "value",
  "forward-dynamic": "value",
  "forward-agent": "flag",
  "forward-stdio": "value",
  "jump": "value",
  "relay": "value",
  "install": "value",
};

/** Short options and the long option (with a fixed value for flags) each stands for. */
const SHORT_OPTIONS: Record<string, [string, string | null]> = {
  a: ["predict", "always"],
  n: ["predict", "never"],
  o: ["predict-overwrite", "true"],
  "4": ["family", "inet"],
  "6": ["family", "inet6"],
  p: ["port", null],
  L: ["forward-local", null],
  R: ["forward-remote", null],
  D: ["forward-dynamic", null],
  A: ["forward-agent", "true"],
  W: ["forward-stdio", null],
  J: ["jump", null],
};

/** Options that may be given more than once. */
const REPEATED = new Set([
  "forward-local",
  "forward-remote",
  "forward-dynamic",
]);

/** Largest TCP/UDP port. */
const MAX_PORT = 65535;

/** Parses `tmosh connect` arguments (`env`: MOSH_PREDICTION_*, TMOSH_SCROLLBACK). */
export function parseConnectArgs(
  args: string[],
  options: { env?: Env } = {},
): ConnectArgs {
  const env = options.env ?? {};
  const scanned = scanOptions(args);
  if (typeof scanned === "string") return error(scanned);
  const { values, positionals } = scanned;
  if (values.has("help")) return { kind: "help", text: CONNECT_USAGE };
  if (values.has("version")) return { kind: "version", text: VERSION_TEXT };

  let predict = values.get("predict");
  let predictSource = "";
  if (predict === undefined && env.MOSH_PREDICTION_DISPLAY !== undefined) {
    predict = env.MOSH_PREDICTION_DISPLAY;
    predictSource = " (MOSH_PREDICTION_DISPLAY in environment)";
  }
  predict ??= "adaptive";
  if (!isPredictMode(predict)) {
    return error(
      `unknown prediction mode "${predict}"${predictSource}; use ${
        PREDICT_MODES.join(", ")
      }`,
    );
  }
  const remoteIp = values.get("experimental-remote-ip") ?? "proxy";
  if (remoteIp !== "proxy" && remoteIp !== "local" && remoteIp !== "remote") {
    return error(
      `unknown --experimental-remote-ip mode "${remoteIp}"; use proxy, local or remote`,
    );
  }
  const family = (values.get("family") ?? "prefer-inet").toLowerCase();
  if (!(FAMILIES as readonly string[]).includes(family)) {
    return error(
      `unknown --family "${family}"; use ${FAMILIES.join(", ")}`,
    );
  }
  const port = values.get("port") ?? null;
  if (port !== null) {
    const why = checkPortRequest(port);
    if (why !== null) return error(why);
  }
  const ssh = shellWords(values.get("ssh") ?? "ssh");
  if (ssh === null || ssh.length === 0) {
    return error(
      `cannot split --ssh="${values.get("ssh")}" into words ` +
        "(empty or unbalanced quotes)",
    );
  }

  if (values.get("fake-proxy") === "true") {
    const [host, portText] = positionals;
    if (
      positionals.length !== 2 || !/^\d+$/.test(portText) ||
      Number(portText) > MAX_PORT
    ) {
      return error("--fake-proxy needs HOST PORT (ssh's %h %p)");
    }
    return {
      kind: "fake-proxy",
      options: { host, port: Number(portText), family: family as Family },
    };
  }
  if (positionals.length < 1) {
    return error(
      "missing [user@]host; usage: tmosh connect [options] [user@]host [-- command...]",
    );
  }
  const badHost = checkHost(positionals[0]);
  if (badHost !== null) return error(badHost);
  // Checked after --fake-proxy, which ssh runs with whatever its environment holds.
  const scrollback = chooseScrollback(values.get("scrollback"), env);
  if ("error" in scrollback) {
    return { kind: "error", message: scrollback.error };
  }
  const session = sessionChoice(values, positionals.length > 1);
  if (typeof session === "string") return { kind: "error", message: session };
  const list = (k: string) => values.get(k)?.split("\0");
  const forward = parseForwards({
    L: list("forward-local"),
    R: list("forward-remote"),
    D: list("forward-dynamic"),
    A: values.has("forward-agent"),
    W: values.get("forward-stdio"),
  });
  if (typeof forward === "string") return { kind: "error", message: forward };
  if (forward.stdio !== null && positionals.length > 1) {
    return error("-W connects stdin/stdout to a port; it runs no command");
  }
  const jump = values.get("jump") ?? null;
  if (jump !== null && jump !== "none") {
    const chain = parseJumpChain(jump);
    if (typeof chain === "string") return { kind: "error", message: chain };
    if (values.has("local")) return error("--local cannot be used with -J");
  }
  const install = values.get("install") ?? "auto";
  if (install !== "auto" && install !== "never" && install !== "always") {
    return error(
      `unknown --install mode "${install}"; use auto, never or always`,
    );
  }
  if (install === "always" && values.has("server")) {
    return error(
      "--install=always installs tmosh's own server; drop --server, or drop --install",
    );
  }
  return {
    kind: "connect",
    options: {
      userhost: positionals[0],
      command: positionals.slice(1),
      client: values.get("client") ?? null,
      ssh,
      server: values.get("server") ?? DEFAULT_SERVER,
      predict,
      predictOverwrite: values.get("predict-overwrite") === "true" ||
        env.MOSH_PREDICTION_OVERWRITE === "yes",
      scrollback: scrollback.mode,
      family: family as Family,
      port,
      bindServer: values.get("bind-server") ?? "ssh",
      sshPty: values.get("ssh-pty") !== "false",
      init: values.get("init") !== "false",
      local: values.has("local"),
      remoteIp,
      ...session,
      ...(wantsForwarding(forward) ? { forward } : {}),
      jump,
      relay: values.get("relay") ?? DEFAULT_RELAY,
      install,
    },
  };
}

/** `--attach` and `--name`, checked: a resumed session takes no new-session options. */
function sessionChoice(
  values: Map<string, string>,
  command: boolean,
): Pick<ConnectOptions, "attach" | "name"> | string {
  const name = values.get("name") ?? null;
  const why = name === null ? null : checkSessionTarget(name, "--name");
  if (why !== null) return why;
  const target = values.get("attach");
  if (target === undefined) return { attach: null, name };
  if (target !== "") {
    const bad = checkSessionTarget(target, "--attach");
    if (bad !== null) return bad;
  }
  const clash = name !== null
    ? "--name"
    : values.has("port")
    ? "-p"
    : command
    ? "a command"
    : null;
  if (clash !== null) {
    return `tmosh: --attach resumes a session as it is; ${clash} applies only to a new one`;
  }
  return { attach: { target: target === "" ? null : target }, name };
}

/** Checks a `-p` request as mosh does; returns what is wrong, or null if it is fine. */
export function checkPortRequest(request: string): string | null {
  const match = /^(\d+)(?::(\d+))?$/.exec(request);
  if (match === null) {
    return `server-side port or range (${request}) is not valid; use PORT or LOW:HIGH`;
  }
  const low = Number(match[1]);
  if (low > MAX_PORT) {
    return `server-side (low) port (${low}) must be within valid range [0..${MAX_PORT}]`;
  }
  if (match[2] === undefined) return null;
  const high = Number(match[2]);
  if (high <= 0 || high > MAX_PORT) {
    return `server-side high port (${high}) must be within valid range [1..${MAX_PORT}]`;
  }
  if (low === 0) {
    return `server-side port ranges may not be used with starting port 0 (${request})`;
  }
  if (low > high) {
    return `server-side port range (${request}): low port greater than high port`;
  }
  return null;
}

/** Characters OpenSSH (9.6 on) refuses in a host name: shell syntax, whitespace, controls. */
const NOT_IN_HOST = /['`"$\\;&<>|(){}\s\x00-\x1f\x7f]/;

/**
 * Checks the `[user@]host` argument; returns what is wrong, or null. A leading
 * `-` would reach ssh as an option (`-oProxyCommand=...`), and a quote in the
 * host would end the quoting of `%h` in the ProxyCommand.
 */
export function checkHost(userhost: string): string | null {
  const host = userhost.slice(userhost.lastIndexOf("@") + 1);
  if (userhost.startsWith("-") || host.startsWith("-")) {
    return `host ${
      JSON.stringify(userhost)
    } starts with "-", which ssh would take as an option; give a host name`;
  }
  const bad = NOT_IN_HOST.exec(host);
  if (bad !== null) {
    return `host name ${JSON.stringify(host)} contains ${
      JSON.stringify(bad[0])
    }, which no host name has; give a host name`;
  }
  return null;
}

/**
 * Splits `text` into words with shell rules (Perl's Text::ParseWords
 * `shellwords`): quotes group, backslash escapes; null on an unbalanced quote.
 */
export function shellWords(text: string): string[] | null {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return null;
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (ch === '"') {
      let quoted = "";
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && j + 1 < text.length) j++;
        quoted += text[j];
      }
      if (j >= text.length) return null;
      word = (word ?? "") + quoted;
      i = j;
    } else if (ch === "\\") {
      word = (word ?? "") + (i + 1 < text.length ? text[++i] : "");
    } else {
      word = (word ?? "") + ch;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** Option values by long name ("true"/"false" for flags) and the positional words. */
interface Scanned {
  values: Map<string, string>;
  positionals: string[];
}

/**
 * Walks the arguments like Perl's Getopt::Long (mosh's parser): options and
 * positionals may mix, `--` ends options, long names may be abbreviated.
 */
function scanOptions(args: string[]): Scanned | string {
  const values = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const given = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      const negated = /^no-?(.+)$/.exec(given);
      if (
        negated !== null && LONG_OPTIONS[negated[1]] === "negatable" &&
        LONG_OPTIONS[given] === undefined
      ) {
        if (inline !== undefined) return `option --${given} takes no value`;
        values.set(negated[1], "false");
        continue;
      }
      const resolved = resolveLong(given);
      if (resolved.startsWith("!")) return resolved.slice(1);
      name = resolved;
    } else {
      const short = SHORT_OPTIONS[arg[1]];
      if (short === undefined) {
        return `unknown option ${arg}; see tmosh connect --help`;
      }
      const [long, fixed] = short;
      if (fixed !== null) {
        if (arg.length > 2) {
          return `unknown option ${arg}; see tmosh connect --help`;
        }
        values.set(long, fixed);
        continue;
      }
      name = long;
      inline = arg.length > 2 ? arg.slice(2) : undefined;
    }
    if (LONG_OPTIONS[name] === "optional") {
      if (inline === "") return `option --${name}= needs a value`;
      values.set(name, inline ?? "");
    } else if (LONG_OPTIONS[name] === "value") {
      if (inline === undefined) {
        if (i + 1 >= args.length) return `option ${arg} needs a value`;
        inline = args[++i];
      }
      // -L, -R and -D may repeat: their values join with NUL.
      const before = REPEATED.has(name) ? values.get(name) : undefined;
      values.set(name, before === undefined ? inline : `${before}\0${inline}`);
    } else {
      if (inline !== undefined) return `option --${name} takes no value`;
      values.set(name, "true");
    }
  }
  return { values, positionals };
}

/** Resolves a long option name or unique prefix; an error text starts with "!". */
function resolveLong(given: string): string {
  if (LONG_OPTIONS[given] !== undefined) return given;
  const matches = Object.keys(LONG_OPTIONS).filter((n) => n.startsWith(given));
  if (matches.length === 1 && given !== "") return matches[0];
  if (matches.length > 1 && given !== "") {
    return `!option --${given} is ambiguous (${matches.join(", ")})`;
  }
  return `!unknown option --${given}; see tmosh connect --help`;
}

/** An error result with the `tmosh: ` prefix. */
function error(message: string): ConnectArgs {
  return { kind: "error", message: `tmosh: ${message}` };
}
