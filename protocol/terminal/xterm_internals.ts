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
  _utf8Decoder: { clear(): void };
  _parser: {
    reset(): void;
    precedingJoinState: number;
    _oscParser: { end(...a: unknown[]): unknown };
    _dcsParser: { unhook(...a: unknown[]): unknown };
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
