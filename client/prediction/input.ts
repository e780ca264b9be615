/**
 * The predictor's private reading of keyboard bytes (mosh: Parser::UTF8Parser
 * and the X3.64 state machine of parserstate.cc): UTF-8 decoding with U+FFFD
 * for bad sequences, then the actions a prediction cares about.
 * @module
 */

/** What one decoded character did (mosh: Parser::Print, Execute, Esc_Dispatch, CSI_Dispatch). */
export type InputAction =
  | { kind: "print"; ch: number }
  | { kind: "execute"; ch: number }
  | { kind: "esc"; ch: number }
  | { kind: "csi"; ch: number };

type State =
  | "ground"
  | "escape"
  | "escInter"
  | "csiEntry"
  | "csiParam"
  | "csiInter"
  | "csiIgnore"
  | "dcsEntry"
  | "dcsParam"
  | "dcsInter"
  | "dcsPass"
  | "dcsIgnore"
  | "osc"
  | "sos";

function isC0(ch: number): boolean {
  return ch <= 0x17 || ch === 0x19 || (ch >= 0x1c && ch <= 0x1f);
}

function inRange(ch: number, lo: number, hi: number): boolean {
  return ch >= lo && ch <= hi;
}

/** Keyboard bytes to prediction actions, one byte at a time. */
export class InputParser {
  #state: State = "ground";
  #decoder = new TextDecoder("utf-8", { fatal: false });

  /** Feed one byte; returns the actions of the characters it completed. */
  feed(byte: number): InputAction[] {
    const out: InputAction[] = [];
    if (byte < 0x80) {
      // Flush any unfinished sequence first (it becomes U+FFFD), as mosh does.
      const pending = this.#decoder.decode();
      for (const ch of pending) this.#char(ch.codePointAt(0)!, out);
      this.#char(byte, out);
      return out;
    }
    const text = this.#decoder.decode(new Uint8Array([byte]), { stream: true });
    for (const ch of text) this.#char(ch.codePointAt(0)!, out);
    return out;
  }

  /** Forget any partial character or sequence. */
  reset(): void {
    this.#state = "ground";
    this.#decoder = new TextDecoder("utf-8", { fatal: false });
  }

  #char(ch: number, out: InputAction[]): void {
    if (this.#anywhere(ch, out)) return;
    // High code points take part in the state machine as if they were 'A'.
    const c = ch >= 0xa0 ? 0x41 : ch;
    switch (this.#state) {
      case "ground":
        if (isC0(c)) out.push({ kind: "execute", ch });
        else if (inRange(c, 0x20, 0x7f)) out.push({ kind: "print", ch });
        return;
      case "escape":
        if (isC0(c)) out.push({ kind: "execute", ch });
        else if (inRange(c, 0x20, 0x2f)) this.#state = "escInter";
        else if (c === 0x5b) this.#state = "csiEntry";
        else if (c === 0x5d) this.#state = "osc";
        else if (c === 0x50) this.#state = "dcsEntry";
        else if (c === 0x58 || c === 0x5e || c === 0x5f) this.#state = "sos";
        else if (inRange(c, 0x30, 0x7e)) this.#escDispatch(ch, out);
        return;
      case "escInter":
        if (isC0(c)) out.push({ kind: "execute", ch });
        else if (inRange(c, 0x30, 0x7e)) this.#escDispatch(ch, out);
        return;
      case "csiEntry":
      case "csiParam":
      case "csiInter":
      case "csiIgnore":
        this.#csi(c, ch, out);
        return;
      case "dcsEntry":
      case "dcsParam":
      case "dcsInter":
        this.#dcs(c);
        return;
      default:
        // dcsPass, dcsIgnore, sos: wait for ST; osc also ends at BEL.
        if (this.#state === "osc" && c === 0x07) this.#state = "ground";
        return;
    }
  }

  #anywhere(ch: number, out: InputAction[]): boolean {
    if (
      ch === 0x18 || ch === 0x1a || inRange(ch, 0x80, 0x8f) ||
      inRange(ch, 0x91, 0x97) || ch === 0x99 || ch === 0x9a
    ) {
      out.push({ kind: "execute", ch });
      this.#state = "ground";
    } else if (ch === 0x9c) this.#state = "ground";
    else if (ch === 0x1b) this.#state = "escape";
    else if (ch === 0x98 || ch === 0x9e || ch === 0x9f) this.#state = "sos";
    else if (ch === 0x90) this.#state = "dcsEntry";
    else if (ch === 0x9d) this.#state = "osc";
    else if (ch === 0x9b) this.#state = "csiEntry";
    else return false;
    return true;
  }

  #escDispatch(ch: number, out: InputAction[]): void {
    out.push({ kind: "esc", ch });
    this.#state = "ground";
  }

  #csi(c: number, ch: number, out: InputAction[]): void {
    const s = this.#state;
    if (isC0(c)) {
      out.push({ kind: "execute", ch });
    } else if (inRange(c, 0x40, 0x7e)) {
      if (s !== "csiIgnore") out.push({ kind: "csi", ch });
      this.#state = "ground";
    } else if (s === "csiIgnore") {
      return;
    } else if (inRange(c, 0x20, 0x2f)) {
      this.#state = "csiInter";
    } else if (s === "csiInter") {
      if (inRange(c, 0x30, 0x3f)) this.#state = "csiIgnore";
    } else if (c === 0x3a) {
      this.#state = "csiIgnore";
    } else if (inRange(c, 0x30, 0x39) || c === 0x3b) {
      this.#state = "csiParam";
    } else if (inRange(c, 0x3c, 0x3f)) {
      this.#state = s === "csiEntry" ? "csiParam" : "csiIgnore";
    }
  }

  #dcs(c: number): void {
    const s = this.#state;
    if (inRange(c, 0x40, 0x7e)) this.#state = "dcsPass";
    else if (inRange(c, 0x20, 0x2f)) this.#state = "dcsInter";
    else if (s === "dcsInter") {
      if (inRange(c, 0x30, 0x3f)) this.#state = "dcsIgnore";
    } else if (c === 0x3a) this.#state = "dcsIgnore";
    else if (inRange(c, 0x30, 0x39) || c === 0x3b) this.#state = "dcsParam";
    else if (inRange(c, 0x3c, 0x3f)) {
      this.#state = s === "dcsEntry" ? "dcsParam" : "dcsIgnore";
    }
  }
}
