/**
 * The detached timeout (docs/wire.md §1.7): a session no client has been
 * heard from for this long ends, as on MOSH_SERVER_NETWORK_TMOUT. Default 7
 * days; `TMOSH_DETACHED_TIMEOUT` (seconds, 0 = never) in the server's
 * environment, or `tmosh serve --detached-timeout=SECONDS`, which wins. When
 * MOSH_SERVER_NETWORK_TMOUT is set too, the smaller of the two applies.
 * Parsing is pure: the environment comes in as an argument and complaints come
 * back as data.
 * @module
 */

/** The variable that sets the detached timeout, seconds (0 = never). */
export const DETACHED_TIMEOUT_VAR = "TMOSH_DETACHED_TIMEOUT";

/** The default detached timeout, s: 7 days. */
export const DEFAULT_DETACHED_TIMEOUT_S = 7 * 24 * 3600;

/** Largest timeout accepted, s (as MOSH_SERVER_NETWORK_TMOUT: 2^31). */
const MAX_TIMEOUT_S = 2 ** 31;

/** The option of `tmosh serve` that sets it. */
export const DETACHED_TIMEOUT_OPTION = "--detached-timeout";

/** The detached timeout in ms (0 = never) and complaints about the variable. */
export interface DetachedTimeout {
  /** The timeout, ms; 0 = never. */
  ms: number;
  /** One-line messages about a value that was ignored. */
  warnings: string[];
}

/**
 * Whole seconds from `text` (digits only, 0..2^31 after clamping), or null
 * when it is not a whole non-negative number.
 */
export function parseSeconds(text: string): number | null {
  if (!/^\s*\+?\d+\s*$/.test(text)) return null;
  return Math.min(Number(text.trim()), MAX_TIMEOUT_S);
}

/**
 * The detached timeout: `optionSeconds` (from `--detached-timeout`) when
 * given, else TMOSH_DETACHED_TIMEOUT when it is a whole number of seconds,
 * else the default (with a warning for a bad value).
 */
export function readDetachedTimeout(
  env: Record<string, string | undefined>,
  optionSeconds: number | null = null,
): DetachedTimeout {
  if (optionSeconds !== null) return { ms: optionSeconds * 1000, warnings: [] };
  const text = env[DETACHED_TIMEOUT_VAR];
  if (text === undefined || text === "") {
    return { ms: DEFAULT_DETACHED_TIMEOUT_S * 1000, warnings: [] };
  }
  const seconds = parseSeconds(text);
  if (seconds === null) {
    return {
      ms: DEFAULT_DETACHED_TIMEOUT_S * 1000,
      warnings: [
        `tmosh: ${DETACHED_TIMEOUT_VAR}=${
          JSON.stringify(text)
        } is not a whole number of seconds; set it to one (0 = never), using ${DEFAULT_DETACHED_TIMEOUT_S} (7 days) meanwhile`,
      ],
    };
  }
  return { ms: seconds * 1000, warnings: [] };
}

/** Which limit ends a session nobody is heard from, and after how long. */
export interface IdleLimit {
  /** ms; 0 = never. */
  ms: number;
  /** The network timeout (MOSH_SERVER_NETWORK_TMOUT) or the detached timeout. */
  kind: "network" | "detached";
}

/** The smaller of the two timeouts that are set (0 = not set); the network one when they are equal. */
export function idleLimit(networkMs: number, detachedMs: number): IdleLimit {
  if (detachedMs > 0 && (networkMs <= 0 || detachedMs < networkMs)) {
    return { ms: detachedMs, kind: "detached" };
  }
  return { ms: Math.max(0, networkMs), kind: "network" };
}

/** The log line when `limit` ended the session after `idleMs` of silence. */
export function idleMessage(limit: IdleLimit, idleMs: number): string {
  const seconds = Math.floor(idleMs / 1000);
  return limit.kind === "network"
    ? `Network idle for ${seconds} seconds.`
    : `No client heard from for ${seconds} seconds (the detached timeout); ending the session.`;
}

/** The lines `tmosh serve --help` prints about it. */
export const DETACHED_TIMEOUT_HELP =
  `  ${DETACHED_TIMEOUT_OPTION}=SECONDS: end the session once no client has been heard from for this long (default ${DEFAULT_DETACHED_TIMEOUT_S}, 7 days; 0 = never; or ${DETACHED_TIMEOUT_VAR}=SECONDS in the environment; with MOSH_SERVER_NETWORK_TMOUT set, the smaller applies)`;
