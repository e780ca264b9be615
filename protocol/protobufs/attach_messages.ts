/**
 * tmosh's attach extension of HostBuffers.Instruction (docs/wire.md §15;
 * protocol/protobufs/tmoshext.proto): `TmoshExt.detached` (4003) tells a
 * client that another client attached to its session, from the address in
 * `by`, just before the server shuts the old client's epoch down. Sent only
 * to a client whose hello and the server's welcome both list `attach.v1`.
 * @module
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { readFields, skip } from "./wire_fields.ts";

/** TmoshExt.detached on HostBuffers.Instruction. */
export const X_DETACHED = 4003;
/** Detached.by = 1. */
const F_BY = 1;
/** Longest `by` kept by a decoder, characters (an address is far shorter). */
export const DETACHED_BY_MAX = 256;

/** Writes a Detached extension into the instruction `w` is in. */
export function writeDetached(w: BinaryWriter, by: string): void {
  w.tag(X_DETACHED, WireType.LengthDelimited).fork();
  w.tag(F_BY, WireType.LengthDelimited).string(by).join();
}

/**
 * Reads a Detached's `by` (empty when absent; bad UTF-8 becomes U+FFFD, cut
 * to DETACHED_BY_MAX characters); null if malformed.
 */
export function readDetached(bytes: Uint8Array): string | null {
  let by = "";
  const ok = readFields(bytes, (r, field, type) => {
    if (field !== F_BY || type !== WireType.LengthDelimited) {
      return skip(r, type, field);
    }
    by = r.string();
    return true;
  });
  return ok ? by.slice(0, DETACHED_BY_MAX) : null;
}
