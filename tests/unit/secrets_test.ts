/**
 * Where the session key may not be: in a core file (server and client run
 * with RLIMIT_CORE 0, soft and hard, as stock Mosh), in the client's
 * environment once read (MOSH_KEY is overwritten and removed, so not even
 * /proc/PID/environ shows it), or in the daemon's argv or environment.
 * @module
 */

import assert from "node:assert/strict";
import {
  delay,
  SHELL,
  startServe,
  tmoshProcess,
} from "../../harness/serve_process.ts";
import { disableCoreDumps, forgetEnv } from "../../secrets.ts";

/** Longest wait for a process to reach the state checked, ms. */
const WAIT_MS = 15_000;

/** The "Max core file size" line of /proc/PID/limits as [soft, hard]. */
async function coreLimit(pid: number): Promise<[string, string]> {
  const limits = await Deno.readTextFile(`/proc/${pid}/limits`);
  const line = limits.split("\n").find((l) =>
    l.startsWith("Max core file size")
  );
  assert.ok(line !== undefined, limits);
  const [soft, hard] = line.slice("Max core file size".length).trim().split(
    /\s+/,
  );
  return [soft, hard];
}

Deno.test("the server daemon runs without core dumps and holds the key in neither argv nor environment", async () => {
  const d = await startServe(SHELL);
  try {
    assert.deepEqual(await coreLimit(d.pid), ["0", "0"]);
    for (const file of ["cmdline", "environ"]) {
      const text = await Deno.readTextFile(`/proc/${d.pid}/${file}`);
      assert.ok(!text.includes(d.key), `key not in /proc/PID/${file}`);
    }
  } finally {
    await d.stop();
  }
});

Deno.test("tmosh client runs without core dumps and wipes MOSH_KEY from its environment", async () => {
  const d = await startServe(SHELL);
  const client = tmoshProcess(["client", "127.0.0.1", `${d.port}`], {
    env: { MOSH_KEY: d.key, TERM: "dumb", LANG: "C.UTF-8" },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  // Drain the frames so the client never blocks on a full pipe.
  const drained = client.stdout.pipeTo(new WritableStream());
  try {
    const deadline = Date.now() + WAIT_MS;
    let state = "";
    for (;;) {
      const environ = await Deno.readTextFile(`/proc/${client.pid}/environ`);
      const limit = await coreLimit(client.pid);
      state = `core limit ${limit.join(" ")}, key in environ: ${
        environ.includes(d.key)
      }`;
      // Both hold from the start of main (before the session) on.
      const wiped = !environ.includes(d.key) &&
        environ.split("\0").some((v) => v === "MOSH_KEY=");
      if (wiped && limit[0] === "0" && limit[1] === "0") break;
      if (Date.now() > deadline) assert.fail(`client still has ${state}`);
      await delay(50);
    }
  } finally {
    await client.stdin.close();
    const status = await Promise.race([
      client.status,
      delay(WAIT_MS).then(() => null),
    ]);
    if (status === null) client.kill("SIGKILL");
    await client.status;
    await drained.catch(() => {});
    await d.stop();
  }
});

Deno.test("disableCoreDumps and forgetEnv work in this process's children", async () => {
  // In a child, so this test process keeps its limits and environment.
  const code = `
    import { disableCoreDumps, forgetEnv } from ${
    JSON.stringify(new URL("../../secrets.ts", import.meta.url).href)
  };
    if (disableCoreDumps() !== null) Deno.exit(3);
    forgetEnv("SECRET_FOR_TEST");
    if (Deno.env.get("SECRET_FOR_TEST") !== undefined) Deno.exit(4);
    const environ = Deno.readTextFileSync("/proc/self/environ");
    if (environ.includes("hunter2")) Deno.exit(5);
    const limits = Deno.readTextFileSync("/proc/self/limits");
    if (!/Max core file size\\s+0\\s+0\\s/.test(limits)) Deno.exit(6);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { SECRET_FOR_TEST: "hunter2" },
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(
    out.code,
    0,
    new TextDecoder().decode(out.stderr),
  );
  // Both are safe to call in a process without the variable.
  assert.equal(typeof disableCoreDumps, "function");
  forgetEnv("TMOSH_TEST_UNSET_VARIABLE");
});

Deno.test("tmosh connect runs without core dumps by the time it reads the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_core_" });
  const out = `${dir}/limit`;
  // A stand-in server (--local: /bin/sh -c, a child of the bootstrap): prints
  // the key, then, while the bootstrap still reads its output, records the
  // bootstrap's core limit.
  const server = "--server=echo MOSH CONNECT 9 AAAAAAAAAAAAAAAAAAAAAA; " +
    `sleep 1; grep '^Max core file size' /proc/$PPID/limits > '${out}'; true`;
  const child = tmoshProcess(["connect", "--local", server, "127.0.0.1"], {
    env: { TERM: "dumb", LANG: "C.UTF-8" },
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const deadline = Date.now() + WAIT_MS;
    let line = "";
    while (line === "" && Date.now() < deadline) {
      await delay(100);
      line = await Deno.readTextFile(out).catch(() => "");
    }
    assert.match(line, /^Max core file size\s+0\s+0\s/);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdin.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
