/**
 * The pieces of tmosh's attach (docs/wire.md §15) that need no processes:
 * the `detached` notice in the Complete terminal state, the server's history
 * ring, the control socket's `attach` op, and the command lines
 * (`tmosh serve attach ID|NAME`, `tmosh serve --attach=ID [new ...]`).
 * @module
 */
import assert from "node:assert/strict";
import { CompleteTerminal } from "../../protocol/statesync/complete_terminal.ts";
import { EmulatorApplier } from "../../protocol/statesync/emulator_applier.ts";
import { blankFramebuffer } from "../../protocol/terminal/framebuffer.ts";
import { decodeHostMessage } from "../../protocol/protobufs/messages.ts";
import { ScrollHistory } from "../../protocol/statesync/scroll_history.ts";
import { SCROLL_HISTORY_RECORDS } from "../../protocol/statesync/constants.ts";
import type { LogRecord } from "../../protocol/statesync/scroll_log.ts";
import {
  ATTACH_CAPABILITY,
  CAPABILITIES,
} from "../../protocol/statesync/capabilities.ts";
import { registerSession } from "../../server/registration.ts";
import { requestControl } from "../../server/control_socket.ts";
import { parseSessionCommand } from "../../server/session_commands.ts";
import { parseServeArgs } from "../../server/serve_args.ts";
import { formatAddr } from "../../server/epoch.ts";

const line = (text: string): LogRecord => ({
  kind: "line",
  text,
  cols: text.length,
  wrap: false,
});

Deno.test("detachedBy: part of the state, diffed once after EchoAck and before the screen, applied by the client", () => {
  assert.ok(CAPABILITIES.includes(ATTACH_CAPABILITY));
  const fb = blankFramebuffer(20, 4);
  const before = new CompleteTerminal(fb, 3n).withCapabilities(CAPABILITIES);
  assert.equal(before.detachedBy, null);
  const after = before.withEchoAck(4n).withDetachedBy("192.0.2.9:40000");
  assert.equal(after.withDetachedBy("192.0.2.9:40000"), after);
  assert.equal(after.equals(before.withEchoAck(4n)), false);
  assert.deepEqual(decodeHostMessage(after.diffFrom(before)), [
    { type: "echoAck", num: 4n },
    { type: "detached", by: "192.0.2.9:40000" },
  ]);
  // Not resent from a state that holds it; a state without it never sends one.
  assert.equal(after.diffFrom(after).length, 0);
  assert.equal(before.withEchoAck(4n).diffFrom(after).length, 0);

  const applier = new EmulatorApplier();
  try {
    const client = new CompleteTerminal(blankFramebuffer(20, 4), 0n, {
      applier,
    });
    const got = client.applyDiff(after.diffFrom(before))!;
    assert.equal(got.detachedBy, "192.0.2.9:40000");
    assert.equal(got.echoAck, 4n);
    assert.equal(client.detachedBy, null);
  } finally {
    applier.dispose();
  }
});

Deno.test("ScrollHistory: keeps the newest records within its bounds; a clear empties it", () => {
  const h = new ScrollHistory({ maxRecords: 3 });
  h.add([line("a"), line("b")]);
  h.add([{ kind: "gap", lines: 5 }, line("c")]);
  assert.deepEqual(h.records(), [
    line("b"),
    { kind: "gap", lines: 5 },
    line("c"),
  ]);
  h.add([line("d"), { kind: "clear" }, line("e")]);
  assert.deepEqual(h.records(), [line("e")]);
  // Bytes bound: long lines keep fewer (recordBytes: 48 + 2 per character).
  const bytes = new ScrollHistory({ maxBytes: 3 * (48 + 2 * 100) });
  bytes.add(["1", "2", "3", "4", "5"].map((c) => line(c.repeat(100))));
  assert.deepEqual(bytes.records().map((r) => r.kind === "line" && r.text[0]), [
    "3",
    "4",
    "5",
  ]);
  // The default ring: the last SCROLL_HISTORY_RECORDS of a long run, in order.
  const big = new ScrollHistory();
  for (let i = 0; i < 5000; i++) big.add([line(`${i}`)]);
  const kept = big.records();
  assert.equal(kept.length, SCROLL_HISTORY_RECORDS);
  assert.deepEqual(kept[0], line(`${5000 - SCROLL_HISTORY_RECORDS}`));
  assert.deepEqual(kept.at(-1), line("4999"));
});

Deno.test("control socket: attach answers the port and a fresh key, or the session's one-line refusal", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "tmosh_attach_unit_" });
  const dir = `${tmp}/tmosh`;
  let calls = 0;
  let refuse = false;
  const reg = registerSession({
    dir,
    port: 60123,
    name: null,
    command: ["/bin/sh"],
    cols: 80,
    rows: 24,
    client: { lastHeard: null, remoteAddr: null },
    attach: () => {
      calls++;
      if (refuse) {
        throw new Error(
          "tmosh: the session is ending and takes no new client; start a new session",
        );
      }
      return { port: 60123, key: "AAECAwQFBgcICQoLDA0ODw" };
    },
  });
  try {
    const path = `${dir}/${reg.id}.sock`;
    const ok = await requestControl(path, { op: "attach" });
    assert.deepEqual(ok, {
      ok: true,
      port: 60123,
      key: "AAECAwQFBgcICQoLDA0ODw",
    });
    assert.doesNotMatch(
      Deno.readTextFileSync(`${dir}/${reg.id}.json`),
      /AAECAwQFBgcICQoLDA0ODw/,
    );
    refuse = true;
    const no = await requestControl(path, { op: "attach" });
    assert.deepEqual(no, {
      ok: false,
      error:
        "tmosh: the session is ending and takes no new client; start a new session",
    });
    assert.equal(calls, 2);
  } finally {
    reg.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("serve attach ID|NAME and serve --attach=ID [new ...]: arguments", () => {
  assert.deepEqual(parseSessionCommand(["attach", "ab2cd3ef"]), {
    kind: "attach",
    target: "ab2cd3ef",
  });
  for (const bad of [["attach"], ["attach", "a", "b"], ["attach", "--x"]]) {
    const r = parseSessionCommand(bad);
    assert.equal(r.kind, "error", bad.join(" "));
    if (r.kind === "error") {
      assert.match(r.message, /^tmosh: .*; Usage: tmosh serve attach/);
    }
  }
  const run = (args: string[]) => {
    const r = parseServeArgs(args);
    assert.equal(r.kind, "run", JSON.stringify(r));
    return r.kind === "run" ? r.options : null!;
  };
  assert.equal(run(["new"]).attach, null);
  // As mosh --server="tmosh serve --attach=ID" sends it: the rest is ignored.
  const front = run([
    "--attach=work",
    "new",
    "-s",
    "-c",
    "256",
    "-l",
    "LANG=C.UTF-8",
  ]);
  assert.equal(front.attach, "work");
  // Even arguments a new session would refuse.
  assert.equal(run(["--attach=w", "new", "-c", "x", "-p", "0:1"]).attach, "w");
  assert.equal(run(["--attach", "ab2cd3ef", "new"]).attach, "ab2cd3ef");
  assert.equal(run(["new", "-c", "8", "--attach=x"]).attach, "x");
  for (const bad of [["--attach"], ["--attach=", "new"], ["--attach", "-v"]]) {
    const r = parseServeArgs(bad);
    assert.equal(r.kind, "error", bad.join(" "));
    if (r.kind === "error") assert.match(r.message, /^tmosh: --attach needs/);
  }
});

Deno.test("formatAddr: IPv4 as IP:PORT, IPv6 bracketed", () => {
  assert.equal(formatAddr({ hostname: "10.1.2.3", port: 5 }), "10.1.2.3:5");
  assert.equal(formatAddr({ hostname: "::1", port: 6 }), "[::1]:6");
  assert.equal(formatAddr(null), null);
});
