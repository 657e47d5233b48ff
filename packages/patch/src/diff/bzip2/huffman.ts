// Huffman code lengths (length-limited) and canonical code assignment, shared by the bzip2 encoder's tables.

/**
 * Huffman code lengths for `freq[0..count)` into `lengths`, none longer than `maxLength`. Every symbol
 * gets a code (bzip2 tables must cover the whole alphabet), so unused symbols count as frequency 1. When
 * the tree is too deep, the weights are flattened (w -> 1 + w/2) and the tree rebuilt: cheap, and the
 * loss against an optimal length-limited code is negligible at bzip2's limits.
 */
export function huffmanLengths(
  freq: ArrayLike<number>,
  count: number,
  maxLength: number,
  lengths: Uint8Array,
) {
  const weight = new Float64Array(count);
  for (let i = 0; i < count; i++) weight[i] = Math.max(1, freq[i] as number);
  // Nodes 0..count-1 are leaves, count.. are internal; a binary min-heap of node ids orders by weight.
  const nodeWeight = new Float64Array(2 * count);
  const parent = new Int32Array(2 * count);
  const heap = new Int32Array(count + 1);
  for (;;) {
    let heapSize = 0;
    for (let i = 0; i < count; i++) {
      nodeWeight[i] = weight[i] as number;
      heap[++heapSize] = i;
      siftUp(heap, heapSize, nodeWeight);
    }
    let next = count;
    while (heapSize > 1) {
      const a = heap[1] as number;
      heap[1] = heap[heapSize--] as number;
      siftDown(heap, heapSize, 1, nodeWeight);
      const b = heap[1] as number;
      heap[1] = heap[heapSize--] as number;
      siftDown(heap, heapSize, 1, nodeWeight);
      nodeWeight[next] = (nodeWeight[a] as number) + (nodeWeight[b] as number);
      parent[a] = next;
      parent[b] = next;
      heap[++heapSize] = next;
      siftUp(heap, heapSize, nodeWeight);
      next++;
    }
    const root = next - 1;
    let tooLong = false;
    for (let i = 0; i < count; i++) {
      let depth = 0;
      for (let k = i; k !== root; k = parent[k] as number) depth++;
      if (count === 1) depth = 1;
      lengths[i] = depth;
      if (depth > maxLength) tooLong = true;
    }
    if (!tooLong) return;
    for (let i = 0; i < count; i++) weight[i] = 1 + Math.floor((weight[i] as number) / 2);
  }
}

function siftUp(heap: Int32Array, at: number, w: Float64Array): void {
  const node = heap[at] as number;
  const nw = w[node] as number;
  while (at > 1) {
    const up = heap[at >> 1] as number;
    if ((w[up] as number) <= nw) break;
    heap[at] = up;
    at >>= 1;
  }
  heap[at] = node;
}

function siftDown(heap: Int32Array, size: number, at: number, w: Float64Array): void {
  const node = heap[at] as number;
  const nw = w[node] as number;
  for (;;) {
    let child = at << 1;
    if (child > size) break;
    if (child < size && (w[heap[child + 1] as number] as number) < (w[heap[child] as number] as number))
      child++;
    if ((w[heap[child] as number] as number) >= nw) break;
    heap[at] = heap[child] as number;
    at = child;
  }
  heap[at] = node;
}

/**
 * Canonical codes as bzip2 assigns them: shorter codes first, ties by symbol index, consecutive values.
 * The decoder rebuilds the same codes from the lengths alone.
 */
export function canonicalCodes(lengths: Uint8Array, count: number, codes: Int32Array): void {
  let minLen = 32;
  let maxLen = 0;
  for (let i = 0; i < count; i++) {
    const l = lengths[i] as number;
    if (l > maxLen) maxLen = l;
    if (l < minLen) minLen = l;
  }
  let code = 0;
  for (let len = minLen; len <= maxLen; len++) {
    for (let i = 0; i < count; i++) if (lengths[i] === len) codes[i] = code++;
    code <<= 1;
  }
}
