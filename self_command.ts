/**
 * How to start this same tmosh program again (the server daemon, ssh's
 * ProxyCommand, the demo's server): the compiled binary itself, or
 * `deno run -A --quiet main.ts` under `deno run`.
 * @module
 */
// No node: imports here: any of them costs ~25 ms of start-up to every
// process that loads this (the `serve new` front; docs/architecture.md §12.4).

/**
 * The argv that runs tmosh itself: `[binary]` when compiled, else
 * `[deno, "run", "-A", "--quiet", main.ts]`; `v8Flags` are passed to V8 under
 * `deno run` (a compiled binary has its flags built in by `deno task compile`).
 */
export function selfCommand(options: { v8Flags?: string[] } = {}): string[] {
  const exe = Deno.execPath();
  const name = exe.slice(exe.lastIndexOf("/") + 1);
  if (name !== "deno" && name !== "deno.exe") return [exe];
  const flags = options.v8Flags ?? [];
  return [
    exe,
    "run",
    "-A",
    "--quiet",
    ...(flags.length > 0 ? [`--v8-flags=${flags.join(",")}`] : []),
    decodeURIComponent(entryPoint().pathname),
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

/**
 * V8 flags for the long-running server (and the compiled binary): a 1 MiB
 * young generation keeps its idle memory low; without the memory reducer an
 * idle process is not woken for full collections every few seconds (2-3x the
 * idle CPU, bench/light_bench.ts); an old generation that grows by 10% (not
 * V8's 1.5-4x) before its next full collection keeps a flood's peak low
 * (docs/architecture.md §12.2).
 */
export const SERVER_V8_FLAGS = [
  "--max-semi-space-size=1",
  "--no-memory-reducer",
  "--heap-growing-percent=10",
];
