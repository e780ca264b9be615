/**
 * The text of an error from the operating system or the runtime, for messages
 * shown to users: Deno's " (os error N)" suffix dropped.
 * @module
 */

/** An error's message without Deno's " (os error N)" suffix. */
export function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/ \(os error \d+\)$/, "");
}
