/**
 * Builds the single tmosh executable for each release target into `dist/` with
 * `deno compile`. Needs network access to dl.deno.land (it fetches the `denort` base binary).
 * @module
 */
import { V8_FLAGS_ARG } from "../self_command.ts";

/** Release targets (Rust triples understood by `deno compile --target`). */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];

/**
 * Compiles `main.ts` for one target into `dist/tmosh-<target>`. Type-checked,
 * never `--no-check`: with deno.json's `lazy-dynamic-imports` a graph built
 * without type checking leaves the dynamically imported modules out.
 */
export async function compileTarget(target: string): Promise<number> {
  const args = [
    "compile",
    "--allow-all",
    "--unstable-net",
    V8_FLAGS_ARG,
    "--target",
    target,
    "--output",
    `dist/tmosh-${target}`,
    "main.ts",
  ];
  const { code } = await new Deno.Command(Deno.execPath(), { args }).spawn()
    .status;
  return code;
}

if (import.meta.main) {
  const only = Deno.args.length > 0 ? Deno.args : TARGETS;
  let failed = 0;
  for (const target of only) {
    const code = await compileTarget(target);
    if (code !== 0) {
      console.error(
        `tmosh: deno compile for ${target} failed (status ${code})`,
      );
      failed++;
    }
  }
  Deno.exit(failed ? 1 : 0);
}
