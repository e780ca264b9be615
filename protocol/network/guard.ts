/**
 * The loop boundary of a session. In Deno an exception that escapes a
 * callback (a timer, a socket or pty read loop, a signal handler, a promise
 * reaction) ends the process; a session must never end that way. Every
 * callback a session loop hands to the event loop runs through one
 * {@linkcode ErrorGuard}: an exception is caught there, logged once per
 * boundary (on the session's log, i.e. with `-v`), counted, and the session
 * goes on with its next event.
 * @module
 */

import { errorText } from "./os_error.ts";

/** Catches, logs and counts the exceptions of a session's callbacks. */
export class ErrorGuard {
  readonly #log: (line: string) => void;
  readonly #logged = new Set<string>();
  #caught = 0;

  /** `log` receives one line per boundary that failed (default: none). */
  constructor(log: (line: string) => void = () => {}) {
    this.#log = log;
  }

  /** Exceptions caught so far (for tests and diagnostics). */
  get caught(): number {
    return this.#caught;
  }

  /** Runs `fn` now; an exception is reported as coming from `where` and not rethrown. */
  run(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(where, err);
    }
  }

  /** `fn` wrapped for use as a callback: the same as calling {@linkcode run} each time. */
  wrap<A extends unknown[]>(
    where: string,
    fn: (...args: A) => void,
  ): (...args: A) => void {
    return (...args: A) => this.run(where, () => fn(...args));
  }

  /** Records an exception caught elsewhere (e.g. a rejected promise); logs the first of each boundary. */
  report(where: string, err: unknown): void {
    this.#caught++;
    if (this.#logged.has(where)) return;
    this.#logged.add(where);
    const detail = err instanceof Error && err.stack !== undefined
      ? err.stack
      : errorText(err);
    try {
      this.#log(
        `tmosh: internal error in ${where} (the session goes on; ` +
          `later errors here are not shown): ${detail}`,
      );
    } catch {
      // A failing log must not become the next exception.
    }
  }
}
