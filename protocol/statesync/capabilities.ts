/**
 * tmosh-to-tmosh capabilities, negotiated in band (docs/wire.md §13).
 *
 * The client's first user-stream event is a hello (a private protobuf
 * extension stock mosh-server skips) offering `CAPABILITIES`; a tmosh server
 * answers inside its synced terminal state with the capabilities both sides
 * speak (`acceptCapabilities`). Until the client holds that answer it behaves
 * exactly like stock mosh-client, and until the server holds a hello it
 * behaves exactly like stock mosh-server.
 *
 * This list is the one registry: a feature riding on an extension adds its
 * name here when it exists (e.g. `scrollback.v1`), and each side turns the
 * feature on only when the negotiated set holds the name. A changed,
 * incompatible feature gets a new version suffix (`scrollback.v2`); both may
 * be listed while old peers are around.
 * @module
 */

/**
 * The capabilities this implementation speaks, in order of preference.
 * `ext.v1` is the baseline: the hello/welcome exchange itself (docs/wire.md §13).
 */
export const CAPABILITIES: readonly string[] = Object.freeze([
  "ext.v1",
  "scrollback.v1",
  "scrollblock.v1",
  "scrollflow.v1",
  "attach.v1",
  "chan.v1",
  "agent.v1",
]);

/** Channels beside SSP: port forwarding and stdio (docs/wire.md §17). */
export const CHANNEL_CAPABILITY = "chan.v1";

/** Agent forwarding on channels (-A): offered only by a client asked for it (docs/wire.md §17.3). */
export const AGENT_CAPABILITY = "agent.v1";

/** Native scrollback: the scrollback log and the screen mode (docs/wire.md §14). */
export const SCROLLBACK_CAPABILITY = "scrollback.v1";

/** Block records of plain lines in the scrollback log (docs/wire.md §14.3); only with scrollback.v1. */
export const SCROLLBLOCK_CAPABILITY = "scrollblock.v1";

/** The client reports how far it wrote the scrollback log, and the server sends no further ahead of that than LOG_UNWRITTEN_BYTES_MAX (docs/wire.md §14.2). */
export const SCROLLFLOW_CAPABILITY = "scrollflow.v1";

/** Attach: a replaced client is told who attached (the `detached` notice, docs/wire.md §15). */
export const ATTACH_CAPABILITY = "attach.v1";

/** The baseline capability every tmosh peer offers and accepts. */
export const BASELINE_CAPABILITY = "ext.v1";

/** Most capability names kept from one hello or welcome (more are dropped). */
export const MAX_CAPABILITIES = 32;

/** Longest capability name kept, characters. */
export const MAX_CAPABILITY_LENGTH = 64;

/** A capability name: lower-case name, `.v`, version number (e.g. `scrollback.v1`). */
const NAME = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*\.v[1-9][0-9]*$/;

/** Whether `name` is a well-formed capability name. */
export function validCapability(name: string): boolean {
  return name.length <= MAX_CAPABILITY_LENGTH && NAME.test(name);
}

/**
 * The well-formed names of a received list, first occurrence kept, at most
 * MAX_CAPABILITIES of them (a hostile peer cannot make the state grow).
 */
export function cleanCapabilities(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    if (out.length >= MAX_CAPABILITIES) break;
    if (validCapability(n) && !out.includes(n)) out.push(n);
  }
  return out;
}

/**
 * The server's answer to a hello: the offered names it also `supports`, in
 * the server's order of preference.
 */
export function acceptCapabilities(
  offered: readonly string[],
  supports: readonly string[] = CAPABILITIES,
): string[] {
  const clean = cleanCapabilities(offered);
  return supports.filter((c) => clean.includes(c));
}

/** Whether two capability lists are equal (same names, same order). */
export function sameCapabilities(
  a: readonly string[] | null,
  b: readonly string[] | null,
): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  return a.every((c, i) => c === b[i]);
}

/**
 * The client's view of the negotiated set: null until the server's answer
 * arrived (behave as stock mosh-client), else the answered names the client
 * `offered` (a server cannot turn on what the client did not offer).
 */
export function negotiatedCapabilities(
  answer: readonly string[] | null,
  offered: readonly string[] = CAPABILITIES,
): ReadonlySet<string> | null {
  if (answer === null) return null;
  return new Set(answer.filter((c) => offered.includes(c)));
}
