/**
 * The window-title prefix overlay, `[tmosh] ` by default
 * (docs/architecture.md §4; mosh: TitleEngine, Framebuffer::prefix_window_title).
 * @module
 */

import type { Framebuffer } from "../protocol/terminal/framebuffer.ts";

/** Default title prefix; the caller omits it when MOSH_TITLE_NOPREFIX is set. */
export const DEFAULT_TITLE_PREFIX = "[tmosh] ";

/**
 * `fb` with `prefix` in front of the window title, and of the icon name too
 * when it equals the title; `fb` itself until the remote side has set a title.
 */
export function applyTitlePrefix(fb: Framebuffer, prefix: string): Framebuffer {
  if (!fb.titleInitialized || prefix === "") return fb;
  return {
    ...fb,
    title: prefix + fb.title,
    iconName: fb.iconName === fb.title ? prefix + fb.iconName : fb.iconName,
  };
}
