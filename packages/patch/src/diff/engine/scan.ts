// The cover search: a greedy scan over new in the manner of bsdiff (Percival 2003), with approximate
// extension of each match, plus two changes: a diagonal that still matches well is trusted without a
// search, and of equally long matches the one nearest the current diagonal wins.
//
// The scan is a deterministic walk whose whole state is the few numbers of ScanState. That is what lets
// it run in parts on several threads with exactly the sequential result (scan-parallel.ts): a part started
// in the middle of new records its states; the part before it runs on past its end until it reaches a
// state the later part recorded, and from there on both walks are the same walk.
import { countSame, LOOP_BYTES, samePrefix, sameSuffix } from '../same-bytes.js';
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
  /** Where to start (default: the beginning of new); updated in place when the scan stops or ends. */
  state?: ScanState;
  /** Stop at the first step that starts at or past this position of new (default: run to the end). */
  stopAt?: number;
  /** Record the states the scan passes through (see StateLog). */
  record?: StateLog;
  /** Stop when the scan reaches a state this log holds: the walk from there is the logged one. */
  syncWith?: StateLog;
}

/**
 * Everything that decides the rest of the scan, at the top of its outer loop: where the last match
 * starts in new and its length and old position, the match before it and its diagonal, and how long ago
 * the last real search was (capped at searchEvery, beyond which it makes no difference).
 */
export interface ScanState {
  scan: number;
  len: number;
  pos: number;
  lastScan: number;
  lastPos: number;
  lastOffset: number;
  searchAge: number;
}

/**
 * A scan's start at `from`: at 0 the sequential scan's start; elsewhere a part's, on no diagonal at all
 * (every match is a far jump and nothing counts as staying), which is how the sequential scan usually
 * arrives in a stretch that matches nothing near its last diagonal: so the part tends to accept the same
 * first match as the sequential walk, where the two meet.
 */
export function scanStart(from: number, searchEvery = DEFAULT_SEARCH_EVERY): ScanState {
  const lastOffset = from === 0 ? 0 : NO_DIAGONAL;
  return { scan: from, len: 0, pos: 0, lastScan: from, lastPos: 0, lastOffset, searchAge: searchEvery };
}

/** A diagonal no position of old lies on (the files are under 2 GiB). */
const NO_DIAGONAL = -(2 ** 31) + 1;

/** How a scan ended: at the end of new, at `stopAt`, or in a state of `syncWith` (its index there). */
export type ScanEnd = { kind: 'end' } | { kind: 'stopped' } | { kind: 'synced'; index: number };

/** Ints per logged state: the seven of ScanState and the number of covers pushed before it. */
export const STATE_INTS = 8;

/**
 * The states a scan passed through, in order (their `scan` never decreases), each with how many covers it
 * had pushed by then; at most `capacity` of them (the first ones).
 */
export class StateLog {
  readonly data: Int32Array;
  count = 0;
  /** Read position of a sync search (states before it start before the syncing scan's position). */
  cursor = 0;
  constructor(capacityOrData: number | Int32Array, count?: number) {
    this.data =
      typeof capacityOrData === 'number' ? new Int32Array(capacityOrData * STATE_INTS) : capacityOrData;
    if (count !== undefined) this.count = count;
  }
  get full(): boolean {
    return (this.count + 1) * STATE_INTS > this.data.length;
  }
  /** The number of covers the logged scan had pushed at state `index`. */
  coversAt(index: number): number {
    return this.data[index * STATE_INTS + 7] as number;
  }
}

const DEFAULT_TRUST = 24;
const DEFAULT_SEARCH_EVERY = 64;
/** Window over which the current diagonal's health is judged. */
const WINDOW = 32;
/** Jumps within this distance of the current diagonal are cheap to code. */
const NEAR_JUMP = 256;
/**
 * A backward growth gives up once its score is this far below its best: the bytes before would have to
 * match this much better than half to make up for it. Without the cap a cover that ends a long copy on
 * another diagonal grew back through half of that copy, byte by byte (on the node pair, 0.7 s of the
 * calling thread); with it the bench's patches stay within 0.01 % (node 1,173,758 -> 1,173,785 B, @next/swc
 * 1,638,289 -> 1,638,237 B; the others the same bytes).
 */
const GROW_BACK_DEFICIT = 1024;

export function scanCovers(
  old: Uint8Array,
  neu: Uint8Array,
  finder: MatchFinder,
  covers: Cover[],
  opts: ScanOptions = {},
): ScanEnd {
  const trust = opts.trust ?? DEFAULT_TRUST;
  const searchEvery = opts.searchEvery ?? DEFAULT_SEARCH_EVERY;
  const farMargin = opts.farMargin ?? 8;
  const stopAt = opts.stopAt ?? Number.POSITIVE_INFINITY;
  const record = opts.record;
  const sync = opts.syncWith;
  const oldLen = old.length;
  const newLen = neu.length;
  const st = opts.state ?? scanStart(0, searchEvery);
  let scan = st.scan;
  let len = st.len;
  let pos = st.pos;
  // The previous match: where it starts in new and old, and its diagonal (old - new).
  let lastScan = st.lastScan;
  let lastPos = st.lastPos;
  let lastOffset = st.lastOffset;
  let lastSearch = scan - st.searchAge;
  let nextReport = scan + (1 << 20);
  let end: ScanEnd = { kind: 'end' };
  // The last diagonal window counted: its start in new and old, and how many of its bytes matched.
  let winScan = -1;
  let winOld = -1;
  let winCount = 0;
  while (scan < newLen) {
    if (scan >= nextReport) {
      nextReport = scan + (1 << 20);
      opts.signal?.throwIfAborted();
      opts.onProgress?.(scan);
    }
    if (sync || record || scan >= stopAt) {
      const age = Math.min(scan - lastSearch, searchEvery);
      if (sync) {
        const d = sync.data;
        let i = sync.cursor;
        while (i < sync.count && (d[i * STATE_INTS] as number) < scan) i++;
        sync.cursor = i;
        for (; i < sync.count && d[i * STATE_INTS] === scan; i++) {
          const b = i * STATE_INTS;
          if (
            d[b + 1] === len &&
            d[b + 2] === pos &&
            d[b + 3] === lastScan &&
            d[b + 4] === lastPos &&
            d[b + 5] === lastOffset &&
            d[b + 6] === age
          ) {
            end = { kind: 'synced', index: i };
            break;
          }
        }
        if (end.kind === 'synced') break;
      }
      if (scan >= stopAt) {
        end = { kind: 'stopped' };
        break;
      }
      if (record && !record.full) {
        const b = record.count++ * STATE_INTS;
        const d = record.data;
        d[b] = scan;
        d[b + 1] = len;
        d[b + 2] = pos;
        d[b + 3] = lastScan;
        d[b + 4] = lastPos;
        d[b + 5] = lastOffset;
        d[b + 6] = age;
        d[b + 7] = covers.length;
      }
    }
    // oldScore counts the bytes of new[scan..scsc) that the current diagonal matches (after an early stop
    // in countSame, only some count below len - margin: the match is then taken, whatever the exact score).
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    while (scan < newLen) {
      const d = scan + lastOffset;
      let healthy = false;
      if (scan - lastSearch < searchEvery && d >= 0 && d + WINDOW <= oldLen && scan + WINDOW <= newLen) {
        // The window's count slides along the diagonal: one byte pair leaves, one enters.
        if (winScan === scan - 1 && winOld === d - 1) {
          if (old[winOld] === neu[winScan]) winCount--;
          if (old[d + WINDOW - 1] === neu[scan + WINDOW - 1]) winCount++;
        } else if (winScan !== scan || winOld !== d) {
          winCount = 0;
          for (let k = 0; k < WINDOW; k++) if (old[d + k] === neu[scan + k]) winCount++;
        }
        winScan = scan;
        winOld = d;
        healthy = winCount >= trust;
      }
      // Set when the search's length is known from the finder's tables and its position not yet looked up.
      let posUnknown = false;
      if (healthy) {
        // Take the diagonal's exact run as the match: no search, and no switch.
        len = samePrefix(old, d, neu, scan, Math.min(newLen - scan, oldLen - d));
        pos = d;
      } else {
        const short = finder.shortLength ? finder.shortLength(neu, scan, newLen) : -1;
        if (short >= 0) {
          len = short;
          posUnknown = true;
        } else {
          finder.search(neu, scan, newLen, Math.max(d, 0));
          len = finder.matchLength;
          pos = finder.matchPos;
        }
        lastSearch = scan;
      }
      if (scsc < scan + len) {
        if (healthy) {
          // The match is the diagonal's own exact run from scan on, so it matches all of [scsc, scan + len)
          // (scsc never falls behind scan): nothing to compare again.
          oldScore += scan + len - scsc;
        } else {
          // The part of [scsc, scan + len) whose diagonal position lies in old. With the match's position
          // known, a count that cannot reach len - margin (the match will be taken) may stop early: the exact
          // score then decides nothing (a long anchor on a shifted diagonal would be counted to its end).
          const from = Math.max(scsc, -lastOffset);
          const to = Math.min(scan + len, oldLen - lastOffset);
          const need = posUnknown ? 0 : len - jumpMargin(pos - scan - lastOffset, farMargin) - oldScore;
          if (from < to) oldScore += countSame(old, from + lastOffset, neu, from, to - from, need);
        }
        scsc = scan + len;
      }
      // A match taken below needs its position; one not taken leaves none behind (the walk moves on and
      // searches again, and its last position is always searched: shortLength needs 4 bytes).
      if (posUnknown && ((len === oldScore && len !== 0) || len > oldScore + Math.min(8, farMargin))) {
        finder.search(neu, scan, newLen, Math.max(d, 0));
        len = finder.matchLength;
        pos = finder.matchPos;
      }
      // Switch to the match if it is the current diagonal itself, or clearly better than staying; a
      // jump far from the diagonal costs more control bits, so it must win by more.
      if ((len === oldScore && len !== 0) || len > oldScore + jumpMargin(pos - scan - lastOffset, farMargin))
        break;
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
  st.scan = scan;
  st.len = len;
  st.pos = pos;
  st.lastScan = lastScan;
  st.lastPos = lastPos;
  st.lastOffset = lastOffset;
  st.searchAge = Math.min(scan - lastSearch, searchEvery);
  return end;
}

/** By how many bytes a match `jump` away from the current diagonal must beat staying on it. */
function jumpMargin(jump: number, farMargin: number): number {
  return Math.abs(jump) <= NEAR_JUMP ? 8 : farMargin;
}

/**
 * How far a match at (n, o) should grow forward, at most max bytes: where matches*2 - length peaks. Inside a
 * run of equal bytes the score only rises, so a run that has lasted LOOP_BYTES is skipped to its end at once
 * (samePrefix); and the loop stops where even all-equal bytes to the limit could not beat the best.
 */
function growForward(old: Uint8Array, neu: Uint8Array, n: number, o: number, max: number): number {
  const limit = Math.min(max, old.length - o);
  let s = 0;
  let best = 0;
  let bestLen = 0;
  let run = 0;
  for (let i = 0; i < limit; ) {
    if (old[o + i] !== neu[n + i]) {
      run = 0;
      i++;
      if (s * 2 - i + (limit - i) <= best * 2 - bestLen) break;
      continue;
    }
    s++;
    i++;
    if (++run === LOOP_BYTES) {
      const r = samePrefix(old, o + i, neu, n + i, limit - i);
      s += r;
      i += r;
      run = 0;
    }
    if (s * 2 - i > best * 2 - bestLen) {
      best = s;
      bestLen = i;
    }
  }
  return bestLen;
}

/**
 * How far a match starting at (n, o) should grow backward, at most max bytes: growForward mirrored, giving
 * up GROW_BACK_DEFICIT below its best.
 */
function growBackward(old: Uint8Array, neu: Uint8Array, n: number, o: number, max: number): number {
  const limit = Math.min(max, o);
  let s = 0;
  let best = 0;
  let bestLen = 0;
  let run = 0;
  for (let i = 1; i <= limit; i++) {
    if (old[o - i] !== neu[n - i]) {
      run = 0;
      if (s * 2 - i + Math.min(limit - i, GROW_BACK_DEFICIT) <= best * 2 - bestLen) break;
      continue;
    }
    s++;
    if (++run === LOOP_BYTES) {
      const r = sameSuffix(old, o - i, neu, n - i, limit - i);
      s += r;
      i += r;
      run = 0;
    }
    if (s * 2 - i > best * 2 - bestLen) {
      best = s;
      bestLen = i;
    }
  }
  return bestLen;
}
