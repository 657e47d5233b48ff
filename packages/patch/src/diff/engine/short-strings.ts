// Which 2-, 3- and 4-byte strings occur in the old file at all: lets the scan skip the suffix-array search
// at positions of new that match nothing longer than 3 bytes. In a recompiled executable most of new is such
// positions (on @swc/core-linux-x64-gnu 1.16.21 -> 1.16.22, 99.6 % of 10 million searches found 2 or 3 bytes),
// and each search there is a binary search of cache misses over the whole suffix array.

/** Bits of the 4-byte table's hash: about 4 bits per old byte, so few absent strings look present. */
function quadBits(oldLen: number): number {
  return Math.max(16, Math.min(26, Math.ceil(Math.log2(Math.max(1, oldLen))) + 2));
}

/** Memory of the tables for an old file of `oldLen` bytes (the memory plan counts it). */
export function shortStringsBytes(oldLen: number): number {
  return 8192 + (1 << 21) + (1 << quadBits(oldLen)) / 8;
}

/** The tables, in memory a scan thread can read (see scan-parallel.ts). */
export interface ShortStringTables {
  /** Bit per 2-byte string. */
  pairs: Uint32Array;
  /** Bit per 3-byte string. */
  triples: Uint32Array;
  /** Bit per hash of a 4-byte string: clear means absent; set means maybe present. */
  quads: Uint32Array;
  /** 32 - the hash's bits. */
  quadShift: number;
}

function quadHash(w: number, shift: number): number {
  return Math.imul(w, 0x9e3779b1) >>> shift;
}

function alloc(words: number, shared: boolean): Uint32Array {
  return shared ? new Uint32Array(new SharedArrayBuffer(4 * words)) : new Uint32Array(words);
}

export function buildShortStrings(old: Uint8Array, shared = false): ShortStringTables {
  const pairs = alloc(2048, shared);
  const triples = alloc(1 << 19, shared);
  const bits = quadBits(old.length);
  const quads = alloc(1 << (bits - 5), shared);
  const shift = 32 - bits;
  const n = old.length;
  // w holds the last four bytes read, the newest lowest.
  let w = 0;
  for (let i = 0; i < n; i++) {
    w = ((w << 8) | (old[i] as number)) >>> 0;
    if (i >= 1) {
      const p = w & 0xffff;
      pairs[p >>> 5] = (pairs[p >>> 5] as number) | (1 << (p & 31));
    }
    if (i >= 2) {
      const t = w & 0xffffff;
      triples[t >>> 5] = (triples[t >>> 5] as number) | (1 << (t & 31));
    }
    if (i >= 3) {
      const h = quadHash(w, shift);
      quads[h >>> 5] = (quads[h >>> 5] as number) | (1 << (h & 31));
    }
  }
  return { pairs, triples, quads, quadShift: shift };
}

/**
 * The length of the longest prefix of q[pos..end) that occurs in old, when the tables tell it exactly and
 * it is under 4 bytes (0, 2 or 3); otherwise -1 (a search must tell). A 1-byte answer is never given: the
 * suffix search reports what it reports for those itself.
 */
export function shortMatchLength(t: ShortStringTables, q: Uint8Array, pos: number, end: number): number {
  if (end - pos < 4) return -1;
  const w =
    (((q[pos] as number) << 24) |
      ((q[pos + 1] as number) << 16) |
      ((q[pos + 2] as number) << 8) |
      (q[pos + 3] as number)) >>>
    0;
  const p = w >>> 16;
  if (((t.pairs[p >>> 5] as number) & (1 << (p & 31))) === 0) return -1;
  const tr = w >>> 8;
  if (((t.triples[tr >>> 5] as number) & (1 << (tr & 31))) === 0) return 2;
  const h = quadHash(w, t.quadShift);
  if (((t.quads[h >>> 5] as number) & (1 << (h & 31))) === 0) return 3;
  return -1;
}
