// Burrows-Wheeler transform of a bzip2 block: sorts the block's cyclic rotations with SA-IS (linear time).

/**
 * The BWT as bzip2 defines it: the block's cyclic rotations sorted, `last[k]` the byte before the k-th
 * rotation, the result (origPtr) the rank of the rotation that starts at 0.
 *
 * Rotations are sorted as suffixes: rotate the block to start at its lexicographically least rotation w;
 * then for any two suffixes of w where one is a prefix of the other, the shorter one's rotation continues
 * with w itself, which is no greater than any other rotation, so suffix order (with a sentinel below every
 * byte) is a valid rotation order. Rotations that tie are equal strings, so their order does not change
 * the output. This sorts n + 1 symbols instead of the 2n + 1 of the block-doubling approach.
 */
export function bwtForward(block: Uint8Array, n: number, last: Uint8Array): number {
  if (n === 0) return 0;
  if (n === 1) {
    last[0] = block[0] as number;
    return 0;
  }
  const shift = leastRotation(block, n);
  const m = n + 1;
  // 16-bit symbols halve the text's cache footprint in the sort's random accesses.
  const text = new Uint16Array(m);
  for (let i = 0, k = shift; i < n; i++) {
    text[i] = (block[k] as number) + 1;
    if (++k === n) k = 0;
  }
  text[n] = 0;
  const sa = new Int32Array(m);
  suffixArray(text, sa, m, 257);
  let origPtr = 0;
  for (let r = 1; r < m; r++) {
    // Suffix s of the rotated text is the rotation starting at (s + shift) mod n of the block.
    let start = (sa[r] as number) + shift;
    if (start >= n) start -= n;
    if (start === 0) origPtr = r - 1;
    last[r - 1] = block[start === 0 ? n - 1 : start - 1] as number;
  }
  return origPtr;
}

/** Start of a lexicographically least rotation of block[0..n), in O(n) (two-candidate scan). */
export function leastRotation(block: Uint8Array, n: number): number {
  let i = 0;
  let j = 1;
  let k = 0;
  while (i < n && j < n && k < n) {
    let ia = i + k;
    if (ia >= n) ia -= n;
    let jb = j + k;
    if (jb >= n) jb -= n;
    const a = block[ia] as number;
    const b = block[jb] as number;
    if (a === b) {
      k++;
      continue;
    }
    if (a > b) i += k + 1;
    else j += k + 1;
    if (i === j) j++;
    k = 0;
  }
  return Math.min(i, j);
}

/** Symbols of the text being sorted: 16-bit at the top level, 32-bit names in the recursion. */
type SymbolArray = Uint16Array | Int32Array;

/**
 * Suffix array of `text[0..n)` by induced sorting (SA-IS, Nong-Zhang-Chan 2009). `text[n-1]` must be a
 * unique smallest symbol (0); symbols are in [0, alphabet). Uses `sa` as scratch for the reduced problem.
 */
export function suffixArray(text: SymbolArray, sa: Int32Array, n: number, alphabet: number): void {
  if (n === 1) {
    sa[0] = 0;
    return;
  }
  // isS[i]: suffix i is smaller than suffix i+1 (S-type); the sentinel is S-type by definition.
  const isS = new Uint8Array(n);
  isS[n - 1] = 1;
  for (let i = n - 2; i >= 0; i--) {
    const a = text[i] as number;
    const b = text[i + 1] as number;
    isS[i] = a < b || (a === b && isS[i + 1] === 1) ? 1 : 0;
  }
  const counts = new Int32Array(alphabet);
  for (let i = 0; i < n; i++) (counts[text[i] as number] as number)++;
  const bucket = new Int32Array(alphabet);

  // Stage 1: place LMS suffixes at their bucket ends, induce, and read off their sorted order.
  bucketEnds(counts, bucket, alphabet);
  sa.fill(-1, 0, n);
  for (let i = 1; i < n; i++) {
    if (isS[i] === 1 && isS[i - 1] === 0) sa[--(bucket[text[i] as number] as number)] = i;
  }
  induce(text, sa, n, isS, counts, bucket, alphabet);

  let lmsCount = 0;
  for (let i = 0; i < n; i++) {
    const p = sa[i] as number;
    if (p > 0 && isS[p] === 1 && isS[p - 1] === 0) sa[lmsCount++] = p;
  }
  // Name the LMS substrings: equal substrings get equal names, in sorted order.
  sa.fill(-1, lmsCount, n);
  let name = 0;
  let prev = -1;
  for (let i = 0; i < lmsCount; i++) {
    const pos = sa[i] as number;
    if (prev < 0 || !sameLmsSubstring(text, isS, n, pos, prev)) {
      name++;
      prev = pos;
    }
    sa[lmsCount + (pos >> 1)] = name - 1;
  }
  for (let i = n - 1, j = n - 1; i >= lmsCount; i--) {
    const v = sa[i] as number;
    if (v >= 0) sa[j--] = v;
  }

  // Stage 2: sort the reduced string (recursively if names repeat).
  const reduced = sa.subarray(n - lmsCount, n);
  const reducedSa = sa.subarray(0, lmsCount);
  if (name < lmsCount) suffixArray(reduced, reducedSa, lmsCount, name);
  else for (let i = 0; i < lmsCount; i++) reducedSa[reduced[i] as number] = i;

  // Stage 3: put the LMS suffixes, now sorted, at their bucket ends and induce the rest.
  for (let i = 1, j = 0; i < n; i++) {
    if (isS[i] === 1 && isS[i - 1] === 0) reduced[j++] = i;
  }
  for (let i = 0; i < lmsCount; i++) reducedSa[i] = reduced[reducedSa[i] as number] as number;
  sa.fill(-1, lmsCount, n);
  bucketEnds(counts, bucket, alphabet);
  for (let i = lmsCount - 1; i >= 0; i--) {
    const p = sa[i] as number;
    sa[i] = -1;
    sa[--(bucket[text[p] as number] as number)] = p;
  }
  induce(text, sa, n, isS, counts, bucket, alphabet);
}

function sameLmsSubstring(text: SymbolArray, isS: Uint8Array, n: number, a: number, b: number): boolean {
  for (let d = 0; ; d++) {
    if (a + d >= n || b + d >= n) return false;
    if (text[a + d] !== text[b + d] || isS[a + d] !== isS[b + d]) return false;
    if (d > 0) {
      const aLms = isS[a + d] === 1 && isS[a + d - 1] === 0;
      const bLms = isS[b + d] === 1 && isS[b + d - 1] === 0;
      if (aLms || bLms) return aLms && bLms;
    }
  }
}

function bucketStarts(counts: Int32Array, bucket: Int32Array, alphabet: number): void {
  for (let c = 0, sum = 0; c < alphabet; c++) {
    bucket[c] = sum;
    sum += counts[c] as number;
  }
}

function bucketEnds(counts: Int32Array, bucket: Int32Array, alphabet: number): void {
  for (let c = 0, sum = 0; c < alphabet; c++) {
    sum += counts[c] as number;
    bucket[c] = sum;
  }
}

function induce(
  text: SymbolArray,
  sa: Int32Array,
  n: number,
  isS: Uint8Array,
  counts: Int32Array,
  bucket: Int32Array,
  alphabet: number,
): void {
  bucketStarts(counts, bucket, alphabet);
  for (let i = 0; i < n; i++) {
    const j = (sa[i] as number) - 1;
    if (j >= 0 && isS[j] === 0) sa[(bucket[text[j] as number] as number)++] = j;
  }
  bucketEnds(counts, bucket, alphabet);
  for (let i = n - 1; i >= 0; i--) {
    const j = (sa[i] as number) - 1;
    if (j >= 0 && isS[j] === 1) sa[--(bucket[text[j] as number] as number)] = j;
  }
}
