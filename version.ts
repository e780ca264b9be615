/**
 * tmosh's version, printed by `--version` and in the server's banner.
 * @module
 */

/** tmosh's version string (printed by `--version`). */
export const TMOSH_VERSION = "0.1.0";
