/**
 * A hostile byte stream must not exhaust `tmosh serve`: `cat` of files that
 * hold 10 MB OSC 0, OSC 52 and DCS payloads in a real session leaves the
 * server's resident memory within 20 MB of where it was, and the session
 * answers an echo round trip within a second right after (mosh keeps at most
 * 16384 characters of a control string; xterm.js alone would buffer 10 MB
 * per handler and the emulator would copy it).
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { HeadlessClient } from "../../harness/headless_client.ts";
import { mib, procMemory, resetPeak } from "../../harness/proc_memory.ts";
import { startTmoshServer } from "../../harness/tmosh_server.ts";

/** Payload of each hostile control string, bytes. */
const PAYLOAD = 10_000_000;
/** Allowed growth of the server's resident memory, bytes. */
const RSS_GROWTH_MAX = 20 * 1024 * 1024;
/** Allowed echo round trip after the flood, ms. */
const ROUND_TRIP_MAX = 1000;
/** Longest wait for the flood to be shown (generous: the figure is not the point), ms. */
const FLOOD_MS = 120_000;

/** Writes the three hostile files into `dir`; returns their names. */
async function writeHostileFiles(dir: string): Promise<string[]> {
  const fill = (ch: string) => ch.repeat(PAYLOAD);
  const files: [string, string][] = [
    ["osc0", `\x1b]0;${fill("t")}\x07`],
    ["osc52", `\x1b]52;c;${fill("Q")}\x07`],
    // DECRQSS (which xterm.js buffers), then a DCS nobody handles.
    ["dcs", `\x1bP$q${fill("m")}\x1b\\\x1bPq${fill("#")}\x1b\\`],
  ];
  for (const [name, text] of files) {
    await Deno.writeTextFile(join(dir, name), text);
  }
  return files.map(([name]) => name);
}

/** Whether a screen row shows exactly `text` (not the command line that typed it). */
function shows(client: HeadlessClient, text: string): boolean {
  return client.screenText().some((l) =>
    l.endsWith(text) && !l.includes("echo")
  );
}

Deno.test("cat of 10 MB OSC 0, OSC 52 and DCS payloads: server RSS grows < 20 MB, echo within 1 s", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh-oversized-" });
  const server = await startTmoshServer(["/bin/sh"], {
    env: { PS1: "$ ", HOME: dir },
  });
  const client = HeadlessClient.connect({
    ip: "127.0.0.1",
    port: server.port,
    key: server.key,
    width: 80,
    height: 24,
  });
  try {
    const names = await writeHostileFiles(dir);
    client.type("cd " + dir + "; echo R$((1+1))\r");
    await client.waitFor(() => shows(client, "R2"), "the shell", 15_000);
    const before = await procMemory(server.pid);
    const peakReset = await resetPeak(server.pid);
    const started = performance.now();
    client.type(`cat ${names.join(" ")}; echo D$((2+2))NE\r`);
    await client.waitFor(() => shows(client, "D4NE"), "the flood", FLOOD_MS);
    const floodMs = performance.now() - started;
    const after = await procMemory(server.pid);
    const rtStart = performance.now();
    client.type("echo E$((3+3))\r");
    await client.waitFor(() => shows(client, "E6"), "the echo", 10_000);
    const roundTrip = performance.now() - rtStart;
    const growth = (peakReset ? after.peak : after.rss) - before.rss;
    console.log(
      `flood ${floodMs.toFixed(0)} ms, server RSS ${mib(before.rss)} -> ` +
        `${peakReset ? "peak" : "now"} ${
          mib(peakReset ? after.peak : after.rss)
        } (+${mib(growth)}), echo ${roundTrip.toFixed(0)} ms`,
    );
    assert.ok(
      growth < RSS_GROWTH_MAX,
      `server RSS grew by ${mib(growth)} (limit ${mib(RSS_GROWTH_MAX)})`,
    );
    assert.ok(
      roundTrip < ROUND_TRIP_MAX,
      `echo round trip took ${roundTrip.toFixed(0)} ms`,
    );
    // Nothing of the strings reached the screen, and the title was cut as mosh cuts it.
    assert.ok(
      client.screenText().every((l) => !/ttttt|QQQQQ|mmmmm|#####/.test(l)),
      client.screenText().join("\n"),
    );
    assert.equal(client.fb.title, "t".repeat(254));
  } finally {
    await client.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
