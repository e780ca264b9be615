/**
 * How to start this same tmosh program again (the server daemon, ssh's
 * ProxyCommand, the demo's server): the compiled binary itself, or
 * `deno run -A --quiet main.ts` under `deno run`.
 * @module
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The argv that runs tmosh itself: `[binary]` when compiled, else
 * `[deno, "run", "-A", "--quiet", main.ts]`; `v8Flags` are passed to V8 under
 * `deno run` (a compiled binary has its flags built in by `deno task compile`).
 */
export function selfCommand(options: { v8Flags?: string[] } = {}): string[] {
  const exe = Deno.execPath();
  const name = basename(exe);
  if (name !== "deno" && name !== "deno.exe") return [exe];
  const flags = options.v8Flags ?? [];
  return [
    exe,
    "run",
    "-A",
    "--quiet",
    ...(flags.length > 0 ? [`--v8-flags=${flags.join(",")}`] : []),
    fileURLToPath(entryPoint()),
  ];
}

/**
 * main.ts beside this module, or, when this module is part of a bundle (the
 * self-contained form `tmosh connect` installs, client/bootstrap/install_payload.ts),
 * the bundle itself.
 */
function entryPoint(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith("/self_command.ts")
    ? new URL("./main.ts", here)
    : here;
}

/** V8 flags for the long-running server: a 1 MiB young generation keeps its idle memory low. */
export const SERVER_V8_FLAGS = ["--max-semi-space-size=1"];
