/**
 * `tmosh serve list [--json]`, `tmosh serve kill ID|NAME|--detached` and
 * `tmosh serve attach ID|NAME`: the user's session registry
 * (server/registry.ts). Listing removes stale records and asks each live
 * session for its current status on its control socket (the record on disk
 * when it does not answer); killing goes through the control socket, so a
 * session ends as on SIGTERM; attaching asks the session for a fresh key and
 * prints it as `MOSH CONNECT` (docs/wire.md §15).
 * @module
 */

import { writeAll } from "../stdio.ts";
import { requestControl } from "./control_socket.ts";
import { printConnect } from "./attach.ts";
import { TMOSH_VERSION } from "../version.ts";
import {
  checkPrivateDir,
  isLive,
  readRecords,
  recordExists,
  registryDir,
  type SessionRecord,
  socketPath,
} from "./registry.ts";

/** The first words after `tmosh serve` that name these commands. */
export const SESSION_COMMANDS: readonly string[] = ["list", "kill", "attach"];

/** Usage of `tmosh serve list`. */
export const LIST_USAGE = "Usage: tmosh serve list [--json]";

/** Usage of `tmosh serve kill`. */
export const KILL_USAGE = "Usage: tmosh serve kill ID|NAME|--detached";

/** Usage of `tmosh serve attach`. */
export const ATTACH_USAGE =
  "Usage: tmosh serve attach ID|NAME (or tmosh serve --attach=ID|NAME [new ...])";

/** How long list waits for each session's status, ms. */
const STATUS_TIMEOUT_MS = 1000;
/** How long kill waits for a session to end (its record to go) before saying it is still shutting down, ms. */
const KILL_WAIT_MS = 5000;
/** Widest command shown in the table, characters. */
const COMMAND_WIDTH = 40;

/** A parsed session command. */
export type SessionCommand =
  | { kind: "list"; json: boolean }
  | { kind: "kill"; target: string | null }
  | { kind: "attach"; target: string }
  | { kind: "error"; message: string };

/** Parses `list ...` or `kill ...` (the words after `serve`); `kill --detached` has target null. */
export function parseSessionCommand(args: string[]): SessionCommand {
  const [verb, ...rest] = args;
  if (verb === "list") {
    const bad = rest.find((w) => w !== "--json");
    if (bad !== undefined) {
      return error(`unexpected ${JSON.stringify(bad)}; ${LIST_USAGE}`);
    }
    return { kind: "list", json: rest.length > 0 };
  }
  if (verb === "kill") {
    if (rest.length !== 1) {
      return error(
        `serve kill takes one session id or name, or --detached; ${KILL_USAGE}`,
      );
    }
    if (rest[0] === "--detached") return { kind: "kill", target: null };
    if (rest[0].startsWith("-")) {
      return error(`unknown option ${JSON.stringify(rest[0])}; ${KILL_USAGE}`);
    }
    return { kind: "kill", target: rest[0] };
  }
  if (verb === "attach") {
    if (rest.length !== 1) {
      return error(
        `serve attach takes one session id or name; ${ATTACH_USAGE}`,
      );
    }
    if (rest[0].startsWith("-")) {
      return error(
        `unknown option ${JSON.stringify(rest[0])}; ${ATTACH_USAGE}`,
      );
    }
    return { kind: "attach", target: rest[0] };
  }
  return error(
    `unknown command ${JSON.stringify(verb)}; expected list, kill or attach`,
  );
}

/** Runs `tmosh serve list|kill|attach ...`; resolves to the exit status. */
export async function sessionCommand(
  args: string[],
  options: { env: Record<string, string | undefined> },
): Promise<number> {
  const command = parseSessionCommand(args);
  if (command.kind === "error") return fail(command.message);
  let dir: string;
  let sessions: SessionRecord[];
  try {
    dir = registryDir(options.env);
    sessions = checkPrivateDir(dir) ? await liveSessions(dir) : [];
  } catch (err) {
    return fail((err as Error).message);
  }
  if (command.kind === "list") {
    writeAll(
      Deno.stdout,
      command.json
        ? `${JSON.stringify(sessions, null, 2)}\n`
        : formatTable(sessions, Date.now()),
    );
    return 0;
  }
  const targets = pickTargets(sessions, command.target);
  if (typeof targets === "string") return fail(targets);
  if (command.kind === "attach") return await attachSession(dir, targets[0]);
  if (targets.length === 0) {
    writeAll(Deno.stderr, "tmosh: no detached sessions\n");
    return 0;
  }
  let status = 0;
  for (const session of targets) {
    const line = await killSession(dir, session);
    if (line.startsWith("tmosh: ")) {
      status = 1;
      writeAll(Deno.stderr, `${line}\n`);
    } else writeAll(Deno.stdout, `${line}\n`);
  }
  return status;
}

/** The live sessions of `dir`, each with its current status when its control socket answers. */
async function liveSessions(dir: string): Promise<SessionRecord[]> {
  return await Promise.all(
    readRecords(dir).map(async (record) => {
      try {
        const reply = await requestControl(socketPath(dir, record.id), {
          op: "status",
        }, { timeoutMs: STATUS_TIMEOUT_MS });
        if (reply.ok && reply.session?.id === record.id) return reply.session;
      } catch {
        // not answering: the record on disk is all there is
      }
      return record;
    }),
  );
}

/** The sessions `target` names (an id, else a unique name; null = every detached one), or why none. */
function pickTargets(
  sessions: SessionRecord[],
  target: string | null,
): SessionRecord[] | string {
  if (target === null) return sessions.filter((s) => !s.attached);
  const byId = sessions.filter((s) => s.id === target);
  if (byId.length > 0) return byId;
  const byName = sessions.filter((s) => s.name === target);
  if (byName.length === 1) return byName;
  const quoted = JSON.stringify(target);
  if (byName.length === 0) {
    return `tmosh: no session has the id or name ${quoted}; run tmosh serve list to see them`;
  }
  return `tmosh: ${byName.length} sessions are named ${quoted} (${
    byName.map((s) => s.id).join(", ")
  }); kill one by its id`;
}

/** Asks `session` for a fresh key and prints `MOSH CONNECT PORT KEY`; returns the exit status. */
async function attachSession(
  dir: string,
  session: SessionRecord,
): Promise<number> {
  let port: unknown, key: unknown;
  try {
    const reply = await requestControl(socketPath(dir, session.id), {
      op: "attach",
    });
    if (!reply.ok) return fail(`${reply.error} (session ${session.id})`);
    ({ port, key } = reply);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < 1 ||
    port > 65535 || typeof key !== "string" ||
    !/^[A-Za-z0-9/+]{22}$/.test(key)
  ) {
    return fail(
      `tmosh: session ${session.id} gave a malformed attach answer; end it and start a new session`,
    );
  }
  printConnect(port, key);
  writeAll(
    Deno.stderr,
    `\ntmosh ${TMOSH_VERSION}\n\n[tmosh: attaching to session ${session.id}${
      session.name === null ? "" : ` (${session.name})`
    }, pid = ${session.pid}]\n`,
  );
  return 0;
}

/** Asks one session to end and waits a little for its record to go (its process hosts other sessions too); returns the line to print (`tmosh: ...` on failure). */
async function killSession(
  dir: string,
  session: SessionRecord,
): Promise<string> {
  try {
    const reply = await requestControl(socketPath(dir, session.id), {
      op: "kill",
    });
    if (!reply.ok) return `${reply.error} (session ${session.id})`;
  } catch (err) {
    return `${
      (err as Error).message
    }; if the session is stuck, kill ${session.pid} ends it (and every other session of that process)`;
  }
  const deadline = Date.now() + KILL_WAIT_MS;
  while (isLive(session) && recordExists(dir, session.id)) {
    if (Date.now() >= deadline) {
      return `${session.id}: ending (still shutting down in pid ${session.pid})`;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return `killed ${session.id}${
    session.name === null ? "" : ` (${session.name})`
  }`;
}

/** The table `tmosh serve list` prints. */
export function formatTable(sessions: SessionRecord[], now: number): string {
  if (sessions.length === 0) return "no tmosh sessions\n";
  const rows = [[
    "ID",
    "NAME",
    "AGE",
    "STATE",
    "LAST CONTACT",
    "CLIENT",
    "COMMAND",
    "SIZE",
  ]];
  for (const s of sessions) {
    const heard = s.lastHeard === null ? null : Date.parse(s.lastHeard);
    rows.push([
      s.id,
      s.name ?? "-",
      formatAge(now - Date.parse(s.created)),
      s.attached ? "attached" : "detached",
      heard === null ? "never" : `${formatAge(now - heard)} ago`,
      s.client ?? "-",
      shorten(printable(s.command.join(" ")), COMMAND_WIDTH),
      `${s.cols}x${s.rows}`,
    ]);
  }
  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map((r) => [...r[i]].length))
  );
  return rows.map((r) =>
    r.map((cell, i) =>
      i === r.length - 1
        ? cell
        : cell + " ".repeat(widths[i] - [...cell].length)
    ).join("  ")
  ).join("\n") + "\n";
}

/** A duration as the largest whole unit: `42s`, `5m`, `3h`, `2d`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** `text` with control characters shown as `?` (a command may hold escapes). */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
}

/** `text` cut to `width` characters, ending in `…` when cut. */
function shorten(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width
    ? text
    : `${chars.slice(0, width - 1).join("")}…`;
}

/** Prints `message` on stderr; returns the failure status. */
function fail(message: string): number {
  writeAll(Deno.stderr, `${message}\n`);
  return 1;
}

/** An error result. */
function error(message: string): { kind: "error"; message: string } {
  return { kind: "error", message: `tmosh: ${message}` };
}
