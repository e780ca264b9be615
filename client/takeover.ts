/**
 * A session taken over: the server tells the client it replaced that another
 * client attached (`tmosh connect --attach`, docs/architecture.md §8), in the
 * complete terminal's `detachedBy` (capability `attach.v1`); the old client
 * then says so and exits.
 * @module
 */

/** Longest address shown, characters (an address from a hostile server is cut). */
const MAX_ADDRESS = 64;

/** The address of the client that took the session over, as the server's state says, or null. */
export function takenOverBy(remote: object): string | null {
  // Guarded: detachedBy is new in CompleteTerminal (attach.v1).
  const by = (remote as { detachedBy?: unknown }).detachedBy;
  if (typeof by !== "string" || by === "") return null;
  const shown = by.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
  return [...shown].slice(0, MAX_ADDRESS).join("");
}

/** The notice (bar text and exit line, without the `tmosh: ` prefix). */
export function takeoverMessage(address: string): string {
  return `another client attached from ${address}`;
}
