/**
 * The two sh scripts `tmosh connect` runs on a host for the self-install
 * (docs/architecture.md §9): the finder, which starts the installed tmosh
 * (or a tmosh of this version on PATH) or else reports what the host is, and
 * the installer, which receives the compressed payload on stdin and puts it in
 * place only once it is whole. Both go through the account's login shell as
 * `sh -c SCRIPT NAME ARGS...` (the caller quotes the words with connect.ts's
 * `shellQuote`), so they are plain POSIX sh whatever that shell is. Also the
 * parsing of their lines.
 * @module
 */

import { TMOSH_VERSION } from "../../version.ts";
import { FINDER_PID_VAR } from "../../self_command.ts";
import {
  type ConnectOptions,
  DEFAULT_SERVER,
  type InstallMode,
} from "./connect_args.ts";

/** Where the install lives under the account's home (`<this>/<version>/tmosh`). */
export const INSTALL_ROOT = ".local/share/tmosh";

/** The finder's line when it found no tmosh to run: `TMOSH INSTALL <os> <arch> <libc...>`. */
const PROBE_LINE = /^TMOSH INSTALL (\S+) (\S+)(?: (.*?))?\s*$/;

/** The installer's line when done: `TMOSH INSTALLED <dir>`. */
const INSTALLED_LINE = /^TMOSH INSTALLED (.+?)\s*$/;

/** The installer's line when it gave up: `TMOSH INSTALL-FAILED <stage> <detail>`. */
const FAILED_LINE = /^TMOSH INSTALL-FAILED (\S+) ?(.*?)\s*$/;

/**
 * The sh function that starts tmosh's server: `tmosh_serve COMMAND...` runs
 * COMMAND in the background (stdin kept, SIGUSR1 to this shell's pid in
 * FINDER_PID_VAR) and waits. A `serve new` front that finds no daemon of the
 * user becomes it (server/user_daemon.ts) and signals once MOSH CONNECT is
 * out: the shell exits 0 and ssh ends while the front serves on. Otherwise
 * the shell exits with the command's status, as `exec` would have.
 */
export const SERVE_FUNCTION =
  `tmosh_serve() { trap 'exit 0' USR1; ${FINDER_PID_VAR}=$$ "$@" 0<&0 & wait $!; exit $?; }`;

/** The argv that runs `argv` as the finder starts tmosh's server (SERVE_FUNCTION). */
export function serveThroughFinder(argv: readonly string[]): string[] {
  return [
    "sh",
    "-c",
    `${SERVE_FUNCTION}\ntmosh_serve "$@"`,
    "tmosh-serve",
    ...argv,
  ];
}

/**
 * The finder. Arguments: VERSION MODE SERVE-ARGS... Runs (SERVE_FUNCTION)
 * `~/.local/share/tmosh/VERSION/tmosh serve ARGS`, else a `tmosh` on PATH
 * whose `serve --version` is this version (any tmosh in `never` mode);
 * otherwise prints `TMOSH INSTALL <uname -s> <uname -m> <libc>` and exits 0
 * (in `never` mode it exits 127 instead, as the shell would for a missing
 * command).
 */
const FINDER = `v=$1 m=$2; shift 2
${SERVE_FUNCTION}
d=$HOME/${INSTALL_ROOT}/$v
if [ "$m" != always ]; then
  if [ -x "$d/tmosh" ]; then tmosh_serve "$d/tmosh" serve "$@"; fi
  if command -v tmosh >/dev/null 2>&1; then
    case $m:$(tmosh serve --version 2>/dev/null) in
      never:*|"auto:tmosh $v "*) tmosh_serve tmosh serve "$@";;
    esac
  fi
fi
if [ "$m" = never ]; then exit 127; fi
c=$(getconf GNU_LIBC_VERSION 2>/dev/null) || c=
if [ -z "$c" ]; then
  case $(ldd --version 2>&1) in *musl*) c=musl;; *) c=unknown;; esac
fi
printf '\\nTMOSH INSTALL %s %s %s\\n' "$(uname -s)" "$(uname -m)" "$c"
`;

/**
 * The installer. Arguments: VERSION KIND SIZE SHA256, the gzip stream on
 * stdin. KIND `file` is the executable itself, `tar` a tar of the files of
 * the install directory (`tmosh` last to be moved in: it is what the finder
 * looks for). Leftovers of installs whose process is gone are removed first;
 * this one's temporary files go on any exit. Prints `TMOSH INSTALLED <dir>`
 * or `TMOSH INSTALL-FAILED <stage> <detail>` (exit 3).
 */
const INSTALLER = `v=$1 k=$2 n=$3 s=$4
fail() { printf '\\nTMOSH INSTALL-FAILED %s %s\\n' "$1" "$(printf '%s' "$2" | tr '\\n' ' ')"; exit 3; }
d=$HOME/${INSTALL_ROOT}/$v
e=$(mkdir -p "$d" 2>&1) || fail mkdir "$e"
for f in "$d"/.partial-*; do
  [ -e "$f" ] || continue
  p=\${f##*-}; p=\${p%.raw}
  kill -0 "$p" 2>/dev/null || rm -rf "$f"
done
t=$d/.partial-$$
trap 'rm -rf "$t" "$t.raw"' EXIT
trap 'exit 4' HUP INT TERM PIPE
e=$( { gzip -dc > "$t.raw"; } 2>&1 ) || fail write "$e"
g=$(wc -c < "$t.raw" | tr -d ' ')
[ "$g" = "$n" ] || fail size "$g bytes of $n"
if command -v sha256sum >/dev/null 2>&1; then h=$(sha256sum < "$t.raw")
elif command -v shasum >/dev/null 2>&1; then h=$(shasum -a 256 < "$t.raw")
else fail nosha "no sha256sum or shasum"; fi
[ "\${h%% *}" = "$s" ] || fail sha256 "\${h%% *}"
if [ "$k" = tar ]; then
  e=$(mkdir "$t" 2>&1 && tar -xf "$t.raw" -C "$t" 2>&1) || fail unpack "$e"
  for f in "$t"/*; do
    [ "\${f##*/}" = tmosh ] && continue
    e=$(mv -f "$f" "$d/" 2>&1) || fail move "$e"
  done
  e=$(mv -f "$t/tmosh" "$d/tmosh" 2>&1) || fail move "$e"
else
  e=$(chmod 755 "$t.raw" 2>&1 && mv -f "$t.raw" "$d/tmosh" 2>&1) || fail move "$e"
fi
printf '\\nTMOSH INSTALLED %s\\n' "$d"
`;

/** The words of the remote command that runs the server through the finder: `sh -c FINDER tmosh VERSION MODE ARGS...`. */
export function finderWords(mode: InstallMode, serveArgs: string[]): string[] {
  return ["sh", "-c", FINDER, "tmosh", TMOSH_VERSION, mode, ...serveArgs];
}

/** What the installer needs to check the upload: its kind, uncompressed size and SHA-256 (hex). */
export interface PayloadCheck {
  /** `file`: the executable; `tar`: the install directory's files. */
  kind: "file" | "tar";
  /** Uncompressed size in bytes. */
  size: number;
  /** SHA-256 of the uncompressed bytes, lowercase hex. */
  sha256: string;
}

/** The words of the remote command that receives and installs the payload (stdin: gzip). */
export function installerWords(check: PayloadCheck): string[] {
  return [
    "sh",
    "-c",
    INSTALLER,
    "tmosh-install",
    TMOSH_VERSION,
    check.kind,
    String(check.size),
    check.sha256,
  ];
}

/** What the finder reported about a host without tmosh. */
export interface HostProbe {
  /** `uname -s`, e.g. Linux, Darwin. */
  os: string;
  /** `uname -m`, e.g. x86_64, aarch64, arm64. */
  arch: string;
  /** `glibc 2.36`, `musl` or `unknown`. */
  libc: string;
}

/** Parses a finder line: the probe, or null for any other line. */
export function parseFinderLine(line: string): HostProbe | null {
  const m = PROBE_LINE.exec(line.replace(/\r+$/, ""));
  if (m === null) return null;
  return { os: m[1], arch: m[2], libc: m[3] ?? "unknown" };
}

/** The installer's verdict: installed (where) or failed (stage, detail). */
export type InstallResult =
  | { ok: true; dir: string }
  | { ok: false; stage: string; detail: string };

/** Parses an installer line, or null for any other line. */
export function parseInstallerLine(line: string): InstallResult | null {
  const text = line.replace(/\r+$/, "");
  const done = INSTALLED_LINE.exec(text);
  if (done !== null) return { ok: true, dir: done[1] };
  const failed = FAILED_LINE.exec(text);
  if (failed === null) return null;
  return { ok: false, stage: failed[1], detail: failed[2] };
}

/**
 * The finder mode for a session, or null when the server command is the
 * user's own (`--server` other than the default) or runs locally (`--local`):
 * then it runs as given, and nothing is installed.
 */
export function installMode(
  options: Pick<ConnectOptions, "server" | "local" | "install">,
): InstallMode | null {
  if (options.local || options.server !== DEFAULT_SERVER) return null;
  return options.install ?? "auto";
}

/** Watches the bootstrap output for the finder's lines; passes every other line on. */
export class FinderWatch {
  /** The host's description when the finder found no tmosh to run, else null. */
  probe: HostProbe | null = null;
  readonly #echo: (line: string) => void;

  /** Passes the lines that are not the finder's to `echo`. */
  constructor(echo: (line: string) => void) {
    this.#echo = echo;
  }

  /** Takes one output line (for runAndScan's echo). */
  readonly echo = (line: string): void => {
    const found = parseFinderLine(line);
    if (found !== null) this.probe = found;
    else this.#echo(line);
  };
}
