// Baseline cover search in the manner of bsdiff (Percival 2003): greedy scan with approximate extension.
import type { Cover } from './cover.js';
import type { SuffixSearch } from './suffix-search.js';

export function scanCoversBsdiff(
  old: Uint8Array,
  neu: Uint8Array,
  finder: SuffixSearch,
  covers: Cover[],
  near = true,
): void {
  const oldLen = old.length;
  const newLen = neu.length;
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  while (scan < newLen) {
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < newLen; scan++) {
      finder.search(neu, scan, newLen, near ? Math.max(0, scan + lastOffset) : -1);
      len = finder.matchLength;
      pos = finder.matchPos;
      for (; scsc < scan + len; scsc++) {
        const o = scsc + lastOffset;
        if (o >= 0 && o < oldLen && old[o] === neu[scsc]) oldScore++;
      }
      if ((len === oldScore && len !== 0) || len > oldScore + 8) break;
      const o = scan + lastOffset;
      if (o >= 0 && o < oldLen && old[o] === neu[scan]) oldScore--;
    }
    if (len !== oldScore || scan === newLen) {
      let s = 0;
      let sf = 0;
      let lenf = 0;
      for (let i = 0; lastScan + i < scan && lastPos + i < oldLen; ) {
        if (old[lastPos + i] === neu[lastScan + i]) s++;
        i++;
        if (s * 2 - i > sf * 2 - lenf) {
          sf = s;
          lenf = i;
        }
      }
      let lenb = 0;
      if (scan < newLen) {
        let sb = 0;
        s = 0;
        for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
          if (old[pos - i] === neu[scan - i]) s++;
          if (s * 2 - i > sb * 2 - lenb) {
            sb = s;
            lenb = i;
          }
        }
      }
      if (lastScan + lenf > scan - lenb) {
        const overlap = lastScan + lenf - (scan - lenb);
        let ss = 0;
        let lens = 0;
        s = 0;
        for (let i = 0; i < overlap; i++) {
          if (neu[lastScan + lenf - overlap + i] === old[lastPos + lenf - overlap + i]) s++;
          if (neu[scan - lenb + i] === old[pos - lenb + i]) s--;
          if (s > ss) {
            ss = s;
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
