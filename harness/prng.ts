/**
 * Small seeded pseudo-random generators for tests, so a failure reproduces
 * with the same seed. Not for anything secret.
 * @module
 */

/** mulberry32: returns a generator of numbers in [0, 1) determined by `seed`. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** xorshift32: returns a filler that writes the next bytes of the stream determined by `seed` into a buffer. */
export function xorshiftFill(seed: number): (buf: Uint8Array) => void {
  let x = seed >>> 0 || 1;
  return (buf) => {
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      buf[i] = x & 0xff;
    }
  };
}

/** xorshift32: returns a function giving the next `n` bytes of the stream determined by `seed`. */
export function xorshiftBytes(seed: number): (n: number) => Uint8Array {
  const fill = xorshiftFill(seed);
  return (n) => {
    const out = new Uint8Array(n);
    fill(out);
    return out;
  };
}
