/**
 * Compression and fragmentation of serialized Instructions (docs/wire.md §4):
 * zlib-format compression, the 10-byte fragment header, splitting a compressed
 * instruction into MTU-sized fragments and reassembling them on receipt.
 * Receive-side functions never throw and keep memory bounded.
 * @module
 */

import { deflateSync, inflateSync } from "node:zlib";
import { reportGarbage } from "./garbage_valve.ts";
import { inflateStored, storedZlib } from "./zlib_stored.ts";
import { TAG_BYTES } from "../crypto/constants.ts";
import {
  ADDED_BYTES,
  COMPRESS_FAST_BYTES,
  COMPRESS_FAST_LEVEL,
  COMPRESS_STORED_BELOW_BYTES,
  FRAG_HEADER_BYTES,
  MAX_UNCOMPRESSED,
} from "./constants.ts";

/** Number of distinct fragment numbers, 15 bits (mosh: Fragment::tostring). */
export const MAX_FRAGMENTS = 0x8000;
/**
 * Most compressed bytes one assembly may buffer before it is dropped, bytes:
 * zlib of the largest acceptable instruction (MAX_UNCOMPRESSED) plus
 * deflate's worst-case expansion of stored blocks.
 */
export const MAX_ASSEMBLY_BYTES = MAX_UNCOMPRESSED + 64 * 1024;

const FINAL_BIT = 0x8000;
const MIN_MTU = ADDED_BYTES + TAG_BYTES + FRAG_HEADER_BYTES + 1;
const MAX_U64 = 0xffff_ffff_ffff_ffffn;

/** One fragment of a compressed Instruction (docs/wire.md §4.2). */
export interface Fragment {
  /** Instruction id; all fragments of one instruction share it. */
  id: bigint;
  /** Position of this chunk, counting from 0 (0..32767). */
  num: number;
  /** True on the last fragment of the instruction. */
  final: boolean;
  /** A consecutive chunk of the zlib-compressed instruction. */
  contents: Uint8Array;
}

/** Returns a plain Uint8Array view of a node Buffer. */
function plain(buf: Uint8Array): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

const FAST = { level: COMPRESS_FAST_LEVEL };

/** Compresses bytes to the zlib format (RFC 1950): stored for short instructions, Mosh's default level, a faster one for long instructions. */
export function compress(data: Uint8Array): Uint8Array {
  if (data.length < COMPRESS_STORED_BELOW_BYTES) return storedZlib(data);
  return plain(
    data.length >= COMPRESS_FAST_BYTES
      ? deflateSync(data, FAST)
      : deflateSync(data),
  );
}

/**
 * Inflates zlib-format bytes; null if they are not a complete zlib stream or
 * would expand beyond MAX_UNCOMPRESSED bytes.
 */
export function decompress(data: Uint8Array): Uint8Array | null {
  const stored = inflateStored(data);
  if (stored !== null) return stored;
  try {
    const out = inflateSync(data, { maxOutputLength: MAX_UNCOMPRESSED });
    reportGarbage(out.length);
    return plain(out);
  } catch {
    return null;
  }
}

/** Room for fragment contents in one datagram of `mtu` bytes. */
export function fragmentPayloadSize(mtu: number): number {
  return mtu - ADDED_BYTES - TAG_BYTES - FRAG_HEADER_BYTES;
}

/** Serializes a fragment: id (u64 BE), final<<15 | num (u16 BE), contents. */
export function encodeFragment(f: Fragment): Uint8Array {
  if (!Number.isInteger(f.num) || f.num < 0 || f.num >= MAX_FRAGMENTS) {
    throw new RangeError(
      `tmosh: fragment number ${f.num} is outside 0..${MAX_FRAGMENTS - 1}`,
    );
  }
  if (f.id < 0n || f.id > MAX_U64) {
    throw new RangeError(`tmosh: fragment id ${f.id} is not a uint64`);
  }
  const out = new Uint8Array(FRAG_HEADER_BYTES + f.contents.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, f.id);
  view.setUint16(8, (f.final ? FINAL_BIT : 0) | f.num);
  out.set(f.contents, FRAG_HEADER_BYTES);
  return out;
}

/** Parses a fragment (contents is a view into `bytes`); null if too short. */
export function decodeFragment(bytes: Uint8Array): Fragment | null {
  if (bytes.length < FRAG_HEADER_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = view.getUint16(8);
  return {
    id: view.getBigUint64(0),
    num: word & (FINAL_BIT - 1),
    final: (word & FINAL_BIT) !== 0,
    contents: bytes.subarray(FRAG_HEADER_BYTES),
  };
}

/** Splits serialized Instructions into encoded fragments, a new id per call. */
export class Fragmenter {
  #lastId = 0n;

  /**
   * Compresses one serialized Instruction and cuts it into encoded fragments
   * that fit datagrams of `mtu` bytes. Throws if the MTU leaves no room or
   * the result would need more than MAX_FRAGMENTS fragments.
   */
  makeFragments(instruction: Uint8Array, mtu: number): Uint8Array[] {
    const size = fragmentPayloadSize(mtu);
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(
        `tmosh: MTU ${mtu} leaves no room for fragment contents; use at least ${MIN_MTU}`,
      );
    }
    const payload = compress(instruction);
    const count = Math.max(1, Math.ceil(payload.length / size));
    if (count > MAX_FRAGMENTS) {
      throw new RangeError(
        `tmosh: instruction needs ${count} fragments (max ${MAX_FRAGMENTS}); send a smaller diff`,
      );
    }
    const id = ++this.#lastId;
    const out: Uint8Array[] = [];
    for (let num = 0; num < count; num++) {
      out.push(encodeFragment({
        id,
        num,
        final: num === count - 1,
        contents: payload.subarray(num * size, (num + 1) * size),
      }));
    }
    return out;
  }
}

/** Returns whether two byte arrays are equal. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Reassembles one instruction at a time from encoded fragments. A newer
 * (larger) id discards a partial assembly; older ids are ignored.
 */
export class FragmentAssembly {
  #id: bigint | null = null;
  /** The current id was inconsistent; ignore it until a newer id arrives. */
  #dead = false;
  #chunks = new Map<number, Uint8Array>();
  #total = -1;
  #maxNum = -1;
  #bytes = 0;

  /** Compressed bytes currently buffered by the partial assembly. */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  /** Number of fragments currently buffered by the partial assembly. */
  get bufferedFragments(): number {
    return this.#chunks.size;
  }

  /**
   * Takes one encoded fragment (a datagram's payload after the timestamps);
   * returns the decompressed instruction bytes when it completes one, else
   * null. Never throws.
   */
  add(bytes: Uint8Array): Uint8Array | null {
    const f = decodeFragment(bytes);
    if (f === null) return null;
    if (this.#id !== null && f.id < this.#id) return null; // stale straggler
    if (f.id !== this.#id) {
      this.#reset();
      this.#id = f.id;
      this.#dead = false;
    }
    if (this.#dead) return null;

    const have = this.#chunks.get(f.num);
    if (have !== undefined) {
      const haveFinal = f.num === this.#total - 1;
      if (haveFinal === f.final && sameBytes(have, f.contents)) {
        return null; // harmless duplicate
      }
      return this.#kill(); // same (id, num) with different contents
    }
    if (f.final) {
      if (this.#total !== -1 || f.num < this.#maxNum) return this.#kill();
    } else if (this.#total !== -1 && f.num >= this.#total) {
      return this.#kill();
    }
    if (this.#bytes + f.contents.length > MAX_ASSEMBLY_BYTES) {
      return this.#kill();
    }

    this.#chunks.set(f.num, f.contents.slice());
    this.#bytes += f.contents.length;
    if (f.num > this.#maxNum) this.#maxNum = f.num;
    if (f.final) this.#total = f.num + 1;
    if (this.#chunks.size !== this.#total) return null;

    const joined = new Uint8Array(this.#bytes);
    for (let i = 0, at = 0; i < this.#total; i++) {
      const chunk = this.#chunks.get(i) as Uint8Array;
      joined.set(chunk, at);
      at += chunk.length;
    }
    // Like stock mosh, keep the id: a later copy of it is assembled afresh.
    this.#reset();
    return decompress(joined);
  }

  /** Drops the partial assembly and ignores the rest of its id. */
  #kill(): null {
    this.#reset();
    this.#dead = true;
    return null;
  }

  /** Forgets every buffered fragment. */
  #reset(): void {
    this.#chunks.clear();
    this.#total = -1;
    this.#maxNum = -1;
    this.#bytes = 0;
  }
}
