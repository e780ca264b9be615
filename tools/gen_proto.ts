/**
 * Regenerates the TypeScript protobuf code in `tests/data/protobufs/` (test
 * data: `messages.ts` is checked byte for byte against it) from the schemas in
 * `protocol/protobufs/`, using the buf binary and protoc-gen-es installed in
 * node_modules (no network, no Node.js). Run with `deno task proto`.
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PROTO_DIR = join(ROOT, "protocol", "protobufs");
const NPM_STORE = join(ROOT, "node_modules", ".deno");
const PLUGIN_BIN = join(
  ROOT,
  "node_modules",
  "@bufbuild",
  "protoc-gen-es",
  "bin",
  "protoc-gen-es",
);

/** Quotes a string for a POSIX shell. */
function shellQuote(s: string): string {
  return "'" + s.replaceAll("'", "'\\''") + "'";
}

/** Returns whether a path exists. */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Finds the native buf binary that npm's optional dependency installed. */
function findBufBinary(): string | null {
  const os = Deno.build.os === "darwin" ? "darwin" : "linux";
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "x64";
  const pkg = `buf-${os}-${arch}`;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(NPM_STORE)];
  } catch {
    return null;
  }
  const dirs = entries
    .filter((e) => e.name.startsWith(`@bufbuild+${pkg}@`))
    .map((e) => e.name)
    .sort();
  for (const dir of dirs.reverse()) {
    const bin = join(
      NPM_STORE,
      dir,
      "node_modules",
      "@bufbuild",
      pkg,
      "bin",
      "buf",
    );
    if (exists(bin)) return bin;
  }
  return null;
}

/** Writes a `protoc-gen-es` wrapper that runs the npm plugin under Deno. */
function writePluginWrapper(dir: string): void {
  const script = [
    "#!/bin/sh",
    `exec ${shellQuote(Deno.execPath())} run -A --quiet --config ${
      shellQuote(join(ROOT, "deno.json"))
    } ${shellQuote(PLUGIN_BIN)} "$@"`,
    "",
  ].join("\n");
  const path = join(dir, "protoc-gen-es");
  Deno.writeTextFileSync(path, script);
  Deno.chmodSync(path, 0o755);
}

/** Runs buf generate; returns its exit code. */
async function main(): Promise<number> {
  if (!exists(PLUGIN_BIN)) {
    console.error(
      `tmosh: ${PLUGIN_BIN} is missing; run \`deno install\` in ${ROOT} first`,
    );
    return 1;
  }
  const buf = findBufBinary();
  const cmd = buf ?? Deno.execPath();
  const prefix = buf ? [] : ["run", "-A", "--quiet", "npm:@bufbuild/buf"];
  const tmp = Deno.makeTempDirSync({ prefix: "tmosh-proto-" });
  try {
    writePluginWrapper(tmp);
    const path = `${tmp}:${Deno.env.get("PATH") ?? ""}`;
    const out = await new Deno.Command(cmd, {
      args: [...prefix, "generate"],
      cwd: PROTO_DIR,
      env: { PATH: path },
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) {
      console.error(`tmosh: buf generate failed (exit ${out.code})`);
      return out.code || 1;
    }
    console.log(`generated ${join(ROOT, "tests", "data", "protobufs")}`);
    return 0;
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
