/**
 * Local echo: Mosh's prediction engine (docs/architecture.md §4; mosh:
 * terminaloverlay.cc, PredictionEngine) as pure logic over framebuffer
 * snapshots, plus tmosh's first-key policy (see prediction_confidence.ts).
 *
 * Use: on each keystroke batch `setLocalFrameSent(last sent state)` then
 * `newUserInput` (a paste of more than 100 bytes calls `reset()` instead);
 * on each server state `setLocalFrameAcked`/`setLocalFrameLateAcked` (echo
 * ack); on every redraw `cull(serverFb, now)` then `apply(serverFb)`.
 * @module
 */

import { PREDICT_TIMING_WAIT } from "./constants.ts";
import {
  cellAt,
  type Framebuffer,
  type Row,
} from "../../protocol/terminal/framebuffer.ts";
import { wcwidth } from "../../protocol/terminal/wcwidth.ts";
import type { PredictMode } from "../client_args.ts";
import { InputParser } from "./input.ts";
import {
  applyOverlayRow,
  cellValidity,
  CursorMove,
  cursorValidity,
  makeOverlayRow,
  type OverlayCell,
  type OverlayRow,
} from "./overlay.ts";
import { EchoConfidence } from "./confidence.ts";
import { predictBlankRow, predictErase, predictInsert } from "./edit.ts";
import { DisplayTriggers } from "./triggers.ts";

export type { PredictMode } from "../client_args.ts";

/** How the first key of a new epoch is treated: mosh waits for an echo, "confident" may show it at once. */
export type FirstKeyPolicy = "mosh" | "confident";

/** Options of a `PredictionEngine`. */
export interface PredictionOptions {
  /** Display preference (mosh: MOSH_PREDICTION_DISPLAY). */
  mode: PredictMode;
  /** Overwrite instead of insert (mosh: MOSH_PREDICTION_OVERWRITE=yes). */
  overwrite?: boolean;
  /** First-key policy; default "confident" for adaptive and always, "mosh" otherwise. */
  firstKey?: FirstKeyPolicy;
}

/** Counters for tests and benchmarks. */
export interface PredictionStats {
  /** Printable keys predicted. */
  predicted: number;
  /** Of those, keys shown the moment they were typed. */
  shownInstantly: number;
  /** Cell predictions confirmed by the server (with credit). */
  confirmed: number;
  /** Shown predictions that turned out wrong (each reset counts once). */
  mispredicted: number;
  /** Tentative (never shown) epochs that turned out wrong. */
  killedTentative: number;
  /** First keys shown at once by the "confident" policy. */
  vouched: number;
}

/** Mosh's predictor of local echo (mosh: PredictionEngine). */
export class PredictionEngine {
  readonly #mode: PredictMode;
  readonly #overwrite: boolean;
  readonly #firstKey: FirstKeyPolicy;
  readonly #parser = new InputParser();
  readonly #confidence = new EchoConfidence();
  #lastByte = 0;
  #overlays: OverlayRow[] = [];
  #cursors: CursorMove[] = [];
  #sent = 0;
  #acked = 0;
  #lateAcked = 0;
  #predictionEpoch = 1;
  #confirmedEpoch = 0;
  readonly #triggers = new DisplayTriggers();
  #sendInterval = 250;
  #lastHeight = 0;
  #lastWidth = 0;
  /** Epoch whose context was taken, and that context. */
  #contextEpoch = 0;
  #context: string | undefined = undefined;
  /** The next printable key is the first of its epoch. */
  #vouchPending = false;
  /** Newest client state that carries a key typed so far. */
  #inputFrame = 0;
  #stats: PredictionStats = {
    predicted: 0,
    shownInstantly: 0,
    confirmed: 0,
    mispredicted: 0,
    killedTentative: 0,
    vouched: 0,
  };

  constructor(options: PredictionOptions) {
    this.#mode = options.mode;
    this.#overwrite = options.overwrite ?? false;
    const confidentOk = options.mode === "adaptive" ||
      options.mode === "always";
    this.#firstKey = confidentOk ? options.firstKey ?? "confident" : "mosh";
  }

  /** Set the transport's send interval, ms (thresholds compare against it). */
  setSendInterval(ms: number): void {
    this.#sendInterval = ms;
  }

  /** Set the number of the newest client state sent. */
  setLocalFrameSent(n: bigint): void {
    this.#sent = Number(n);
  }

  /** Set the newest client state the server acknowledged. */
  setLocalFrameAcked(n: bigint): void {
    this.#acked = Number(n);
  }

  /** Set the server's echo ack (docs/wire.md §8.3). */
  setLocalFrameLateAcked(n: bigint): void {
    this.#lateAcked = Number(n);
  }

  /** A copy of the counters. */
  get stats(): PredictionStats {
    return { ...this.#stats };
  }

  /** Forget every prediction; the next ones must earn trust again. */
  reset(): void {
    this.#cursors = [];
    this.#overlays = [];
    this.#becomeTentative();
  }

  /** Ms until the engine wants another cull and redraw (Infinity: no need). */
  waitTime(_now: number): number {
    const t = this.#triggers.timingTestsNecessary;
    return t && this.#active() ? PREDICT_TIMING_WAIT : Infinity;
  }

  /** Predict the effect of keyboard bytes typed at `now` on top of `fb`. */
  newUserInput(bytes: Uint8Array, fb: Framebuffer, now: number): void {
    if (this.#mode === "never") return;
    for (const b of bytes) {
      this.#newUserByte(b, fb, now);
      this.#inputFrame = this.#sent + 1;
    }
  }

  /** Judge the predictions against the server's newest framebuffer (mosh: cull). */
  cull(fb: Framebuffer, now: number): void {
    if (this.#mode === "never") return;
    if (fb.height !== this.#lastHeight || fb.width !== this.#lastWidth) {
      this.#lastHeight = fb.height;
      this.#lastWidth = fb.width;
      this.reset();
    }
    this.#triggers.update(this.#sendInterval, this.#active());
    const experimental = this.#mode === "experimental";
    for (const row of [...this.#overlays]) {
      if (row.rowNum < 0 || row.rowNum >= fb.height) {
        this.#overlays.splice(this.#overlays.indexOf(row), 1);
        continue;
      }
      for (let x = 0; x < row.cells.length; x++) {
        const cell = row.cells[x];
        const v = cellValidity(cell, fb, {
          row: row.rowNum,
          lateAck: this.#lateAcked,
        });
        if (v === "incorrect") {
          this.#confidence.kill(cell.context, fb, { row: row.rowNum, now });
          if (cell.tentative(this.#confirmedEpoch)) {
            this.#stats.killedTentative++;
            if (experimental) cell.reset();
            else this.#killEpoch(cell.tentativeUntilEpoch, fb);
          } else {
            if (this.#showing()) this.#stats.mispredicted++;
            if (experimental) cell.reset();
            else {
              this.reset();
              return;
            }
          }
        } else if (v === "correct") {
          this.#confirm(row, x, fb, now);
        } else if (v === "correctNoCredit") {
          cell.reset();
        } else if (v === "pending") {
          this.#triggers.pending(now - cell.predictionTime);
        }
      }
    }
    const lateAck = { lateAck: this.#lateAcked };
    const newest = this.#cursors.at(-1);
    if (newest && cursorValidity(newest, fb, lateAck) === "incorrect") {
      if (!newest.tentative(this.#confirmedEpoch) && this.#showing()) {
        this.#stats.mispredicted++;
      }
      if (experimental) this.#cursors = [];
      else {
        this.reset();
        return;
      }
    }
    this.#cursors = this.#cursors.filter((c) =>
      cursorValidity(c, fb, lateAck) === "pending"
    );
  }

  /** `fb` with the shown predictions drawn on it (underlined when flagging) and the cursor moved. */
  apply(fb: Framebuffer): Framebuffer {
    if (!this.#showing()) return fb;
    let row = -1, col = -1;
    for (const c of this.#cursors) {
      if (c.tentative(this.#confirmedEpoch)) continue;
      if (c.row < fb.height && c.col < fb.width) [row, col] = [c.row, c.col];
    }
    let rows: Row[] | undefined;
    for (const overlay of this.#overlays) {
      if (overlay.rowNum < 0 || overlay.rowNum >= fb.height) continue;
      const before = fb.rows[overlay.rowNum];
      const after = applyOverlayRow(before, overlay, {
        confirmedEpoch: this.#confirmedEpoch,
        flag: this.#triggers.flagging,
      });
      if (after !== before) (rows ??= fb.rows.slice())[overlay.rowNum] = after;
    }
    if (rows === undefined && row < 0) return fb;
    if (row < 0) return { ...fb, rows: rows ?? fb.rows };
    return {
      ...fb,
      rows: rows ?? fb.rows,
      cursorRow: row,
      cursorCol: col,
      cursorPendingWrap: false,
    };
  }

  // ---- judging ----

  #showing(): boolean {
    const m = this.#mode;
    if (m === "never") return false;
    const t = this.#triggers;
    return t.srtt || t.glitch > 0 || m === "always" || m === "experimental";
  }

  #confirm(row: OverlayRow, x: number, fb: Framebuffer, now: number): void {
    const cell = row.cells[x];
    this.#stats.confirmed++;
    this.#confidence.confirm(cell.context, now);
    if (cell.tentativeUntilEpoch > this.#confirmedEpoch) {
      this.#confirmedEpoch = cell.tentativeUntilEpoch;
    }
    this.#triggers.confirmed(now - cell.predictionTime, now);
    // Match the rest of the row to the renditions the server actually used.
    const actual = cellAt(fb, row.rowNum, x).rendition;
    for (let k = x; k < row.cells.length; k++) {
      const r = row.cells[k].replacement;
      row.cells[k].replacement = {
        text: r.text,
        width: r.width,
        rendition: actual,
      };
    }
    cell.reset();
  }

  #killEpoch(epoch: number, fb: Framebuffer): void {
    this.#cursors = this.#cursors.filter((c) => c.tentativeUntilEpoch < epoch);
    this.#pushCursor(fb.cursorRow, fb.cursorCol, fb);
    for (const row of this.#overlays) {
      for (const cell of row.cells) {
        if (cell.tentativeUntilEpoch >= epoch) cell.reset();
      }
    }
    this.#becomeTentative();
  }

  #becomeTentative(): void {
    if (this.#mode !== "experimental") this.#predictionEpoch++;
  }

  #active(): boolean {
    if (this.#cursors.length > 0) return true;
    return this.#overlays.some((r) => r.cells.some((c) => c.active));
  }

  // ---- predicting ----

  #pushCursor(row: number, col: number, fb: Framebuffer): void {
    const r = Math.max(0, Math.min(row, fb.height - 1));
    const c = Math.max(0, Math.min(col, fb.width - 1));
    this.#cursors.push(
      new CursorMove({
        row: r,
        col: c,
        frame: this.#sent + 1,
        epoch: this.#predictionEpoch,
      }),
    );
    // Bound the list while the server is unreachable (mosh keeps them all).
    if (this.#cursors.length > 1024) this.#cursors.shift();
  }

  #cursor(): CursorMove {
    return this.#cursors[this.#cursors.length - 1];
  }

  #initCursor(fb: Framebuffer): void {
    const last = this.#cursors.at(-1);
    if (last === undefined) this.#pushCursor(fb.cursorRow, fb.cursorCol, fb);
    else if (last.tentativeUntilEpoch !== this.#predictionEpoch) {
      this.#pushCursor(last.row, last.col, fb);
    }
  }

  #row(rowNum: number, width: number): OverlayRow {
    let row = this.#overlays.find((r) => r.rowNum === rowNum);
    if (row === undefined) {
      row = makeOverlayRow(rowNum, { width, epoch: this.#predictionEpoch });
      this.#overlays.push(row);
    }
    return row;
  }

  #arm(cell: OverlayCell, now: number): void {
    cell.arm(this.#predictionEpoch, this.#sent + 1, now);
    cell.context = this.#contextEpoch === this.#predictionEpoch
      ? this.#context
      : undefined;
  }

  #newUserByte(input: number, fb: Framebuffer, now: number): void {
    if (this.#mode === "experimental") {
      this.#predictionEpoch = this.#confirmedEpoch;
    }
    this.cull(fb, now);
    const byte = this.#lastByte === 0x1b && input === 0x4f ? 0x5b : input;
    this.#lastByte = byte;
    for (const act of this.#parser.feed(byte)) {
      if (act.kind === "print") {
        this.#initCursor(fb);
        if (act.ch === 0x7f) this.#backspace(fb, now);
        else if (act.ch < 0x20 || wcwidth(act.ch) !== 1) {
          this.#becomeTentative();
        } else this.#printable(act.ch, fb, now);
      } else if (act.kind === "execute") {
        this.#becomeTentative();
        if (act.ch === 0x0d) this.#newlineCarriageReturn(fb, now);
      } else if (act.kind === "esc") {
        this.#becomeTentative();
      } else if (act.ch === 0x43 || act.ch === 0x44) {
        this.#initCursor(fb);
        const cur = this.#cursor();
        const col = act.ch === 0x43
          ? Math.min(cur.col + 1, fb.width - 1)
          : Math.max(cur.col - 1, 0);
        if (col !== cur.col) {
          cur.col = col;
          cur.expirationFrame = this.#sent + 1;
        }
      } else {
        this.#becomeTentative();
      }
    }
  }

  #backspace(fb: Framebuffer, now: number): void {
    const cur = this.#cursor();
    const row = this.#row(cur.row, fb.width);
    if (cur.col <= 0) return;
    cur.col--;
    cur.expirationFrame = this.#sent + 1;
    predictErase(row, fb, {
      col: cur.col,
      overwrite: this.#overwrite,
      arm: (cell) => this.#arm(cell, now),
    });
  }

  #printable(ch: number, fb: Framebuffer, now: number): void {
    const cur = this.#cursor();
    const width = fb.width;
    const row = this.#row(cur.row, width);
    // The last column is tricky (emacs shows a wrap mark, shells just print).
    if (cur.col + 1 >= width) this.#becomeTentative();
    this.#takeContext(fb);
    const cell = predictInsert(row, fb, {
      col: cur.col,
      ch,
      overwrite: this.#overwrite,
      arm: (c) => this.#arm(c, now),
    });
    this.#stats.predicted++;
    this.#maybeVouch(cell, now);
    if (!cell.tentative(this.#confirmedEpoch) && this.#showing()) {
      this.#stats.shownInstantly++;
    }
    cur.expirationFrame = this.#sent + 1;
    if (cur.col < width - 1) cur.col++;
    else {
      this.#becomeTentative();
      this.#newlineCarriageReturn(fb, now);
    }
  }

  /**
   * On the first printable key of an epoch, note the screen context if typing
   * starts at the real cursor of a screen that has seen every earlier key
   * (after e.g. Up or Tab still in flight, the screen is about to change).
   */
  #takeContext(fb: Framebuffer): void {
    if (this.#contextEpoch === this.#predictionEpoch) return;
    this.#contextEpoch = this.#predictionEpoch;
    const cur = this.#cursor();
    const idle = cur.row === fb.cursorRow && cur.col === fb.cursorCol &&
      this.#lateAcked >= this.#inputFrame &&
      !this.#overlays.some((r) => r.cells.some((c) => c.active));
    this.#context = idle ? this.#confidence.contextAt(fb) : undefined;
    this.#vouchPending = true;
  }

  /** The "confident" first-key policy: show the epoch's first key at once where echo is expected. */
  #maybeVouch(cell: OverlayCell, now: number): void {
    if (!this.#vouchPending) return;
    this.#vouchPending = false;
    if (
      this.#firstKey !== "confident" || !cell.tentative(this.#confirmedEpoch)
    ) return;
    if (!this.#confidence.trusts(cell.context, now)) return;
    this.#confirmedEpoch = this.#predictionEpoch;
    this.#stats.vouched++;
  }

  #newlineCarriageReturn(fb: Framebuffer, now: number): void {
    this.#initCursor(fb);
    const cur = this.#cursor();
    cur.col = 0;
    if (cur.row !== fb.height - 1) {
      cur.row++;
      return;
    }
    predictBlankRow(
      this.#row(cur.row, fb.width),
      (cell) => this.#arm(cell, now),
    );
  }
}
