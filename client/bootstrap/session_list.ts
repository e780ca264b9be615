/**
 * The client's view of a host's session registry (docs/architecture.md §8):
 * session ids and names as `tmosh connect --attach`, `tmosh sessions` and
 * `tmosh kill` take them, the `tmosh serve list --json` output, which session
 * `--attach` without an id picks, and the lines shown about them. Pure: the
 * ssh runs are in remote_sessions.ts.
 * @module
 */

/** A session id or name: 1-32 of `A-Za-z0-9._-`, starting with a letter or digit (ids are 8 base32 letters). */
const TARGET_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/** Widest command shown in the choice list, characters. */
const COMMAND_WIDTH = 24;

/** One session of `tmosh serve list --json`, the fields the client uses. */
export interface RemoteSession {
  /** 8-character id. */
  id: string;
  /** `--name`, or null. */
  name: string | null;
  /** Start time, ISO 8601. */
  created: string;
  /** When a client was last heard from, ISO 8601, or null. */
  lastHeard: string | null;
  /** A client is attached. */
  attached: boolean;
  /** The attached (or last) client's address, or null. */
  client: string | null;
  /** The session's program. */
  command: string[];
}

/** What `--attach` without an id does with a host's sessions. */
export type AttachPick =
  | { kind: "attach"; id: string }
  | { kind: "none" }
  | { kind: "ask"; sessions: RemoteSession[] };

/** Null if `word` can be a session id or name, else why not (one line, `tmosh: ` prefix). */
export function checkSessionTarget(
  word: string,
  option: string,
): string | null {
  if (TARGET_PATTERN.test(word)) return null;
  return `tmosh: bad session id or name ${
    JSON.stringify(word)
  } for ${option}; use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit`;
}

/** Parses `tmosh serve list --json` output (lines before the array, e.g. from a login script, are skipped); throws a one-line error. */
export function parseSessionList(text: string): RemoteSession[] {
  let value: unknown = undefined;
  for (let at = 0; at >= 0 && value === undefined;) {
    if (text.startsWith("[", at)) {
      try {
        value = JSON.parse(text.slice(at));
      } catch {
        // not the list: try the next line that starts with "["
      }
    }
    const nl = text.indexOf("\n", at);
    at = nl < 0 ? -1 : nl + 1;
  }
  if (value === undefined) {
    throw new Error(
      "tmosh: the server printed no session list; is --server a tmosh server with sessions (tmosh serve list)?",
    );
  }
  if (!Array.isArray(value) || !value.every(isRemoteSession)) {
    throw new Error(
      "tmosh: the server's session list is malformed; is --server a tmosh server?",
    );
  }
  return value;
}

/** `--attach` alone: the only detached session, none at all, or ask among them all. */
export function pickSession(listed: RemoteSession[]): AttachPick {
  // Jump-host relays are listed too (`relay to ADDR:PORT`, server/relay.ts); they are no sessions.
  const sessions = listed.filter((s) =>
    !(s.command.length === 3 && s.command[0] === "relay" &&
      s.command[1] === "to")
  );
  if (sessions.length === 0) return { kind: "none" };
  const detached = sessions.filter((s) => !s.attached);
  if (detached.length === 1) return { kind: "attach", id: detached[0].id };
  return { kind: "ask", sessions };
}

/** The session an answer to the choice prompt names (its number, id or unique name), or null. */
export function matchChoice(
  answer: string,
  sessions: RemoteSession[],
): RemoteSession | null {
  const word = answer.trim();
  if (/^\d+$/.test(word)) return sessions[Number(word) - 1] ?? null;
  const byId = sessions.find((s) => s.id === word);
  if (byId !== undefined) return byId;
  const byName = sessions.filter((s) => s.name === word);
  return byName.length === 1 ? byName[0] : null;
}

/** The numbered list the choice prompt shows, one session a line, columns aligned. */
export function formatChoices(sessions: RemoteSession[], now: number): string {
  const rows = sessions.map((s, i) => {
    const heard = s.lastHeard === null ? null : Date.parse(s.lastHeard);
    return [
      `${i + 1})`,
      s.id,
      s.name ?? "-",
      s.attached ? "attached" : "detached",
      `up ${formatAge(now - Date.parse(s.created))}`,
      heard === null ? "no contact" : `contact ${formatAge(now - heard)} ago`,
      shorten(printable(s.command.join(" "))),
    ];
  });
  const widths =
    rows[0]?.map((_, i) => Math.max(...rows.map((r) => [...r[i]].length))) ??
      [];
  return rows.map((r) =>
    "  " + r.map((cell, i) =>
      i === r.length - 1
        ? cell
        : cell + " ".repeat(widths[i] - [...cell].length)
    ).join("  ") + "\n"
  ).join("");
}

/** One line naming each session (`id (name, detached)`), for an error without a terminal to ask on. */
export function listInline(sessions: RemoteSession[]): string {
  return sessions.map((s) =>
    `${s.id} (${s.name === null ? "" : `${s.name}, `}${
      s.attached ? "attached" : "detached"
    })`
  ).join(", ");
}

/** The one line `tmosh connect` prints when the server says `TMOSH DETACHED n`, n > 0. */
export function detachedNotice(count: number, userhost: string): string {
  const sessions = count === 1
    ? "1 detached session"
    : `${count} detached sessions`;
  return `tmosh: you have ${sessions} on ${userhost}; resume with tmosh connect --attach ${userhost}, list with tmosh sessions ${userhost}`;
}

/** The notification-bar form of {@linkcode detachedNotice} (after `tmosh: `). */
export function detachedBarNotice(count: number, userhost: string): string {
  return `${count} detached session${
    count === 1 ? "" : "s"
  } here; tmosh connect --attach ${userhost} resumes one`;
}

/** A duration as its largest whole unit: `42s`, `5m`, `3h`, `2d` (as `tmosh serve list`). */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Whether `v` has the fields of a {@linkcode RemoteSession}. */
function isRemoteSession(v: unknown): v is RemoteSession {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  const strOrNull = (x: unknown) => x === null || typeof x === "string";
  return typeof r.id === "string" && TARGET_PATTERN.test(r.id) &&
    strOrNull(r.name) && typeof r.created === "string" &&
    strOrNull(r.lastHeard) && typeof r.attached === "boolean" &&
    strOrNull(r.client) && Array.isArray(r.command) &&
    r.command.every((w) => typeof w === "string");
}

/** `text` with control characters shown as `?` (a command may hold escapes). */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
}

/** `text` cut to the command width, ending in `…` when cut. */
function shorten(text: string): string {
  const chars = [...text];
  return chars.length <= COMMAND_WIDTH
    ? text
    : `${chars.slice(0, COMMAND_WIDTH - 1).join("")}…`;
}
