// Suffix array construction by induced sorting (SA-IS, Nong-Zhang-Chan 2009), on typed arrays only.

type Text = Uint8Array | Int32Array;

/**
 * The suffix array of `text`: the start positions of all suffixes in lexicographic order (a shorter
 * suffix sorts before a longer one it prefixes). O(n) time; memory 4n bytes for the result plus about
 * n/8 bytes and, in the recursion, one or two arrays the size of the reduced alphabet. `shared`: the
 * result lies in a SharedArrayBuffer, for scan threads.
 */
export function buildSuffixArray(text: Uint8Array, signal?: AbortSignal, shared = false): Int32Array {
  const n = text.length;
  // Shared memory when scan threads will read it (scan-parallel.ts); the same speed otherwise.
  const sa = shared ? new Int32Array(new SharedArrayBuffer(4 * n)) : new Int32Array(n);
  if (n === 1) sa[0] = 0;
  if (n > 1) sais(text, sa, n, 256, signal);
  return sa;
}

function sais(t: Text, sa: Int32Array, n: number, k: number, signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
  // Suffix types, one bit each: 1 = S (smaller than the next suffix), 0 = L. A virtual sentinel at n is S.
  const types = new Uint8Array((n >>> 3) + 1);
  let nextIsS = false;
  for (let i = n - 2; i >= 0; i--) {
    const c = t[i] as number;
    const d = t[i + 1] as number;
    const isS: boolean = c < d || (c === d && nextIsS);
    if (isS) types[i >>> 3] = (types[i >>> 3] as number) | (1 << (i & 7));
    nextIsS = isS;
  }
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = t[i] as number;
    counts[c] = (counts[c] as number) + 1;
  }
  const bkt = new Int32Array(k);

  // Stage 1: bucket the LMS suffixes, induce, which sorts the LMS substrings.
  sa.fill(-1);
  bucketEnds(counts, bkt, k);
  for (let i = 1; i < n; i++) {
    if (isLms(types, i)) {
      const c = t[i] as number;
      const b = (bkt[c] as number) - 1;
      bkt[c] = b;
      sa[b] = i;
    }
  }
  induceL(t, sa, n, types, counts, bkt, k);
  induceS(t, sa, n, types, counts, bkt, k);

  // Stage 2: compact the sorted LMS substrings and name them.
  let n1 = 0;
  for (let i = 0; i < n; i++) {
    const p = sa[i] as number;
    if (p > 0 && isLms(types, p)) sa[n1++] = p;
  }
  // Each LMS substring's length (to the next LMS position, inclusive) goes where its name will go; equal
  // lengths and equal bytes then mean equal substrings, without comparing types.
  sa.fill(-1, n1, n);
  for (let i = n - 1, next = n; i >= 1; i--) {
    if (isLms(types, i)) {
      sa[n1 + (i >>> 1)] = next - i + 1;
      next = i;
    }
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
    sais(s1, sa1, n1, names, signal);
  } else {
    for (let i = 0; i < n1; i++) sa1[s1[i] as number] = i;
  }

  // Stage 4: put the sorted LMS suffixes at their bucket ends and induce the full order.
  signal?.throwIfAborted();
  for (let i = n - 1, j = n1 - 1; i >= 1; i--) {
    if (isLms(types, i)) s1[j--] = i;
  }
  for (let i = 0; i < n1; i++) sa1[i] = s1[sa1[i] as number] as number;
  sa.fill(-1, n1, n);
  bucketEnds(counts, bkt, k);
  for (let i = n1 - 1; i >= 0; i--) {
    const p = sa[i] as number;
    sa[i] = -1;
    const c = t[p] as number;
    const b = (bkt[c] as number) - 1;
    bkt[c] = b;
    sa[b] = p;
  }
  induceL(t, sa, n, types, counts, bkt, k);
  induceS(t, sa, n, types, counts, bkt, k);
}

function isLms(types: Uint8Array, i: number): boolean {
  return (i > 0 &&
    ((types[i >>> 3] as number) >>> (i & 7)) & 1 &&
    !(((types[(i - 1) >>> 3] as number) >>> ((i - 1) & 7)) & 1)) as boolean;
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

function induceL(
  t: Text,
  sa: Int32Array,
  n: number,
  types: Uint8Array,
  counts: Int32Array,
  bkt: Int32Array,
  k: number,
): void {
  bucketStarts(counts, bkt, k);
  // The suffix n-1 follows the virtual sentinel, which sorts first.
  const last = t[n - 1] as number;
  sa[bkt[last] as number] = n - 1;
  bkt[last] = (bkt[last] as number) + 1;
  for (let i = 0; i < n; i++) {
    const j = (sa[i] as number) - 1;
    if (j >= 0 && !(((types[j >>> 3] as number) >>> (j & 7)) & 1)) {
      const c = t[j] as number;
      const b = bkt[c] as number;
      sa[b] = j;
      bkt[c] = b + 1;
    }
  }
}

function induceS(
  t: Text,
  sa: Int32Array,
  n: number,
  types: Uint8Array,
  counts: Int32Array,
  bkt: Int32Array,
  k: number,
): void {
  bucketEnds(counts, bkt, k);
  for (let i = n - 1; i >= 0; i--) {
    const j = (sa[i] as number) - 1;
    if (j >= 0 && ((types[j >>> 3] as number) >>> (j & 7)) & 1) {
      const c = t[j] as number;
      const b = (bkt[c] as number) - 1;
      bkt[c] = b;
      sa[b] = j;
    }
  }
}

/** Whether t[a..a+len) equals t[b..b+len); a stretch reaching the virtual sentinel at n equals no other. */
function sameBytes(t: Text, n: number, a: number, b: number, len: number): boolean {
  if (a + len > n || b + len > n) return false;
  for (let k = 0; k < len; k++) if (t[a + k] !== t[b + k]) return false;
  return true;
}
