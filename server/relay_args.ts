/**
 * The `tmosh serve relay` command line (docs/wire.md §16.2):
 * `relay [-v] [-i IP] [-p PORT[:PORT2]] [--idle-timeout=SECONDS] TARGET PORT`,
 * parsed without side effects.
 * @module
 */

import { parsePortRange } from "../protocol/network/port_range.ts";
import {
  PORT_RANGE_HIGH,
  PORT_RANGE_LOW,
} from "../protocol/network/constants.ts";
import { parseSeconds } from "./detached_timeout.ts";

/** Usage of `tmosh serve relay`. */
export const RELAY_USAGE =
  "Usage: tmosh serve relay [-v] [-s | -i IP] [-p PORT[:PORT2]] [--idle-timeout=SECONDS] TARGET PORT|--target-stdin\n" +
  "  forwards a tmosh client's UDP through this jump host to the session at TARGET:PORT\n" +
  "  (tmosh connect -J starts it; prints MOSH CONNECT PORT RELAYKEY)";

/** First word of the relay's detached daemon (tmosh's own use). */
export const RELAY_DAEMON_FLAG = "--relay-daemon-internal";

/** Options of one relay. */
export interface RelayOptions {
  /** The target host (name or address, resolved on this host). */
  target: string;
  /** The target's UDP port (the session's MOSH CONNECT port). */
  targetPort: number;
  /** Numeric IP to bind first for the client side, or undefined for any. */
  ip?: string;
  /** Port range searched for the client side (default 60001..60999). */
  portRange: [number, number];
  /** `--idle-timeout`, seconds, or null for the default (the detached timeout). */
  idleSeconds: number | null;
  /** `-v`: stay attached and log to stderr. */
  verbose: boolean;
  /** This is the detached daemon. */
  daemon: boolean;
  /** `--target-stdin`: TARGET PORT come as one line on stdin (target and targetPort are placeholders until then). */
  targetStdin: boolean;
}

/** Result of parsing `tmosh serve relay ...`. */
export type RelayArgs =
  | { kind: "relay"; options: RelayOptions }
  | { kind: "help" }
  | { kind: "error"; message: string };

/** Parses the words after `serve relay` (the daemon's flag first, if any); `env` gives SSH_CONNECTION for `-s`. */
export function parseRelayArgs(
  args: string[],
  env: Record<string, string | undefined> = {},
): RelayArgs {
  const words = [...args];
  const daemon = words[0] === RELAY_DAEMON_FLAG;
  if (daemon) words.shift();
  const positionals: string[] = [];
  let ip: string | undefined;
  let portRange: [number, number] = [PORT_RANGE_LOW, PORT_RANGE_HIGH];
  let idleSeconds: number | null = null;
  let verbose = false;
  let targetStdin = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const valueOf = (flag: string): string | null => {
      if (word.length > flag.length) return word.slice(flag.length);
      return i + 1 < words.length ? words[++i] : null;
    };
    if (word === "-h" || word === "--help") return { kind: "help" };
    if (word === "-v") verbose = true;
    else if (word === "-s") ip = sshLocalAddress(env);
    else if (word === TARGET_STDIN_FLAG && !daemon) targetStdin = true;
    else if (word.startsWith("-i")) {
      const value = valueOf("-i");
      if (value === null) return error("-i needs an IP address");
      ip = value;
    } else if (word.startsWith("-p")) {
      const value = valueOf("-p");
      if (value === null) return error("-p needs PORT or LOW:HIGH");
      try {
        portRange = parsePortRange(value);
      } catch (err) {
        return error((err as Error).message.replace(/^tmosh: /, ""));
      }
    } else if (word.startsWith("--idle-timeout")) {
      const text = word.startsWith("--idle-timeout=")
        ? word.slice("--idle-timeout=".length)
        : null;
      const seconds = text === null ? null : parseSeconds(text);
      if (seconds === null) {
        return error(
          "--idle-timeout=SECONDS takes whole seconds (0 = never)",
        );
      }
      idleSeconds = seconds;
    } else if (word === "--") {
      positionals.push(...words.slice(i + 1));
      break;
    } else if (word.startsWith("-")) {
      return error(`unknown option ${JSON.stringify(word)}`);
    } else positionals.push(word);
  }
  if (positionals.length !== (targetStdin ? 0 : 2)) {
    return error(
      targetStdin
        ? `${TARGET_STDIN_FLAG} takes the target from stdin, not the command line`
        : "serve relay takes the target host and its UDP port",
    );
  }
  const [target, portText] = targetStdin ? ["stdin", "1"] : positionals;
  const why = checkTarget(target, portText);
  if (why !== null) return error(why);
  const targetPort = Number(portText);
  return {
    kind: "relay",
    options: {
      target,
      targetPort,
      ip,
      portRange,
      idleSeconds,
      verbose,
      daemon,
      targetStdin,
    },
  };
}

/** Whether a registry record is a relay's (`relay to ADDR:PORT`, no window), not a session one can attach to. */
export function isRelayRecord(
  record: { command: string[]; cols: number; rows: number },
): boolean {
  return record.command[0] === "relay" && record.command[1] === "to" &&
    record.cols === 0 && record.rows === 0;
}

/** `-s`: this host's side of the ssh connection (SSH_CONNECTION's third word, without `::ffff:`), or undefined (any address). */
export function sshLocalAddress(
  env: Record<string, string | undefined>,
): string | undefined {
  const ip = env.SSH_CONNECTION?.trim().split(/\s+/)[2];
  if (ip === undefined || ip === "") return undefined;
  return ip.replace(/^::ffff:(?=.*\.)/i, "");
}

/** The option that takes TARGET PORT from stdin (tmosh connect starts the relay before it knows them). */
export const TARGET_STDIN_FLAG = "--target-stdin";

/** What is wrong with a target host and port, or null. */
export function checkTarget(host: string, portText: string): string | null {
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    return `bad target port ${JSON.stringify(portText)}; use 1..65535`;
  }
  if (host === "" || host.startsWith("-") || /[\s\x00-\x1f]/.test(host)) {
    return `bad target host ${JSON.stringify(host)}`;
  }
  return null;
}

/** An error result: one line. */
function error(message: string): RelayArgs {
  return {
    kind: "error",
    message: `tmosh: ${message}; see tmosh serve relay --help`,
  };
}
