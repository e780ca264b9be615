/**
 * What the `tmosh serve new` front and the user's daemon say to each other
 * (docs/architecture.md §12.3): where the daemon's socket and start lock are,
 * one request line of JSON from the front (`op: "new"`, the `serve` words,
 * the front's whole environment, its window size and owner pid) and one
 * answer line (`ok` with the new session's port, key, id and the daemon's
 * pid, or an error). The key travels only on this socket (0600 in the
 * user's 0700 registry directory). Parsing is pure and checks every field.
 * @module
 */

import { TMOSH_VERSION } from "../version.ts";
import { fallbackSocketDir, fitsSunPath } from "./registry.ts";

/** First word after `tmosh serve` that starts the user's daemon (for tmosh's own use). */
export const USER_DAEMON_FLAG = "--user-daemon-internal";
/** `TMOSH_USER_DAEMON=0` in the front's environment runs the session in a daemon process of its own instead (the former way). */
export const USER_DAEMON_VAR = "TMOSH_USER_DAEMON";

/** Longest request line, bytes (the front's environment is most of it). */
export const DAEMON_REQUEST_MAX_BYTES = 256 * 1024;
/** Longest answer line, bytes. */
export const DAEMON_ANSWER_MAX_BYTES = 64 * 1024;
/** A front that sends no complete request this long after connecting is hung up on, ms. */
export const DAEMON_REQUEST_IDLE_MS = 10_000;

/** A request for a new session, as the front would have run it itself. */
export interface DaemonRequest {
  /** Always "new". */
  op: "new";
  /** The front's tmosh version (the socket's name carries it too). */
  version: string;
  /** The words after `tmosh serve` (`new -s -c 256 -- cmd ...`). */
  args: string[];
  /** The front's environment (TMOSH_OWNER_PID taken out): the program's comes from it. */
  env: Record<string, string>;
  /** The front's working directory: the program's when HOME is unset (absolute, or null when unknown). */
  cwd: string | null;
  /** The ssh pty's window size, or 80x24. */
  size: { cols: number; rows: number };
  /** TMOSH_OWNER_PID of the front, or null (server/owner.ts). */
  ownerPid: number | null;
}

/** The daemon's answer: the session's port and key (printable), or why not. */
export type DaemonAnswer =
  | {
    ok: true;
    port: number;
    key: string;
    id: string;
    pid: number;
    warnings: string[];
  }
  | { ok: false; error: string };

/** Path of the user's daemon socket: `DIR/daemon-VERSION.sock`, else under `/tmp/tmosh-UID/` when too long for sun_path. */
export function daemonSocketPath(
  dir: string,
  version: string = TMOSH_VERSION,
): string {
  const name = `daemon-${version}.sock`;
  const inDir = `${dir}/${name}`;
  return fitsSunPath(inDir) ? inDir : `${fallbackSocketDir()}/${name}`;
}

/** Path of the lock held while a daemon binds its socket: `DIR/daemon-VERSION.lock`. */
export function daemonLockPath(
  dir: string,
  version: string = TMOSH_VERSION,
): string {
  return `${dir}/daemon-${version}.lock`;
}

/** A request as one JSON line. */
export function encodeRequest(request: DaemonRequest): string {
  return `${JSON.stringify(request)}\n`;
}

/** A request from its line, or null when any field is missing or malformed. */
export function parseRequest(line: string): DaemonRequest | null {
  const v = parseObject(line);
  if (v === null || v.op !== "new" || typeof v.version !== "string") {
    return null;
  }
  const { args, env, cwd, size, ownerPid } = v;
  if (cwd !== null && !(typeof cwd === "string" && cwd.startsWith("/"))) {
    return null;
  }
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
    return null;
  }
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    return null;
  }
  if (!Object.values(env).every((x) => typeof x === "string")) return null;
  if (typeof size !== "object" || size === null) return null;
  const { cols, rows } = size as Record<string, unknown>;
  if (!isDimension(cols) || !isDimension(rows)) return null;
  if (
    ownerPid !== null &&
    !(Number.isSafeInteger(ownerPid) && (ownerPid as number) > 0)
  ) {
    return null;
  }
  return {
    op: "new",
    version: v.version,
    args: args as string[],
    env: env as Record<string, string>,
    cwd: cwd as string | null,
    size: { cols: cols as number, rows: rows as number },
    ownerPid: ownerPid as number | null,
  };
}

/** An answer as one JSON line. */
export function encodeAnswer(answer: DaemonAnswer): string {
  return `${JSON.stringify(answer)}\n`;
}

/** An answer from its line, or null when malformed. */
export function parseAnswer(line: string): DaemonAnswer | null {
  const v = parseObject(line);
  if (v === null) return null;
  if (v.ok === false) {
    return typeof v.error === "string" ? { ok: false, error: v.error } : null;
  }
  const { port, key, id, pid, warnings } = v;
  const good = v.ok === true && Number.isInteger(port) &&
    (port as number) >= 1 && (port as number) <= 65535 &&
    typeof key === "string" && /^[A-Za-z0-9/+]{22}$/.test(key) &&
    typeof id === "string" && /^[a-z2-7]{8}$/.test(id) &&
    Number.isSafeInteger(pid) && (pid as number) > 0 &&
    Array.isArray(warnings) && warnings.every((w) => typeof w === "string");
  if (!good) return null;
  return {
    ok: true,
    port: port as number,
    key: key as string,
    id: id as string,
    pid: pid as number,
    warnings: warnings as string[],
  };
}

/** A JSON object from a line, or null. */
function parseObject(line: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(line);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** A window dimension as mosh accepts one (1..65535). */
function isDimension(x: unknown): boolean {
  return Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 65535;
}
