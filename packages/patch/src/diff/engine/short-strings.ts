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
  /** Bits per hash of a 4-byte string: one clear means absent; both set, maybe present. */
  quads: Uint32Array;
  /** 32 - the hash's bits. */
  quadShift: number;
}

/**
 * The 4-byte table is a Bloom filter with two bits per string, both in one 512-bit block (one cache miss):
 * with one bit, 12 % of @swc/core's 3-byte matches still looked like 4-byte ones and were searched.
 */
function quadBit(w: number, shift: number): number {
  return Math.imul(w, 0x9e3779b1) >>> shift;
}
function quadBit2(w: number, bit: number): number {
  return (bit & ~511) | (Math.imul(w ^ 0x5bd1e995, 0x85ebca77) >>> 23);
}
function hasBit(t: Uint32Array, b: number): boolean {
  return ((t[b >>> 5] as number) & (1 << (b & 31))) !== 0;
}
function setBit(t: Uint32Array, b: number): void {
  t[b >>> 5] = (t[b >>> 5] as number) | (1 << (b & 31));
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
    if (i >= 1) setBit(pairs, w & 0xffff);
    if (i >= 2) setBit(triples, w & 0xffffff);
    if (i >= 3) {
      const b = quadBit(w, shift);
      setBit(quads, b);
      setBit(quads, quadBit2(w, b));
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
  if (!hasBit(t.pairs, w >>> 16)) return -1;
  if (!hasBit(t.triples, w >>> 8)) return 2;
  const b = quadBit(w, t.quadShift);
  if (!hasBit(t.quads, b) || !hasBit(t.quads, quadBit2(w, b))) return 3;
  return -1;
}

/**
 * shortMatchLength at every position of `neu` (to its end), in one pass: there the lookups are independent
 * and their cache misses overlap, while in the scan each waits for the one before. A diff computes them on
 * a worker while the suffix array is built. Two bits per position (see answerAt).
 */
export function shortAnswers(t: ShortStringTables, neu: Uint8Array, shared = false): Uint8Array {
  const n = neu.length;
  const bytes = (n + 3) >>> 2;
  const out = shared ? new Uint8Array(new SharedArrayBuffer(bytes)) : new Uint8Array(bytes);
  for (let i = 0; i < n; i++) {
    const v = shortMatchLength(t, neu, i, n);
    // -1 -> 0, 0 -> 1, 2 and 3 as they are.
    const code = v < 2 ? v + 1 : v;
    out[i >>> 2] = (out[i >>> 2] as number) | (code << ((i & 3) << 1));
  }
  return out;
}

/** shortMatchLength at position `i`, from shortAnswers' result. */
export function answerAt(answers: Uint8Array, i: number): number {
  const code = ((answers[i >>> 2] as number) >>> ((i & 3) << 1)) & 3;
  return code < 2 ? code - 1 : code;
}

/** shortAnswers of a new file of `newLength` bytes, computed ahead for the scan (short-worker.ts). */
export interface ShortAnswers {
  at: Uint8Array;
  newLength: number;
}

/**
 * MatchFinder.shortLength from answers computed ahead, else from the tables, else -1. The answers are for
 * the whole new file; a scan of a prefix of it (a margin trial's slice) may use them where the 4 bytes they
 * look at lie inside the prefix: an answer under 4 is then the prefix's answer too.
 */
export function knownShortLength(
  answers: ShortAnswers | undefined,
  short: ShortStringTables | undefined,
  q: Uint8Array,
  pos: number,
  end: number,
): number {
  if (answers !== undefined && end <= answers.newLength)
    return end - pos < 4 ? -1 : answerAt(answers.at, pos);
  return short === undefined ? -1 : shortMatchLength(short, q, pos, end);
}

/** What short-worker.ts is given: both files, in shared memory. */
export interface ShortStringJob {
  old: Uint8Array;
  neu: Uint8Array;
}
