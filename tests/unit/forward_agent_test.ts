import assert from "node:assert/strict";
import { sweepStaleAgentDirs } from "../../server/forward_agent.ts";

/** A PID that ran a moment ago and no longer does. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

Deno.test("agent sockets: a killed server's directory is swept by the next, a live one's and others' are not", async () => {
  const parent = await Deno.makeTempDir({ prefix: "tmosh_agent_sweep_" });
  try {
    const dead = await deadPid();
    const make = async (dir: string, socket?: string) => {
      await Deno.mkdir(`${parent}/${dir}`, { mode: 0o700 });
      if (socket) await Deno.writeTextFile(`${parent}/${dir}/${socket}`, "");
    };
    await make("tmosh-agent-dead", `agent.${dead}`);
    await make("tmosh-agent-live", `agent.${Deno.pid}`);
    await make("tmosh-agent-new"); // its socket is not made yet
    await make("tmosh-agent-odd", "something-else");
    await make("ssh-XXXX", `agent.${dead}`); // not tmosh's
    assert.equal(sweepStaleAgentDirs(parent), 1);
    const left = [...Deno.readDirSync(parent)].map((e) => e.name).sort();
    assert.deepEqual(left, [
      "ssh-XXXX",
      "tmosh-agent-live",
      "tmosh-agent-new",
      "tmosh-agent-odd",
    ]);
    assert.equal(sweepStaleAgentDirs(`${parent}/no-such-dir`), 0);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
