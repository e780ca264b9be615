/**
 * How to start this same tmosh program again (the server daemon, ssh's
 * ProxyCommand, the demo's server): the compiled binary itself, or
 * `deno run -A --quiet main.ts` under `deno run`.
 * @module
 */
// No node: imports here: any of them costs ~25 ms of start-up to every
// process that loads this (the `serve new` front; docs/architecture.md §12.4).

/**
 * The argv that runs tmosh itself: `[binary]` when compiled (its V8 flags are
 * built in by `deno task compile`), else
 * `[deno, "run", "-A", "--quiet", "--v8-flags=…", main.ts]` with TMOSH_V8_FLAGS.
 */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  const name = exe.slice(exe.lastIndexOf("/") + 1);
  if (name !== "deno" && name !== "deno.exe") return [exe];
  return [
    exe,
    "run",
    "-A",
    "--quiet",
    V8_FLAGS_ARG,
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
 * V8 flags of every tmosh process (built into the compiled binary; passed by
 * selfCommand and the `tmosh` task under `deno run`): a 1 MiB young
 * generation keeps idle memory low; without the memory reducer an idle
 * process is not woken for full collections every few seconds (2-3x the idle
 * CPU, bench/light_bench.ts); an old generation that grows by 10% (not V8's
 * 1.5-4x) before its next full collection keeps a flood's peak low
 * (docs/architecture.md §12.2). One set for all processes also keeps V8's
 * code cache valid between them: V8 rejects code cached under other flags,
 * and Deno writes it again (§12.4).
 */
export const TMOSH_V8_FLAGS = [
  "--max-semi-space-size=1",
  "--no-memory-reducer",
  "--heap-growing-percent=10",
];

/**
 * Set by the finder (client/bootstrap/install_script.ts), which starts `tmosh
 * serve` in the background and waits for it, to its own pid: a `serve new`
 * front that finds no daemon of the user becomes that daemon itself, with no
 * second cold start, and signals the finder (SIGUSR1) once MOSH CONNECT is out;
 * the finder exits and ssh ends while the front serves on
 * (server/user_daemon.ts becomeUserDaemon).
 */
export const FINDER_PID_VAR = "TMOSH_FINDER_PID";

/** TMOSH_V8_FLAGS as one `deno run` argument. */
export const V8_FLAGS_ARG = `--v8-flags=${TMOSH_V8_FLAGS.join(",")}`;
