/**
 * Proof against a real peer: the headless tmosh client (Connection,
 * Transport, UserStream, CompleteTerminal, the mosh-semantics emulator)
 * holds a session with Debian's stock `mosh-server` running /bin/sh, and its
 * framebuffer shows exactly the cells the commands printed: plain text,
 * palette, 256 and true colours, CJK, combining marks, a scrolled screen and
 * a cleared one. `exit` ends with the server's shutdown, acked by the client.
 * @module
 */

import assert from "node:assert/strict";
import {
  cellAt,
  DEFAULT_RENDITION,
  type Framebuffer,
  paletteColor,
  rgbColor,
} from "../../protocol/terminal/framebuffer.ts";
import { peers } from "../../harness/require_peer.ts";
import { processAlive, startStockServer } from "../../harness/stock_mosh.ts";
import { HeadlessClient } from "../../harness/headless_client.ts";

const stockServer = peers("mosh-server");

/** Longest wait for one command's output, ms. */
const STEP_MS = 5000;
/** Longest wait for the server process to exit after the handshake, ms. */
const EXIT_MS = 5000;
const WIDTH = 80;
const HEIGHT = 24;

/** Index of the row whose text is exactly `text`, or -1. */
function rowIndex(client: HeadlessClient, text: string): number {
  return client.screenText().indexOf(text);
}

/** Types a command line and waits until a row shows exactly `output`; returns that row. */
async function run(
  client: HeadlessClient,
  command: string,
  output: string,
): Promise<number> {
  client.type(command + "\r");
  await client.waitFor(
    () => rowIndex(client, output) >= 0,
    `the output ${JSON.stringify(output)} of ${JSON.stringify(command)}`,
    STEP_MS,
  );
  return rowIndex(client, output);
}

/** Asserts the text, width and foreground colour of cell (y, x). */
function assertCell(
  fb: Framebuffer,
  [y, x]: [number, number],
  want: { text: string; width?: number; fg?: number },
): void {
  const cell = cellAt(fb, y, x);
  const where = `cell ${y},${x}`;
  assert.equal(cell.text, want.text, `${where} text`);
  assert.equal(cell.width, want.width ?? 1, `${where} width`);
  if (want.fg !== undefined) {
    assert.equal(cell.rendition.fg, want.fg, `${where} foreground`);
  }
}

stockServer.test("headless tmosh client against stock mosh-server: exact cells, then exit", async () => {
  const server = await startStockServer({
    command: ["env", "PS1=$ ", "/bin/sh"],
    env: { LANG: "C.UTF-8" },
  });
  let client: HeadlessClient | null = null;
  try {
    client = HeadlessClient.connect({
      ip: "127.0.0.1",
      port: server.port,
      key: server.key,
      width: WIDTH,
      height: HEIGHT,
    });
    const c = client;
    await c.waitFor(
      () => c.screenText()[c.fb.cursorRow] === "$",
      "the prompt",
      STEP_MS,
    );
    assert.equal(c.fb.width, WIDTH);
    assert.equal(c.fb.height, HEIGHT);
    assert.equal(c.fb.cursorCol, 2);

    // Plain text: the echoed command line, then the output on the next row.
    let y = await run(c, "printf 'plain-ok\\n'", "plain-ok");
    assert.equal(c.screenText()[y - 1], "$ printf 'plain-ok\\n'");
    assertCell(c.fb, [y, 0], { text: "p", fg: 0 });
    assertCell(c.fb, [y, 8], { text: "" });

    // Palette, 256-colour and true-colour foregrounds; SGR 0 resets.
    y = await run(c, "printf '\\033[31mred\\033[0m-\\n'", "red-");
    assertCell(c.fb, [y, 0], { text: "r", fg: paletteColor(1) });
    assertCell(c.fb, [y, 2], { text: "d", fg: paletteColor(1) });
    assertCell(c.fb, [y, 3], { text: "-", fg: 0 });
    assert.deepEqual(cellAt(c.fb, y, 3).rendition, DEFAULT_RENDITION);
    y = await run(c, "printf '\\033[38;5;196mx256\\033[0m\\n'", "x256");
    assertCell(c.fb, [y, 0], { text: "x", fg: paletteColor(196) });
    y = await run(
      c,
      "printf '\\033[1;38;2;10;20;30mtrue\\033[0m\\n'",
      "true",
    );
    assertCell(c.fb, [y, 3], { text: "e", fg: rgbColor(10, 20, 30) });
    assert.equal(cellAt(c.fb, y, 0).rendition.attrs & 1, 1, "bold");

    // CJK: width-2 cells followed by width-0 continuations (typed as UTF-8 keys).
    y = await run(c, "printf '中文字\\n'", "中文字");
    assertCell(c.fb, [y, 0], { text: "中", width: 2 });
    assertCell(c.fb, [y, 1], { text: "", width: 0 });
    assertCell(c.fb, [y, 2], { text: "文", width: 2 });
    assertCell(c.fb, [y, 4], { text: "字", width: 2 });
    assertCell(c.fb, [y, 5], { text: "", width: 0 });
    assertCell(c.fb, [y, 6], { text: "" });

    // A combining acute accent joins the e in one cell.
    y = await run(c, "printf 'e\\314\\201|\\n'", "e\u0301|");
    assertCell(c.fb, [y, 0], { text: "e\u0301" });
    assertCell(c.fb, [y, 1], { text: "|" });

    // A full screen: the last numbers of seq sit just above the prompt.
    await run(c, "seq 1 200", "200");
    await c.waitFor(
      () => c.screenText()[HEIGHT - 1] === "$",
      "the prompt on the bottom row",
      STEP_MS,
    );
    const rows = c.screenText();
    for (let i = 0; i < HEIGHT - 1; i++) {
      assert.equal(rows[i], String(200 - (HEIGHT - 2) + i), `row ${i}`);
    }
    assert.deepEqual([c.fb.cursorRow, c.fb.cursorCol], [HEIGHT - 1, 2]);

    // Clearing the screen leaves only the new prompt.
    c.type("printf '\\033[2J\\033[H'\r");
    await c.waitFor(
      () => c.screenText().every((l, i) => l === (i === 0 ? "$" : "")),
      "a cleared screen with only the prompt",
      STEP_MS,
    );
    assert.deepEqual([c.fb.cursorRow, c.fb.cursorCol], [0, 2]);

    // exit: the shell ends, the server shuts down and the client acks it.
    c.type("exit\r");
    await c.waitFor(
      () => c.finishReason !== null,
      "the server's shutdown and our ack",
      STEP_MS,
    );
    assert.equal(await c.finished, "counterparty");
    assert.ok(c.transport.counterpartyShutdown);
    const deadline = performance.now() + EXIT_MS;
    while (await processAlive(server.pid) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(await processAlive(server.pid), false, "mosh-server exited");
  } finally {
    await client?.close();
    await server.stop();
  }
});
