// Longest-match queries of new-file positions against the old file's suffix array.
import { samePrefix } from '../same-bytes.js';
import { knownShortLength, type ShortAnswers, type ShortStringTables } from './short-strings.js';
import { buildSuffixArray } from './suffix-array.js';

/** Longest matches are cut at this length; callers extend exactly past it (keeps repetitive data linear). */
export const MAX_SEARCH_LENGTH = 1 << 16;
/** How many equally long neighbours each way are looked at for the one nearest the expected position. */
const NEAR_CANDIDATES = 16;

/**
 * Finds, for a position of the new file, the longest prefix that occurs in the old file. Results go into
 * `matchPos`/`matchLength` so the hot loop allocates nothing.
 */
export class SuffixSearch {
  matchPos = 0;
  matchLength = 0;
  /** A match up to this many bytes shorter than the longest is preferred when it is nearer `near`. */
  slack = 0;
  readonly #old: Uint8Array;
  readonly #sa: Int32Array;
  /** For each 2-byte prefix p, the suffixes starting with it are sa[bucket[p]..bucket[p+1]). */
  readonly #bucket: Int32Array;
  readonly #short: ShortStringTables | undefined;
  readonly #answers: ShortAnswers | undefined;

  /**
   * `sa`: the old file's suffix array, when built already (another thread's, in shared memory); `short`:
   * the old file's short-string tables, when the memory plan has room for them (they only save time);
   * `answers`: shortAnswers of those tables for the new file the scan reads (of `newLength` bytes), when
   * computed ahead (then the tables are not needed).
   */
  constructor(
    oldBuf: Uint8Array,
    sa?: Int32Array,
    signal?: AbortSignal,
    shared = false,
    short?: ShortStringTables,
    answers?: ShortAnswers,
  ) {
    sa ??= buildSuffixArray(oldBuf, signal, shared);
    this.#old = oldBuf;
    this.#sa = sa;
    this.#short = short;
    this.#answers = answers;
    const bucket = new Int32Array(65537);
    const n = oldBuf.length;
    for (let i = 0; i + 1 < n; i++) {
      const p = ((oldBuf[i] as number) << 8) | (oldBuf[i + 1] as number);
      bucket[p + 1] = (bucket[p + 1] as number) + 1;
    }
    // The one-byte suffix old[n-1] sorts first within its first byte's range: count it into that range.
    if (n > 0) {
      const p = (oldBuf[n - 1] as number) << 8;
      bucket[p + 1] = (bucket[p + 1] as number) + 1;
    }
    for (let p = 1; p <= 65536; p++) bucket[p] = (bucket[p] as number) + (bucket[p - 1] as number);
    this.#bucket = bucket;
  }

  /** The suffix array, for another thread's SuffixSearch over the same old file. */
  get suffixArray(): Int32Array {
    return this.#sa;
  }

  /** See MatchFinder.shortLength: what the tables tell of `search`'s length at `pos` (-1: nothing). */
  shortLength(newBuf: Uint8Array, pos: number, end: number): number {
    return knownShortLength(this.#answers, this.#short, newBuf, pos, end);
  }

  /**
   * The longest match of newBuf[pos..end) in old (capped at MAX_SEARCH_LENGTH); length 0 when none. Of
   * equally long matches (copies of the same text), the one nearest `near` is taken: it keeps covers on
   * one diagonal instead of hopping between copies, which the patch pays for in control entries.
   */
  search(newBuf: Uint8Array, pos: number, end: number, near: number): void {
    const old = this.#old;
    const sa = this.#sa;
    const oldLen = old.length;
    const qEnd = Math.min(end, pos + MAX_SEARCH_LENGTH);
    this.matchLength = 0;
    this.matchPos = 0;
    if (qEnd - pos < 2 || oldLen < 2) {
      this.#searchRange(newBuf, pos, qEnd, 0, sa.length - 1, near);
      return;
    }
    const p = ((newBuf[pos] as number) << 8) | (newBuf[pos + 1] as number);
    const lo = this.#bucket[p] as number;
    const hi = (this.#bucket[p + 1] as number) - 1;
    if (lo > hi) {
      // No 2-byte match: a 1-byte match is worth nothing to the caller.
      return;
    }
    this.#searchRange(newBuf, pos, qEnd, lo, hi, near);
  }

  #searchRange(q: Uint8Array, qPos: number, qEnd: number, lo: number, hi: number, near: number): void {
    const old = this.#old;
    const sa = this.#sa;
    const oldLen = old.length;
    if (lo > hi) return;
    const qLen = qEnd - qPos;
    let lcpLo = commonPrefix(old, sa[lo] as number, oldLen, q, qPos, qLen, 0);
    let lcpHi = lo === hi ? lcpLo : commonPrefix(old, sa[hi] as number, oldLen, q, qPos, qLen, 0);
    // Invariant: suffix(sa[lo]) <= query < suffix(sa[hi]) in the part we still search, unless the query
    // sorts outside [lo, hi], in which case one end is the answer anyway.
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      const s = sa[mid] as number;
      const k = Math.min(lcpLo, lcpHi);
      const c = commonPrefix(old, s, oldLen, q, qPos, qLen, k);
      if (c === qLen) {
        // The whole query occurs here: no longer match exists.
        this.matchPos = s;
        this.matchLength = c;
        return;
      }
      if (s + c === oldLen || (old[s + c] as number) < (q[qPos + c] as number)) {
        lo = mid;
        lcpLo = c;
      } else {
        hi = mid;
        lcpHi = c;
      }
    }
    const at = lcpLo >= lcpHi ? lo : hi;
    const len = Math.max(lcpLo, lcpHi);
    this.matchPos = sa[at] as number;
    this.matchLength = len;
    if (near >= 0 && len > 0) this.#nearest(q, qPos, len, at, near);
  }

  /** Moves the match to the suffix nearest `near` among SA neighbours of `at` sharing its full length. */
  #nearest(q: Uint8Array, qPos: number, len: number, at: number, near: number): void {
    const old = this.#old;
    const sa = this.#sa;
    const oldLen = old.length;
    let best = this.matchPos;
    let bestLen = len;
    let bestDist = Math.abs(best - near);
    const min = len - this.slack;
    for (let dir = -1; dir <= 1; dir += 2) {
      for (let j = at + dir, k = 0; k < NEAR_CANDIDATES && j >= 0 && j < sa.length; j += dir, k++) {
        const s = sa[j] as number;
        const l = commonPrefix(old, s, oldLen, q, qPos, len, 0);
        if (l < min) break;
        const dist = Math.abs(s - near);
        if (dist < bestDist) {
          best = s;
          bestLen = l;
          bestDist = dist;
        }
      }
    }
    this.matchPos = best;
    this.matchLength = bestLen;
  }
}

function commonPrefix(
  old: Uint8Array,
  s: number,
  oldLen: number,
  q: Uint8Array,
  qPos: number,
  qLen: number,
  from: number,
): number {
  const max = Math.min(qLen, oldLen - s);
  return from >= max ? from : from + samePrefix(old, s + from, q, qPos + from, max - from);
}
