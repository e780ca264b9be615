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

/**
 * Most scrollback-log records one new state adds beyond the state sent
 * before it (tmosh, docs/wire.md §14): a flood reaches the client in slices,
 * so screen updates are never starved.
 */
export const LOG_SLICE_RECORDS = 65536;

/** Most bytes of log text one new state adds (tmosh), bytes. */
export const LOG_SLICE_BYTES = 512 * 1024;

/**
 * Most records in the log beyond what the client acknowledged (tmosh): the
 * server stops adding to its state until acks arrive.
 */
export const LOG_UNACKED_MAX = 262144;

/**
 * The window of log text (bytes before compression) the server may have
 * sent beyond what the client acknowledged (tmosh): after a loss the sender
 * resends everything from the acknowledged state, and at 30% loss a resend
 * of more than a few fragments almost never arrives whole. So the window
 * adapts as TCP's does: it starts at LOG_WINDOW_START and doubles each time
 * acknowledgements advance until the first retransmission timeout; each
 * timeout halves it (once per RTO unless acknowledgements advanced; not
 * below LOG_WINDOW_MIN) and takes back the unacknowledged records beyond
 * it, so the resend itself is small; afterwards it grows by a quarter (at
 * least LOG_WINDOW_STEP) per advance, up to LOG_WINDOW_MAX.
 */
export const LOG_WINDOW_START = 64 * 1024;
/** Smallest log window, bytes (about two fragments of compressed text). */
export const LOG_WINDOW_MIN = 8 * 1024;
/** Largest log window, bytes. */
export const LOG_WINDOW_MAX = 2 * 1024 * 1024;
/** Least growth of the log window per advance of the acknowledgements, bytes. */
export const LOG_WINDOW_STEP = 8 * 1024;

/**
 * Most bytes of one block record in the log (tmosh, docs/wire.md §14.2):
 * longer blocks are cut at line ends, so the smallest window still holds
 * whole records and a resend at heavy loss stays a few fragments long.
 */
export const LOG_BLOCK_BYTES_MAX = 2048;

/**
 * Most records waiting to enter the log (tmosh); past this, or
 * LOG_PENDING_BYTES_MAX, the oldest collapse into one gap record.
 */
export const LOG_PENDING_MAX = 100_000;

/** Most bytes of records waiting to enter the log (tmosh), bytes. */
export const LOG_PENDING_BYTES_MAX = 4 * 1024 * 1024;

/**
 * Most bytes of log records a client holds before writing them (tmosh):
 * past this the oldest are dropped and written as a gap line, bytes.
 */
export const LOG_HELD_BYTES_MAX = 8 * 1024 * 1024;

/**
 * Most bytes of log records a client that reports its writing
 * (`scrollflow.v1`, docs/wire.md §14.2) may hold unwritten plus the log's
 * records in flight to it (tmosh), bytes: the server adds no record beyond
 * that, so a terminal slower than the link holds the program back (flow
 * control) instead of overflowing LOG_HELD_BYTES_MAX. A quarter of it: a
 * report is a round trip old, and a state may bring LOG_SLICE_BYTES more.
 */
export const LOG_UNWRITTEN_BYTES_MAX = 2 * 1024 * 1024;

/**
 * Most recent scrollback-log records the server keeps for a client that
 * attaches later (tmosh, docs/wire.md §15): the first records of its log.
 */
export const SCROLL_HISTORY_RECORDS = 1000;

/** Most bytes of those records (tmosh), bytes: long lines keep fewer. */
export const SCROLL_HISTORY_BYTES = 1024 * 1024;
