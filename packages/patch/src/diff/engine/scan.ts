// The cover search: a greedy scan over new in the manner of bsdiff (Percival 2003), with approximate
// extension of each match, plus two changes: a diagonal that still matches well is trusted without a
// search, and of equally long matches the one nearest the current diagonal wins.
import type { Cover, MatchFinder } from './types.js';

export interface ScanOptions {
  /** A diagonal matching at least this many of the next 32 bytes is followed without searching. */
  trust?: number;
  /** ...but a real search still happens at least this often (bytes). */
  searchEvery?: number;
  /** A match more than NEAR_JUMP from the current diagonal must beat staying by this many bytes. */
  farMargin?: number;
  onProgress?: (scannedNewBytes: number) => void;
  signal?: AbortSignal;
}

/** Window over which the current diagonal's health is judged. */
const WINDOW = 32;
/** Jumps within this distance of the current diagonal are cheap to code. */
const NEAR_JUMP = 256;

export function scanCovers(
  old: Uint8Array,
  neu: Uint8Array,
  finder: MatchFinder,
  covers: Cover[],
  opts: ScanOptions = {},
): void {
  const trust = opts.trust ?? 24;
  const searchEvery = opts.searchEvery ?? 64;
  const farMargin = opts.farMargin ?? 8;
  const oldLen = old.length;
  const newLen = neu.length;
  let scan = 0;
  let len = 0;
  let pos = 0;
  // The previous match: where it starts in new and old, and its diagonal (old - new).
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  let lastSearch = Number.NEGATIVE_INFINITY;
  let nextReport = 1 << 20;
  while (scan < newLen) {
    if (scan >= nextReport) {
      nextReport = scan + (1 << 20);
      opts.signal?.throwIfAborted();
      opts.onProgress?.(scan);
    }
    // oldScore counts the bytes of new[scan..scsc) that the current diagonal matches.
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    while (scan < newLen) {
      const d = scan + lastOffset;
      let healthy = false;
      if (scan - lastSearch < searchEvery && d >= 0 && d + WINDOW <= oldLen && scan + WINDOW <= newLen) {
        let m = 0;
        for (let k = 0; k < WINDOW; k++) if (old[d + k] === neu[scan + k]) m++;
        healthy = m >= trust;
      }
      if (healthy) {
        // Take the diagonal's exact run as the match: no search, and no switch.
        let r = 0;
        while (scan + r < newLen && d + r < oldLen && old[d + r] === neu[scan + r]) r++;
        len = r;
        pos = d;
      } else {
        finder.search(neu, scan, newLen, Math.max(d, 0));
        len = finder.matchLength;
        pos = finder.matchPos;
        lastSearch = scan;
      }
      for (; scsc < scan + len; scsc++) {
        const o = scsc + lastOffset;
        if (o >= 0 && o < oldLen && old[o] === neu[scsc]) oldScore++;
      }
      // Switch to the match if it is the current diagonal itself, or clearly better than staying; a
      // jump far from the diagonal costs more control bits, so it must win by more.
      const margin = Math.abs(pos - scan - lastOffset) <= NEAR_JUMP ? 8 : farMargin;
      if ((len === oldScore && len !== 0) || len > oldScore + margin) break;
      const o = scan + lastOffset;
      if (scan < scsc && o >= 0 && o < oldLen && old[o] === neu[scan]) oldScore--;
      scan++;
      if (scsc < scan) scsc = scan;
    }
    if (len !== oldScore || scan === newLen) {
      // Close the previous match: grow it forward, grow the new one backward, split any overlap.
      let lenf = growForward(old, neu, lastScan, lastPos, scan - lastScan);
      let lenb = scan < newLen ? growBackward(old, neu, scan, pos, scan - lastScan) : 0;
      if (lastScan + lenf > scan - lenb) {
        const overlap = lastScan + lenf - (scan - lenb);
        let s = 0;
        let best = 0;
        let lens = 0;
        for (let i = 0; i < overlap; i++) {
          if (neu[lastScan + lenf - overlap + i] === old[lastPos + lenf - overlap + i]) s++;
          if (neu[scan - lenb + i] === old[pos - lenb + i]) s--;
          if (s > best) {
            best = s;
            lens = i + 1;
          }
        }
        lenf += lens - overlap;
        lenb -= lens;
      }
      if (lenf > 0) covers.push({ oldPos: lastPos, newPos: lastScan, length: lenf });
      lastScan = scan - lenb;
      lastPos = pos - lenb;
      lastOffset = pos - scan;
    }
  }
}

/** How far a match at (n, o) should grow forward, at most max bytes: where matches*2 - length peaks. */
function growForward(old: Uint8Array, neu: Uint8Array, n: number, o: number, max: number): number {
  const limit = Math.min(max, old.length - o);
  let s = 0;
  let best = 0;
  let bestLen = 0;
  for (let i = 0; i < limit; ) {
    if (old[o + i] === neu[n + i]) s++;
    i++;
    if (s * 2 - i > best * 2 - bestLen) {
      best = s;
      bestLen = i;
    }
  }
  return bestLen;
}

/** How far a match starting at (n, o) should grow backward, at most max bytes. */
function growBackward(old: Uint8Array, neu: Uint8Array, n: number, o: number, max: number): number {
  const limit = Math.min(max, o);
  let s = 0;
  let best = 0;
  let bestLen = 0;
  for (let i = 1; i <= limit; i++) {
    if (old[o - i] === neu[n - i]) s++;
    if (s * 2 - i > best * 2 - bestLen) {
      best = s;
      bestLen = i;
    }
  }
  return bestLen;
}
