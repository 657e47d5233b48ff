// Anchors: long stretches of new that occur unchanged in old, found in one pass before any index is built.
//
// When a release changes little (a package tar where a few files changed), most of new is such stretches.
// They need no suffix array to be found: hashes of 64-byte windows, sampled by content at the same places in
// both files, find them in time linear in the files (the rsync idea, with content-defined sampling as in
// deduplicating stores). Between anchors the scan then searches a cheaper index (cover.ts picks it): a
// suffix array over the rest of old only, the bytes no anchor uses (where the old versions of the changed
// parts are) and a margin around where each changed stretch lies, when that rest is small (the typescript
// 5.6.2 -> 5.6.3 tar, 22.5 MB: anchors cover all of new and leave 0.1 % of old); else hash chains over all of
// old (5.5.4 -> 5.6.2: 95 % anchored, 18 % of old left).
//
// What is lost with the reduced old: a search from outside the anchors and their margins cannot find text in
// old's anchored bytes (a part of old that new keeps and also copies elsewhere). The scan still finds every
// anchor itself (AnchoredSearch), and approximate matches next to anchors by growing covers as always.
import { samePrefix, sameSuffix } from '../same-bytes.js';
import type { MatchFinder } from './types.js';

/** Matches are found by hashes of windows of this many bytes. */
const WINDOW = 64;
/** An anchor is at least this long. */
export const MIN_ANCHOR = 256;

/** Polynomial rolling hash mod 2^32: h(s) = sum of s[i] * P^(WINDOW-1-i). */
const P = 0x01000193;
/** P^WINDOW mod 2^32: what the byte leaving the window weighs. */
const P_WINDOW = (() => {
  let x = 1;
  for (let i = 0; i < WINDOW; i++) x = Math.imul(x, P);
  return x;
})();

function windowHash(b: Uint8Array, p: number): number {
  let h = 0;
  for (let i = 0; i < WINDOW; i++) h = (Math.imul(h, P) + (b[p + i] as number)) | 0;
  return h;
}

/** The hash of b[p+1..p+WINDOW+1) from `h`, the hash of b[p..p+WINDOW). */
function roll(h: number, b: Uint8Array, p: number): number {
  return (Math.imul(h, P) - Math.imul(b[p] as number, P_WINDOW) + (b[p + WINDOW] as number)) | 0;
}

/**
 * Positions whose window hash passes this test are sampled, in old and in new alike (1 in 32, chosen by
 * content, so the same text is sampled at the same places wherever it lies). A match of MIN_ANCHOR bytes
 * holds 193 window positions: all of them unsampled with probability (31/32)^193, 0.2 %.
 */
function sampled(h: number): boolean {
  return Math.imul(h, 0x9e3779b1) >>> 27 === 0;
}
/** Table slot of a hash: independent of the bits `sampled` tests. */
function slotOf(h: number, shift: number): number {
  return Math.imul(h ^ 0x5bd1e995, 0x85ebca77) >>> shift;
}
/** Copies of a window kept in the table: enough to choose between copies of a file, few for runs of zeros. */
const MAX_COPIES = 4;

/**
 * Calls `take` with the hash and position of each sampled window of old, in order, until it returns false. A
 * run of one repeated window (zeros, padding) samples every position with the same hash: only its first is
 * taken.
 */
function sampleOld(
  old: Uint8Array,
  signal: AbortSignal | undefined,
  take: (h: number, p: number) => boolean,
) {
  let lastHash = 0;
  let lastAt = -2;
  for (let p = 0, h = windowHash(old, 0); ; p++) {
    const repeat = h === lastHash && p === lastAt + 1;
    if (repeat) lastAt = p;
    else if (sampled(h)) {
      lastHash = h;
      lastAt = p;
      if (!take(h, p)) return;
    }
    if (p + WINDOW >= old.length) return;
    h = roll(h, old, p);
    if ((p & 0x3fffff) === 0) signal?.throwIfAborted();
  }
}

/** findAnchors' table of old's sampled windows: (hash, position + 1) pairs, open addressing. */
export interface OldTable {
  table: Int32Array;
  tableMask: number;
  tableShift: number;
}

/**
 * Old's sampled positions by hash: open addressing, each slot a (hash, position + 1) pair in one cache line,
 * at most 3/4 full: room for 1.5 to 3 times the expected 1 sample in 32 bytes (when repeated text samples
 * more, the rest is left out). Of the samples of one hash the first MAX_COPIES are kept, in the order of
 * their positions along the probe sequence, so a lookup meets them first to last.
 *
 * The table is larger than the caches (16 MiB for a 22.5 MB old), so inserting the samples in the order
 * of their positions would wait on memory at each one (two thirds of the time to find typescript's
 * anchors). The samples are collected first and inserted region by region of the table instead (a
 * counting sort on the top bits of their home slot, stable, so the samples of one hash keep their order):
 * the same entries in the same probe order, which is all a lookup sees. That needs every sample to fit
 * (no sample left out for lack of room, which would depend on the order); when they might not, they are
 * inserted in order as they come.
 */
export function oldTable(old: Uint8Array, signal?: AbortSignal): OldTable {
  const oldLen = old.length;
  const tableBits = Math.max(4, Math.ceil(Math.log2(oldLen / 16)));
  const tableMask = (1 << tableBits) - 1;
  const tableShift = 32 - tableBits;
  const table = new Int32Array(2 << tableBits);
  const room = (3 << tableBits) >>> 2;
  // Each sample's hash and position, in order; at most `room` of them (beyond that they might not all fit).
  let samples = new Int32Array(2 * Math.min(room, Math.max(64, oldLen >>> 4)));
  let count = 0;
  let overflow = false;
  sampleOld(old, signal, (h, p) => {
    if (count === room) {
      overflow = true;
      return false;
    }
    if (2 * count === samples.length) {
      const grown = new Int32Array(Math.min(2 * room, 2 * samples.length));
      grown.set(samples);
      samples = grown;
    }
    samples[2 * count] = h;
    samples[2 * count + 1] = p;
    count++;
    return true;
  });
  if (overflow) return orderedTable(old, tableBits, signal);
  // Regions of 2^15 slots (256 KiB), or the whole table when it is smaller.
  const regionShift = Math.max(0, tableBits - 15);
  const regions = tableMask >>> regionShift;
  const start = new Int32Array(regions + 2);
  for (let i = 0; i < count; i++) {
    const region = slotOf(samples[2 * i] as number, tableShift) >>> regionShift;
    start[region + 2] = (start[region + 2] as number) + 1;
  }
  for (let r = 2; r < start.length; r++) start[r] = (start[r] as number) + (start[r - 1] as number);
  const sorted = new Int32Array(2 * count);
  for (let i = 0; i < count; i++) {
    const h = samples[2 * i] as number;
    const region = slotOf(h, tableShift) >>> regionShift;
    const at = start[region + 1] as number;
    sorted[2 * at] = h;
    sorted[2 * at + 1] = samples[2 * i + 1] as number;
    start[region + 1] = at + 1;
  }
  for (let k = 0; k < count; k++)
    insert(table, tableMask, tableShift, sorted[2 * k] as number, sorted[2 * k + 1] as number);
  return { table, tableMask, tableShift };
}

/** Puts (h, p + 1) in the first free slot from h's home, unless MAX_COPIES of h are there; true if put. */
function insert(table: Int32Array, mask: number, shift: number, h: number, p: number): boolean {
  let copies = 0;
  for (let slot = slotOf(h, shift); ; slot = (slot + 1) & mask) {
    if (table[2 * slot + 1] === 0) {
      table[2 * slot] = h;
      table[2 * slot + 1] = p + 1;
      return true;
    }
    if (table[2 * slot] === h && ++copies === MAX_COPIES) return false;
  }
}

/** oldTable's samples inserted in the order of their positions, until the table has no room left. */
export function orderedTable(
  old: Uint8Array,
  tableBits = Math.max(4, Math.ceil(Math.log2(old.length / 16))),
  signal?: AbortSignal,
): OldTable {
  const tableMask = (1 << tableBits) - 1;
  const tableShift = 32 - tableBits;
  const table = new Int32Array(2 << tableBits);
  let room = (3 << tableBits) >>> 2;
  sampleOld(old, signal, (h, p) => {
    if (insert(table, tableMask, tableShift, h, p)) room--;
    return room > 0;
  });
  return { table, tableMask, tableShift };
}

/**
 * What a lookup can see in a table (for tests): for each hash, the positions a lookup meets, in that order.
 */
export function tableEntries(t: OldTable): Map<number, number[]> {
  const seen = new Map<number, [number, number][]>();
  for (let slot = 0; slot <= t.tableMask; slot++) {
    const w = t.table[2 * slot + 1] as number;
    if (w === 0) continue;
    const h = t.table[2 * slot] as number;
    const distance = (slot - slotOf(h, t.tableShift)) & t.tableMask;
    const list = seen.get(h) ?? [];
    list.push([distance, w - 1]);
    seen.set(h, list);
  }
  return new Map([...seen].map(([h, list]) => [h, list.sort((a, b) => a[0] - b[0]).map((e) => e[1])]));
}

/**
 * The anchors of new in old, as (oldPos, newPos, length) triples sorted by newPos and not overlapping in new:
 * each an exact match of at least MIN_ANCHOR bytes, as long as it extends both ways. Memory: the table of
 * old's sampled positions (at most `old.length` bytes, and up to 1.5 times that again while it is filled),
 * and the anchors (up to new/4 while they are collected). `stats.lookups` counts the samples of new looked
 * up in the table (tests bound the work).
 */
export function findAnchors(
  old: Uint8Array,
  neu: Uint8Array,
  signal?: AbortSignal,
  stats?: { lookups: number },
): Int32Array {
  const n = neu.length;
  const oldLen = old.length;
  if (oldLen < WINDOW || n < MIN_ANCHOR) return new Int32Array(0);
  const { table, tableMask, tableShift } = oldTable(old, signal);
  const out: number[] = [];
  // New is covered by anchors up to here: an anchor's backward growth stops at the previous one.
  let coveredTo = 0;
  // The longest exact match through a sampled window: its start in new and old, and its end in new (of
  // equally long ones, the nearest to the last anchor's diagonal: an edit shifts text a little, a far copy
  // of the same text is another file).
  let bestNew = 0;
  let bestOld = 0;
  let bestEnd = 0;
  let lastDiagonal = 0;
  // How far in new the matches of the current lookup reach (whether they become an anchor or not).
  let reach = 0;
  const consider = (q: number, o: number): void => {
    const fwd = samePrefix(old, o, neu, q, Math.min(n - q, oldLen - o));
    if (fwd < WINDOW) return; // a hash collision
    reach = Math.max(reach, q + fwd);
    const back = sameSuffix(old, o, neu, q, Math.min(q - coveredTo, o));
    const len = fwd + back;
    const bestLen = bestEnd - bestNew;
    if (
      len > bestLen ||
      (len === bestLen && Math.abs(o - q - lastDiagonal) < Math.abs(bestOld - bestNew - lastDiagonal))
    ) {
      bestNew = q - back;
      bestOld = o - back;
      bestEnd = q + fwd;
    }
  };
  // Lookups that found matches too short for an anchor, by hash (direct-mapped): the hash, and how far its
  // matches reached. Until there, the same window met again (a run of zeros in new against short runs in
  // old, or a short period) would find and measure the same short matches at every position.
  const failedHash = new Int32Array(FAILED_SLOTS);
  const failedReach = new Int32Array(FAILED_SLOTS);
  let lookups = 0;
  let p = 0;
  let h = windowHash(neu, 0);
  while (p + WINDOW <= n) {
    const f = Math.imul(h, 0x27d4eb2d) >>> (32 - FAILED_BITS);
    if (sampled(h) && !(failedHash[f] === h && p < (failedReach[f] as number))) {
      if ((++lookups & 0xfff) === 0) signal?.throwIfAborted();
      bestEnd = bestNew = bestOld = reach = 0;
      for (let slot = slotOf(h, tableShift), w = table[2 * slot + 1] as number; w !== 0; ) {
        if (table[2 * slot] === h) consider(p, w - 1);
        slot = (slot + 1) & tableMask;
        w = table[2 * slot + 1] as number;
      }
      if (bestEnd - bestNew < MIN_ANCHOR && reach > 0) {
        failedHash[f] = h;
        failedReach[f] = reach;
      } else if (bestEnd - bestNew >= MIN_ANCHOR) {
        out.push(bestOld, bestNew, bestEnd - bestNew);
        lastDiagonal = bestOld - bestNew;
        coveredTo = bestEnd;
        p = bestEnd;
        if (p + WINDOW > n) break;
        h = windowHash(neu, p);
        signal?.throwIfAborted();
        continue;
      }
    }
    if (p + WINDOW >= n) break;
    h = roll(h, neu, p);
    p++;
    if ((p & 0x3fffff) === 0) signal?.throwIfAborted();
  }
  if (stats) stats.lookups = lookups;
  return Int32Array.from(out);
}

/** Slots of findAnchors' memory of failed lookups. */
const FAILED_BITS = 8;
const FAILED_SLOTS = 1 << FAILED_BITS;

/** Bytes of new the anchors cover. */
export function anchoredBytes(anchors: Int32Array): number {
  let sum = 0;
  for (let i = 2; i < anchors.length; i += 3) sum += anchors[i] as number;
  return sum;
}

/**
 * Old without the bytes anchors use: `bytes` is the concatenation of the unused stretches ("pieces"); piece
 * k starts at `realStart[k]` in old and `start[k]` in `bytes`.
 */
export interface ReducedOld {
  bytes: Uint8Array;
  realStart: Int32Array;
  start: Int32Array;
}

/** All of old as a ReducedOld: one piece, where it is (the index beside the anchors covers all of old). */
export function wholeOld(old: Uint8Array): ReducedOld {
  return { bytes: old, realStart: Int32Array.of(0), start: Int32Array.of(0) };
}

/** Bytes in piece k of a reduced old whose pieces start at `start` (in its bytes), `size` bytes in all. */
export function pieceLength(start: ArrayLike<number>, size: number, k: number): number {
  return (k + 1 < start.length ? (start[k + 1] as number) : size) - (start[k] as number);
}

/** Old bytes kept searchable on either side of where a stretch between anchors lies in old. */
const KEEP_MARGIN = 1024;
/** ...and as many bytes as the stretch of new is long, up to this (a long insertion has no old version). */
const KEEP_GAP = 4096;

/** Intervals [from, to) sorted and joined where they touch or overlap. */
function merged(list: [number, number][]): [number, number][] {
  list.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [from, to] of list) {
    const last = out[out.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/** The parts of the intervals `a` outside the intervals `b` (both merged). */
function subtract(a: [number, number][], b: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let j = 0;
  for (const [from, to] of a) {
    let at = from;
    while (j < b.length && (b[j] as [number, number])[1] <= at) j++;
    for (let k = j; k < b.length && (b[k] as [number, number])[0] < to; k++) {
      const [bf, bt] = b[k] as [number, number];
      if (bf > at) out.push([at, bf]);
      at = Math.max(at, bt);
    }
    if (at < to) out.push([at, to]);
  }
  return out;
}

/** Where the pieces of a ReducedOld lie: in old (`realStart`) and in the reduced bytes (`start`), and its size. */
export interface Pieces {
  realStart: number[];
  start: number[];
  size: number;
}

/**
 * The pieces of old that stay searchable: the bytes no anchor uses, and around each stretch of new outside
 * the anchors, the old bytes next to where the anchors on either side put it: as many as the stretch is long
 * (up to KEEP_GAP) and KEEP_MARGIN more (the old version of what changed is usually there, even when an
 * anchor reused some of it).
 */
export function reducedPieces(oldLen: number, newLen: number, anchors: Int32Array): Pieces {
  const used: [number, number][] = [];
  const kept: [number, number][] = [];
  const count = anchors.length / 3;
  for (let i = 0; i < count; i++) {
    const o = anchors[3 * i] as number;
    const newPos = anchors[3 * i + 1] as number;
    const len = anchors[3 * i + 2] as number;
    used.push([o, o + len]);
    const before = newPos - (i > 0 ? (anchors[3 * i - 2] as number) + (anchors[3 * i - 1] as number) : 0);
    if (before > 0) kept.push([o - Math.min(before, KEEP_GAP) - KEEP_MARGIN, o + KEEP_MARGIN]);
    const after = (i + 1 < count ? (anchors[3 * i + 4] as number) : newLen) - (newPos + len);
    if (after > 0) kept.push([o + len - KEEP_MARGIN, o + len + Math.min(after, KEEP_GAP) + KEEP_MARGIN]);
  }
  const pieces: Pieces = { realStart: [], start: [], size: 0 };
  const add = (from: number, to: number) => {
    if (to <= from) return;
    pieces.realStart.push(from);
    pieces.start.push(pieces.size);
    pieces.size += to - from;
  };
  let at = 0;
  for (const [from, to] of subtract(merged(used), merged(kept))) {
    add(at, from);
    at = to;
  }
  add(at, oldLen);
  return pieces;
}

/** The reduced old of `pieces`. */
export function reduceOld(old: Uint8Array, pieces: Pieces): ReducedOld {
  const { realStart, start, size } = pieces;
  const bytes = new Uint8Array(size);
  for (let k = 0; k < start.length; k++) {
    const from = realStart[k] as number;
    bytes.set(old.subarray(from, from + pieceLength(start, size, k)), start[k] as number);
  }
  return { bytes, realStart: Int32Array.from(realStart), start: Int32Array.from(start) };
}

/** The last i with a[i * step + offset] <= x (those entries ascending), or -1 when there is none. */
function lastAtOrBelow(a: Int32Array, x: number, step: number, offset: number): number {
  let lo = 0;
  let hi = a.length / step - 1;
  if (hi < 0 || (a[offset] as number) > x) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((a[mid * step + offset] as number) <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * A match finder over old made of the anchors and a finder (`inner`) over the reduced old: a search takes the
 * anchor through its position, if any, or the inner finder's match mapped back to old and cut where its piece
 * ends, whichever is longer (of equal ones the one nearer `near`).
 */
export class AnchoredSearch implements MatchFinder {
  matchPos = 0;
  matchLength = 0;
  readonly #anchors: Int32Array;
  readonly #reduced: ReducedOld;
  readonly #inner: MatchFinder;
  /** The anchor the last lookup found (the scan asks in increasing order, mostly). */
  #cursor = 0;

  constructor(anchors: Int32Array, reduced: ReducedOld, inner: MatchFinder) {
    this.#anchors = anchors;
    this.#reduced = reduced;
    this.#inner = inner;
  }

  /** The anchor holding new position `pos`, or -1. */
  #anchorAt(pos: number): number {
    const a = this.#anchors;
    const count = a.length / 3;
    let i = this.#cursor;
    if (
      !(i < count && (a[3 * i + 1] as number) <= pos && (i + 1 === count || (a[3 * i + 4] as number) > pos))
    ) {
      i = lastAtOrBelow(a, pos, 3, 1);
      if (i >= 0) this.#cursor = i;
    }
    return i >= 0 && pos < (a[3 * i + 1] as number) + (a[3 * i + 2] as number) ? i : -1;
  }

  search(newBuf: Uint8Array, pos: number, end: number, near: number): void {
    let len = 0;
    let at = 0;
    const a = this.#anchors;
    const i = this.#anchorAt(pos);
    if (i >= 0) {
      const newPos = a[3 * i + 1] as number;
      at = (a[3 * i] as number) + pos - newPos;
      len = Math.min(newPos + (a[3 * i + 2] as number), end) - pos;
    }
    const r = this.#reduced;
    if (r.bytes.length > 0) {
      let nearReduced = -1;
      if (near >= 0) {
        // The reduced position of `near`, or of the piece after it when anchors use it.
        const k = lastAtOrBelow(r.realStart, near, 1, 0);
        if (k < 0) nearReduced = 0;
        else {
          const into = near - (r.realStart[k] as number);
          const pieceLen = this.#pieceLength(k);
          nearReduced = into < pieceLen ? (r.start[k] as number) + into : (r.start[k] as number) + pieceLen;
        }
      }
      this.#inner.search(newBuf, pos, end, nearReduced);
      const got = this.#inner.matchLength;
      if (got > 0) {
        const k = lastAtOrBelow(r.start, this.#inner.matchPos, 1, 0);
        const into = this.#inner.matchPos - (r.start[k] as number);
        const innerLen = Math.min(got, this.#pieceLength(k) - into);
        const innerAt = (r.realStart[k] as number) + into;
        if (
          innerLen > len ||
          (innerLen === len && near >= 0 && Math.abs(innerAt - near) < Math.abs(at - near))
        ) {
          len = innerLen;
          at = innerAt;
        }
      }
    }
    this.matchLength = len;
    this.matchPos = len > 0 ? at : 0;
  }

  #pieceLength(k: number): number {
    return pieceLength(this.#reduced.start, this.#reduced.bytes.length, k);
  }

  /**
   * Inside an anchor the length is long and known only by searching; elsewhere the inner finder's answer
   * (over a reduced old it may count a match across a join of two pieces that `search` cuts shorter: the scan
   * searches before it takes a match, so only a decision can differ, the same on every run).
   */
  shortLength(newBuf: Uint8Array, pos: number, end: number): number {
    if (this.#anchorAt(pos) >= 0) return -1;
    return this.#inner.shortLength ? this.#inner.shortLength(newBuf, pos, end) : -1;
  }
}
