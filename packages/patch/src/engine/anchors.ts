// Rolling pass that finds exact matches ("anchors") of new in old through a hash index of old's blocks.

/** Bytes hashed per index entry; also the stride between indexed old positions. */
export const BLOCK = 8;
const SLOTS = 4;
/** Bytes compared when choosing between candidates with the same hash (the winner is extended fully). */
const PROBE = 256;

/**
 * Exact matches, sorted by newStart and disjoint in new; stored flat for speed: for anchor k,
 * newStart = a[3k], oldStart = a[3k+1], length = a[3k+2].
 */
export interface Anchors {
  count: number;
  data: Int32Array;
}

function hashAt(b: Uint8Array, p: number, shift: number): number {
  const w0 =
    (b[p] as number) |
    ((b[p + 1] as number) << 8) |
    ((b[p + 2] as number) << 16) |
    ((b[p + 3] as number) << 24);
  const w1 =
    (b[p + 4] as number) |
    ((b[p + 5] as number) << 8) |
    ((b[p + 6] as number) << 16) |
    ((b[p + 7] as number) << 24);
  return (Math.imul(w0, 0x9e3779b1) ^ Math.imul(w1 ^ (w1 >>> 15), 0x85ebca77)) >>> shift;
}

function same(a: Uint8Array, ap: number, b: Uint8Array, bp: number, n: number): number {
  let k = 0;
  while (k < n && a[ap + k] === b[bp + k]) k++;
  return k;
}

export interface AnchorOptions {
  /** Anchors that leave the current diagonal must match at least this many bytes. */
  minSwitchLength?: number;
  /** ...and match more bytes than the current diagonal does over the same stretch plus this margin. */
  switchMargin?: number;
  onProgress?: (scannedNewBytes: number) => void;
  signal?: AbortSignal;
}

export function findAnchors(old: Uint8Array, neu: Uint8Array, opts: AnchorOptions = {}): Anchors {
  const oldLen = old.length;
  const newLen = neu.length;
  const minSwitch = opts.minSwitchLength ?? 16;
  const switchMargin = opts.switchMargin ?? 8;
  let out = new Int32Array(3 * 1024);
  let count = 0;
  if (oldLen < BLOCK || newLen < BLOCK) return { count, data: out };

  // Index: buckets of SLOTS old positions (+1 so 0 means empty), about two slots per indexed block.
  const blocks = Math.floor((oldLen - BLOCK) / BLOCK) + 1;
  const bucketBits = Math.max(4, Math.ceil(Math.log2(blocks / 2)));
  const shift = 32 - bucketBits;
  const table = new Int32Array((1 << bucketBits) * SLOTS);
  for (let p = 0; p + BLOCK <= oldLen; p += BLOCK) {
    const b = hashAt(old, p, shift) * SLOTS;
    for (let s = 0; s < SLOTS; s++) {
      if (table[b + s] === 0) {
        table[b + s] = p + 1;
        break;
      }
    }
  }

  let diag = 0;
  let covered = 0;
  let i = 0;
  let nextReport = 1 << 22;
  while (i + BLOCK <= newLen) {
    if (i >= nextReport) {
      nextReport = i + (1 << 22);
      opts.signal?.throwIfAborted();
      opts.onProgress?.(i);
    }
    let oPos = -1;
    const onDiag = i + diag;
    if (onDiag >= 0 && onDiag + BLOCK <= oldLen && same(old, onDiag, neu, i, BLOCK) === BLOCK) {
      oPos = onDiag;
    } else {
      const b = hashAt(neu, i, shift) * SLOTS;
      let bestLen = 0;
      const limit = Math.min(PROBE, newLen - i);
      for (let s = 0; s < SLOTS; s++) {
        const c = (table[b + s] as number) - 1;
        if (c < 0) break;
        const len = same(old, c, neu, i, Math.min(limit, oldLen - c));
        if (len > bestLen || (len === bestLen && len > 0 && Math.abs(c - onDiag) < Math.abs(oPos - onDiag))) {
          bestLen = len;
          oPos = c;
        }
      }
      if (bestLen < BLOCK || (bestLen < minSwitch && bestLen < limit)) oPos = -1;
      else if (oPos - i !== diag) {
        // Leave the current diagonal only for a match clearly longer than what the diagonal still
        // matches approximately there (as bsdiff does): relocated code keeps its diagonal.
        let m = 0;
        for (let k = 0; k < bestLen; k++) {
          const o = onDiag + k;
          if (o >= 0 && o < oldLen && old[o] === neu[i + k]) m++;
        }
        if (bestLen <= m + switchMargin) oPos = -1;
      }
    }
    if (oPos < 0) {
      i++;
      continue;
    }
    // Extend exactly both ways (backwards not past the previous anchor).
    let start = i;
    let oStart = oPos;
    while (start > covered && oStart > 0 && old[oStart - 1] === neu[start - 1]) {
      start--;
      oStart--;
    }
    let end = i;
    let oEnd = oPos;
    while (end < newLen && oEnd < oldLen && old[oEnd] === neu[end]) {
      end++;
      oEnd++;
    }
    if (3 * count + 3 > out.length) {
      const bigger = new Int32Array(out.length * 2);
      bigger.set(out);
      out = bigger;
    }
    out[3 * count] = start;
    out[3 * count + 1] = oStart;
    out[3 * count + 2] = end - start;
    count++;
    diag = oStart - start;
    covered = end;
    i = end;
  }
  return { count, data: out };
}
