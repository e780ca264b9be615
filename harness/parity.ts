/**
 * Emulator parity against stock mosh-server: the same bytes go (a) through a
 * stock `mosh-server` to the headless tmosh client and (b) through tmosh's
 * emulator, and the two screens are compared cell by cell (contents, width,
 * every rendition, wrap flags) plus cursor, current rendition, title and
 * the DEC modes mosh sends. A failing case is shrunk over its tokens
 * (delta debugging) and printed as a ready-to-paste unit test.
 *
 * The stock side runs one mosh-server per terminal size with a small shell
 * loop in a raw, non-echoing pty: a typed `R<n>` line makes it print RIS and
 * set the clipboard to `R<n>` (the client waits for that and a blank screen,
 * see {@linkcode isBlankScreen});
 * `F<n> PATH` makes it `cat PATH`, then set the clipboard to `DF<n>`. The
 * clipboard is the sentinel, so no case may write OSC 52 and clipboards are
 * not compared; nor is the bell count (a stock diff rings once per frame).
 * @module
 */

import { Emulator } from "../protocol/terminal/emulator.ts";
import {
  type Framebuffer,
  rowCell,
  sgrFor,
} from "../protocol/terminal/framebuffer.ts";
import { HeadlessClient } from "./headless_client.ts";
import { startStockServer, type StockServer } from "./stock_mosh.ts";
import { soupBytes } from "./terminal_soup.ts";

/** Longest wait for one step of the stock session, ms. */
const STEP_MS = 2000;

const LOOP = [
  "stty raw -echo",
  "printf '\\033]52;c;READY\\007'",
  "while IFS= read -r line; do",
  '  case "$line" in',
  "    R*) printf '\\033c\\033]52;c;%s\\007' \"$line\" ;;",
  '    F*) id=${line%% *}; cat "${line#* }"; ' +
  "printf '\\033]52;c;D%s\\007' \"$id\" ;;",
  "  esac",
  "done",
].join("\n");

/** A stock mosh-server session of one size that renders byte streams on a fresh screen. */
export class StockScreens {
  readonly width: number;
  readonly height: number;
  #server: StockServer;
  #client: HeadlessClient;
  #dir: string;
  #n = 0;

  private constructor(
    width: number,
    height: number,
    server: StockServer,
    client: HeadlessClient,
    dir: string,
  ) {
    this.width = width;
    this.height = height;
    this.#server = server;
    this.#client = client;
    this.#dir = dir;
  }

  /** Starts a stock mosh-server and connects a headless client of `width` x `height`. */
  static async start(width: number, height: number): Promise<StockScreens> {
    const dir = await Deno.makeTempDir({ prefix: "tmosh-parity-" });
    const server = await startStockServer({ command: ["sh", "-c", LOOP] });
    let client: HeadlessClient | null = null;
    try {
      client = HeadlessClient.connect({
        ip: "127.0.0.1",
        port: server.port,
        key: server.key,
        width,
        height,
      });
      const c = client;
      await c.waitFor(
        () =>
          c.fb.clipboard === "READY" && c.fb.width === width &&
          c.fb.height === height,
        "the stock loop to start",
        STEP_MS,
      );
      return new StockScreens(width, height, server, client, dir);
    } catch (e) {
      await client?.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** Sessions restarted because a step timed out (see {@linkcode run}). */
  restarts = 0;

  /**
   * The screen a stock client holds after `bytes` are written to a freshly
   * reset stock server. A step that times out restarts the session and runs
   * the case once more.
   */
  async run(bytes: Uint8Array): Promise<Framebuffer> {
    try {
      return await this.#run(bytes);
    } catch (e) {
      this.restarts++;
      await this.#client.close();
      await this.#server.stop();
      const fresh = await StockScreens.start(this.width, this.height);
      await Deno.remove(fresh.#dir, { recursive: true }).catch(() => {});
      this.#server = fresh.#server;
      this.#client = fresh.#client;
      if (this.restarts > 1000) throw e;
      return await this.#run(bytes);
    }
  }

  async #run(bytes: Uint8Array): Promise<Framebuffer> {
    const c = this.#client, n = ++this.#n;
    c.type(`R${n}\n`);
    await c.waitFor(
      () => c.fb.clipboard === `R${n}` && isBlankScreen(c.fb),
      `reset ${n}`,
      STEP_MS,
    );
    const path = `${this.#dir}/case-${n}`;
    await Deno.writeFile(path, bytes);
    c.type(`F${n} ${path}\n`);
    await c.waitFor(() => c.fb.clipboard === `DF${n}`, `case ${n}`, STEP_MS);
    await Deno.remove(path).catch(() => {});
    return c.fb;
  }

  /** Stops the server and the client and removes the temporary files. */
  async close(): Promise<void> {
    await this.#client.close();
    await this.#server.stop();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Whether `fb` is a reset screen as a stock client holds it: cursor home, no
 * wrap flags, every cell blank by {@linkcode screenModel}'s rule, so a space
 * with the default rendition counts. A stock display draws the first cell of
 * the row after a wrapped row even when it is empty (a space), and its later
 * diffs count that cell as blank, so the space outlives a reset.
 */
export function isBlankScreen(fb: Framebuffer): boolean {
  if (fb.cursorRow !== 0 || fb.cursorCol !== 0) return false;
  const m = screenModel(fb);
  return m.styles.length === 0 && m.lines.every((l) => /^\.*$/.test(l));
}

/** The screen tmosh's emulator holds after `bytes` (a fresh emulator of the given size). */
export function emulate(
  width: number,
  height: number,
  bytes: Uint8Array,
): Framebuffer {
  return emulateFull(width, height, bytes).fb;
}

/** {@linkcode emulate}, also telling whether a wide character ended in the last column. */
export function emulateFull(
  width: number,
  height: number,
  bytes: Uint8Array,
): { fb: Framebuffer; wideInLastColumn: boolean } {
  const e = new Emulator(width, height);
  try {
    e.onReply(() => {});
    e.writeSync(bytes);
    return { fb: e.snapshot(), wideInLastColumn: e.hasWideInLastColumn() };
  } finally {
    e.dispose();
  }
}

/** A framebuffer spelled out for comparison and for unit tests. */
export interface ScreenModel {
  /** Rows: "." blank, "_" wide continuation, "/" at the end when the row wraps. */
  lines: string[];
  /** Runs of cells whose rendition is not the default: "row:from-to SGR". */
  styles: string[];
  /** Cursor row, column, visibility, current rendition, title and DEC modes. */
  state: string[];
}

/**
 * The comparable model of `fb`. A space with default foreground and no
 * attributes counts as blank: stock mosh paints short blank runs as spaces,
 * so a stock client holds " " where the server holds an empty cell.
 */
export function screenModel(fb: Framebuffer): ScreenModel {
  const lines: string[] = [], styles: string[] = [];
  for (let y = 0; y < fb.height; y++) {
    const row = fb.rows[y];
    let line = "";
    let run: { from: number; sgr: string } | null = null;
    const flush = (to: number) => {
      if (run && run.sgr !== "\x1b[0m") {
        styles.push(`${y}:${run.from}-${to} ${JSON.stringify(run.sgr)}`);
      }
      run = null;
    };
    for (let x = 0; x < fb.width; x++) {
      const cell = rowCell(row, x);
      const r = cell.rendition;
      const blank = cell.text === "" ||
        (cell.text === " " && r.attrs === 0 && r.fg === 0);
      line += cell.width === 0 ? "_" : blank ? "." : cell.text;
      const sgr = sgrFor(blank ? { attrs: 0, fg: 0, bg: r.bg } : r);
      if (run === null || run.sgr !== sgr) {
        flush(x - 1);
        run = { from: x, sgr };
      }
    }
    flush(fb.width - 1);
    lines.push(line + (row.wrap ? "/" : ""));
  }
  const state = [
    `cursor ${fb.cursorRow},${fb.cursorCol}${
      fb.cursorVisible ? "" : " hidden"
    }`,
    `rendition ${JSON.stringify(sgrFor(fb.rendition))}`,
    `title ${JSON.stringify(fb.title)}`,
    `modes reverse=${fb.reverseVideo} paste=${fb.bracketedPaste} ` +
    `mouse=${fb.mouseReporting}/${fb.mouseEncoding} focus=${fb.focusEvents}`,
  ];
  return { lines, styles, state };
}

/** Whether a diff from a blank screen draws the last cell of row y. */
function lastCellDrawn(fb: Framebuffer, y: number): boolean {
  const c = rowCell(fb.rows[y], fb.width - 1);
  return c.text !== "" || c.width === 0 || c.rendition.bg !== 0;
}

/** The differences between two screens (stock first), or [] when equal. */
export function compareScreens(
  stock: Framebuffer,
  ours: Framebuffer,
): string[] {
  if (
    stock.cursorRow === ours.cursorRow &&
    stock.cursorCol === ours.cursorCol - 1 &&
    ours.cursorCol > ours.width - 5 && lastCellDrawn(ours, ours.cursorRow)
  ) {
    // Stock mosh 1.4's display, having drawn a row's last cell, tracks its
    // cursor "past the last column" and reaches a cursor up to 4 columns left
    // with backspaces: the first only leaves the pending wrap, so a stock
    // client shows the cursor one column left of the server's.
    stock = { ...stock, cursorCol: ours.cursorCol };
  }
  const a = screenModel(stock), b = screenModel(ours);
  const out: string[] = [];
  if (stock.width !== ours.width || stock.height !== ours.height) {
    out.push(
      `size ${stock.width}x${stock.height} != ${ours.width}x${ours.height}`,
    );
    return out;
  }
  for (let y = 0; y < a.lines.length; y++) {
    if (a.lines[y] !== b.lines[y]) {
      out.push(
        `row ${y}: stock |${a.lines[y]}|\n        tmosh |${b.lines[y]}|`,
      );
    }
  }
  const as = new Set(a.styles), bs = new Set(b.styles);
  for (const s of a.styles) if (!bs.has(s)) out.push(`style only stock: ${s}`);
  for (const s of b.styles) if (!as.has(s)) out.push(`style only tmosh: ${s}`);
  for (let i = 0; i < a.state.length; i++) {
    if (a.state[i] !== b.state[i]) {
      out.push(`stock ${a.state[i]}\n  tmosh ${b.state[i]}`);
    }
  }
  return out;
}

/**
 * Delta debugging (ddmin over complements): a smallest-found sublist of
 * `tokens` for which `fails` still holds; then text tokens are split into
 * single code points and the list is minimized again.
 */
export async function shrinkTokens(
  tokens: string[],
  fails: (tokens: string[]) => Promise<boolean>,
): Promise<string[]> {
  let cur = await ddmin(tokens, fails);
  const split = cur.flatMap((t) => t.startsWith("\x1b") ? [t] : [...t]);
  if (split.length > cur.length) cur = await ddmin(split, fails);
  return cur;
}

async function ddmin(
  tokens: string[],
  fails: (tokens: string[]) => Promise<boolean>,
): Promise<string[]> {
  let cur = tokens, n = 2;
  while (cur.length >= 2) {
    const size = Math.ceil(cur.length / n);
    let reduced = false;
    for (let i = 0; i < cur.length; i += size) {
      const rest = [...cur.slice(0, i), ...cur.slice(i + size)];
      if (await fails(rest)) {
        cur = rest;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (size === 1) break;
      n = Math.min(n * 2, cur.length);
    }
  }
  return cur;
}

/** A JavaScript string literal with every control character escaped. */
export function quote(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A ready-to-paste unit test: the minimal bytes and the screen stock mosh shows. */
export function unitTestSource(
  name: string,
  width: number,
  height: number,
  tokens: string[],
  stock: Framebuffer,
): string {
  const m = screenModel(stock);
  const lastUsed = m.lines.findLastIndex((l) => !/^[.]*\/?$/.test(l));
  const lines = m.lines.slice(0, Math.max(lastUsed + 1, 1));
  return [
    `Deno.test(${quote(name)}, () => {`,
    `  assertScreen(${width}, ${height}, [`,
    ...tokens.map((t) => `    ${quote(t)},`),
    `  ], {`,
    `    lines: [`,
    ...lines.map((l) => `      ${quote(l)},`),
    `    ],`,
    `    styles: [${m.styles.map(quote).join(", ")}],`,
    `    state: [${m.state.map(quote).join(", ")}],`,
    `  });`,
    `});`,
  ].join("\n");
}

/** The outcome of checking one case against stock mosh. */
export interface CaseResult {
  diffs: string[];
  /** Left out: a wide character ends in the last column (see below). */
  excluded: boolean;
  stock: Framebuffer;
  ours: Framebuffer;
}

/** Runs `tokens` through stock mosh (via `screens`) and through tmosh's emulator; compares. */
export async function checkCase(
  screens: StockScreens,
  tokens: readonly string[],
): Promise<CaseResult> {
  const bytes = soupBytes(tokens);
  const e = emulateFull(screens.width, screens.height, bytes);
  if (e.wideInLastColumn) {
    // Stock mosh keeps such a character; its display prints it there and a stock
    // client's autowrap moves it to the next row: a display artifact, left out.
    return { diffs: [], excluded: true, stock: e.fb, ours: e.fb };
  }
  const stock = await screens.run(bytes);
  return {
    diffs: compareScreens(stock, e.fb),
    excluded: false,
    stock,
    ours: e.fb,
  };
}

/** Shrinks a failing case and returns the unit test to paste (the first difference in a comment). */
export async function shrinkCase(
  screens: StockScreens,
  name: string,
  tokens: string[],
): Promise<{ tokens: string[]; source: string; diffs: string[] }> {
  const small = await shrinkTokens(
    tokens,
    async (t) => (await checkCase(screens, t)).diffs.length > 0,
  );
  const r = await checkCase(screens, small);
  return {
    tokens: small,
    diffs: r.diffs,
    source: unitTestSource(name, screens.width, screens.height, small, r.stock),
  };
}
