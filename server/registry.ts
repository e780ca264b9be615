/**
 * The per-user session registry (docs/architecture.md §8): each `tmosh serve`
 * session keeps a record `ID.json` (0600) in `$XDG_STATE_HOME/tmosh/` (else
 * `~/.local/state/tmosh/`), a 0700 directory that must belong to the user,
 * and listens on its control socket `ID.sock` beside it (under
 * `/tmp/tmosh-UID/` when that path would not fit a Unix socket address).
 * Records are replaced atomically (write, then rename), never read or removed
 * through a symlink, and hold no key. A record whose process has gone (the
 * server was SIGKILLed) is stale and removed when the registry is read.
 * @module
 */

import { startTime } from "./owner.ts";

/** Bytes of a Unix socket address's path, NUL included (sun_path: 104 on macOS and the BSDs, 108 on Linux). */
export const SUN_PATH_MAX = 104;

/** Mode of the registry's directories. */
export const DIR_MODE = 0o700;

/** Mode of records and control sockets. */
export const FILE_MODE = 0o600;

/** Characters of a session id (RFC 4648 base32, lower case). */
const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** Length of a session id: 8 base32 characters, 40 random bits. */
export const ID_LENGTH = 8;

/** What `--name` accepts: a letter or digit, then up to 31 letters, digits, `.`, `_` or `-`. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/** A temporary record left by a writer that died is removed once it is this old, ms. */
const ORPHAN_TMP_MS = 60_000;

/** One session as the registry records it (and the control socket's `status` reports it). */
export interface SessionRecord {
  /** Short random id, {@linkcode ID_LENGTH} base32 characters. */
  id: string;
  /** The `--name` given to `tmosh serve`, or null. */
  name: string | null;
  /** The server process. */
  pid: number;
  /** The process's start time (/proc/PID/stat field 22): a reused pid does not pass for the session. */
  pidStart: string | null;
  /** The UDP port the session listens on. */
  port: number;
  /** Path of the control socket. */
  socket: string;
  /** When the session started (ISO 8601). */
  created: string;
  /** When a client was last heard from (ISO 8601), or null if never. */
  lastHeard: string | null;
  /** Whether a client has been heard from recently (server/registration.ts DETACHED_AFTER_MS). */
  attached: boolean;
  /** The client's address as `IP:PORT` (the last one heard), or null. */
  client: string | null;
  /** The program the session runs (its argv; a login shell as its path). */
  command: string[];
  /** Window width, columns. */
  cols: number;
  /** Window height, rows. */
  rows: number;
  /** The tmosh version of the server. */
  version: string;
}

/** The registry directory: `$XDG_STATE_HOME/tmosh` (an absolute XDG_STATE_HOME only, as the XDG spec says), else `$HOME/.local/state/tmosh`. */
export function registryDir(env: Record<string, string | undefined>): string {
  const xdg = env.XDG_STATE_HOME;
  if (xdg !== undefined && xdg.startsWith("/")) {
    return `${xdg.replace(/\/+$/, "")}/tmosh`;
  }
  const home = env.HOME;
  if (home === undefined || !home.startsWith("/")) {
    throw new Error(
      "tmosh: neither XDG_STATE_HOME nor HOME is an absolute path; set one so tmosh can keep its session registry",
    );
  }
  return `${home.replace(/\/+$/, "")}/.local/state/tmosh`;
}

/** Null if `name` is a valid session name, else why not (one line). */
export function checkSessionName(name: string): string | null {
  if (NAME_PATTERN.test(name)) return null;
  return `tmosh: bad session name ${
    JSON.stringify(name)
  }; use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit`;
}

/** A fresh random session id. */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(ID_LENGTH));
  return Array.from(bytes, (b) => ID_ALPHABET[b & 31]).join("");
}

/**
 * Refuses a directory that is a symlink, not a directory, someone else's or
 * writable by group or others (an error naming the fix); tightens a looser
 * mode of our own to 0700. Returns false if it does not exist.
 */
export function checkPrivateDir(path: string): boolean {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw new Error(
      `tmosh: cannot inspect ${path}: ${
        reason(err)
      }; fix its permissions or set XDG_STATE_HOME`,
    );
  }
  if (info.isSymlink) {
    throw new Error(
      `tmosh: ${path} is a symbolic link; remove it (tmosh keeps its sessions in a private directory)`,
    );
  }
  if (!info.isDirectory) {
    throw new Error(`tmosh: ${path} is not a directory; remove it`);
  }
  const uid = Deno.uid();
  if (info.uid !== null && uid !== null && info.uid !== uid) {
    throw new Error(
      `tmosh: ${path} belongs to uid ${info.uid}, not to you (uid ${uid}); remove it or set XDG_STATE_HOME`,
    );
  }
  const mode = (info.mode ?? 0) & 0o777;
  if ((mode & 0o022) !== 0) {
    throw new Error(
      `tmosh: ${path} is writable by others (mode ${
        mode.toString(8)
      }); check its contents, then run chmod 700 ${path}`,
    );
  }
  if (mode !== DIR_MODE) Deno.chmodSync(path, DIR_MODE);
  return true;
}

/** Creates `path` (and missing parents) 0700 unless it exists, then checks it as {@linkcode checkPrivateDir}. */
export function ensurePrivateDir(path: string): void {
  if (checkPrivateDir(path)) return;
  try {
    Deno.mkdirSync(path, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new Error(
      `tmosh: cannot create ${path}: ${
        reason(err)
      }; set XDG_STATE_HOME to a writable directory`,
    );
  }
  checkPrivateDir(path);
}

/** The short directory for control sockets whose registry path is too long: `/tmp/tmosh-UID`. */
export function fallbackSocketDir(): string {
  return `/tmp/tmosh-${Deno.uid() ?? "user"}`;
}

/** Whether `path` fits a Unix socket address (with its NUL). */
export function fitsSunPath(path: string): boolean {
  return new TextEncoder().encode(path).length < SUN_PATH_MAX;
}

/** Where session `id`'s control socket goes: in `dir` when the path fits, else in {@linkcode fallbackSocketDir}. */
export function socketPath(dir: string, id: string): string {
  const inDir = `${dir}/${id}.sock`;
  return fitsSunPath(inDir) ? inDir : `${fallbackSocketDir()}/${id}.sock`;
}

/** Writes (replaces) the record atomically: a 0600 temporary file created anew, then renamed. */
export function writeRecord(dir: string, record: SessionRecord): void {
  const tmp = `${dir}/${record.id}.json.tmp`;
  removeQuietly(tmp);
  const file = Deno.openSync(tmp, {
    write: true,
    createNew: true, // O_EXCL: never through a symlink
    mode: FILE_MODE,
  });
  try {
    const bytes = new TextEncoder().encode(`${JSON.stringify(record)}\n`);
    let off = 0;
    while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
  } finally {
    file.close();
  }
  Deno.renameSync(tmp, `${dir}/${record.id}.json`);
}

/** Whether a record with this id exists (any kind of file). */
export function recordExists(dir: string, id: string): boolean {
  try {
    Deno.lstatSync(`${dir}/${id}.json`);
    return true;
  } catch {
    return false;
  }
}

/** Removes session `id`'s record, temporary record and control socket (only a socket, at one of its two allowed paths). */
export function removeSession(dir: string, id: string): void {
  removeQuietly(`${dir}/${id}.json`);
  removeQuietly(`${dir}/${id}.json.tmp`);
  for (
    const path of [`${dir}/${id}.sock`, `${fallbackSocketDir()}/${id}.sock`]
  ) {
    try {
      if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
    } catch {
      // not there
    }
  }
}

/** Whether the record's process still runs (same pid, same start time). */
export function isLive(record: SessionRecord): boolean {
  const started = startTime(record.pid);
  return started !== null &&
    (record.pidStart === null || started === record.pidStart);
}

/** The registry's records of live sessions, oldest first; stale records and orphaned temporary files are removed. */
export function readRecords(dir: string): SessionRecord[] {
  const records: SessionRecord[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw new Error(
      `tmosh: cannot read ${dir}: ${
        reason(err)
      }; fix its permissions or set XDG_STATE_HOME`,
    );
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.name.endsWith(".json.tmp")) {
      removeOrphanTmp(dir, entry.name);
      continue;
    }
    const m = /^([a-z2-7]{8})\.json$/.exec(entry.name);
    if (m === null || !entry.isFile) continue; // isFile is false for a symlink
    const record = parseRecord(readQuietly(path));
    if (record === null || record.id !== m[1]) continue; // being replaced, or not ours
    if (isLive(record)) records.push(record);
    else removeSession(dir, record.id);
  }
  return records.sort((a, b) =>
    a.created < b.created ? -1 : a.created > b.created ? 1 : 0
  );
}

/** A record from its JSON text, or null when it is not a well-formed record. */
export function parseRecord(text: string | null): SessionRecord | null {
  if (text === null) return null;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const isInt = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  const isStr = (x: unknown) => typeof x === "string";
  const ok = isStr(v.id) && new RegExp(`^[a-z2-7]{${ID_LENGTH}}$`).test(
    v.id as string,
  ) &&
    (v.name === null || isStr(v.name)) && isInt(v.pid) &&
    (v.pidStart === null || isStr(v.pidStart)) && isInt(v.port) &&
    isStr(v.socket) && isStr(v.created) &&
    (v.lastHeard === null || isStr(v.lastHeard)) &&
    typeof v.attached === "boolean" && (v.client === null || isStr(v.client)) &&
    Array.isArray(v.command) && v.command.every(isStr) && isInt(v.cols) &&
    isInt(v.rows) && isStr(v.version);
  return ok ? v as unknown as SessionRecord : null;
}

/** Removes `name` (a temporary record) once it is old enough to be a dead writer's leftover. */
function removeOrphanTmp(dir: string, name: string): void {
  const path = `${dir}/${name}`;
  try {
    const info = Deno.lstatSync(path);
    const age = Date.now() - (info.mtime?.getTime() ?? 0);
    if (age >= ORPHAN_TMP_MS) Deno.removeSync(path);
  } catch {
    // gone meanwhile
  }
}

/** An OS error's reason alone: Deno's " (os error N)" and ": call 'path'" dropped (the messages name the path). */
export function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/ \(os error \d+\)/, "").replace(/: \w+ '.*'$/, "");
}

/** A file's text, or null if it cannot be read. */
function readQuietly(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** Removes `path` (never what a symlink points to), ignoring its absence. */
function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // not there
  }
}
