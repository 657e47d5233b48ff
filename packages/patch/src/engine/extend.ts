// Turns exact anchors into covers: neighbours on one diagonal merge, the rest grow into the gaps
// approximately (bsdiff-style), and whatever stays between covers is literal.
import type { Anchors } from './anchors.js';
import type { Cover } from './cover.js';

export interface ExtendOptions {
  /** Same-diagonal anchors closer than this always merge (the gap becomes difference bytes). */
  mergeGap?: number;
  /** Extension keeps a stretch when matches * weight - length is at its best there (bsdiff: 2). */
  matchWeight?: number;
}

export function coversFromAnchors(
  old: Uint8Array,
  neu: Uint8Array,
  anchors: Anchors,
  opts: ExtendOptions = {},
): Cover[] {
  const mergeGap = opts.mergeGap ?? 32;
  const weight = opts.matchWeight ?? 2;
  const oldLen = old.length;
  const a = anchors.data;
  const covers: Cover[] = [];
  if (anchors.count === 0) return covers;
  // The cover being built: new [curStart, curEnd) on diagonal curDiag.
  let curStart = a[0] as number;
  let curDiag = (a[1] as number) - curStart;
  let curEnd = curStart + (a[2] as number);
  // Grow the first anchor backwards to the start of new.
  {
    const lenb = extendBack(old, neu, curStart, curStart + curDiag, curStart, weight);
    curStart -= lenb;
  }
  for (let k = 1; k <= anchors.count; k++) {
    const last = k === anchors.count;
    const s = last ? neu.length : (a[3 * k] as number);
    const d = last ? 0 : (a[3 * k + 1] as number) - s;
    const len = last ? 0 : (a[3 * k + 2] as number);
    const gap = s - curEnd;
    if (!last && d === curDiag && gap <= mergeGap) {
      curEnd = s + len;
      continue;
    }
    let lenf = extendForward(old, neu, curEnd, curEnd + curDiag, gap, weight, oldLen);
    let lenb = last ? 0 : extendBack(old, neu, s, s + d, gap, weight);
    if (lenf + lenb > gap) {
      // Overlap: split where the current cover's diagonal stops matching better than the next one's.
      const overlap = lenf + lenb - gap;
      const from = curEnd + lenf - overlap;
      let score = 0;
      let best = 0;
      let bestAt = 0;
      for (let i = 0; i < overlap; i++) {
        const x = from + i;
        if (neu[x] === old[x + curDiag]) score++;
        if (neu[x] === old[x + d]) score--;
        if (score > best) {
          best = score;
          bestAt = i + 1;
        }
      }
      lenf += bestAt - overlap;
      lenb -= bestAt;
    }
    if (!last && d === curDiag && lenf + lenb >= gap) {
      curEnd = s + len;
      continue;
    }
    curEnd += lenf;
    covers.push({ oldPos: curStart + curDiag, newPos: curStart, length: curEnd - curStart });
    if (last) break;
    curStart = s - lenb;
    curDiag = d;
    curEnd = s + len;
  }
  return covers;
}

/** How far a cover on old position o (new position n) should grow forward into the next `max` bytes. */
function extendForward(
  old: Uint8Array,
  neu: Uint8Array,
  n: number,
  o: number,
  max: number,
  weight: number,
  oldLen: number,
): number {
  const limit = Math.min(max, oldLen - o);
  let score = 0;
  let best = 0;
  let bestLen = 0;
  for (let i = 0; i < limit; i++) {
    if (old[o + i] === neu[n + i]) score += weight;
    score--;
    if (score > best) {
      best = score;
      bestLen = i + 1;
    }
    // Far below the best: nothing later can win back this much in the remaining bytes.
    if (score < best - 4096) break;
  }
  return bestLen;
}

/** How far a cover starting at new position n (old position o) should grow backwards, at most `max` bytes. */
function extendBack(
  old: Uint8Array,
  neu: Uint8Array,
  n: number,
  o: number,
  max: number,
  weight: number,
): number {
  const limit = Math.min(max, o);
  let score = 0;
  let best = 0;
  let bestLen = 0;
  for (let i = 1; i <= limit; i++) {
    if (old[o - i] === neu[n - i]) score += weight;
    score--;
    if (score > best) {
      best = score;
      bestLen = i;
    }
    if (score < best - 4096) break;
  }
  return bestLen;
}
