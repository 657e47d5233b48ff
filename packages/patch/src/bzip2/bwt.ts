// Burrows-Wheeler transform of a bzip2 block: sorts the block's cyclic rotations with SA-IS (linear time).

/**
 * The BWT as bzip2 defines it: the rotations of `block[0..n)` sorted, `last[k]` the byte before the k-th
 * rotation, `origPtr` the rank of the rotation that starts at 0. Rotations are ordered by sorting the
 * suffixes of block·block·$ (the sentinel $ below every byte): two rotations compare as their first n
 * bytes do, and equal rotations give the same output whichever order they get.
 */
export function bwtForward(block: Uint8Array, n: number, last: Uint8Array): number {
  if (n === 0) return 0;
  if (n === 1) {
    last[0] = block[0] as number;
    return 0;
  }
  const m = 2 * n + 1;
  const text = new Int32Array(m);
  for (let i = 0; i < n; i++) {
    const c = (block[i] as number) + 1;
    text[i] = c;
    text[i + n] = c;
  }
  text[2 * n] = 0;
  const sa = new Int32Array(m);
  suffixArray(text, sa, m, 257);
  let k = 0;
  let origPtr = 0;
  for (let i = 0; i < m; i++) {
    const s = sa[i] as number;
    if (s >= n) continue;
    if (s === 0) {
      origPtr = k;
      last[k++] = block[n - 1] as number;
    } else {
      last[k++] = block[s - 1] as number;
    }
  }
  return origPtr;
}

/**
 * Suffix array of `text[0..n)` by induced sorting (SA-IS, Nong-Zhang-Chan 2009). `text[n-1]` must be a
 * unique smallest symbol (0); symbols are in [0, alphabet). Uses `sa` as scratch for the reduced problem.
 */
export function suffixArray(text: Int32Array, sa: Int32Array, n: number, alphabet: number): void {
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
  const bucket = new Int32Array(alphabet);

  // Stage 1: place LMS suffixes at their bucket ends, induce, and read off their sorted order.
  bucketEnds(text, n, bucket, alphabet);
  sa.fill(-1, 0, n);
  for (let i = 1; i < n; i++) {
    if (isS[i] === 1 && isS[i - 1] === 0) sa[--(bucket[text[i] as number] as number)] = i;
  }
  induce(text, sa, n, isS, bucket, alphabet);

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
  bucketEnds(text, n, bucket, alphabet);
  for (let i = lmsCount - 1; i >= 0; i--) {
    const p = sa[i] as number;
    sa[i] = -1;
    sa[--(bucket[text[p] as number] as number)] = p;
  }
  induce(text, sa, n, isS, bucket, alphabet);
}

function sameLmsSubstring(text: Int32Array, isS: Uint8Array, n: number, a: number, b: number): boolean {
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

function bucketStarts(text: Int32Array, n: number, bucket: Int32Array, alphabet: number): void {
  bucket.fill(0);
  for (let i = 0; i < n; i++) (bucket[text[i] as number] as number)++;
  let sum = 0;
  for (let c = 0; c < alphabet; c++) {
    const count = bucket[c] as number;
    bucket[c] = sum;
    sum += count;
  }
}

function bucketEnds(text: Int32Array, n: number, bucket: Int32Array, alphabet: number): void {
  bucket.fill(0);
  for (let i = 0; i < n; i++) (bucket[text[i] as number] as number)++;
  let sum = 0;
  for (let c = 0; c < alphabet; c++) {
    sum += bucket[c] as number;
    bucket[c] = sum;
  }
}

function induce(
  text: Int32Array,
  sa: Int32Array,
  n: number,
  isS: Uint8Array,
  bucket: Int32Array,
  alphabet: number,
): void {
  bucketStarts(text, n, bucket, alphabet);
  for (let i = 0; i < n; i++) {
    const j = (sa[i] as number) - 1;
    if (j >= 0 && isS[j] === 0) sa[(bucket[text[j] as number] as number)++] = j;
  }
  bucketEnds(text, n, bucket, alphabet);
  for (let i = n - 1; i >= 0; i--) {
    const j = (sa[i] as number) - 1;
    if (j >= 0 && isS[j] === 1) sa[--(bucket[text[j] as number] as number)] = j;
  }
}
