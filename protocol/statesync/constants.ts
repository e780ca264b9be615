/**
 * State-synchronization constants, each with its unit and Mosh 1.4's name
 * (mosh: src/statesync/completeterminal.h, user.h).
 * @module
 */

/** A keystroke is echo-acked this long after it reached the pty, ms (mosh: ECHO_TIMEOUT). */
export const ECHO_TIMEOUT = 50;

/**
 * Largest terminal width or height a resize may carry, cells (tmosh only; stock
 * Mosh has no limit). Senders clamp to [1, this]; receivers ignore resizes
 * outside it, so a hostile peer cannot make the emulator allocate more than
 * about 1024x1024 cells.
 */
export const MAX_TERMINAL_DIMENSION = 1024;
