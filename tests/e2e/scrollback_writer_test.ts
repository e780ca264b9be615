/**
 * The native-scrollback pieces against a real terminal (tmux): rows rendered
 * by rowText and written by scrollbackBytes land in tmux's history in order,
 * once each, with their colours and soft wraps, and newFrame with
 * nativeScrollback repaints and scrolls the normal screen without adding
 * anything to that history (while today's display does).
 */
import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import { type PreparedTmux, prepareTmux, runTmux } from "../../harness/tmux.ts";
import { canonical, canonicalLines } from "../../harness/sgr_canonical.ts";
import { scrollbackBytes } from "../../client/scrollback.ts";
import { newFrame } from "../../protocol/terminal/display.ts";
import { Emulator } from "../../protocol/terminal/emulator.ts";
import {
  blankFramebuffer,
  type Framebuffer,
} from "../../protocol/terminal/framebuffer.ts";
import { rowText } from "../../protocol/terminal/row_text.ts";
import type { LogRecord } from "../../protocol/statesync/scroll_log.ts";

const tmux = peers("tmux");

const SESSION = "scrollback";
const WIDTH = 20;
const HEIGHT = 6;

/** A tmux pane that writes each stage's bytes raw, in order, as the test hands them over. */
class Pane {
  #stage = 0;
  readonly #prepared: PreparedTmux;
  readonly #stages: string;

  private constructor(prepared: PreparedTmux, stages: string) {
    this.#prepared = prepared;
    this.#stages = stages;
  }

  /** Starts a WIDTH x HEIGHT pane with a big history and nothing on it. */
  static async open(): Promise<Pane> {
    const stages = await Deno.makeTempDir({ prefix: "tmosh_sb_stages_" });
    const command = [
      "stty -opost -echo",
      "i=1",
      "while :; do",
      `  f='${stages}'/$i`,
      '  while [ ! -e "$f" ]; do sleep 0.02; done',
      '  cat "$f"',
      "  i=$((i + 1))",
      "done",
    ].join("\n");
    const prepared = await prepareTmux(command, {
      width: WIDTH,
      height: HEIGHT,
      historyLimit: 50000,
      session: SESSION,
      dirPrefix: "tmosh_sb_tmux_",
    }).catch(async (error) => {
      await Deno.remove(stages, { recursive: true });
      throw error;
    });
    await prepared.go();
    return new Pane(prepared, stages);
  }

  #tmux(args: string[]): Promise<string> {
    return runTmux(this.#prepared.socket, args);
  }

  /** Writes `bytes` to the terminal and waits until tmux has taken all of them in. */
  async show(bytes: string): Promise<void> {
    const n = ++this.#stage, title = `stage-${n}`;
    const tmp = `${this.#stages}/tmp`;
    await Deno.writeTextFile(tmp, `${bytes}\x1b]2;${title}\x07`);
    await Deno.rename(tmp, `${this.#stages}/${n}`);
    const deadline = Date.now() + 5000;
    while (true) {
      const got = await this.#tmux(["display", "-p", "-t", SESSION, "#T"]);
      if (got.trim() === title) return;
      if (Date.now() > deadline) throw new Error(`tmux never showed ${title}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Rows in tmux's history. */
  async historySize(): Promise<number> {
    return Number(
      await this.#tmux(["display", "-p", "-t", SESSION, "#{history_size}"]),
    );
  }

  /** The history's logical lines (soft-wrapped rows joined), canonical with colours. */
  async history(): Promise<string[]> {
    if (await this.historySize() === 0) return [];
    const args = ["capture-pane", "-p", "-e", "-J", "-S", "-", "-E", "-1"];
    return canonicalLines(await this.#tmux([...args, "-t", SESSION]));
  }

  /** The visible rows, canonical with colours. */
  async screen(): Promise<string[]> {
    return canonicalLines(
      await this.#tmux(["capture-pane", "-p", "-e", "-N", "-t", SESSION]),
    );
  }

  /** The cursor, 0-based. */
  async cursor(): Promise<[number, number]> {
    const out = await this.#tmux([
      "display",
      "-p",
      "-t",
      SESSION,
      "#{cursor_y} #{cursor_x}",
    ]);
    const [y, x] = out.trim().split(" ").map(Number);
    return [y, x];
  }

  /** Checks that the terminal shows `frame`: every row and the cursor. */
  async assertShows(frame: Framebuffer): Promise<void> {
    const want = frame.rows.map((row) => canonical(rowText(row).text));
    assert.deepEqual(await this.screen(), want);
    assert.deepEqual(await this.cursor(), [frame.cursorRow, frame.cursorCol]);
  }

  /** Kills the tmux server (and the pane's loop) and removes the files. */
  async close(): Promise<void> {
    await this.#tmux(["kill-server"]).catch(() => {});
    await Deno.remove(this.#prepared.dir, { recursive: true }).catch(() => {});
    await Deno.remove(this.#stages, { recursive: true }).catch(() => {});
  }
}

// ------------------------------------------------------------ frames, records

/** Snapshots of a WIDTH x HEIGHT emulator after each output in turn. */
async function framesAfter(...outputs: string[]): Promise<Framebuffer[]> {
  const e = new Emulator(WIDTH, HEIGHT);
  try {
    const frames = [];
    for (const output of outputs) {
      await e.write(output);
      frames.push(e.snapshot());
    }
    return frames;
  } finally {
    e.dispose();
  }
}

/** The log records of the rows a `width`-column screen holds after printing `lines`. */
async function recordsOf(width: number, lines: string[]): Promise<LogRecord[]> {
  const e = new Emulator(width, 80);
  try {
    await e.write(lines.join("\r\n"));
    const fb = e.snapshot();
    return fb.rows.slice(0, fb.cursorRow + 1).map((row) => ({
      kind: "line",
      ...rowText(row),
      wrap: row.wrap,
    }));
  } finally {
    e.dispose();
  }
}

/** `n` numbered plain lines. */
function numbered(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`);
}

/** A screen full of coloured text, to be overwritten. */
const JUNK = Array.from(
  { length: HEIGHT },
  (_, y) => `\x1b[${y + 1}H\x1b[4${y % 8}m${"junk".repeat(5)}\x1b[0m`,
).join("");

const BLANK = blankFramebuffer(WIDTH, HEIGHT);
const REPAINT = { initialized: false, nativeScrollback: true };

/**
 * The frames of the scrollback tests: one full of junk on screen before the
 * records, one repainted after them.
 */
async function scrollbackFrames(): Promise<[Framebuffer, Framebuffer]> {
  const [junk] = await framesAfter(JUNK);
  const [frame] = await framesAfter(
    "\x1b[32m$\x1b[0m ls\r\n\x1b[1mfile\x1b[0m  中文\r\n\x1b[44m bar \x1b[0m\r\n$ ",
  );
  return [junk, frame];
}

/** The bytes of one client update: the screen shows `junk`, then the records and `frame`. */
function update(
  records: LogRecord[],
  [junk, frame]: [Framebuffer, Framebuffer],
): string {
  return newFrame(BLANK, junk, REPAINT) +
    scrollbackBytes(records, { cols: WIDTH, rows: HEIGHT }) +
    newFrame(BLANK, frame, REPAINT);
}

tmux.test("newFrame with nativeScrollback repaints and scrolls without adding to tmux's history; today's display adds", async () => {
  for (const nativeScrollback of [true, false]) {
    const pane = await Pane.open();
    try {
      await pane.show(JUNK);
      assert.equal(await pane.historySize(), 0);
      const [f1, f2, f3] = await framesAfter(
        numbered("\x1b[33mrow\x1b[0m", HEIGHT).join("\r\n"),
        "\r\nrow 7\r\nrow 8",
        "\x1b[1;4r\x1b[4;1H\n\x1b[r\x1b[6;6H",
      );
      await pane.show(
        newFrame(BLANK, f1, { initialized: false, nativeScrollback }),
      );
      await pane.assertShows(f1);
      const h1 = await pane.historySize();
      const d2 = newFrame(f1, f2, { initialized: true, nativeScrollback });
      await pane.show(d2);
      await pane.assertShows(f2);
      const h2 = await pane.historySize();
      const d3 = newFrame(f2, f3, { initialized: true, nativeScrollback });
      await pane.show(d3);
      await pane.assertShows(f3);
      const h3 = await pane.historySize();
      if (nativeScrollback) {
        assert.match(d2, /\x1b\[1;1H\x1b\[2M/);
        assert.match(d3, /\x1b\[1;4r.*\x1b\[M\x1b\[r/);
        assert.deepEqual([h1, h2, h3], [0, 0, 0]);
      } else {
        // ED 2 saves the junk (tmux's scroll-on-clear); LF at the bottom saves
        // two rows; so does LF at the bottom of a region that starts at row 1.
        assert.ok(h1 > 0, `ED 2 added ${h1} rows`);
        assert.deepEqual([h2 - h1, h3 - h2], [2, 1]);
      }
    } finally {
      await pane.close();
    }
  }
});

/** Lines with colours, soft wraps, wide and combining characters: 14 rows at WIDTH. */
const RICH = [
  "\x1b[1;31mbold red\x1b[0m plain",
  "",
  "a long line that wraps over three rows of twenty cols!",
  "中文字符 wide 中",
  "中".repeat(11),
  "exactly twenty chars",
  "\x1b[44m bg blue   \x1b[0m",
  "\x1b[38;5;208morange\x1b[0m \x1b[38;2;10;20;30;48;5;240mrgb\x1b[0m",
  "e\u0301t\u00e9 combining",
  "\x1b[7minverse\x1b[0m \x1b[4munder\x1b[0m",
  "last line 11",
];

tmux.test("scrollbackBytes: records reach tmux's history in order, once, with colours, wraps and wide characters", async () => {
  const pane = await Pane.open();
  try {
    const frames = await scrollbackFrames();
    const records = await recordsOf(WIDTH, RICH);
    assert.ok(
      records.length > HEIGHT &&
        records.some((r) => r.kind === "line" && r.wrap),
    );
    await pane.show(update(records, frames));
    assert.deepEqual(await pane.history(), RICH.map(canonical));
    await pane.assertShows(frames[1]);
    // A second batch, fewer rows than the screen, follows the first.
    const more = numbered("\x1b[35mmore\x1b[0m", 3);
    await pane.show(update(await recordsOf(WIDTH, more), frames));
    assert.deepEqual(await pane.history(), [...RICH, ...more].map(canonical));
    await pane.assertShows(frames[1]);
  } finally {
    await pane.close();
  }
});

tmux.test("scrollbackBytes: a clear record empties the history, a gap record is one dim line", async () => {
  const pane = await Pane.open();
  try {
    const frames = await scrollbackFrames();
    const before = await recordsOf(WIDTH, numbered("before", 3));
    await pane.show(update(before, frames));
    assert.deepEqual(await pane.history(), numbered("before", 3));
    const after = [...numbered("\x1b[36mafter\x1b[0m", 8), "wraps ".repeat(6)];
    const records: LogRecord[] = [
      ...await recordsOf(WIDTH, numbered("cleared", 2)),
      { kind: "clear" },
      ...await recordsOf(WIDTH, after),
      { kind: "gap", lines: 1234 },
      ...await recordsOf(WIDTH, ["the end"]),
    ];
    await pane.show(update(records, frames));
    assert.deepEqual(await pane.history(), [
      ...after.map(canonical),
      "{faint//}[tmosh: 1234 lines not delivered]",
      "the end",
    ]);
    await pane.assertShows(frames[1]);
  } finally {
    await pane.close();
  }
});

tmux.test("scrollbackBytes: logical lines from a wider or narrower screen reflow to the terminal's width", async () => {
  const pane = await Pane.open();
  try {
    const frames = await scrollbackFrames();
    const wide = [
      // Twice a wide character does not fit in the last column, left as it was.
      "abcdefghijklmnopqrs中abcdefghijklmnopq中文",
      ...numbered("fill", HEIGHT),
      // Wraps on the bottom row with a background set (tmux scrolls in a
      // default row; a terminal with bce would colour it and EL clears it).
      "\x1b[44mthirty-column screen line, blue\x1b[0m end",
      "short",
    ];
    const narrow = ["twelve-column line, wrapped", "ok"];
    const records = [
      ...await recordsOf(30, wide),
      ...await recordsOf(12, narrow),
    ];
    await pane.show(update(records, frames));
    assert.deepEqual(await pane.history(), [...wide, ...narrow].map(canonical));
    await pane.assertShows(frames[1]);
  } finally {
    await pane.close();
  }
});

/** A block record of `lines` (plain ASCII, CR LF between them). */
function block(lines: string[]): LogRecord {
  return {
    kind: "block",
    bytes: new TextEncoder().encode(lines.join("\r\n")),
    lines: lines.length,
  };
}

tmux.test("scrollbackBytes: block records reach tmux's history line by line, before, between and after other records", async () => {
  const pane = await Pane.open();
  try {
    const frames = await scrollbackFrames();
    // A block shorter than the screen, one longer, blank and space-only
    // lines, lines wider than the pane (they wrap there) and styled lines
    // between blocks.
    const small = numbered("small", 2);
    const big = [...numbered("big", 2 * HEIGHT + 3), "", "   ", "x"];
    const wide = ["a line of plain text wider than the pane", "w"];
    const styled = numbered("\x1b[32mgreen\x1b[0m", 2);
    const records: LogRecord[] = [
      block(small),
      ...await recordsOf(WIDTH, styled),
      block(big),
      block(wide),
      { kind: "gap", lines: 7 },
      block(["last"]),
    ];
    await pane.show(update(records, frames));
    assert.deepEqual(await pane.history(), [
      ...small,
      ...styled.map(canonical),
      ...big.map((l) => l.trimEnd()),
      ...wide,
      "{faint//}[tmosh: 7 lines not delivered]",
      "last",
    ]);
    await pane.assertShows(frames[1]);
  } finally {
    await pane.close();
  }
});
