/**
 * The `tmosh serve` command line, which is the `mosh-server` contract
 * (docs/wire.md §1.2): `tmosh serve new [-s] [-v] [-i IP] [-p PORT[:PORT2]]
 * [-c COLORS] [-l NAME=VALUE]... [-@ X] [-- COMMAND...]`, `-h`/`--help`,
 * `--version` and the legacy forms; plus tmosh's `--name NAME` (the session's
 * name in the registry, before or after `new`), `--detached-timeout=SECONDS`
 * (likewise; server/detached_timeout.ts) and `--attach=ID|NAME` (attach
 * to that running session instead; the other arguments are ignored). Parsing is pure: the
 * environment comes in as an argument and messages come back as data.
 * @module
 */

import { parsePortRange } from "../protocol/network/port_range.ts";
import { checkSessionName } from "./registry.ts";
import { DETACHED_TIMEOUT_OPTION, parseSeconds } from "./detached_timeout.ts";

/** Usage line, printed for `-h` and after argument errors. */
export const SERVE_USAGE =
  "Usage: tmosh serve new [-s] [-v] [-i LOCALADDR] [-p PORT[:PORT2]] [-c COLORS] [-l NAME=VALUE] [--name NAME] [--detached-timeout=SECONDS] [-- COMMAND...]";

/** Internal first word marking the detached daemon re-executed by `tmosh serve` (not for users). */
export const DAEMON_FLAG = "--daemon-internal";

/** What `tmosh serve` was asked to run. */
export interface ServeOptions {
  /** Numeric IP to bind first (from `-i`, `-s` or the legacy form); undefined = any address. */
  ip?: string;
  /** Inclusive UDP port range (from `-p`); undefined = the default 60001..60999. */
  portRange?: [number, number];
  /** Colour count from `-c` (256 gives TERM=xterm-256color); 0 when not given. */
  colors: number;
  /** Number of `-v` flags: non-zero keeps the server attached and logging to stderr. */
  verbose: number;
  /** `-l NAME=VALUE` pairs, used only when the native locale is not UTF-8. */
  locale: Record<string, string>;
  /** Command argv given after `--`, or null for the login shell. */
  command: string[] | null;
  /** The session's name in the registry (`--name`), or null. */
  name: string | null;
  /** `--detached-timeout=SECONDS` (0 = never), or null for TMOSH_DETACHED_TIMEOUT or the default. */
  detachedTimeout: number | null;
  /** `--attach=ID|NAME`: attach to that running session instead of starting one (docs/wire.md §15), or null. */
  attach: string | null;
  /** Window size handed to the daemon by the process that started it, or null. */
  daemonSize: { cols: number; rows: number } | null;
  /** Whether this process is the re-executed daemon (first word `--daemon-internal=COLSxROWS`). */
  daemon: boolean;
  /** Non-fatal messages for stderr (unknown flags, `-s` without SSH_CONNECTION, ...). */
  warnings: string[];
}

/** The outcome of parsing: run, print help or version, or fail. */
export type ServeArgs =
  | { kind: "run"; options: ServeOptions }
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "error"; message: string };

/** Options of {@linkcode parseServeArgs}. */
export interface ParseServeOptions {
  /** Environment to read SSH_CONNECTION from (for `-s`); default none. */
  env?: Record<string, string | undefined>;
}

/** getopt letters that take an argument (mosh-server's option string `@:i:p:c:svl:`). */
const WITH_ARG = new Set(["@", "i", "p", "c", "l"]);
/** getopt letters without an argument. */
const FLAGS = new Set(["s", "v"]);

/** Parses `tmosh serve` arguments (everything after `serve`) the way mosh-server parses its argv. */
export function parseServeArgs(
  args: string[],
  options: ParseServeOptions = {},
): ServeArgs {
  const env = options.env ?? {};
  let words = [...args];
  let daemon = false;
  let daemonSize: { cols: number; rows: number } | null = null;
  if (words.length > 0 && words[0].startsWith(DAEMON_FLAG)) {
    const size = /^--daemon-internal=(\d{1,5})x(\d{1,5})$/.exec(words[0]);
    if (size === null) {
      return error(`malformed ${DAEMON_FLAG}; it is for tmosh's own use`);
    }
    daemon = true;
    daemonSize = { cols: Number(size[1]), rows: Number(size[2]) };
    words = words.slice(1);
  }

  // Help, version and "--" are found before option parsing, anywhere before "--".
  let command: string[] | null = null;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === "-h" || w === "--help") return { kind: "help" };
    if (w === "--version") return { kind: "version" };
    if (w === "--") {
      if (i < words.length - 1) command = words.slice(i + 1);
      words = words.slice(0, i);
      break;
    }
  }

  const opts: ServeOptions = {
    colors: 0,
    verbose: 0,
    locale: {},
    command,
    name: null,
    detachedTimeout: null,
    attach: null,
    daemonSize,
    daemon,
    warnings: [],
  };
  // `--name` and `--attach` may come first: mosh's --server="tmosh serve
  // --name N" puts `new` after it.
  while (
    words.length > 0 &&
    (isNameOption(words[0]) || isAttachOption(words[0]) ||
      isDetachedTimeoutOption(words[0]))
  ) {
    const taken = takeName(words, 0, opts);
    if (taken !== null) return taken;
    // The words after `--attach=ID` are the front-end's for a new session: ignored.
    if (opts.attach !== null) return { kind: "run", options: opts };
    const bare = words[0] === "--name" ||
      words[0] === DETACHED_TIMEOUT_OPTION;
    words = words.slice(bare ? 2 : 1);
  }
  let port: string | undefined;
  if (words.length >= 1 && words[0] === "new") {
    const r = parseNewSyntax(words.slice(1), opts, env);
    if (typeof r === "object") return r;
    port = r;
  } else if (words.length === 1) {
    opts.ip = words[0];
  } else if (words.length === 2) {
    opts.ip = words[0];
    port = words[1];
  } else if (words.length !== 0) {
    return error(
      `unexpected arguments "${words.join(" ")}"; start with "new"`,
    );
  }

  if (port !== undefined) {
    try {
      opts.portRange = parsePortRange(port);
    } catch (err) {
      const why = (err as Error).message.replace(/^.*?": /, "");
      return error(`Bad UDP port range (${port}): ${why}`);
    }
  }
  return { kind: "run", options: opts };
}

/** Parses the words after `new` like getopt("@:i:p:c:svl:"); returns the `-p` text or an error. */
function parseNewSyntax(
  words: string[],
  opts: ServeOptions,
  env: Record<string, string | undefined>,
): string | undefined | { kind: "error"; message: string } {
  let port: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    // GNU getopt permutes: non-option words (e.g. a stray "new") are skipped.
    if (!w.startsWith("-") || w === "-") continue;
    if (isNameOption(w) || isAttachOption(w) || isDetachedTimeoutOption(w)) {
      const taken = takeName(words, i, opts);
      if (taken !== null) return taken;
      if (
        w === "--name" || w === "--attach" || w === DETACHED_TIMEOUT_OPTION
      ) i++;
      continue;
    }
    if (w.startsWith("--")) {
      opts.warnings.push(`tmosh: unrecognized option '${w}'`, SERVE_USAGE);
      continue;
    }
    for (let j = 1; j < w.length; j++) {
      const letter = w[j];
      if (FLAGS.has(letter)) {
        if (letter === "v") opts.verbose++;
        else applySshIp(opts, env);
        continue;
      }
      if (!WITH_ARG.has(letter)) {
        opts.warnings.push(`tmosh: invalid option -- '${letter}'`, SERVE_USAGE);
        continue;
      }
      let value: string;
      if (j + 1 < w.length) {
        value = w.slice(j + 1);
      } else if (i + 1 < words.length) {
        value = words[++i];
      } else {
        opts.warnings.push(
          `tmosh: option requires an argument -- '${letter}'`,
          SERVE_USAGE,
        );
        break;
      }
      if (letter === "i") opts.ip = value;
      else if (letter === "p") port = value;
      else if (letter === "c") {
        const colors = parseColors(value);
        if (colors === null) {
          return error(`Bad number of colors (${value}); pass -c NUMBER`);
        }
        opts.colors = colors;
      } else if (letter === "l") {
        const eq = value.indexOf("=");
        if (eq > 0) opts.locale[value.slice(0, eq)] = value.slice(eq + 1);
        else {
          opts.warnings.push(
            `tmosh: ignoring -l ${value}: expected NAME=VALUE`,
          );
        }
      } // "-@" swallows its argument and does nothing.
      break;
    }
  }
  return port;
}

/** Whether `word` is `--name` or `--name=VALUE`. */
function isNameOption(word: string): boolean {
  return word === "--name" || word.startsWith("--name=");
}

/** Whether `word` is `--attach` or `--attach=VALUE`. */
function isAttachOption(word: string): boolean {
  return word === "--attach" || word.startsWith("--attach=");
}

/**
 * `args` without the leading `--detached-timeout[=]SECONDS` words, which
 * concern new sessions only: so that `--server="tmosh serve
 * --detached-timeout=N"` also works for `list`, `kill` and `attach`.
 */
export function withoutDetachedTimeout(args: string[]): string[] {
  let i = 0;
  while (i < args.length && isDetachedTimeoutOption(args[i])) {
    i += args[i] === DETACHED_TIMEOUT_OPTION ? 2 : 1;
  }
  return args.slice(i);
}

/** Whether `word` is `--detached-timeout` or `--detached-timeout=VALUE`. */
function isDetachedTimeoutOption(word: string): boolean {
  return word === DETACHED_TIMEOUT_OPTION ||
    word.startsWith(`${DETACHED_TIMEOUT_OPTION}=`);
}

/** Sets `opts.detachedTimeout` from `--detached-timeout SECONDS` / `=SECONDS` at `words[i]`; returns an error when missing or not whole seconds. */
function takeDetachedTimeout(
  words: string[],
  i: number,
  opts: ServeOptions,
): { kind: "error"; message: string } | null {
  const value = words[i] === DETACHED_TIMEOUT_OPTION
    ? words[i + 1]
    : words[i].slice(DETACHED_TIMEOUT_OPTION.length + 1);
  const seconds = value === undefined ? null : parseSeconds(value);
  if (seconds === null) {
    return error(
      `${DETACHED_TIMEOUT_OPTION} needs a whole number of seconds, got ${
        JSON.stringify(value ?? "")
      }; pass e.g. ${DETACHED_TIMEOUT_OPTION}=86400 (0 = never)`,
    );
  }
  opts.detachedTimeout = seconds;
  return null;
}

/** Sets `opts.name` from `--name VALUE` / `--name=VALUE` (or `opts.attach` from `--attach ...`) at `words[i]`; returns an error when missing or invalid. */
function takeName(
  words: string[],
  i: number,
  opts: ServeOptions,
): { kind: "error"; message: string } | null {
  if (isDetachedTimeoutOption(words[i])) {
    return takeDetachedTimeout(words, i, opts);
  }
  if (isAttachOption(words[i])) {
    const target = words[i] === "--attach" ? words[i + 1] : words[i].slice(9);
    if (target === undefined || target === "" || target.startsWith("-")) {
      return {
        kind: "error",
        message:
          "tmosh: --attach needs a session id or name (tmosh serve list shows them)",
      };
    }
    opts.attach = target;
    return null;
  }
  const value = words[i] === "--name" ? words[i + 1] : words[i].slice(7);
  if (value === undefined) {
    return { kind: "error", message: "tmosh: --name needs a value" };
  }
  const why = checkSessionName(value);
  if (why !== null) return { kind: "error", message: why };
  opts.name = value;
  return null;
}

/** `-s`: bind the server's side of the ssh connection (third word of SSH_CONNECTION). */
function applySshIp(
  opts: ServeOptions,
  env: Record<string, string | undefined>,
): void {
  opts.ip = undefined;
  const ssh = env.SSH_CONNECTION;
  if (ssh === undefined) {
    opts.warnings.push(
      "Warning: SSH_CONNECTION not found; binding to any interface.",
    );
    return;
  }
  const ip = ssh.trim().split(/\s+/)[2];
  if (ip === undefined || ip === "") {
    opts.warnings.push(
      "Warning: Could not parse SSH_CONNECTION; binding to any interface.",
    );
    return;
  }
  const prefix = "::ffff:";
  opts.ip = ip.length > prefix.length && ip.toLowerCase().startsWith(prefix)
    ? ip.slice(prefix.length)
    : ip;
}

/** A colour count as strtol would read the whole of `text` (empty is 0); null if not an integer. */
function parseColors(text: string): number | null {
  if (text === "") return 0;
  if (!/^\s*[+-]?\d+$/.test(text)) return null;
  const n = Number(text.trim());
  return Number.isSafeInteger(n) ? n : null;
}

/** An error result. */
function error(message: string): { kind: "error"; message: string } {
  return { kind: "error", message: `tmosh: ${message}` };
}
