/**
 * The private @xterm/headless 6.0.0 internals the emulator relies on: their
 * type declarations, bit layouts, and the checks and patches that need them
 * (support check, reflow switch-off, crash-proof synchronous writes).
 * @module
 */

/** The error thrown when xterm.js's internals are not the expected ones. */
export const UNSUPPORTED =
  "tmosh: unsupported @xterm/headless version (internals changed); use 6.0.0";
/** Spare xterm background bit used as mosh's per-cell wrap flag. */
export const WRAP_BIT = 0x80000000;
/** xterm content word: "has any content" mask. */
export const X_CONTENT = 0x3fffff;
/** xterm content word: the cell's text is in the line's `_combined` map. */
export const X_COMBINED = 0x200000;
/** xterm attribute words (buffer/Constants.ts): colour mode mask and modes, 16/256-colour palette, 24-bit RGB. */
export const X_CM_MASK = 0x3000000,
  X_CM_P16 = 0x1000000,
  X_CM_P256 = 0x2000000,
  X_CM_RGB = 0x3000000;
/** xterm attribute words: the colour value bits. */
export const X_COLOR_BITS = 0xffffff;
/** xterm foreground-word flags. */
export const X_FG_INVERSE = 0x4000000,
  X_FG_BOLD = 0x8000000,
  X_FG_UNDERLINE = 0x10000000,
  X_FG_BLINK = 0x20000000,
  X_FG_INVISIBLE = 0x40000000;
/** xterm background-word flags. */
export const X_BG_ITALIC = 0x4000000, X_BG_DIM = 0x8000000;
/** xterm background word: the cell has extended attributes (underline style or colour). */
export const X_BG_HAS_EXTENDED = 0x10000000;
/** xterm content word: the width bits' shift. */
export const X_WIDTH_SHIFT = 22;
/** xterm content word of a narrow (width 1), uncombined cell, code point aside. */
export const X_NARROW = 1 << X_WIDTH_SHIFT;
/** xterm content word: the code point bits. */
export const X_CODEPOINT = 0x1fffff;

/** An xterm cell attribute (fg/bg words with flags). */
export interface XAttr {
  fg: number;
  bg: number;
  extended: unknown;
}
/** An xterm BufferLine: 3 words (content, fg, bg) per cell. */
export interface XLine {
  _data: Uint32Array;
  _combined: Record<number, string>;
  _extendedAttrs: Record<number, unknown>;
  length: number;
  isWrapped: boolean;
  getWidth(x: number): number;
  hasContent(x: number): number;
  getString(x: number): string;
  setCellFromCodepoint(x: number, cp: number, width: number, attr: XAttr): void;
  addCodepointToCell(x: number, cp: number, width: number): void;
  insertCells(x: number, n: number, fill: unknown): void;
  resize(cols: number, fill: unknown): boolean;
  cleanupMemory(): number;
}
/** An xterm Buffer (normal or alternate screen). */
export interface XBuffer {
  x: number;
  y: number;
  ybase: number;
  scrollTop: number;
  scrollBottom: number;
  lines: { get(i: number): XLine | undefined; length: number };
  getNullCell(attr: XAttr): unknown;
}
/** xterm's InputHandler and the services reached through it. */
export interface XHandler {
  _activeBuffer: XBuffer;
  _bufferService: {
    cols: number;
    rows: number;
    scroll(attr: XAttr, wrapped?: boolean): void;
    buffers: { normal: XBuffer; alt: XBuffer };
  };
  _coreService: {
    decPrivateModes: Record<string, boolean>;
    modes: { insertMode: boolean };
  };
  _charsetService: { charset: Record<string, string> | undefined };
  _curAttrData: XAttr;
  _eraseAttrData(): XAttr;
  _stringDecoder: { clear(): void };
  _utf8Decoder: { clear(): void; interim: Uint8Array };
  _parser: {
    reset(): void;
    /** 0 (ground) unless inside an escape sequence or control string. */
    currentState: number;
    precedingJoinState: number;
    _oscParser: XStringParser & {
      start(): void;
      end(...a: unknown[]): unknown;
    };
    _dcsParser: XStringParser & {
      hook(...a: unknown[]): void;
      unhook(...a: unknown[]): unknown;
    };
    _csiHandlers: Record<number, unknown[]>;
    _escHandlers: Record<number, unknown[]>;
    _executeHandlers: Record<number, () => void>;
    _executeHandlerFb: (code: number) => void;
    _params: { _subParamsLength: number };
    _identifier(id: XFunctionId, finalRange?: number[]): number;
  };
  print(data: Uint32Array, start: number, end: number): void;
  tab(): boolean;
  _eraseInBufferLine(
    y: number,
    start: number,
    end: number,
    clearWrap: boolean,
  ): void;
  _resetBufferLine(y: number): void;
}
/** The payload entry point of xterm's OSC and DCS sub-parsers (code points `data[start..end)`). */
export interface XStringParser {
  put(data: Uint32Array, start: number, end: number): void;
}
/** xterm's CoreTerminal (a public Terminal's `_core`). */
export interface XCore {
  _inputHandler: XHandler;
  _writeBuffer: {
    writeSync(data: Uint8Array | string): void;
    _isSyncWriting: boolean;
    _syncCalls: number;
    _writeBuffer: unknown[];
    _callbacks: unknown[];
  };
}
/** CSI parameters as the public parser API passes them (sub-parameters as arrays). */
export type XParams = (number | number[])[];

/** The private core of a public xterm.js Terminal. */
export function xtermCore(term: object): XCore {
  return (term as { _core: XCore })._core;
}

/**
 * A synchronous writer into xterm.js that swallows parser errors, dropping
 * the rest of the chunk and calling `onError`; throws if unsupported.
 */
export function syncWriter(
  core: XCore,
  onError: () => void,
): (data: Uint8Array | string) => void {
  const wb = core._writeBuffer;
  if (typeof wb?.writeSync !== "function") throw new Error(UNSUPPORTED);
  return (data) => {
    try {
      wb.writeSync(data);
    } catch {
      // A parser bug must not take the session down: drop the rest of this chunk.
      wb._isSyncWriting = false;
      wb._syncCalls = 0;
      wb._writeBuffer.length = 0;
      wb._callbacks.length = 0;
      onError();
    }
  };
}

/** Throw UNSUPPORTED unless every internal the emulator uses is present. */
export function checkInternals(ih: XHandler): void {
  const line = ih?._activeBuffer?.lines?.get(0);
  if (
    !ih || typeof ih.print !== "function" || typeof ih.tab !== "function" ||
    !(line?._data instanceof Uint32Array) ||
    typeof line.setCellFromCodepoint !== "function" ||
    typeof ih._eraseAttrData !== "function" ||
    typeof ih._parser?._oscParser?.end !== "function" ||
    typeof ih._parser.reset !== "function" ||
    typeof ih._resetBufferLine !== "function" ||
    typeof ih._eraseInBufferLine !== "function" ||
    typeof ih._utf8Decoder?.clear !== "function" ||
    !(ih._utf8Decoder.interim instanceof Uint8Array) ||
    typeof ih._parser.currentState !== "number" ||
    typeof ih._stringDecoder?.clear !== "function" ||
    typeof ih._bufferService?.buffers?.alt !== "object" ||
    !("precedingJoinState" in ih._parser)
  ) {
    throw new Error(UNSUPPORTED);
  }
}

/** Mosh never reflows on resize: switch xterm.js's reflow off for every Buffer. */
export function disableReflow(ih: XHandler): void {
  const proto = Object.getPrototypeOf(ih._bufferService.buffers.normal);
  if (!("_isReflowEnabled" in proto)) throw new Error(UNSUPPORTED);
  Object.defineProperty(proto, "_isReflowEnabled", {
    configurable: true,
    get: () => false,
  });
}

/** A control function's identifier as xterm.js's parser API takes it. */
export interface XFunctionId {
  prefix?: string;
  intermediates?: string;
  final: string;
}

/**
 * Make only the given functions act, as mosh's dispatcher does: every other
 * CSI or ESC sequence finds a handler that swallows it; a CSI sequence holding
 * a colon is swallowed too, calling `onIgnored` (mosh's parser drops such a
 * sequence before dispatch, so unlike an unknown function it keeps a pending
 * wrap); C0/C1 controls run `execute[code]` or nothing.
 */
export function restrictFunctions(
  ih: XHandler,
  allowed: { csi: XFunctionId[]; esc: XFunctionId[] },
  execute: Record<number, () => void>,
  onIgnored: () => void,
): void {
  const parser = ih._parser;
  if (
    typeof parser._identifier !== "function" ||
    typeof parser._csiHandlers !== "object" ||
    typeof parser._escHandlers !== "object" || !parser._params
  ) {
    throw new Error(UNSUPPORTED);
  }
  const csi = new Set(allowed.csi.map((id) => String(parser._identifier(id))));
  const esc = new Set(
    allowed.esc.map((id) => String(parser._identifier(id, [0x30, 0x7e]))),
  );
  parser._csiHandlers = new Proxy(parser._csiHandlers, {
    get: (target, key) => {
      if (typeof key !== "string") return Reflect.get(target, key);
      if (parser._params._subParamsLength > 0) {
        return [() => (onIgnored(), true)];
      }
      return csi.has(key) ? Reflect.get(target, key) : [() => true];
    },
  });
  parser._escHandlers = new Proxy(parser._escHandlers, {
    get: (target, key) =>
      typeof key === "string" && !esc.has(key)
        ? [() => true]
        : Reflect.get(target, key),
  });
  parser._executeHandlers = Object.assign(Object.create(null), execute);
  parser._executeHandlerFb = () => {};
}

/** Call `fn` on every line (scrollback included) of the given buffers. */
export function forEachLine(
  buffers: XBuffer[],
  fn: (line: XLine) => void,
): void {
  for (const b of buffers) {
    for (let i = 0; i < b.lines.length; i++) {
      const l = b.lines.get(i);
      if (l) fn(l);
    }
  }
}

/**
 * Caps every OSC and DCS string at `max` code points where xterm.js's parser
 * hands payload to its sub-parsers (mosh keeps at most 16384 characters of an
 * OSC string and drops DCS payload). Code points beyond the cap are dropped
 * there and never reach a handler, so nothing ever buffers them (xterm.js
 * itself would buffer up to 10 MB per handler). The count restarts when an
 * OSC starts or a DCS is hooked. SOS, PM and APC strings are ignored by
 * xterm.js's state table (never buffered), so they need no cap.
 */
export function capControlStrings(ih: XHandler, max: number): void {
  const osc = ih._parser._oscParser, dcs = ih._parser._dcsParser;
  if (
    typeof osc?.put !== "function" || typeof osc.start !== "function" ||
    typeof dcs?.put !== "function" || typeof dcs.hook !== "function"
  ) {
    throw new Error(UNSUPPORTED);
  }
  const cap = (parser: XStringParser): () => void => {
    const put = parser.put.bind(parser);
    let length = 0;
    parser.put = (data, start, end) => {
      const n = Math.min(end - start, max - length);
      if (n <= 0) return;
      length += n;
      put(data, start, start + n);
    };
    return () => {
      length = 0;
    };
  };
  const restartOsc = cap(osc), restartDcs = cap(dcs);
  const start = osc.start.bind(osc), hook = dcs.hook.bind(dcs);
  osc.start = () => (restartOsc(), start());
  dcs.hook = (...a: unknown[]) => (restartDcs(), hook(...a));
}
