/**
 * The suite's leak check (harness/leaks.ts, run by tools/test_run.ts after
 * every test file): a process carrying the run's id is found, named and
 * killed; processes of other runs are not counted.
 * @module
 */

import assert from "node:assert/strict";
import {
  findLeftovers,
  killLeftovers,
  leftoverKind,
  TEST_RUN_VAR,
  waitLeftovers,
} from "../../harness/leaks.ts";

Deno.test("the leak check finds and kills the processes of its run only", async () => {
  const run = `leak-test-${crypto.randomUUID()}`;
  const other = `leak-test-${crypto.randomUUID()}`;
  const spawn = (id: string) =>
    new Deno.Command("sleep", {
      args: ["30"],
      env: { [TEST_RUN_VAR]: id },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const ours = spawn(run);
  const theirs = spawn(other);
  try {
    // Until both have exec'd sleep (spawn may return before the exec).
    let found = await waitLeftovers(run, 0);
    for (
      let i = 0;
      i < 100 && !/sleep 30$/.test(found[0]?.command ?? "");
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      found = await waitLeftovers(run, 0);
    }
    assert.deepEqual(found.map((p) => p.pid), [ours.pid]);
    assert.equal(found[0].kind, "other");
    assert.match(found[0].command, /sleep 30$/);
    killLeftovers(found);
    await ours.status;
    assert.deepEqual(await findLeftovers(run), []);
    assert.equal((await findLeftovers(other)).length, 1);
  } finally {
    for (const child of [ours, theirs]) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
    }
  }
});

Deno.test("the leak report names servers, demos and tmux", () => {
  assert.equal(
    leftoverKind("tmux -u -f /dev/null -S /tmp/tmosh_tmux_x/sock new-session"),
    "tmux server",
  );
  assert.equal(
    leftoverKind(
      "/usr/bin/deno run -A /w/main.ts serve --daemon-internal=80x24 new",
    ),
    "tmosh server",
  );
  assert.equal(leftoverKind("mosh-server new -p 60001"), "mosh-server");
  assert.equal(
    leftoverKind("/usr/bin/deno run -A --quiet /w/main.ts demo --delay 50"),
    "tmosh demo (client and relay)",
  );
  assert.equal(leftoverKind("sshd: root@notty"), "sshd");
});
