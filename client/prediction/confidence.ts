/**
 * tmosh's first-key policy ("confident"): when may the first key of a new
 * prediction epoch be shown at once, instead of waiting a round trip for the
 * application's echo as stock mosh does?
 *
 * The policy remembers, per screen context, whether the application echoed
 * there. A context is the text left of the cursor on its row (digits folded
 * to "0", so clocks and counters in prompts do not matter), taken only where
 * typing would append: cursor visible, not in the last column, something
 * printed left of it, nothing right of it (and, checked by the engine, only
 * when the server has echoed every earlier key, so the screen is not about
 * to change under the cursor, e.g. after Up). The first key of an epoch is
 * vouched for (shown at once) when, in that context:
 * 1. the exact context saw a confirmed echo within `EXACT_WINDOW` and no
 *    misprediction since; or
 * 2. the context ends like a shell or REPL prompt (`$ # % > ❯ » ➜ λ )`, and
 *    not `:` which password and pager prompts use), a prompt with the same
 *    ending saw a confirmed echo within `SHAPE_WINDOW` with no misprediction
 *    since, and the exact context never mispredicted after its last echo.
 * Never for prompts that mention passwords, passphrases, PINs, secrets,
 * tokens or one-time codes. A wrong guess (e.g. `stty -echo` behind a
 * familiar prompt) is judged exactly like any shown prediction in mosh: the
 * prediction disappears a round trip later, and the context and its ending
 * are distrusted until echo is confirmed there again (unless the prompt
 * itself has gone from that row: then the judgement says nothing about echo).
 * @module
 */

import {
  cellText,
  type Framebuffer,
} from "../../protocol/terminal/framebuffer.ts";

/** How long a confirmed echo vouches for the same exact context, ms (tmosh policy). */
export const EXACT_WINDOW = 30 * 60_000;
/** How long a confirmed echo vouches for prompts with the same ending, ms (tmosh policy). */
export const SHAPE_WINDOW = 5 * 60_000;
/** Contexts remembered (least recently used ones are forgotten; tmosh policy). */
export const CONTEXTS_MAX = 128;

/** Prompt endings that shells and REPLs use (":" is left out on purpose). */
const PROMPT_ENDINGS = "$#%>❯»➜λ)";

/** Prompts asking for something that is typed without echo. */
const SECRET_PROMPT =
  /pass(word|wort|phrase|code)?\b|password|\bpin\b|secret|token|\botp\b|one-time|verification|passe\b|contrase|пароль|密码|パスワード/i;

interface Evidence {
  confirmed: number;
  killed: number;
}

/** Screen contexts where the application was seen to echo (or not). */
export class EchoConfidence {
  #memory = new Map<string, Evidence>();

  /** The context key at the cursor of `fb`, or undefined where typing does not append. */
  contextAt(fb: Framebuffer): string | undefined {
    const y = fb.cursorRow, x = fb.cursorCol;
    if (!fb.cursorVisible || y >= fb.height || x <= 0 || x >= fb.width - 1) {
      return undefined;
    }
    const row = fb.rows[y];
    for (let i = x; i < row.width; i++) {
      const t = cellText(row, i);
      if (t !== "" && t !== " " && t !== "\u00a0") return undefined;
    }
    const prefix = rowText(fb, { row: y, end: x });
    if (prefix.trim() === "" || SECRET_PROMPT.test(prefix)) return undefined;
    return prefix;
  }

  /** Record that a prediction made in `context` was confirmed at `now`. */
  confirm(context: string | undefined, now: number): void {
    if (context === undefined) return;
    this.#touch("=" + context).confirmed = now;
    const shape = promptShape(context);
    if (shape !== undefined) this.#touch(shape).confirmed = now;
  }

  /**
   * Record that a prediction made in `context` on `row` turned out wrong in
   * `fb` at `now`; ignored when the context is no longer on that row (the
   * screen changed under the prediction, which says nothing about echo).
   */
  kill(
    context: string | undefined,
    fb: Framebuffer,
    at: { row: number; now: number },
  ): void {
    if (context === undefined || at.row >= fb.height) return;
    if (!rowText(fb, { row: at.row, end: fb.width }).startsWith(context)) {
      return;
    }
    const now = at.now;
    this.#touch("=" + context).killed = now;
    const shape = promptShape(context);
    if (shape !== undefined) this.#touch(shape).killed = now;
  }

  /** Whether the first key of an epoch typed in `context` may be shown at once. */
  trusts(context: string | undefined, now: number): boolean {
    if (context === undefined) return false;
    const exact = this.#memory.get("=" + context);
    if (exact !== undefined && exact.killed >= exact.confirmed) return false;
    if (exact !== undefined && now - exact.confirmed <= EXACT_WINDOW) {
      return true;
    }
    const shape = promptShape(context);
    if (shape === undefined) return false;
    const seen = this.#memory.get(shape);
    return seen !== undefined && seen.confirmed > seen.killed &&
      now - seen.confirmed <= SHAPE_WINDOW;
  }

  #touch(key: string): Evidence {
    let e = this.#memory.get(key);
    if (e === undefined) {
      e = { confirmed: -Infinity, killed: -Infinity };
      if (this.#memory.size >= CONTEXTS_MAX) {
        this.#memory.delete(this.#memory.keys().next().value!);
      }
    } else {
      this.#memory.delete(key);
    }
    this.#memory.set(key, e);
    return e;
  }
}

/** Text of cells [0, end) of a row, blanks as spaces and digits folded to "0". */
function rowText(fb: Framebuffer, span: { row: number; end: number }): string {
  const row = fb.rows[span.row];
  let s = "";
  for (let i = 0; i < span.end; i++) {
    const t = cellText(row, i);
    s += t === "" || t === "\u00a0" ? " " : t;
  }
  return s.replace(/[0-9]/g, "0");
}

/** The ending of a prompt-like context ("$ ", "> ", ...), or undefined. */
function promptShape(context: string): string | undefined {
  const trimmed = context.trimEnd();
  const last = [...trimmed].pop();
  if (last === undefined || !PROMPT_ENDINGS.includes(last)) return undefined;
  return "~" + last + " ".repeat(context.length - trimmed.length);
}
