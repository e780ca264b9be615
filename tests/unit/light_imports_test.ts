/**
 * The processes on the connect's critical path load no node: module and no
 * npm package before they need one: the `tmosh serve new` front that ssh
 * runs, and the bootstrap of `tmosh connect` with its `--fake-proxy` run.
 * Either kind costs a process ~25-30 ms of start-up (docs/architecture.md
 * §12.4). Checked on the real module graph (`deno info --json`), static
 * imports only.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { SHUTDOWN_NUM } from "../../protocol/network/constants.ts";
import { U64_MAX } from "../../protocol/protobufs/messages.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** Static imports reachable from `root` in the graph of main.ts. */
async function staticClosure(root: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", MAIN],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(out.code, 0, "deno info failed");
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: {
        isDynamic?: boolean;
        code?: { specifier?: string };
      }[];
    }[];
  };
  const bySpec = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const stack = [new URL(root, `file://${MAIN}`).href];
  while (stack.length > 0) {
    const spec = stack.pop()!;
    if (seen.has(spec)) continue;
    seen.add(spec);
    for (const dep of bySpec.get(spec)?.dependencies ?? []) {
      const next = dep.code?.specifier;
      if (next !== undefined && !dep.isDynamic) stack.push(next);
    }
  }
  return [...seen];
}

Deno.test("light: server/serve.ts loads no node: module and no npm package before it knows it is the daemon", async () => {
  const closure = await staticClosure("./server/serve.ts");
  assert.ok(closure.some((s) => s.endsWith("/server/serve_args.ts")));
  assert.deepEqual(
    closure.filter((s) => !s.startsWith("file:")),
    [],
    "node: or npm: modules on the front's path",
  );
});

Deno.test("light: the front's way to the user's daemon (server/daemon_client.ts) loads no node: module and no npm package", async () => {
  const closure = await staticClosure("./server/daemon_client.ts");
  assert.ok(closure.some((s) => s.endsWith("/server/daemon_protocol.ts")));
  assert.deepEqual(closure.filter((s) => !s.startsWith("file:")), []);
});

Deno.test("light: the ssh bootstrap (and its --fake-proxy run) loads no node: module and no npm package", async () => {
  const closure = await staticClosure("./client/bootstrap/connect.ts");
  assert.ok(closure.some((s) => s.endsWith("/client/bootstrap/fake_proxy.ts")));
  assert.deepEqual(closure.filter((s) => !s.startsWith("file:")), []);
});

Deno.test("light: SHUTDOWN_NUM written out equals the codec's U64_MAX", () => {
  assert.equal(SHUTDOWN_NUM, U64_MAX);
});
