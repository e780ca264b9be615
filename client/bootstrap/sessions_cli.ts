/**
 * `tmosh sessions [user@]host` and `tmosh kill [user@]host ID|NAME|--detached`:
 * the server's `tmosh serve list` and `tmosh serve kill` run over ssh, their
 * output and exit status relayed (docs/architecture.md §8.4).
 * @module
 */

import { writeAll } from "../../stdio.ts";
import { checkHost, DEFAULT_SERVER, shellWords } from "./connect_args.ts";
import { checkSessionTarget } from "./session_list.ts";
import { parseJumpChain } from "./jump_chain.ts";
import {
  failureText,
  type RemoteTarget,
  runServerCommand,
} from "./remote_sessions.ts";

/** Usage of `tmosh sessions`. */
export const SESSIONS_USAGE =
  `Usage: tmosh sessions [--json] [-J HOST[,HOST...]] [--ssh=COMMAND] [--server=COMMAND] [user@]host
Lists your tmosh sessions on host (tmosh serve list, run over ssh): id, name,
age, attached or detached, last contact, client, command, window size.
        --json               the sessions as a JSON array
-J, --jump=[user@]host[:port][,...]  reach host through jump hosts (ssh -J)
        --ssh=COMMAND        ssh command (default: "ssh")
        --server=COMMAND     tmosh server on remote machine (default: "tmosh serve")
`;

/** Usage of `tmosh kill`. */
export const KILL_USAGE =
  `Usage: tmosh kill [-J HOST[,HOST...]] [--ssh=COMMAND] [--server=COMMAND] [user@]host ID|NAME|--detached
Ends one of your tmosh sessions on host by id or name, or every detached one
(tmosh serve kill, run over ssh).
-J, --jump=[user@]host[:port][,...]  reach host through jump hosts (ssh -J)
        --ssh=COMMAND        ssh command (default: "ssh")
        --server=COMMAND     tmosh server on remote machine (default: "tmosh serve")
`;

/** A parsed `tmosh sessions` or `tmosh kill` command line. */
export type SessionsArgs =
  | { kind: "run"; target: RemoteTarget; words: string[] }
  | { kind: "help"; text: string }
  | { kind: "error"; message: string };

/** Parses the words after `tmosh sessions` or `tmosh kill` into the server command to run. */
export function parseSessionsArgs(
  args: string[],
  options: { command: "sessions" | "kill" },
): SessionsArgs {
  const kill = options.command === "kill";
  const usage = kill ? KILL_USAGE : SESSIONS_USAGE;
  const values = new Map<string, string>();
  const positionals: string[] = [];
  const flags = kill ? ["detached"] : ["json"];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-h" || arg === "--help") return { kind: "help", text: usage };
    const match = /^(?:--(ssh|server|jump)(?:=(.*))?|-(J)(.*))$/s.exec(arg);
    if (match !== null) {
      const name = match[1] ?? "jump";
      const value = match[2] ?? (match[4] || undefined) ?? args[++i];
      if (value === undefined) {
        return error(`option ${arg} needs a value`, options);
      }
      values.set(name, value);
    } else if (flags.includes(arg.slice(2)) && arg.startsWith("--")) {
      values.set(arg.slice(2), "true");
    } else if (arg.startsWith("-")) {
      return error(`unknown option ${arg}`, options);
    } else positionals.push(arg);
  }
  const [userhost, ...rest] = positionals;
  if (userhost === undefined) return error("missing [user@]host", options);
  const badHost = checkHost(userhost);
  if (badHost !== null) return error(badHost, options);
  const ssh = shellWords(values.get("ssh") ?? "ssh");
  if (ssh === null || ssh.length === 0) {
    return error(
      `cannot split --ssh="${
        values.get("ssh")
      }" into words (empty or unbalanced quotes)`,
      options,
    );
  }
  const jump = values.get("jump");
  if (jump !== undefined && jump !== "none") {
    // The server command runs over ssh alone: ssh's own -J reaches the host.
    const hops = parseJumpChain(jump);
    if (typeof hops === "string") return { kind: "error", message: hops };
    ssh.push("-J", jump);
  }
  const target: RemoteTarget = {
    userhost,
    ssh,
    server: values.get("server") ?? DEFAULT_SERVER,
    local: false,
  };
  if (!kill) {
    if (rest.length > 0) {
      return error(`unexpected ${JSON.stringify(rest[0])}`, options);
    }
    return {
      kind: "run",
      target,
      words: values.has("json") ? ["list", "--json"] : ["list"],
    };
  }
  const detached = values.has("detached");
  if (rest.length !== (detached ? 0 : 1)) {
    return error("give one session id or name, or --detached", options);
  }
  if (detached) return { kind: "run", target, words: ["kill", "--detached"] };
  const bad = checkSessionTarget(rest[0], "tmosh kill");
  if (bad !== null) return { kind: "error", message: bad };
  return { kind: "run", target, words: ["kill", rest[0]] };
}

/** Runs `tmosh sessions ARGS` or `tmosh kill ARGS`; resolves to the exit status (the server's, relayed). */
export async function sessionsMain(
  args: string[],
  options: { command: "sessions" | "kill" },
): Promise<number> {
  const parsed = parseSessionsArgs(args, options);
  if (parsed.kind === "help") {
    writeAll(Deno.stdout, parsed.text);
    return 0;
  }
  if (parsed.kind === "error") {
    writeAll(Deno.stderr, `${parsed.message}\n`);
    return 2;
  }
  let code: number;
  try {
    ({ code } = await runServerCommand(parsed.target, parsed.words, {
      capture: false,
    }));
  } catch (e) {
    writeAll(Deno.stderr, `${(e as Error).message}\n`);
    return 1;
  }
  const why = failureText(parsed.target, code);
  if (why !== null) writeAll(Deno.stderr, `${why}\n`);
  return code;
}

/** A one-line usage error naming the command. */
function error(
  what: string,
  options: { command: "sessions" | "kill" },
): SessionsArgs {
  const message = what.startsWith("tmosh: ") ? what : `tmosh: ${what}`;
  return {
    kind: "error",
    message: `${message}; see tmosh ${options.command} --help`,
  };
}
