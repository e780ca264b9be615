/**
 * How to start this same tmosh program again (the server daemon, ssh's
 * ProxyCommand, the demo's server): the compiled binary itself, or
 * `deno run -A --quiet main.ts` under `deno run`.
 * @module
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/** The argv that runs tmosh itself: `[binary]` when compiled, else `[deno, "run", "-A", "--quiet", main.ts]`. */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  const name = basename(exe);
  if (name !== "deno" && name !== "deno.exe") return [exe];
  return [
    exe,
    "run",
    "-A",
    "--quiet",
    fileURLToPath(new URL("../main.ts", import.meta.url)),
  ];
}
