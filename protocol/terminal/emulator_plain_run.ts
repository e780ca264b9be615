/**
 * A shortcut through floods of plain lines in native-scrollback mode
 * (docs/emulation.md §15.4): when the output holds a long run of lines of
 * printable ASCII, each shorter than the screen and ended by CR LF, and the
 * cursor waits at the start of a blank bottom row of a full-screen region on
 * the normal screen in the default rendition, the parser would print each
 * line on the bottom row and scroll it off again. The lines that would
 * leave the screen before the run ends are recorded directly as text
 * records; the rows that would be left on screen are written as the parser
 * would have written them, and the run's last lines still go through the
 * parser, so everything after the run sees exactly the state the parser
 * would have left (cursor, last printed character, combining target).
 * @module
 */

import type { ScrollRecorder } from "./emulator_scrollback.ts";
import { X_NARROW, type XHandler } from "./xterm_internals.ts";

const CR = 0x0d, LF = 0x0a, SPACE = 0x20, TILDE = 0x7e;
/** The parser's ground state (xterm's ParserState.GROUND). */
const PARSER_GROUND = 0;
/**
 * Fewest lines a run must have beyond the rows above the bottom (which it
 * leaves on screen) for the shortcut to pay for its checks.
 */
export const PLAIN_RUN_MIN_SKIP = 16;

/** A run of plain lines: line i spans `starts[i]` up to its CR LF; the run ends at `end` (after the last CR LF). */
export interface PlainRun {
  readonly starts: number[];
  readonly end: number;
}

/** The end (exclusive, before its CR LF) of line `i` of `run`. */
function lineEnd(run: PlainRun, i: number): number {
  return (i + 1 < run.starts.length ? run.starts[i + 1] : run.end) - 2;
}

/**
 * The first run of at least `min` plain lines in `data` from `from` on (each
 * of printable ASCII, fewer than `cols` bytes, ended by CR LF), starting at
 * `from` or just after a CR LF; null if there is none.
 */
export function findPlainRun(
  data: Uint8Array,
  options: { from: number; cols: number; min: number },
): PlainRun | null {
  const { cols, min } = options, n = data.length;
  let starts: number[] = [];
  let start = options.from;
  while (start < n) {
    let j = start;
    while (j < n && data[j] >= SPACE && data[j] <= TILDE) j++;
    if (j + 1 < n && data[j] === CR && data[j + 1] === LF && j - start < cols) {
      starts.push(start);
      start = j + 2;
      continue;
    }
    if (starts.length >= min) return { starts, end: start };
    starts = [];
    // The next candidate starts after the next CR LF.
    while (j + 1 < n && !(data[j] === CR && data[j + 1] === LF)) j++;
    if (j + 1 >= n) return null;
    start = j + 2;
  }
  return starts.length >= min ? { starts, end: start } : null;
}

/** Whether cells `from`..`cols - 1` of a line's data are blanks the parser would print over (narrow, no text, default rendition, no wrap). */
function blankCells(d: Uint32Array, from: number, cols: number): boolean {
  for (let i = from * 3; i < cols * 3; i += 3) {
    if (d[i] !== X_NARROW || d[i + 1] !== 0 || d[i + 2] !== 0) return false;
  }
  return true;
}

/** Skips the parser for runs of plain lines, for one emulator in native-scrollback mode. */
export class PlainRunSkipper {
  readonly #ih: XHandler;
  readonly #recorder: ScrollRecorder;
  readonly #follow: () => void;
  /**
   * The lines the last skip left on the rows above the bottom (their bytes,
   * CR LF between them): when the next skip finds those rows still holding
   * exactly them, they join its block instead of being read back row by row.
   */
  #held: Uint8Array | null = null;

  /** A skipper for `ih`'s normal screen recording into `recorder`; `follow` makes the combining target the cursor's cell. */
  constructor(
    ih: XHandler,
    recorder: ScrollRecorder,
    options: { follow: () => void },
  ) {
    this.#ih = ih;
    this.#recorder = recorder;
    this.#follow = options.follow;
  }

  /** Parses `chunk` with `parse` (it takes copies), except runs of plain lines. */
  feed(chunk: Uint8Array, parse: (bytes: Uint8Array) => void): void {
    const cols = this.#ih._bufferService.cols;
    const min = this.#ih._bufferService.rows - 1 + PLAIN_RUN_MIN_SKIP;
    let pos = 0;
    for (
      let run = findPlainRun(chunk, { from: 0, cols, min });
      run !== null;
      run = findPlainRun(chunk, { from: pos, cols, min })
    ) {
      if (run.starts[0] > pos) parse(chunk.slice(pos, run.starts[0]));
      pos = run.starts[0];
      // A run found mid-line (the output before it did not end with CR LF)
      // is ready after its first line.
      for (let first = 0; first < 2 && pos < run.end; first++) {
        if (this.ready()) {
          if (this.skip(chunk, run, first)) pos = run.end;
          break;
        }
        pos = run.starts[first + 1] ?? run.end;
        parse(chunk.slice(run.starts[first], pos));
      }
      if (pos < run.end) parse(chunk.slice(pos, run.end));
      pos = run.end;
    }
    if (pos < chunk.length) parse(chunk.slice(pos));
  }

  /** Whether the parser would print a plain line on a blank bottom row and scroll it off the top into the records. */
  ready(): boolean {
    const ih = this.#ih, buf = ih._activeBuffer;
    const { cols, rows } = ih._bufferService;
    const attr = ih._curAttrData;
    if (
      buf !== ih._bufferService.buffers.normal || buf.scrollTop !== 0 ||
      buf.scrollBottom !== rows - 1 || buf.y !== rows - 1 || buf.x !== 0 ||
      ih._parser.currentState !== PARSER_GROUND ||
      ih._utf8Decoder.interim[0] !== 0 || attr.fg !== 0 || attr.bg !== 0 ||
      ih._coreService.modes.insertMode
    ) return false;
    for (let y = 0; y < rows - 1; y++) {
      const line = buf.lines.get(buf.ybase + y);
      if (line === undefined || line.length < cols) return false;
    }
    const bottom = buf.lines.get(buf.ybase + rows - 1);
    return bottom !== undefined && bottom.length >= cols &&
      blankCells(bottom._data, 0, cols);
  }

  /**
   * Takes the effect of `run`'s lines from line `first` on as the parser
   * would have had it: each printed on the bottom row and scrolled off the
   * top; returns false (nothing done) when they are fewer than the rows
   * above the bottom. Call only when ready().
   */
  skip(data: Uint8Array, run: PlainRun, first: number): boolean {
    const screen = this.#ih._bufferService.rows - 1;
    const count = run.starts.length - first;
    if (count < screen) return false;
    // The screen's rows above the bottom leave first, then the lines up to
    // those that stay on screen.
    const held = this.#held !== null && this.#holds(this.#held, screen)
      ? this.#held
      : null;
    this.#held = null;
    if (held === null && screen > 0) this.#recorder.scrolling(screen);
    const leaving = count - screen, start = run.starts[first];
    const end = leaving > 0 ? lineEnd(run, first + leaving - 1) : start;
    if (held !== null && leaving > 0) {
      const bytes = new Uint8Array(held.length + 2 + end - start);
      bytes.set(held);
      bytes.set([CR, LF], held.length);
      bytes.set(data.subarray(start, end), held.length + 2);
      this.#recorder.block(bytes, screen + leaving);
    } else if (held !== null) {
      this.#recorder.block(held, screen);
    } else if (leaving > 0) {
      this.#recorder.block(data.slice(start, end), leaving);
    }
    for (let y = 0; y < screen; y++) {
      const i = first + leaving + y;
      this.#writeRow(y, data, { start: run.starts[i], end: lineEnd(run, i) });
    }
    if (screen > 0) {
      this.#held = data.slice(run.starts[first + leaving], run.end - 2);
    }
    // After the last CR LF the combining target is the cursor's cell.
    this.#follow();
    return true;
  }

  /** Whether the `screen` rows above the bottom hold exactly the lines of `held`, as #writeRow wrote them. */
  #holds(held: Uint8Array, screen: number): boolean {
    const buf = this.#ih._activeBuffer, cols = this.#ih._bufferService.cols;
    let at = 0;
    for (let y = 0; y < screen; y++) {
      const d = buf.lines.get(buf.ybase + y)!._data;
      let x = 0;
      for (; at < held.length && held[at] !== CR; at++, x++) {
        if (x >= cols || d[x * 3] !== (held[at] | X_NARROW)) return false;
        if (d[x * 3 + 1] !== 0 || d[x * 3 + 2] !== 0) return false;
      }
      if (!blankCells(d, x, cols)) return false;
      at += 2; // CR LF
    }
    return at === held.length + 2;
  }

  /** Makes screen row `y` hold bytes [start, end) as printed in the default rendition from column 0. */
  #writeRow(
    y: number,
    data: Uint8Array,
    span: { start: number; end: number },
  ): void {
    const buf = this.#ih._activeBuffer, cols = this.#ih._bufferService.cols;
    const line = buf.lines.get(buf.ybase + y)!;
    const d = line._data;
    const n = span.end - span.start;
    for (let x = 0, i = 0; x < cols; x++, i += 3) {
      d[i] = x < n ? data[span.start + x] | X_NARROW : X_NARROW;
      d[i + 1] = 0;
      d[i + 2] = 0;
    }
    for (const _ in line._combined) {
      line._combined = {};
      break;
    }
    for (const _ in line._extendedAttrs) {
      line._extendedAttrs = {};
      break;
    }
    line.isWrapped = false;
  }
}
