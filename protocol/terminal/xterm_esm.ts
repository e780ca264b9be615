/**
 * xterm.js as the emulator and the test harness load it: the packages' ES
 * module builds, typed by the packages' own declarations. The CommonJS builds
 * their package.json files name take a process about 8 ms longer to load
 * (docs/architecture.md §12.4), and one build for everyone keeps one copy of
 * xterm.js's classes in a process (xterm_internals.ts patches a prototype).
 * @module
 */

import type * as XTerm from "@xterm/headless";
import type * as XUnicode11 from "@xterm/addon-unicode11";
import { Terminal as TerminalEsm } from "@xterm/headless/lib-headless/xterm-headless.mjs";
import { Unicode11Addon as Unicode11Esm } from "@xterm/addon-unicode11/lib/addon-unicode11.mjs";

/** xterm.js's headless terminal. */
export const Terminal: typeof XTerm.Terminal = TerminalEsm;
/** xterm.js's Unicode 11 character widths. */
export const Unicode11Addon: typeof XUnicode11.Unicode11Addon = Unicode11Esm;
