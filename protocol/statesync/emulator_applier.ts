/**
 * The client's FrameApplier: applies received host bytes and resizes to a
 * framebuffer with the mosh-semantics emulator, reusing one emulator while
 * diffs arrive in order (mosh: Complete::apply_string on the client).
 * @module
 */
import type { FrameApplier } from "./complete_terminal.ts";
import { Emulator } from "../terminal/emulator.ts";
import type { Framebuffer } from "../terminal/framebuffer.ts";
import type { HostEvent } from "../protobufs/messages.ts";

/** Applies host events with one reusable emulator; reloads it only when a diff is based on another state. */
export class EmulatorApplier implements FrameApplier {
  #emulator: Emulator | null = null;
  /** The framebuffer the emulator holds now (identity), or null when unknown. */
  #holds: Framebuffer | null = null;

  /** The framebuffer `base` becomes after `events`. */
  apply(base: Framebuffer, events: HostEvent[]): Framebuffer {
    let em = this.#emulator;
    if (em === null) {
      em = new Emulator(base.width, base.height);
      this.#emulator = em;
      em.onReply(() => {
        // A client emulator never answers the host (mosh asserts there is no reply).
      });
      this.#holds = null;
    }
    if (this.#holds !== base) em.loadFramebufferSync(base);
    for (const ev of events) {
      if (ev.type === "bytes") em.writeSync(ev.bytes);
      else if (ev.type === "resize") em.resize(ev.width, ev.height);
    }
    const fb = em.snapshot();
    this.#holds = fb;
    return fb;
  }

  /** Releases the emulator. */
  dispose(): void {
    this.#emulator?.dispose();
    this.#emulator = null;
    this.#holds = null;
  }
}
