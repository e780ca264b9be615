/**
 * `deno task test` (and test:unit, test:interop, test:e2e): runs
 * `deno test --allow-all --parallel ARGS` under a fresh `TMOSH_TEST_RUN` id,
 * except the HEAVY files, which then run one at a time (they load both cores
 * for many seconds, which would upset the timing of tests running beside
 * them); then, as the suite's last step, fails if any process of the run is still
 * alive (a tmosh or stock server, a demo with its relay, a tmux server, an
 * sshd, ...; harness/leaks.ts), listing and killing them. It runs after every
 * test file has finished, so it cannot race with tests still running.
 * @module
 */

import {
  killLeftovers,
  TEST_RUN_VAR,
  waitLeftovers,
} from "../harness/leaks.ts";

/** Test files that saturate the machine (floods at full speed, long lossy transfers): run alone, after the rest. */
const HEAVY = [
  "tests/e2e/hostile_server_test.ts",
  "tests/e2e/scrollback_delivery_test.ts",
  "tests/e2e/forward_relay_test.ts",
];

/** How long processes of the run may take to end after the suite, ms (servers finishing a shutdown). */
const GRACE_MS = 5_000;

if (import.meta.main) {
  const id = crypto.randomUUID();
  // Ctrl-C reaches the test runs too (same process group); still check after them.
  const ignore = () => {};
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, ignore);
  }
  const heavy = HEAVY.filter((file) =>
    Deno.args.some((a) => !a.startsWith("-") && file.startsWith(a))
  );
  let code = await denoTest(id, [
    "--parallel",
    ...heavy.map((f) => `--ignore=${f}`),
    ...Deno.args,
  ]);
  if (heavy.length > 0) {
    const flags = Deno.args.filter((a) => a.startsWith("-"));
    const heavyCode = await denoTest(id, [...flags, ...heavy]);
    if (code === 0) code = heavyCode;
  }
  const left = await waitLeftovers(id, GRACE_MS);
  if (left.length > 0) {
    console.error(
      `\ntmosh: the test run left ${left.length} process(es) behind ` +
        `(${TEST_RUN_VAR}=${id}); killing them:`,
    );
    for (const p of left) console.error(`  ${p.pid} ${p.kind}: ${p.command}`);
    killLeftovers(left);
  }
  Deno.exit(code !== 0 ? code : left.length > 0 ? 1 : 0);
}

/** Runs `deno test --allow-all ARGS` as part of run `id`; resolves to its exit code. */
async function denoTest(id: string, args: string[]): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", ...args],
    env: { [TEST_RUN_VAR]: id },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}
