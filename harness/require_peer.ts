/**
 * Finds the external programs interop and end-to-end tests need (mosh-server,
 * mosh-client, mosh, sshd, ssh, tmux, vi, zsh, fish, useradd), and registers
 * such tests with {@linkcode peers}: outside CI a test whose peer is missing is reported
 * as ignored (with a one-line message); with CI=true it runs and fails,
 * naming the missing program.
 *
 * For trying that out, programs named in TMOSH_TEST_HIDE_PEERS
 * (comma-separated) count as not installed.
 * @module
 */

/** Directories searched after $PATH (sshd lives in sbin, often not on a user's PATH). */
const EXTRA_DIRS = [
  "/usr/local/sbin",
  "/usr/sbin",
  "/sbin",
  "/usr/local/bin",
  "/usr/bin",
  "/bin",
];

/** Test-only: comma-separated programs that {@linkcode findBinary} reports as missing. */
export const HIDE_PEERS_VAR = "TMOSH_TEST_HIDE_PEERS";

/** Debian package of each peer, for the install hint. */
const PACKAGES: Record<string, string> = {
  "mosh": "mosh",
  "mosh-server": "mosh",
  "mosh-client": "mosh",
  "sshd": "openssh-server",
  "ssh": "openssh-client",
  "tmux": "tmux",
  "vi": "vim-tiny",
  "zsh": "zsh",
  "fish": "fish",
  "useradd": "passwd",
  "usermod": "passwd",
};

/** Returns the absolute path of an executable named `name`, or null if none is found. */
export function findBinarySync(name: string): string | null {
  const hidden = (Deno.env.get(HIDE_PEERS_VAR) ?? "").split(",");
  if (hidden.includes(name)) return null;
  if (name.includes("/")) return isExecutable(name) ? name : null;
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const dir of [...dirs, ...EXTRA_DIRS]) {
    const path = `${dir}/${name}`;
    if (isExecutable(path)) {
      return path.startsWith("/") ? path : Deno.realPathSync(path);
    }
  }
  return null;
}

/** Returns the absolute path of an executable named `name`, or null if none is found. */
export function findBinary(name: string): Promise<string | null> {
  return Promise.resolve(findBinarySync(name));
}

/** Returns true if `path` is a regular file with an execute bit. */
function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** The programs among `names` that are not installed. */
export function missingPeers(...names: string[]): string[] {
  return names.filter((name) => findBinarySync(name) === null);
}

/** One line naming the missing programs and how to install them. */
export function missingPeersMessage(missing: string[]): string {
  const packages = [
    ...new Set(missing.map((name) => PACKAGES[name] ?? name)),
  ];
  const programs = missing.map((name) => `'${name}'`).join(", ");
  return `tmosh test: needs ${programs}, not installed ` +
    `(Debian: apt-get install -y ${packages.join(" ")})`;
}

/** Throws an error naming the missing programs if any of `names` is not installed. */
export function requirePeers(...names: string[]): void {
  const missing = missingPeers(...names);
  if (missing.length > 0) throw new Error(missingPeersMessage(missing));
}

/**
 * The definition {@linkcode peers} registers for a test. With a peer missing: outside
 * CI (`ci` false) the test is ignored and a line says why; under CI the test
 * runs and fails at once with {@linkcode missingPeersMessage}.
 */
export function peerTestDefinition(
  name: string,
  peers: string[],
  fn: (t: Deno.TestContext) => void | Promise<void>,
  ci: boolean = Deno.env.get("CI") === "true",
): Deno.TestDefinition {
  const missing = missingPeers(...peers);
  if (missing.length > 0 && !ci) {
    console.log(`IGNORED ${name}: ${missingPeersMessage(missing)}`);
    return { name, ignore: true, fn };
  }
  return {
    name,
    async fn(t) {
      requirePeers(...peers);
      await fn(t);
    },
  };
}

/** Registers tests that need a set of external programs; see {@linkcode peers}. */
export interface PeerTests {
  /** Registers a test like `Deno.test(name, fn)` (see {@linkcode peerTestDefinition}). */
  test(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void;
}

/**
 * Tests needing the programs `names`, registered with `.test(name, fn)`:
 * `const stock = peers("mosh-server"); stock.test("...", async () => {...});`.
 */
export function peers(...names: string[]): PeerTests {
  return {
    test(name, fn) {
      Deno.test(peerTestDefinition(name, names, fn));
    },
  };
}
