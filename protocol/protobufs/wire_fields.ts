/**
 * Reading protobuf messages field by field, leniently as protobuf does
 * (unknown fields skipped) but refusing malformed input: shared by Mosh's
 * messages and tmosh's extensions.
 * @module
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/**
 * Walks the fields of one message; `onField` reads or skips each value and
 * returns false when a nested message is malformed. False for any malformed input.
 */
export function readFields(
  bytes: Uint8Array,
  onField: (r: BinaryReader, field: number, type: WireType) => boolean,
): boolean {
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [field, type] = r.tag();
      if (field < 1 || !onField(r, field, type)) return false;
    }
    return r.pos === r.len;
  } catch {
    return false;
  }
}

/**
 * Skips a field's value: unknown fields, and known fields with an unexpected
 * wire type, which protobuf also keeps as unknown.
 */
export function skip(r: BinaryReader, type: WireType, field: number): true {
  // A varint is read, not skipped, so that one over 10 bytes is rejected.
  if (type === WireType.Varint) r.uint64();
  else r.skip(type, field);
  return true;
}
