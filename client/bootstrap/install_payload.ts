/**
 * What `tmosh connect` uploads to a host without tmosh (docs/architecture.md
 * §9.2), gzip-compressed once and kept in `~/.cache/tmosh/` so that installs
 * on further hosts send the same file without compressing again:
 *
 * - a `deno compile`d tmosh: the executable itself when the host's platform is
 *   this one, else `tmosh-<target>` beside it (the layout `deno task compile`
 *   writes into dist/);
 * - tmosh run from source (`deno run main.ts`): the self-contained form, a tar
 *   of the Deno runtime running us, main.ts bundled into one file with its npm
 *   packages (`deno bundle`), a deno.json beside it (the unstable UDP API,
 *   no lock file) and a `tmosh` launcher script; nothing is fetched on the host.
 *   A host of another platform gets `dist/tmosh-<target>` if it was compiled.
 *   The same form is re-sent when tmosh runs from such an install.
 * @module
 */

import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTarPacker } from "modern-tar";
import { V8_FLAGS_ARG } from "../../self_command.ts";
import { TMOSH_VERSION } from "../../version.ts";
import type { HostProbe, PayloadCheck } from "./install_script.ts";

/** A payload ready to send: the gzip file and what the host checks after unpacking it. */
export interface Payload extends PayloadCheck {
  /** The gzip-compressed payload. */
  path: string;
  /** Its size, bytes (what goes over the wire). */
  compressedSize: number;
  /** Remove `path` after use (it is not in the cache). */
  temporary: boolean;
}

/** Oldest glibc the server runs on (posix_spawn_file_actions_addclosefrom_np, libc.ts). */
const MIN_GLIBC = [2, 34];

/** Rust target triple of a probed host (`x86_64-unknown-linux-gnu`, ...). */
export function hostTarget(probe: HostProbe): string {
  const arch = /^(x86_64|amd64)$/i.test(probe.arch)
    ? "x86_64"
    : /^(aarch64|arm64)$/i.test(probe.arch)
    ? "aarch64"
    : probe.arch;
  if (probe.os === "Darwin") return `${arch}-apple-darwin`;
  if (probe.os === "Linux") {
    return `${arch}-unknown-linux-${probe.libc === "musl" ? "musl" : "gnu"}`;
  }
  return `${arch}-${probe.os.toLowerCase()}`;
}

/** Why a Linux host's glibc is too old for the server, or null when it is not (or unknown). */
export function glibcTooOld(probe: HostProbe, host: string): string | null {
  const m = /^glibc (\d+)\.(\d+)/.exec(probe.libc);
  if (probe.os !== "Linux" || m === null) return null;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (
    major > MIN_GLIBC[0] || (major === MIN_GLIBC[0] && minor >= MIN_GLIBC[1])
  ) {
    return null;
  }
  return `tmosh: ${host} has glibc ${major}.${minor}; tmosh's server needs glibc ${
    MIN_GLIBC.join(".")
  } or later; install it there yourself and pass --server=PATH`;
}

/** The running program: compiled, from source (this file's tree), or from an installed bundle. */
function runningForm(): "compiled" | "source" | "bundle" {
  const exe = basename(Deno.execPath());
  if (exe !== "deno" && exe !== "deno.exe") return "compiled";
  return import.meta.url.endsWith("/client/bootstrap/install_payload.ts")
    ? "source"
    : "bundle";
}

/** Chooses and prepares the payload for a host of `target`; throws a one-line error when there is none. */
export async function preparePayload(
  target: string,
  context: { host: string; platform: string; env: Record<string, string> },
): Promise<Payload> {
  const form = runningForm();
  const exe = Deno.execPath();
  const cache = await cacheDir(context.env);
  if (target === Deno.build.target) {
    if (form === "compiled") return await filePayload(exe, cache);
    return await sourcePayload(form, cache);
  }
  const dir = form === "compiled"
    ? dirname(exe)
    : form === "source"
    ? fileURLToPath(new URL("../../dist/", import.meta.url))
    : dirname(fileURLToPath(import.meta.url));
  const candidate = join(dir, `tmosh-${target}`);
  if (await isFile(candidate)) return await filePayload(candidate, cache);
  throw new Error(
    `tmosh: no tmosh for ${context.host} (${context.platform}): ${candidate} is needed (deno task compile ${target} builds it into dist/); or install tmosh there and pass --server=PATH`,
  );
}

/** `$XDG_CACHE_HOME/tmosh` or `~/.cache/tmosh` (0700), or null when there is no usable one. */
async function cacheDir(env: Record<string, string>): Promise<string | null> {
  const base = env.XDG_CACHE_HOME?.startsWith("/")
    ? env.XDG_CACHE_HOME
    : env.HOME
    ? join(env.HOME, ".cache")
    : null;
  if (base === null) return null;
  const dir = join(base, "tmosh");
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
    return dir;
  } catch {
    return null;
  }
}

/** One file (the executable) as the payload. */
async function filePayload(
  path: string,
  cache: string | null,
): Promise<Payload> {
  const info = await Deno.stat(path);
  const key = digest(
    `file\0${path}\0${info.size}\0${info.mtime?.getTime()}\0${TMOSH_VERSION}`,
  );
  return await cached(cache, { key, kind: "file" }, async () => {
    const file = await Deno.open(path);
    return file.readable;
  });
}

/** The self-contained form: runtime, bundle, deno.json and launcher in a tar. */
async function sourcePayload(
  form: "source" | "bundle",
  cache: string | null,
): Promise<Payload> {
  const deno = Deno.execPath();
  const bundle = form === "source"
    ? await bundleMain()
    : await Deno.readFile(fileURLToPath(import.meta.url));
  const files: [string, Uint8Array][] = [
    ["tmosh.js", bundle],
    ["deno.json", new TextEncoder().encode(INSTALLED_CONFIG)],
  ];
  const info = await Deno.stat(deno);
  const hash = createHash("sha256");
  for (const [name, body] of files) hash.update(name).update(body);
  hash.update(LAUNCHER).update(
    `${Deno.version.deno}\0${info.size}\0${info.mtime?.getTime()}`,
  );
  const key = hash.digest("hex").slice(0, 24);
  return await cached(cache, { key, kind: "tar" }, () => {
    const { readable, controller } = createTarPacker();
    const write = async () => {
      // `deno` first, `tmosh` last: the installer moves `tmosh` in last.
      const runtime = await Deno.open(deno);
      await runtime.readable.pipeTo(
        controller.add({ name: "deno", size: info.size, mode: 0o755 }),
      );
      for (const [name, body] of files) {
        await writeEntry(controller.add({ name, size: body.length }), body);
      }
      const launcher = new TextEncoder().encode(LAUNCHER);
      await writeEntry(
        controller.add({ name: "tmosh", size: launcher.length, mode: 0o755 }),
        launcher,
      );
      controller.finalize();
    };
    write().catch((e) => controller.error(e));
    return Promise.resolve(readable);
  });
}

/** The installed form's deno.json: the UDP API on, no lock file, no node_modules. */
const INSTALLED_CONFIG = JSON.stringify({
  unstable: ["net"],
  lock: false,
  nodeModulesDir: "none",
}) + "\n";

/** The installed form's `tmosh`: runs the bundle with the runtime beside it, never reaching the network. */
const LAUNCHER = `#!/bin/sh
# tmosh ${TMOSH_VERSION}, installed by tmosh connect: the Deno runtime and tmosh bundled.
p=$(readlink -f "$0" 2>/dev/null) || p=$0
d=\${p%/*}
# No update check (no network); the session's shell does not inherit the setting.
if [ -z "\${DENO_NO_UPDATE_CHECK+x}" ]; then
  DENO_NO_UPDATE_CHECK=1 TMOSH_UNSET_ENV=DENO_NO_UPDATE_CHECK
  export DENO_NO_UPDATE_CHECK TMOSH_UNSET_ENV
fi
exec "$d/deno" run -A --quiet --no-prompt --no-remote --no-npm ${V8_FLAGS_ARG} "$d/tmosh.js" "$@"
`;

/** Bundles main.ts into one file (its npm packages inside); throws a one-line error on failure. */
async function bundleMain(): Promise<Uint8Array> {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  // @xterm/headless 6.0.0's package.json names a "module" file it does not ship.
  const imports = {
    ...config.imports,
    "@xterm/headless": `${
      config.imports["@xterm/headless"]
    }/lib-headless/xterm-headless.js`,
  };
  const dir = await Deno.makeTempDir({ prefix: "tmosh_bundle_" });
  try {
    const map = join(dir, "import_map.json");
    await Deno.writeTextFile(map, JSON.stringify({ imports }));
    const out = join(dir, "tmosh.js");
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform=deno",
        `--import-map=${map}`,
        "--output",
        out,
        join(root, "main.ts"),
      ],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!run.success) {
      const why = new TextDecoder().decode(run.stderr).trim().split("\n")
        .find((l) => /error/i.test(l)) ?? `exit ${run.code}`;
      throw new Error(
        `tmosh: could not bundle tmosh for the upload: ${
          why.replace(/\x1b\[[0-9;]*m/g, "")
        }`,
      );
    }
    return await Deno.readFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Writes `body` to a tar entry's stream and closes it. */
async function writeEntry(
  stream: WritableStream<Uint8Array>,
  body: Uint8Array,
): Promise<void> {
  const writer = stream.getWriter();
  await writer.write(body);
  await writer.close();
}

/**
 * The cached payload for `key`, or compresses `source()` into the cache
 * (temporary name, then rename) and records its size and SHA-256 beside it;
 * without a cache directory, into a temporary file.
 */
async function cached(
  cache: string | null,
  spec: { key: string; kind: "file" | "tar" },
  source: () => Promise<ReadableStream<Uint8Array>>,
): Promise<Payload> {
  const name = `payload-${TMOSH_VERSION}-${spec.kind}-${spec.key}`;
  if (cache !== null) {
    try {
      const meta = JSON.parse(
        await Deno.readTextFile(join(cache, `${name}.json`)),
      ) as { size: number; sha256: string };
      const gz = join(cache, `${name}.gz`);
      const compressedSize = (await Deno.stat(gz)).size;
      return {
        ...meta,
        kind: spec.kind,
        path: gz,
        compressedSize,
        temporary: false,
      };
    } catch {
      // not cached yet (or damaged): build it
    }
  }
  const temporary = cache === null;
  const path = temporary
    ? await Deno.makeTempFile({ prefix: "tmosh_payload_", suffix: ".gz" })
    : join(cache, `${name}.gz`);
  const partial = temporary ? path : `${path}.${Deno.pid}.tmp`;
  const hash = createHash("sha256");
  let size = 0;
  try {
    const out = await Deno.open(partial, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    await (await source())
      .pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            hash.update(chunk);
            size += chunk.length;
            controller.enqueue(chunk);
          },
        }),
      )
      .pipeThrough(
        new CompressionStream("gzip") as TransformStream<
          Uint8Array,
          Uint8Array
        >,
      )
      .pipeTo(out.writable);
    const meta = { size, sha256: hash.digest("hex") };
    if (!temporary) {
      await Deno.writeTextFile(
        join(cache, `${name}.json`),
        JSON.stringify(meta),
        { mode: 0o600 },
      );
      await Deno.rename(partial, path);
      await pruneCache(cache, name);
    }
    const compressedSize = (await Deno.stat(path)).size;
    return { ...meta, kind: spec.kind, path, compressedSize, temporary };
  } catch (e) {
    await Deno.remove(partial).catch(() => {});
    throw new Error(
      `tmosh: could not prepare the upload: ${(e as Error).message}`,
    );
  }
}

/**
 * Removes the cache's stale payloads: other versions', and other runtime
 * forms (a new bundle replaces the last), keeping `keep` (`payload-V-KIND-KEY`)
 * and other executables of this version (one per target).
 */
async function pruneCache(cache: string, keep: string): Promise<void> {
  const current = `payload-${TMOSH_VERSION}-`;
  const tar = `${current}tar-`;
  for await (const { name } of Deno.readDir(cache)) {
    if (!/^payload-.*\.(gz|json)$/.test(name) || name.startsWith(`${keep}.`)) {
      continue;
    }
    if (
      !name.startsWith(current) ||
      (keep.startsWith(tar) && name.startsWith(tar))
    ) {
      await Deno.remove(join(cache, name)).catch(() => {});
    }
  }
}

/** Whether `path` is a regular file. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Short SHA-256 hex of a text (cache keys). */
function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 24);
}
