/**
 * The client escape key (Ctrl-^ by default): MOSH_ESCAPE_KEY parsing and the
 * keyboard filter that turns escape sequences into quit/suspend commands
 * (docs/architecture.md §4; mosh: STMClient::init, process_user_input).
 * @module
 */

/** The default escape character, Ctrl-^ (RS). */
export const DEFAULT_ESCAPE_KEY = 0x1e;
/** Escape characters that are refused (Ctrl-C, Ctrl-D, LF, Ctrl-L, CR); the default is used instead. */
const REFUSED_KEYS: readonly number[] = [0x03, 0x04, 0x0a, 0x0c, 0x0d];
/** After the escape: quit. */
const QUIT_BYTE = 0x2e; // "."
/** After the escape: suspend. */
const SUSPEND_BYTE = 0x1a; // Ctrl-Z

/** A parsed escape-key setting. */
export interface EscapeKey {
  /** The escape character, or null when escapes are disabled. */
  readonly key: number | null;
  /** The byte that, after the escape, sends the escape character itself. */
  readonly passKey: number;
  /** A second accepted pass byte (the lower-case form of an upper-case pass key, else passKey). */
  readonly passKeyAlt: number;
  /** The escape only counts right after CR or LF (a printable escape character). */
  readonly afterNewlineOnly: boolean;
  /** The key's name for the quit hint, e.g. "Ctrl-^" or "\"~\"" ("" when disabled). */
  readonly display: string;
  /** The help text shown while waiting for the byte after the escape ("" when disabled). */
  readonly help: string;
}

/** Parses MOSH_ESCAPE_KEY's value (undefined when unset) like mosh does. */
export function parseEscapeKey(env: string | undefined): EscapeKey {
  if (env === "") {
    return {
      key: null,
      passKey: 0x5e,
      passKeyAlt: 0x5e,
      afterNewlineOnly: false,
      display: "",
      help: "",
    };
  }
  let key = DEFAULT_ESCAPE_KEY;
  if (env !== undefined) {
    const bytes = new TextEncoder().encode(env);
    if (
      bytes.length === 1 && bytes[0] >= 1 && bytes[0] <= 127 &&
      !REFUSED_KEYS.includes(bytes[0])
    ) {
      key = bytes[0];
    }
  }
  const control = key < 0x20;
  const passKey = control ? key + 0x40 : key;
  const upper = passKey >= 0x41 && passKey <= 0x5a;
  const passName = String.fromCharCode(passKey);
  const display = control
    ? `Ctrl-${passName}`
    : `"${String.fromCharCode(key)}"`;
  return {
    key,
    passKey,
    passKeyAlt: upper ? passKey + 0x20 : passKey,
    afterNewlineOnly: !control,
    display,
    help:
      `Commands: Ctrl-Z suspends, "." quits, "${passName}" gives literal ${display}`,
  };
}

/** What one chunk of keyboard input turned into. */
export interface EscapeResult {
  /** Bytes to send to the server. */
  send: Uint8Array;
  /** The user asked to quit (escape, "."); the rest of the chunk was dropped. */
  quit: boolean;
  /** The user asked to suspend (escape, Ctrl-Z); later bytes of the chunk are still in `send`. */
  suspend: boolean;
  /** An escape arrived and the filter now waits for the next byte: show the help text. */
  helpShown: boolean;
  /** The byte after an escape arrived: clear the help text if it is still shown. */
  helpCleared: boolean;
}

/** Stateful filter of keyboard bytes that recognises the escape sequences across chunks. */
export class EscapeKeyFilter {
  readonly #esc: EscapeKey;
  #pending = false;
  #afterNewline = false;

  /** Creates a filter for a parsed escape key. */
  constructor(escapeKey: EscapeKey) {
    this.#esc = escapeKey;
  }

  /** The help text to show while `pending` (mosh: escape_key_help). */
  get helpText(): string {
    return this.#esc.help;
  }

  /** Whether an escape arrived and the next byte is awaited. */
  get pending(): boolean {
    return this.#pending;
  }

  /** Filters one chunk of keyboard input. */
  feed(bytes: Uint8Array): EscapeResult {
    const { key, passKey, passKeyAlt, afterNewlineOnly } = this.#esc;
    const out = new Uint8Array(bytes.length * 2);
    let n = 0;
    let quit = false, suspend = false, started = false, decided = false;
    for (const b of bytes) {
      if (this.#pending) {
        this.#pending = false;
        decided = true;
        if (b === QUIT_BYTE) {
          quit = true;
          break;
        } else if (b === SUSPEND_BYTE) {
          suspend = true;
        } else if (b === passKey || b === passKeyAlt) {
          out[n++] = key!;
        } else {
          out[n++] = key!;
          out[n++] = b;
        }
        continue;
      }
      if (
        key !== null && b === key && (this.#afterNewline || !afterNewlineOnly)
      ) {
        this.#pending = true;
        this.#afterNewline = false;
        started = true;
        continue;
      }
      this.#afterNewline = b === 0x0a || b === 0x0d;
      out[n++] = b;
    }
    return {
      send: out.slice(0, n),
      quit,
      suspend,
      helpShown: started && this.#pending,
      helpCleared: decided && !this.#pending,
    };
  }
}
