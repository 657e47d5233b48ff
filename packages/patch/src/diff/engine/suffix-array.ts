// Suffix array construction by induced sorting (SA-IS, Nong-Zhang-Chan 2009), on typed arrays only.
//
// Memory traffic, not arithmetic, is what costs here: each induced suffix is one random access into the
// text. So no array of suffix types is kept (that was a second random access per suffix): a suffix's entry
// carries its predecessor's type in the sign bit, decided when the entry is written from two adjacent text
// symbols (one cache line). Entry e >= 0: suffix e, its predecessor is L-type. e < 0: suffix ~e, its
// predecessor is S-type or absent (suffix 0). -1 (= ~0) therefore also serves as "empty": neither scan
// induces from it.

type Text = Uint8Array | Int32Array;

const EMPTY = -1;

/**
 * The suffix array of `text`: the start positions of all suffixes in lexicographic order (a shorter
 * suffix sorts before a longer one it prefixes). O(n) time; memory 4n bytes for the result plus, in the
 * recursion, two arrays the size of the reduced alphabet where they do not fit into the result's unused
 * part. `shared`: the result lies in a SharedArrayBuffer, for scan threads.
 */
export function buildSuffixArray(text: Uint8Array, signal?: AbortSignal, shared = false): Int32Array {
  const n = text.length;
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
  const bkt = spare.length >= 2 * k ? spare.subarray(k, 2 * k) : new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = t[i] as number;
    counts[c] = (counts[c] as number) + 1;
  }

  // Stage 1: bucket the LMS suffixes (their predecessors are L-type: entry = position), induce, which
  // sorts the LMS substrings.
  sa.fill(EMPTY);
  bucketEnds(counts, bkt, k);
  let n1 = 0;
  // Right to left, suffix types on the fly: i+1 is LMS when it is S-type and i is L-type.
  for (let i = n - 2, nextIsS = false; i >= 0; i--) {
    const c = t[i] as number;
    const d = t[i + 1] as number;
    const isS = isSType(c, d, nextIsS);
    if (nextIsS && !isS) {
      const b = (bkt[d] as number) - 1;
      bkt[d] = b;
      sa[b] = i + 1;
      n1++;
    }
    nextIsS = isS;
  }
  induceL(t, sa, n, counts, bkt, k, true);
  induceS(t, sa, n, counts, bkt, k, true);

  // Stage 2: only the LMS suffixes' entries are left (the scans cleared the others): compact them in
  // sorted order, then name them.
  for (let i = 0, j = 0; j < n1; i++) {
    const p = sa[i] as number;
    if (p > 0) sa[j++] = p;
  }
  // Each LMS substring's length (to the next LMS position, inclusive) goes where its name will go; equal
  // lengths and equal bytes then mean equal substrings, without comparing types.
  sa.fill(EMPTY, n1, n);
  for (let i = n - 2, nextIsS = false, next = n; i >= 0; i--) {
    const c = t[i] as number;
    const d = t[i + 1] as number;
    const isS = isSType(c, d, nextIsS);
    if (nextIsS && !isS) {
      sa[n1 + ((i + 1) >>> 1)] = next - i;
      next = i + 1;
    }
    nextIsS = isS;
  }
  let name = -1;
  let prev = -1;
  let prevLen = 0;
  for (let i = 0; i < n1; i++) {
    const p = sa[i] as number;
    const len = sa[n1 + (p >>> 1)] as number;
    if (prev < 0 || len !== prevLen || !sameBytes(t, n, p, prev, len)) name++;
    prev = p;
    prevLen = len;
    sa[n1 + (p >>> 1)] = name;
  }
  const names = name + 1;
  for (let i = n - 1, j = n - 1; i >= n1; i--) {
    const v = sa[i] as number;
    if (v >= 0) sa[j--] = v;
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
  induceL(t, sa, n, counts, bkt, k, false);
  induceS(t, sa, n, counts, bkt, k, false);
}

/** Whether the suffix at symbol c is S-type (smaller than the next), given its next symbol d and type. */
function isSType(c: number, d: number, nextIsS: boolean): boolean {
  return c < d || (c === d && nextIsS);
}

function bucketStarts(counts: Int32Array, bkt: Int32Array, k: number): void {
  let sum = 0;
  for (let c = 0; c < k; c++) {
    bkt[c] = sum;
    sum += counts[c] as number;
  }
}

function bucketEnds(counts: Int32Array, bkt: Int32Array, k: number): void {
  let sum = 0;
  for (let c = 0; c < k; c++) {
    sum += counts[c] as number;
    bkt[c] = sum;
  }
}

/**
 * Left to right: each entry whose predecessor is L-type puts that predecessor at its bucket's next free
 * head. `clear` (stage 1): the entry is then emptied, as no later step needs it.
 */
function induceL(
  t: Text,
  sa: Int32Array,
  n: number,
  counts: Int32Array,
  bkt: Int32Array,
  k: number,
  clear: boolean,
): void {
  bucketStarts(counts, bkt, k);
  // The suffix n-1 is L-type (the virtual sentinel after it sorts first) and sorts first in its bucket.
  const last = t[n - 1] as number;
  const first = bkt[last] as number;
  sa[first] = (t[n - 2] as number) >= last ? n - 1 : ~(n - 1);
  bkt[last] = first + 1;
  for (let i = 0; i < n; i++) {
    const e = sa[i] as number;
    if (e > 0) {
      // j is L-type: its predecessor is L-type too exactly when its symbol is not smaller.
      const j = e - 1;
      const c = t[j] as number;
      const b = bkt[c] as number;
      sa[b] = j > 0 && (t[j - 1] as number) >= c ? j : ~j;
      bkt[c] = b + 1;
      if (clear) sa[i] = EMPTY;
    }
  }
}

/**
 * Right to left: each entry whose predecessor is S-type puts that predecessor at its bucket's next free
 * tail. `clear` (stage 1): the entry is then emptied, so that only the LMS suffixes (S-type, predecessor
 * L-type: entries >= 0) are left. Otherwise each entry is left as the plain position (the final order).
 */
function induceS(
  t: Text,
  sa: Int32Array,
  n: number,
  counts: Int32Array,
  bkt: Int32Array,
  k: number,
  clear: boolean,
): void {
  bucketEnds(counts, bkt, k);
  for (let i = n - 1; i >= 0; i--) {
    const e = sa[i] as number;
    if (e < EMPTY) {
      // j is S-type: its predecessor is S-type too exactly when its symbol is not larger.
      const j = ~e - 1;
      const c = t[j] as number;
      const b = (bkt[c] as number) - 1;
      sa[b] = j > 0 && (t[j - 1] as number) > c ? j : ~j;
      bkt[c] = b;
      sa[i] = clear ? EMPTY : ~e;
    } else if (e === EMPTY && !clear) {
      sa[i] = 0;
    }
  }
}

/** Whether t[a..a+len) equals t[b..b+len); a stretch reaching the virtual sentinel at n equals no other. */
function sameBytes(t: Text, n: number, a: number, b: number, len: number): boolean {
  if (a + len > n || b + len > n) return false;
  for (let k = 0; k < len; k++) if (t[a + k] !== t[b + k]) return false;
  return true;
}
