/**
 * The self-install's remote scripts (client/bootstrap/install_script.ts) run
 * here under the real /bin/sh with a scratch HOME: what the finder runs or
 * reports, and that the installer puts a payload in place only when it is
 * whole (truncated, wrong size, wrong SHA-256, unwritable: nothing installed,
 * nothing left behind). The ssh round trip is tests/e2e/install_test.ts.
 * @module
 */

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createTarPacker } from "modern-tar";
import {
  finderWords,
  installerWords,
  parseFinderLine,
  parseInstallerLine,
  type PayloadCheck,
} from "../../client/bootstrap/install_script.ts";
import { TMOSH_VERSION } from "../../version.ts";
import { shellQuote } from "../../client/bootstrap/connect.ts";
import { peers } from "../../harness/require_peer.ts";
import { LOGIN_SHELLS, TRICKY_WORDS } from "../../harness/shell_accounts.ts";

/** Output and status of one script run. */
interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sh -c SCRIPT NAME ARGS...` with HOME and PATH set, `input` on stdin. */
async function runScript(
  words: string[],
  options: { home: string; path?: string; input?: Uint8Array },
): Promise<ScriptRun> {
  const child = new Deno.Command("/bin/sh", {
    args: words.slice(1),
    env: { HOME: options.home, PATH: options.path ?? "/usr/bin:/bin" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  if (options.input) await writer.write(options.input).catch(() => {});
  await writer.close().catch(() => {});
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** gzip of `bytes`. */
async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The check of `bytes` as a payload of `kind`. */
function checkOf(bytes: Uint8Array, kind: "file" | "tar"): PayloadCheck {
  return {
    kind,
    size: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/** Writes an executable sh script. */
async function script(path: string, body: string): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
}

/** Names in `dir` (none when it does not exist). */
async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch {
    // absent
  }
  return names.sort();
}

/** Runs `fn` with a fresh scratch HOME, removed afterwards. */
async function withHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "tmosh_install_home_" });
  try {
    await fn(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** Serve arguments with words every shell would mangle unquoted. */
const ARGS = ["new", "-c", "256", "--", "echo", "it's $HOME", "a  b"];

Deno.test("finder: on a bare host it reports the platform and exits 0", async () => {
  await withHome(async (home) => {
    const run = await runScript(finderWords("auto", ARGS), { home });
    assert.equal(run.code, 0, run.stderr);
    const probe = run.stdout.split("\n").map(parseFinderLine)
      .find((p) => p !== null);
    assert.ok(probe, run.stdout);
    assert.equal(probe.os, "Linux");
    assert.equal(probe.arch, Deno.build.arch);
    assert.match(probe.libc, /^glibc \d+\.\d+$/);
  });
});

Deno.test("finder: --install=never on a bare host exits 127 like a missing command", async () => {
  await withHome(async (home) => {
    const run = await runScript(finderWords("never", ARGS), { home });
    assert.equal(run.code, 127);
    assert.equal(run.stdout, "");
  });
});

Deno.test("finder: runs the installed tmosh with the words intact", async () => {
  await withHome(async (home) => {
    const dir = `${home}/.local/share/tmosh/${TMOSH_VERSION}`;
    await script(`${dir}/tmosh`, `printf '<%s>' "$@"`);
    for (const mode of ["auto", "never"] as const) {
      const run = await runScript(finderWords(mode, ARGS), { home });
      assert.equal(run.code, 0);
      assert.equal(
        run.stdout,
        ["serve", ...ARGS].map((a) => `<${a}>`).join(""),
      );
    }
    const always = await runScript(finderWords("always", ARGS), { home });
    assert.ok(always.stdout.includes("TMOSH INSTALL Linux"), always.stdout);
  });
});

peers(...LOGIN_SHELLS).test(
  "finder: its words arrive intact through bash, dash, zsh and fish",
  async () => {
    await withHome(async (home) => {
      const dir = `${home}/.local/share/tmosh/${TMOSH_VERSION}`;
      await script(`${dir}/tmosh`, `printf '<%s>' "$@"`);
      const command = shellQuote(finderWords("auto", [...TRICKY_WORDS]));
      for (const shell of LOGIN_SHELLS) {
        const out = await new Deno.Command(shell, {
          args: ["-c", command],
          env: { HOME: home, PATH: "/usr/bin:/bin", LANG: "C.UTF-8" },
          clearEnv: true,
          stdin: "null",
        }).output();
        assert.equal(
          new TextDecoder().decode(out.stdout),
          ["serve", ...TRICKY_WORDS].map((a) => `<${a}>`).join(""),
          shell,
        );
      }
    });
  },
);

Deno.test("finder: a tmosh on PATH is used when it is this version (any version with never)", async () => {
  await withHome(async (home) => {
    const bin = `${home}/bin`;
    const path = `${bin}:/usr/bin:/bin`;
    const fake = (version: string) =>
      script(
        `${bin}/tmosh`,
        `if [ "$2" = --version ]; then echo "tmosh ${version} x86_64-unknown-linux-gnu (serve)"; else echo "PATH-TMOSH $*"; fi`,
      );
    await fake(TMOSH_VERSION);
    const same = await runScript(finderWords("auto", ["new"]), { home, path });
    assert.equal(same.stdout.trim(), "PATH-TMOSH serve new");
    await fake("0.0.1");
    const older = await runScript(finderWords("auto", ["new"]), { home, path });
    assert.match(older.stdout, /TMOSH INSTALL Linux/);
    const never = await runScript(finderWords("never", ["new"]), {
      home,
      path,
    });
    assert.equal(never.stdout.trim(), "PATH-TMOSH serve new");
  });
});

Deno.test("installer: a whole file payload lands executable, leftovers of dead installs removed", async () => {
  await withHome(async (home) => {
    const dir = `${home}/.local/share/tmosh/${TMOSH_VERSION}`;
    await Deno.mkdir(dir, { recursive: true });
    // A dead install's temporary files (pid 2^22+1 does not exist).
    await Deno.writeTextFile(`${dir}/.partial-4194305.raw`, "old");
    await Deno.mkdir(`${dir}/.partial-4194305`);
    const body = new TextEncoder().encode("#!/bin/sh\necho installed\n");
    const run = await runScript(installerWords(checkOf(body, "file")), {
      home,
      input: await gzip(body),
    });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = run.stdout.split("\n").map(parseInstallerLine)
      .find((r) => r !== null);
    assert.deepEqual(result, { ok: true, dir });
    assert.deepEqual(await entries(dir), ["tmosh"]);
    assert.equal((await Deno.stat(`${dir}/tmosh`)).mode! & 0o777, 0o755);
    assert.deepEqual(await Deno.readFile(`${dir}/tmosh`), body);
  });
});

Deno.test("installer: a tar payload unpacks with tmosh moved in last", async () => {
  await withHome(async (home) => {
    const { readable, controller } = createTarPacker();
    const tar = new Response(readable).arrayBuffer();
    const files: [string, string, number][] = [
      ["deno", "runtime", 0o755],
      ["tmosh.js", "bundle", 0o644],
      ["tmosh", "#!/bin/sh\n", 0o755],
    ];
    for (const [name, text, mode] of files) {
      const w = controller.add({ name, size: text.length, mode }).getWriter();
      await w.write(new TextEncoder().encode(text));
      await w.close();
    }
    controller.finalize();
    const bytes = new Uint8Array(await tar);
    const run = await runScript(installerWords(checkOf(bytes, "tar")), {
      home,
      input: await gzip(bytes),
    });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const dir = `${home}/.local/share/tmosh/${TMOSH_VERSION}`;
    assert.deepEqual(await entries(dir), ["deno", "tmosh", "tmosh.js"]);
    assert.equal(await Deno.readTextFile(`${dir}/tmosh.js`), "bundle");
    assert.equal((await Deno.stat(`${dir}/deno`)).mode! & 0o111, 0o111);
  });
});

/** Runs the installer with `input` for a payload whose check is `check`; returns the verdict and what is left in the directory. */
async function failedInstall(
  home: string,
  check: PayloadCheck,
  input: Uint8Array,
): Promise<{ stage: string; detail: string; left: string[] }> {
  const run = await runScript(installerWords(check), { home, input });
  assert.equal(run.code, 3, run.stdout + run.stderr);
  const result = run.stdout.split("\n").map(parseInstallerLine)
    .find((r) => r !== null);
  assert.ok(result && !result.ok, run.stdout);
  const left = await entries(`${home}/.local/share/tmosh/${TMOSH_VERSION}`);
  return { stage: result.stage, detail: result.detail, left };
}

Deno.test("installer: truncated, wrong size or wrong SHA-256: nothing installed, nothing left", async () => {
  await withHome(async (home) => {
    const body = new Uint8Array(randomBytes(200_000));
    const gz = await gzip(body);
    const check = checkOf(body, "file");
    const cut = await failedInstall(home, check, gz.subarray(0, gz.length / 2));
    assert.equal(cut.stage, "write");
    assert.match(cut.detail, /unexpected end of file/);
    assert.deepEqual(cut.left, []);
    const size = await failedInstall(home, { ...check, size: 1 }, gz);
    assert.equal(size.stage, "size");
    assert.deepEqual(size.left, []);
    const sum = await failedInstall(
      home,
      { ...check, sha256: "0".repeat(64) },
      gz,
    );
    assert.equal(sum.stage, "sha256");
    assert.deepEqual(sum.left, []);
  });
});

Deno.test("installer: a HOME where nothing can be created fails at mkdir", async () => {
  // /proc/1 refuses new entries even to root (the tests run as root).
  const body = new TextEncoder().encode("x");
  const run = await runScript(installerWords(checkOf(body, "file")), {
    home: "/proc/1",
    input: await gzip(body),
  });
  assert.equal(run.code, 3);
  const result = parseInstallerLine(run.stdout.trim());
  assert.ok(result && !result.ok);
  assert.equal(result.stage, "mkdir");
  assert.match(result.detail, /mkdir: cannot create directory/);
});

Deno.test("finder and installer lines: parsed only when whole", () => {
  assert.deepEqual(parseFinderLine("TMOSH INSTALL Linux aarch64 musl\r"), {
    os: "Linux",
    arch: "aarch64",
    libc: "musl",
  });
  assert.deepEqual(parseFinderLine("TMOSH INSTALL Darwin arm64"), {
    os: "Darwin",
    arch: "arm64",
    libc: "unknown",
  });
  assert.equal(parseFinderLine("TMOSH INSTALL"), null);
  assert.equal(parseFinderLine("echo TMOSH INSTALL Linux x"), null);
  assert.deepEqual(
    parseInstallerLine(
      "TMOSH INSTALL-FAILED write gzip: stdin: unexpected end of file",
    ),
    {
      ok: false,
      stage: "write",
      detail: "gzip: stdin: unexpected end of file",
    },
  );
  assert.equal(parseInstallerLine("TMOSH INSTALLEDX"), null);
});
