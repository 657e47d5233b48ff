// Suffix array construction by induced sorting (SA-IS, Nong-Zhang-Chan 2009), on typed arrays only.
//
// Memory traffic, not arithmetic, is what costs here: each induced suffix is one random access into the
// text. So no array of suffix types is kept, and LMS substrings are not compared byte by byte: an entry
// carries, besides the position, its predecessor's type (decided when the entry is written, from two
// adjacent text symbols: one cache line) and, while the LMS substrings are sorted, whether a new group of
// equal LMS prefixes begins there (decided from the group of the entry it was induced from).

import { PatchError } from '../../errors.js';

type Text = Uint8Array | Int32Array;

/** Entry bit: the suffix's predecessor is S-type, or it has none (suffix 0, and emptied entries). */
const PRED_S = 1 << 31;
/** Entry bit, while LMS substrings are sorted: a group boundary lies next to this entry (see induceNamingL). */
const MARK = 1 << 30;
/** Entry bits of the suffix's position. */
const POS = MARK - 1;
/** An entry not yet written: neither scan induces from it. */
const EMPTY = 0;

/**
 * The suffix array of `text`: the start positions of all suffixes in lexicographic order (a shorter
 * suffix sorts before a longer one it prefixes). O(n) time; memory 4n bytes for the result plus, in the
 * recursion, three arrays the size of the reduced alphabet where they do not fit into the result's unused
 * part. `shared`: the result lies in a SharedArrayBuffer, for scan threads.
 */
export function buildSuffixArray(text: Uint8Array, signal?: AbortSignal, shared = false): Int32Array {
  const n = text.length;
  if (n > POS + 1)
    throw new PatchError({
      code: 'FILE_TOO_LARGE',
      message: `a suffix array covers at most ${POS + 1} bytes`,
    });
  // Shared memory when scan threads will read it (scan-parallel.ts); the same speed otherwise.
  const sa = shared ? new Int32Array(new SharedArrayBuffer(4 * n)) : new Int32Array(n);
  if (n === 1) sa[0] = 0;
  if (n > 1) sais(text, sa, n, 256, new Int32Array(0), signal);
  return sa;
}

/**
 * Sorts the suffixes of t[0..n) (symbols below k) into sa[0..n). `spare`: memory no one else uses
 * meanwhile, for the bucket arrays (in the recursion, the part of the caller's array between the reduced
 * problem's suffix array and its string); what does not fit there is allocated.
 */
function sais(
  t: Text,
  sa: Int32Array,
  n: number,
  k: number,
  spare: Int32Array,
  signal: AbortSignal | undefined,
): void {
  signal?.throwIfAborted();
  const counts = spare.length >= k ? spare.subarray(0, k).fill(0) : new Int32Array(k);
  // Per symbol c: bkt[2c] its bucket's next free slot and bkt[2c+1] the run the last entry put there came
  // from while LMS substrings are sorted (one cache line for both); bkt[c] the next free slot in stage 4.
  const bkt = spare.length >= 3 * k ? spare.subarray(k, 3 * k) : new Int32Array(2 * k);
  for (let i = 0; i < n; i++) {
    const c = t[i] as number;
    counts[c] = (counts[c] as number) + 1;
  }

  // Stage 1: bucket the LMS suffixes (their predecessors are L-type), induce, which sorts the LMS
  // substrings and groups equal ones.
  sa.fill(EMPTY);
  bucketEnds(counts, bkt, k, 2);
  let n1 = 0;
  // Right to left, suffix types on the fly: i+1 is LMS when it is S-type and i is L-type.
  for (let i = n - 2, nextIsS = false; i >= 0; i--) {
    const c = t[i] as number;
    const d = t[i + 1] as number;
    const isS = isSType(c, d, nextIsS);
    if (nextIsS && !isS) {
      const b = (bkt[2 * d] as number) - 1;
      bkt[2 * d] = b;
      sa[b] = i + 1;
      n1++;
    }
    nextIsS = isS;
  }
  // The LMS suffixes of one bucket are one group (their LMS prefix is the one symbol): mark its first.
  for (let c = 0, end = 0; c < k; c++) {
    end += counts[c] as number;
    const b = bkt[2 * c] as number;
    if (b < end) sa[b] = (sa[b] as number) | MARK;
  }
  induceNamingL(t, sa, n, counts, bkt, k);
  marksToRight(sa, counts, bkt, k);
  induceNamingS(t, sa, n, counts, bkt, k);

  // Stage 2: only the LMS suffixes are left as entries >= 0 (the scans emptied the others, keeping
  // their marks): compact them in sorted order, each marked when a group boundary lies before it; then
  // name them, a new name per group, each at its position's half in the free upper part.
  for (let i = 0, j = 0, boundary = true; j < n1; i++) {
    const e = sa[i] as number;
    if (e > 0) {
      sa[j++] = boundary ? e | MARK : e & POS;
      boundary = false;
    }
    if (e & MARK) boundary = true;
  }
  const NO_NAME = -1;
  sa.fill(NO_NAME, n1, n);
  let name = -1;
  for (let i = 0; i < n1; i++) {
    const e = sa[i] as number;
    if (e & MARK) name++;
    const p = e & POS;
    sa[i] = p;
    sa[n1 + (p >>> 1)] = name;
  }
  const names = name + 1;
  for (let i = n - 1, j = n - 1; i >= n1; i--) {
    const v = sa[i] as number;
    if (v !== NO_NAME) sa[j--] = v;
  }

  // Stage 3: sort the LMS suffixes, recursing while names repeat.
  const s1 = sa.subarray(n - n1, n);
  const sa1 = sa.subarray(0, n1);
  if (names < n1) {
    sais(s1, sa1, n1, names, sa.subarray(n1, n - n1), signal);
  } else {
    for (let i = 0; i < n1; i++) sa1[s1[i] as number] = i;
  }

  // Stage 4: put the sorted LMS suffixes at their bucket ends and induce the full order. The LMS
  // positions in text order replace the reduced string, and bkt counts the LMS suffixes per symbol
  // meanwhile: the sorted ones then go to their buckets without reading the text at random.
  signal?.throwIfAborted();
  bkt.fill(0);
  for (let i = n - 2, nextIsS = false, j = n1 - 1; i >= 0; i--) {
    const c = t[i] as number;
    const d = t[i + 1] as number;
    const isS = isSType(c, d, nextIsS);
    if (nextIsS && !isS) {
      s1[j--] = i + 1;
      bkt[d] = (bkt[d] as number) + 1;
    }
    nextIsS = isS;
  }
  for (let i = 0; i < n1; i++) sa1[i] = s1[sa1[i] as number] as number;
  sa.fill(EMPTY, n1, n);
  // From the right, so that no entry is overwritten before it has moved (none moves left).
  for (let c = k - 1, end = n, i = n1 - 1; c >= 0; c--) {
    for (let m = bkt[c] as number, b = end; m > 0; m--) {
      const p = sa[i] as number;
      sa[i--] = EMPTY;
      sa[--b] = p;
    }
    end -= counts[c] as number;
  }
  induceL(t, sa, n, counts, bkt, k);
  induceS(t, sa, n, counts, bkt, k);
}

/** Whether the suffix at symbol c is S-type (smaller than the next), given its next symbol d and type. */
function isSType(c: number, d: number, nextIsS: boolean): boolean {
  return c < d || (c === d && nextIsS);
}

function bucketStarts(counts: Int32Array, bkt: Int32Array, k: number, w: number): void {
  let sum = 0;
  for (let c = 0; c < k; c++) {
    bkt[w * c] = sum;
    sum += counts[c] as number;
  }
}

function bucketEnds(counts: Int32Array, bkt: Int32Array, k: number, w: number): void {
  let sum = 0;
  for (let c = 0; c < k; c++) {
    sum += counts[c] as number;
    bkt[w * c] = sum;
  }
}

/** The entry of L-type suffix j (symbol c): its predecessor is L-type too exactly when not smaller. */
function entryL(t: Text, j: number, c: number): number {
  return j > 0 && (t[j - 1] as number) >= c ? j : j | PRED_S;
}

/** The entry of S-type suffix j (symbol c): its predecessor is S-type too exactly when not larger. */
function entryS(t: Text, j: number, c: number): number {
  return j > 0 && (t[j - 1] as number) > c ? j : j | PRED_S;
}

/**
 * Before the left-to-right scan: the suffix n-1 is L-type (the virtual sentinel after it sorts first)
 * and sorts first in its bucket. Its LMS prefix reaches the sentinel, so it is a run of its own (`mark`).
 */
function putLast(t: Text, sa: Int32Array, n: number, bkt: Int32Array, w: number, mark: number): void {
  const last = t[n - 1] as number;
  const first = bkt[w * last] as number;
  sa[first] = entryL(t, n - 1, last) | mark;
  bkt[w * last] = first + 1;
}

/**
 * Stage 1, left to right: each entry whose predecessor is L-type puts that predecessor at its bucket's
 * next free head, and is then emptied (keeping its mark), as no later step needs it. Runs of equal LMS
 * prefixes are tracked meanwhile, each marked at its first entry: the entries induced from one run land
 * next to each other in a bucket (they are placed in scan order), so an induced entry starts a new run
 * exactly when the last entry put in its bucket came from another run (bkt[2c+1] holds that run).
 */
function induceNamingL(
  t: Text,
  sa: Int32Array,
  n: number,
  counts: Int32Array,
  bkt: Int32Array,
  k: number,
): void {
  bucketStarts(counts, bkt, k, 2);
  for (let c = 0; c < k; c++) bkt[2 * c + 1] = -1;
  putLast(t, sa, n, bkt, 2, MARK);
  for (let i = 0, run = 0; i < n; i++) {
    const e = sa[i] as number;
    if (e & MARK) run++;
    if (e > 0) {
      const j = (e & POS) - 1;
      const c = t[j] as number;
      const b = bkt[2 * c] as number;
      sa[b] = entryL(t, j, c) | (bkt[2 * c + 1] !== run ? MARK : 0);
      bkt[2 * c] = b + 1;
      bkt[2 * c + 1] = run;
      sa[i] = PRED_S | (e & MARK);
    }
  }
}

/**
 * Between the two scans of stage 1: the right-to-left scan needs each run marked at its last entry, not
 * its first. Only the L-type part of each bucket (from its start to where induceNamingL left bkt) holds
 * runs; the rest is rewritten by induceNamingS.
 */
function marksToRight(sa: Int32Array, counts: Int32Array, bkt: Int32Array, k: number): void {
  for (let c = 0, start = 0; c < k; c++) {
    const end = bkt[2 * c] as number;
    if (end > start) {
      for (let q = start; q < end - 1; q++)
        sa[q] = ((sa[q] as number) & ~MARK) | ((sa[q + 1] as number) & MARK);
      sa[end - 1] = (sa[end - 1] as number) | MARK;
    }
    start += counts[c] as number;
  }
}

/**
 * Stage 1, right to left: each entry whose predecessor is S-type puts that predecessor at its bucket's
 * next free tail, and is then emptied (keeping its mark), so that only the LMS suffixes (S-type,
 * predecessor L-type: entries > 0) are left. Runs as in induceNamingL, marked at their last entry.
 */
function induceNamingS(
  t: Text,
  sa: Int32Array,
  n: number,
  counts: Int32Array,
  bkt: Int32Array,
  k: number,
): void {
  bucketEnds(counts, bkt, k, 2);
  for (let c = 0; c < k; c++) bkt[2 * c + 1] = -1;
  for (let i = n - 1, run = 0; i >= 0; i--) {
    const e = sa[i] as number;
    if (e & MARK) run++;
    if (e < 0) {
      const j = (e & POS) - 1;
      if (j >= 0) {
        const c = t[j] as number;
        const b = (bkt[2 * c] as number) - 1;
        sa[b] = entryS(t, j, c) | (bkt[2 * c + 1] !== run ? MARK : 0);
        bkt[2 * c] = b;
        bkt[2 * c + 1] = run;
      }
      sa[i] = PRED_S | (e & MARK);
    }
  }
}

/** Stage 4, left to right: each entry whose predecessor is L-type puts that at its bucket's next free head. */
function induceL(t: Text, sa: Int32Array, n: number, counts: Int32Array, bkt: Int32Array, k: number): void {
  bucketStarts(counts, bkt, k, 1);
  putLast(t, sa, n, bkt, 1, 0);
  for (let i = 0; i < n; i++) {
    const e = sa[i] as number;
    if (e > 0) {
      const j = e - 1;
      const c = t[j] as number;
      const b = bkt[c] as number;
      sa[b] = entryL(t, j, c);
      bkt[c] = b + 1;
    }
  }
}

/**
 * Stage 4, right to left: each entry whose predecessor is S-type puts that at its bucket's next free
 * tail; every entry is left as the plain position (the final order).
 */
function induceS(t: Text, sa: Int32Array, n: number, counts: Int32Array, bkt: Int32Array, k: number): void {
  bucketEnds(counts, bkt, k, 1);
  for (let i = n - 1; i >= 0; i--) {
    const e = sa[i] as number;
    if (e < 0) {
      const j = (e & POS) - 1;
      if (j >= 0) {
        const c = t[j] as number;
        const b = (bkt[c] as number) - 1;
        sa[b] = entryS(t, j, c);
        bkt[c] = b;
      }
      sa[i] = j + 1;
    }
  }
}
