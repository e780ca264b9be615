/**
 * What the session's child gets: its environment and the login shell (docs/wire.md §1.2, §1.5,
 * §1.6), the locale refusal's message and the message of the day.
 *
 * @module
 */

import { cStringField, libc } from "../libc.ts";

/** Options of {@linkcode buildChildEnv}. */
export interface ChildEnvOptions {
  /** Colour count from `-c` (exactly 256 gives TERM=xterm-256color, anything else xterm). */
  colors: number;
  /** The `-l NAME=VALUE` fallback locale variables, used only if `base` is not UTF-8. */
  locale: Record<string, string>;
}

/** The login shell of the current user and the argv[0] ("-" + basename) that makes it login. */
export interface LoginShell {
  /** Program to run, e.g. `/bin/bash`. */
  path: string;
  /** argv[0], e.g. `-bash`. */
  argv0: string;
}

/** Offset of `pw_shell` in glibc's x86_64 `struct passwd` (5 pointers + 2 × u32 before it). */
const PW_SHELL_OFFSET = 40;

/**
 * Whether the locale described by `env` uses UTF-8.
 *
 * Simplification of mosh's setlocale + nl_langinfo(CODESET) check: the effective LC_CTYPE is
 * the first non-empty of LC_ALL, LC_CTYPE, LANG, and it is UTF-8 when its name says so
 * (`…UTF-8`, `…utf8`, case-insensitive). Unset, "C" and "POSIX" are not UTF-8.
 */
export function isUtf8Locale(env: Record<string, string>): boolean {
  const ctype = env.LC_ALL || env.LC_CTYPE || env.LANG || "";
  return /utf-?8/i.test(ctype);
}

/**
 * The child's environment, derived from `base` (which is not modified) as mosh-server does:
 * TERM from the colour count, NCURSES_NO_UTF8_ACS=1, STY removed; if `base`'s locale is not
 * UTF-8 (see {@linkcode isUtf8Locale}), LANG, LANGUAGE and every LC_* are removed and the
 * `locale` pairs put in instead; the variables TMOSH_UNSET_ENV names (set by the
 * installed launcher for the runtime alone) are removed. Checking that the result is UTF-8 is the caller's job.
 */
export function buildChildEnv(
  base: Record<string, string>,
  options: ChildEnvOptions,
): Record<string, string> {
  const env: Record<string, string> = { ...base };
  if (!isUtf8Locale(env)) {
    for (const name of Object.keys(env)) {
      if (name === "LANG" || name === "LANGUAGE" || name.startsWith("LC_")) {
        delete env[name];
      }
    }
    Object.assign(env, options.locale);
  }
  env.TERM = options.colors === 256 ? "xterm-256color" : "xterm";
  env.NCURSES_NO_UTF8_ACS = "1";
  delete env.STY;
  // What the installed launcher set for the runtime alone (install_payload.ts).
  for (const name of (env.TMOSH_UNSET_ENV ?? "").split(",")) delete env[name];
  delete env.TMOSH_UNSET_ENV;
  return env;
}

/**
 * The user's login shell: the passwd entry's shell (getpwuid(getuid()) through FFI), else
 * $SHELL, else /bin/sh; argv0 is "-" + its basename.
 *
 * Note: mosh-server prefers $SHELL over the passwd entry; under sshd both are the same.
 */
export function loginShell(): LoginShell {
  let path = "";
  try {
    const c = libc();
    const pw = c.getpwuid(c.getuid());
    if (pw !== null) path = cStringField(pw, PW_SHELL_OFFSET) ?? "";
  } catch {
    // No FFI (or not glibc): fall back to $SHELL.
  }
  if (path === "") path = Deno.env.get("SHELL") ?? "";
  if (path === "") path = "/bin/sh";
  return { path, argv0: "-" + path.slice(path.lastIndexOf("/") + 1) };
}

/** The message of mosh-server's locale refusal, with the variables that decided it. */
export function localeMessage(
  env: Record<string, string>,
  locale: Record<string, string>,
): string {
  return "tmosh serve needs a UTF-8 native locale to run.\n\n" +
    `Unfortunately, the local environment (${ctypeOf(env)}) is not UTF-8,\n` +
    `and neither is the client-supplied environment (${ctypeOf(locale)}).\n` +
    "Set LANG (e.g. LANG=C.UTF-8) on the server, or pass -l LANG=<a UTF-8 locale>.\n";
}

/** Which variable decides LC_CTYPE, as NAME=VALUE (or a note that none is set). */
function ctypeOf(env: Record<string, string>): string {
  for (const name of ["LC_ALL", "LC_CTYPE", "LANG"]) {
    if (env[name]) return `${name}=${env[name]}`;
  }
  return "no LC_ALL, LC_CTYPE or LANG";
}

/** The message of the day, as a login shows it, unless ~/.hushlogin exists (mosh: print_motd). */
export function readMotd(home: string | undefined): string | undefined {
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return null;
    }
  };
  if (home !== undefined) {
    try {
      Deno.statSync(`${home}/.hushlogin`);
      return undefined;
    } catch {
      // not hushed
    }
  }
  const text = (read("/run/motd.dynamic") ?? read("/var/run/motd.dynamic") ??
    "") + (read("/etc/motd") ?? "");
  return text === "" ? undefined : text;
}
