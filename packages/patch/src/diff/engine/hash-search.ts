// Longest-match queries through hash chains over old: lighter than a suffix array for large files.
import { samePrefix } from '../same-bytes.js';
import { knownShortLength, type ShortAnswers, type ShortStringTables } from './short-strings.js';

/** Bytes hashed per indexed position. */
const HASHED = 6;
/**
 * Chain heads: 2^22 (16 MiB). A larger table shortens chains but makes every insert a cache and TLB miss;
 * on the node bench pair 2^22 builds twice as fast as 2^24 for the same patch size.
 */
export const HEAD_BITS = 22;

function hash6(b: Uint8Array, p: number, shift: number): number {
  const w0 =
    (b[p] as number) |
    ((b[p + 1] as number) << 8) |
    ((b[p + 2] as number) << 16) |
    ((b[p + 3] as number) << 24);
  const w1 = (b[p + 4] as number) | ((b[p + 5] as number) << 8);
  return (Math.imul(w0, 0x9e3779b1) ^ Math.imul(w1 + 0x7f4a7c15, 0x85ebca77)) >>> shift;
}

/** Entries (indexed positions) and chain-head bits of the index over `size` bytes. */
export function chainsLayout(
  size: number,
  stride: number,
  headBits = HEAD_BITS,
): { entries: number; bits: number } {
  const entries = Math.max(1, Math.ceil(size / stride));
  return { entries, bits: Math.max(10, Math.min(headBits, Math.ceil(Math.log2(entries)) - 1)) };
}

/** A stretch of the index to build: entries [first, last) of old's indexed positions into head and next. */
export interface ChainsPart {
  old: Uint8Array;
  head: Int32Array;
  next: Int32Array;
  stride: number;
  bits: number;
  first: number;
  last: number;
  /**
   * Built apart from the entries before `first` (its own head): an entry that starts a chain here records
   * its bucket as -(bucket + 2), for joinChains to link it to the chain of the entries before.
   */
  tails?: boolean;
}

/** Positions insertChains hashes before it links them. */
const INSERT_BATCH = 4096;

/**
 * Inserts the part's positions into the chains, newest first. Each link reads and writes a random chain
 * head (16 MiB of them: a cache miss), so positions are hashed a batch at a time and then linked in a loop
 * that does nothing else: the processor then has many heads in flight at once (node's 152 MB old file,
 * every 3rd position: 1.4-1.5 s instead of 2.0-2.2 s on one thread, 0.9-1.2 s instead of 1.0-1.6 s in
 * two halves at once; the same arrays).
 */
export function insertChains(part: ChainsPart, signal?: AbortSignal): void {
  const { old, head, next, stride, tails } = part;
  const shift = 32 - part.bits;
  // Entries whose HASHED bytes lie inside old.
  const last = Math.min(part.last, Math.max(part.first, Math.floor((old.length - HASHED) / stride) + 1));
  const hashes = new Int32Array(INSERT_BATCH);
  for (let first = part.first; first < last; first += INSERT_BATCH) {
    signal?.throwIfAborted();
    const end = Math.min(last, first + INSERT_BATCH);
    for (let e = first, p = first * stride; e < end; e++, p += stride)
      hashes[e - first] = hash6(old, p, shift);
    for (let e = first; e < end; e++) {
      const h = hashes[e - first] as number;
      const prev = head[h] as number;
      next[e] = prev >= 0 ? prev : tails ? -2 - h : -1;
      head[h] = e;
    }
  }
}

/**
 * Joins a part built with `tails` (entries [first, last), its heads in `later`) to the index of the entries
 * before it (`earlier`): its chain ends continue into the earlier chains, and `later` becomes the heads of
 * the whole, exactly as one build in order would have made them.
 */
export function joinChains(
  earlier: Int32Array,
  later: Int32Array,
  next: Int32Array,
  first: number,
  last: number,
): void {
  for (let e = first; e < last; e++) {
    const v = next[e] as number;
    if (v <= -2) next[e] = earlier[-v - 2] as number;
  }
  for (let h = 0; h < later.length; h++) if ((later[h] as number) < 0) later[h] = earlier[h] as number;
}

/**
 * Indexes every `stride`-th old position by the hash of its next 6 bytes (chains newest first). A query
 * looks up each of the `stride` alignments and keeps the longest of at most `depth` candidates per chain;
 * so every match at least HASHED + stride - 1 bytes long is seen. Memory: 4 bytes per indexed position plus
 * the chain heads (16 MiB).
 */
export class HashChainSearch {
  matchPos = 0;
  matchLength = 0;
  readonly #old: Uint8Array;
  readonly #head: Int32Array;
  readonly #next: Int32Array;
  readonly #shift: number;
  readonly #depth: number;
  readonly #stride: number;
  readonly #short: ShortStringTables | undefined;
  readonly #answers: ShortAnswers | undefined;

  constructor(
    old: Uint8Array,
    opts: {
      depth?: number;
      stride?: number;
      headBits?: number;
      signal?: AbortSignal;
      /** Allocate the index in shared memory, for scan threads (scan-parallel.ts). */
      shared?: boolean;
      /** Another instance's index (its `index`) over the same old file, instead of building one. */
      index?: { head: Int32Array; next: Int32Array };
      /** Old's short-string tables, or their answers for the new file computed ahead (see shortLength). */
      short?: ShortStringTables;
      answers?: ShortAnswers;
    } = {},
  ) {
    this.#old = old;
    this.#short = opts.short;
    this.#answers = opts.answers;
    this.#depth = opts.depth ?? 16;
    const stride = opts.stride ?? 1;
    this.#stride = stride;
    const layout = chainsLayout(old.length, stride, opts.headBits);
    this.#shift = 32 - layout.bits;
    if (opts.index) {
      this.#head = opts.index.head;
      this.#next = opts.index.next;
      return;
    }
    const alloc = (n: number) =>
      opts.shared ? new Int32Array(new SharedArrayBuffer(4 * n)) : new Int32Array(n);
    const head = alloc(1 << layout.bits).fill(-1);
    const next = alloc(layout.entries);
    insertChains({ old, head, next, stride, bits: layout.bits, first: 0, last: layout.entries }, opts.signal);
    this.#head = head;
    this.#next = next;
  }

  /** The index, for another thread's HashChainSearch over the same old file (same options). */
  get index(): { head: Int32Array; next: Int32Array } {
    return { head: this.#head, next: this.#next };
  }

  /**
   * See MatchFinder.shortLength: what old's short-string tables tell (-1: nothing). Where old holds no
   * 4-byte prefix of q[pos..], `search` finds nothing in the chains (they index 6 bytes) and returns what
   * `near` matches, at most the 3 bytes the tables answer; the scan takes the tables' answer instead (it
   * searches again before it takes a match), as over a suffix array.
   */
  shortLength(q: Uint8Array, pos: number, end: number): number {
    return knownShortLength(this.#answers, this.#short, q, pos, end);
  }

  /** The longest match of q[pos..end) in old (ties: nearest to `near`); matchLength 0 when none. */
  search(q: Uint8Array, pos: number, end: number, near = -1): void {
    const old = this.#old;
    const oldLen = old.length;
    const head = this.#head;
    const next = this.#next;
    const stride = this.#stride;
    const depth = this.#depth;
    let bestLen = 0;
    let bestPos = 0;
    const qLen = end - pos;
    if (near >= 0 && near < oldLen) {
      const max = Math.min(qLen, oldLen - near);
      bestLen = samePrefix(old, near, q, pos, max);
      bestPos = near;
    }
    for (let j = 0; j < stride && j + HASHED <= qLen; j++) {
      let e = head[hash6(q, pos + j, this.#shift)] as number;
      for (let d = 0; e >= 0 && d < depth; d++, e = next[e] as number) {
        const c = e * stride - j;
        if (c < 0) continue;
        const max = Math.min(qLen, oldLen - c);
        // Cheap rejection: a longer match must agree at the current best length.
        if (bestLen >= max || old[c + bestLen] !== q[pos + bestLen]) continue;
        const k = samePrefix(old, c, q, pos, max);
        if (k > bestLen || (k === bestLen && near >= 0 && Math.abs(c - near) < Math.abs(bestPos - near))) {
          bestLen = k;
          bestPos = c;
        }
      }
    }
    this.matchLength = bestLen;
    this.matchPos = bestPos;
  }
}
