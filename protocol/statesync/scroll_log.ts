/**
 * tmosh's scrollback log (capability `scrollback.v1`, docs/wire.md §14): the
 * rows that left the top of the server's normal screen, numbered and synced
 * to the client inside the terminal state, so each reaches the user's own
 * terminal scrollback exactly once.
 * @module
 */

/** One record of the log as it travels and as the client writes it. */
export type LogRecord =
  /** A row that scrolled off: SGR-rendered text (self-contained, ends with SGR 0), columns it covers, soft-wrapped into the next. */
  | {
    readonly kind: "line";
    readonly text: string;
    readonly cols: number;
    readonly wrap: boolean;
  }
  /** An explicit scrollback clear (E3, `CSI 3 J`). */
  | { readonly kind: "clear" }
  /** This many lines were collapsed because the client fell too far behind. */
  | { readonly kind: "gap"; readonly lines: number };
