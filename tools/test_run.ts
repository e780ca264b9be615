/**
 * `deno task test` (and test:unit, test:interop, test:e2e): runs
 * `deno test --allow-all --parallel ARGS` under a fresh `TMOSH_TEST_RUN` id,
 * then, as the suite's last step, fails if any process of the run is still
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

/** How long processes of the run may take to end after the suite, ms (servers finishing a shutdown). */
const GRACE_MS = 5_000;

if (import.meta.main) {
  const id = crypto.randomUUID();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--parallel", ...Deno.args],
    env: { [TEST_RUN_VAR]: id },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the test run too (same process group); still check after it.
  const ignore = () => {};
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, ignore);
  }
  const status = await child.status;
  const left = await waitLeftovers(id, GRACE_MS);
  if (left.length > 0) {
    console.error(
      `\ntmosh: the test run left ${left.length} process(es) behind ` +
        `(${TEST_RUN_VAR}=${id}); killing them:`,
    );
    for (const p of left) console.error(`  ${p.pid} ${p.kind}: ${p.command}`);
    killLeftovers(left);
  }
  Deno.exit(status.code !== 0 ? status.code : left.length > 0 ? 1 : 0);
}
