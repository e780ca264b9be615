/**
 * Finds the external programs end-to-end tests need (mosh-server, mosh-client,
 * mosh, sshd, ssh, tmux). Missing programs fail the test under CI=true and
 * skip it (with a message) elsewhere.
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

/** Returns the absolute path of an executable named `name`, or null if none is found. */
export async function findBinary(name: string): Promise<string | null> {
  if (name.includes("/")) return await isExecutable(name) ? name : null;
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const dir of [...dirs, ...EXTRA_DIRS]) {
    const path = `${dir}/${name}`;
    if (await isExecutable(path)) {
      return path.startsWith("/") ? path : Deno.realPathSync(path);
    }
  }
  return null;
}

/** Returns true if `path` is a regular file with an execute bit. */
async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Returns true if program `name` is installed. If not: throws under CI=true
 * (the test fails), otherwise prints a skip message and returns false.
 */
export async function requireBinary(name: string): Promise<boolean> {
  if (await findBinary(name) !== null) return true;
  const message = `tmosh: test needs '${name}', which is not installed ` +
    `(Debian: apt-get install mosh openssh-server openssh-client tmux)`;
  if (Deno.env.get("CI") === "true") throw new Error(message);
  console.log(`SKIP: ${message}`);
  return false;
}
