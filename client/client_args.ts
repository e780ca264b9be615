/**
 * The `tmosh client` command line, which follows the `mosh-client` contract:
 * `[-# 'ARGS'] [-v] IP PORT` or `-c`, with the session key in `MOSH_KEY` and
 * the client settings in `MOSH_*` variables (docs/wire.md §1.8).
 * @module
 */

import type { ForwardRequest } from "./bootstrap/forward_args.ts";
import { isIP } from "../protocol/network/ip_syntax.ts";
import { decodeKey } from "../protocol/crypto/key.ts";
import { TMOSH_VERSION } from "../version.ts";
import { writeAll } from "../stdio.ts";
import { forgetEnv } from "../secrets.ts";

/** How local echo is shown (mosh: PredictionEngine display preference). */
export type PredictMode = "adaptive" | "always" | "never" | "experimental";

/** Every prediction mode, in the order mosh documents them. */
export const PREDICT_MODES: readonly PredictMode[] = [
  "adaptive",
  "always",
  "never",
  "experimental",
];

/** Everything the interactive client session needs. */
export interface ClientOptions {
  /** Numeric IPv4 or IPv6 address of the server. */
  ip: string;
  /** UDP port of the server, 1..65535. */
  port: number;
  /** Session key: 22 canonical base64 characters. Never log it. */
  key: string;
  /** Prediction display mode. */
  predict: PredictMode;
  /** Predictions overwrite instead of inserting (MOSH_PREDICTION_OVERWRITE=yes). */
  predictOverwrite: boolean;
  /** Send the terminal init strings (false when MOSH_NO_TERM_INIT is set or `--no-init`). */
  init: boolean;
  /** Raw MOSH_ESCAPE_KEY value, undefined when unset (the session decides the key from it). */
  escapeKey?: string;
  /** MOSH_TITLE_NOPREFIX is set: no `[mosh] ` prefix on the window title. */
  titleNoPrefix: boolean;
  /** Verbose logging (`-v` given). */
  verbose: boolean;
  /**
   * Native scrollback (docs/wire.md §14): "native" offers it to the server
   * and uses it when a tmosh server answers; "off" behaves as mosh-client.
   */
  scrollback?: ScrollbackMode;
  /** Shown in the notification bar for NOTICE_MS once the server answers (tmosh connect: detached sessions). */
  notice?: string;
  /** Forwarding asked of `tmosh connect` (-L/-R/-D/-A/-W; docs/wire.md §17); absent: none. */
  forward?: ForwardRequest;
  /** Relay keys of a jump chain, the relay at `ip`:`port` first (docs/wire.md §16); absent: straight to the server. Never log them. */
  relayKeys?: string[];
}

/** `--scrollback` values. */
export type ScrollbackMode = "native" | "off";

/** Every scrollback mode; the first is the default. */
export const SCROLLBACK_MODES: readonly ScrollbackMode[] = ["native", "off"];

/** Environment variable with the scrollback mode (`--scrollback` wins over it). */
export const SCROLLBACK_ENV = "TMOSH_SCROLLBACK";

/** Result of parsing `tmosh client` arguments. */
export type ClientArgs =
  | { kind: "run"; options: ClientOptions }
  | { kind: "colors" }
  | { kind: "help"; text: string }
  | { kind: "version"; text: string }
  | { kind: "error"; message: string };

/** Environment variables, as `Deno.env.toObject()` gives them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Entry points hand the parsed options to the session through this hook. */
export interface ClientHooks {
  /** Runs the interactive session; resolves to the process exit status. */
  runClient(options: ClientOptions): Promise<number>;
  /** Called once the server is being started (ssh spawned): load what the session needs meanwhile. */
  prepare?(): void;
}

/** Usage text of `tmosh client`. */
export const CLIENT_USAGE: string =
  "Usage: tmosh client [-# 'ARGS'] [-v] [--scrollback=native|off] IP PORT\n" +
  "       tmosh client -c\n\n" +
  "The session key is read from MOSH_KEY; tmosh connect sets everything up.\n" +
  "--scrollback (or TMOSH_SCROLLBACK): native (default): lines that scroll\n" +
  "off reach your terminal's own scrollback (tmosh servers); off: as mosh.\n";

/** Version text of tmosh. */
export const VERSION_TEXT: string = `tmosh ${TMOSH_VERSION}\n`;

/** Largest UDP port. */
const MAX_PORT = 65535;

/** Returns true if `mode` is a known prediction mode. */
export function isPredictMode(mode: string): mode is PredictMode {
  return (PREDICT_MODES as readonly string[]).includes(mode);
}

/** Returns true if `mode` is a known scrollback mode. */
export function isScrollbackMode(mode: string): mode is ScrollbackMode {
  return (SCROLLBACK_MODES as readonly string[]).includes(mode);
}

/**
 * Picks the scrollback mode: `flag` (a `--scrollback` value) if given, else
 * TMOSH_SCROLLBACK from `env`, else "native"; or the one-line error text.
 */
export function chooseScrollback(
  flag: string | undefined,
  env: Env,
): { mode: ScrollbackMode } | { error: string } {
  const fromEnv = flag === undefined ? env[SCROLLBACK_ENV] : undefined;
  const mode = flag ?? fromEnv ?? SCROLLBACK_MODES[0];
  if (isScrollbackMode(mode)) return { mode };
  const where = fromEnv === undefined
    ? "--scrollback"
    : `${SCROLLBACK_ENV} in environment`;
  return {
    error: `tmosh: unknown scrollback mode "${mode}" (${where}); use ${
      SCROLLBACK_MODES.join(" or ")
    }`,
  };
}

/** Reads the client settings mosh-client takes from its environment (all but the key). */
export function clientEnvOptions(
  env: Env,
): Pick<
  ClientOptions,
  "predictOverwrite" | "init" | "escapeKey" | "titleNoPrefix"
> {
  return {
    predictOverwrite: env.MOSH_PREDICTION_OVERWRITE === "yes",
    init: env.MOSH_NO_TERM_INIT === undefined,
    escapeKey: env.MOSH_ESCAPE_KEY,
    titleNoPrefix: env.MOSH_TITLE_NOPREFIX !== undefined,
  };
}

/** Parses `tmosh client` arguments and environment into options, or says what is wrong. */
export function parseClientArgs(args: string[], env: Env): ClientArgs {
  // Like mosh-client, --help and --version win wherever they appear.
  if (args.includes("--help")) return { kind: "help", text: CLIENT_USAGE };
  if (args.includes("--version")) {
    return { kind: "version", text: VERSION_TEXT };
  }
  const positionals: string[] = [];
  let verbose = 0;
  let scrollbackFlag: string | undefined;
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
    if (arg === "--scrollback" || arg.startsWith("--scrollback=")) {
      if (arg.includes("=")) {
        scrollbackFlag = arg.slice(arg.indexOf("=") + 1);
      } else if (++i < args.length) {
        scrollbackFlag = args[i];
      } else {
        return usageError("option --scrollback needs native or off");
      }
      continue;
    }
    if (arg.startsWith("--")) return usageError(`unknown option ${arg}`);
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j];
      if (flag === "c") return { kind: "colors" };
      if (flag === "v") {
        verbose++;
      } else if (flag === "#") {
        // Swallows the wrapper's original arguments (shown in ps only).
        if (j === arg.length - 1 && ++i >= args.length) {
          return usageError("option -# needs an argument");
        }
        break;
      } else {
        return usageError(`unknown option -${flag}`);
      }
    }
  }
  if (positionals.length !== 2) {
    return usageError(
      `expected IP and PORT, got ${positionals.length} arguments`,
    );
  }
  const [ip, portText] = positionals;
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > MAX_PORT) {
    return error(
      `Bad UDP port (${portText}); PORT must be a number in 1..${MAX_PORT}`,
    );
  }
  const key = env.MOSH_KEY;
  if (key === undefined) {
    return error(
      "MOSH_KEY environment variable not found. Set it to the key of the " +
        "server's MOSH CONNECT line, or use tmosh connect",
    );
  }
  try {
    decodeKey(key);
  } catch (e) {
    return { kind: "error", message: `${(e as Error).message} (in MOSH_KEY)` };
  }
  const predict = env.MOSH_PREDICTION_DISPLAY ?? "adaptive";
  if (!isPredictMode(predict)) {
    return error(
      `Unknown prediction mode ${predict}. Set MOSH_PREDICTION_DISPLAY to ` +
        `${PREDICT_MODES.join(", ")}`,
    );
  }
  if (isIP(ip) === 0) {
    return error(
      `IP must be a numeric IPv4 or IPv6 address, got "${ip}"; ` +
        "tmosh client does not resolve names (tmosh connect does)",
    );
  }
  const scrollback = chooseScrollback(scrollbackFlag, env);
  if ("error" in scrollback) {
    return { kind: "error", message: scrollback.error };
  }
  return {
    kind: "run",
    options: {
      ip,
      port,
      key,
      predict,
      verbose: verbose > 0,
      ...clientEnvOptions(env),
      scrollback: scrollback.mode,
    },
  };
}

/** Returns the colour count of terminal type `term` guessed from its name. */
export function colorsFromTerm(term: string | undefined): number {
  if (term === undefined || term === "" || term === "dumb") return 0;
  return term.includes("256color") ? 256 : 8;
}

/** Returns the local terminal's colour count: terminfo via `tput colors`, else a guess from TERM. */
export async function countColors(term: string | undefined): Promise<number> {
  if (term !== undefined && term !== "") {
    try {
      const out = await new Deno.Command("tput", {
        args: ["colors"],
        env: { TERM: term },
        stdin: "null",
        stderr: "null",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      // terminfo says -1 when the type has no colours; mosh counts that as 0.
      if (out.success && /^-?\d+$/.test(text)) return Math.max(0, Number(text));
    } catch {
      // no tput: guess below
    }
  }
  return colorsFromTerm(term);
}

/** Runs `tmosh client ARGS`: parses, then hands over to the session; returns the exit status. */
export async function clientMain(
  args: string[],
  hooks: ClientHooks,
): Promise<number> {
  const env = Deno.env.toObject();
  // The key must not linger in the environment (children would inherit it,
  // /proc/PID/environ would show it).
  forgetEnv("MOSH_KEY");
  const parsed = parseClientArgs(args, env);
  switch (parsed.kind) {
    case "help":
    case "version":
      writeAll(Deno.stdout, parsed.text);
      return 0;
    case "colors":
      writeAll(Deno.stdout, `${await countColors(env.TERM)}\n`);
      return 0;
    case "error":
      writeAll(Deno.stderr, `${parsed.message}\n`);
      return 1;
    case "run":
      return await hooks.runClient(parsed.options);
  }
}

/** An error result with the `tmosh: ` prefix. */
function error(message: string): ClientArgs {
  return { kind: "error", message: `tmosh: ${message}` };
}

/** An error result that also shows the usage line. */
function usageError(message: string): ClientArgs {
  return {
    kind: "error",
    message:
      `tmosh: ${message}; usage: tmosh client [-# 'ARGS'] [-v] [--scrollback=native|off] IP PORT, or tmosh client -c`,
  };
}
