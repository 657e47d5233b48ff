// The engine's output: which stretches of the new file are built from the old file, and how to find them.
import { PatchError } from '../../errors.js';
import { runWorker } from '../run-worker.js';
import {
  AnchoredSearch,
  anchoredBytes,
  findAnchors,
  type Pieces,
  type ReducedOld,
  reduceOld,
  reducedPieces,
  wholeOld,
} from './anchors.js';
import {
  type ChainsPart,
  chainsLayout,
  HashChainSearch,
  HEAD_BITS,
  insertChains,
  joinChains,
} from './hash-search.js';
import { chooseMargin, type MarginTrial } from './margin-trial.js';
import { scanCovers } from './scan.js';
import { type SharedFinder, scanCoversParallel } from './scan-parallel.js';
import {
  buildShortStrings,
  type ShortAnswers,
  type ShortStringJob,
  type ShortStringTables,
  shortStringsBytes,
} from './short-strings.js';
import { buildSuffixArray } from './suffix-array.js';
import { SuffixSearch } from './suffix-search.js';
import type { Cover, MatchFinder } from './types.js';

export type { Cover } from './types.js';

export interface FindCoversOptions {
  /** Called now and then with the number of new-file bytes scanned so far. */
  onProgress?: (scannedNewBytes: number) => void;
  signal?: AbortSignal;
  /** 'never': index all of old, without looking for anchors first (tests compare the two). */
  anchors?: 'auto' | 'never';
}

/**
 * Covers of `newBuf` by `oldBuf`: sorted by newPos, non-overlapping in new (they may overlap or repeat in
 * old), each inside both buffers and with length > 0.
 */
export function findCovers(oldBuf: Uint8Array, newBuf: Uint8Array, opts: FindCoversOptions = {}): Cover[] {
  if (oldBuf.length === 0 || newBuf.length === 0) return [];
  opts.signal?.throwIfAborted();
  opts.onProgress?.(0);
  return scanHere(oldBuf, newBuf, chooseIndexed(oldBuf, newBuf, opts), opts);
}

/** The scan on the calling thread, over `indexed`. */
function scanHere(
  oldBuf: Uint8Array,
  newBuf: Uint8Array,
  indexed: Indexed,
  opts: FindCoversOptions,
): Cover[] {
  const covers: Cover[] = [];
  const finder = makeFinder(oldBuf, indexed, opts.signal);
  opts.signal?.throwIfAborted();
  const { anchors: _, ...scanOpts } = opts;
  const farMargin = chooseFarMargin(oldBuf, newBuf, finder, opts.signal);
  scanCovers(oldBuf, newBuf, finder, covers, { ...scanOpts, farMargin });
  opts.onProgress?.(newBuf.length);
  return covers;
}

/** New files from this size up are scanned on several threads (smaller ones gain less than a thread costs). */
export const PARALLEL_SCAN_MIN_BYTES = 1 << 20;

/**
 * findCovers on up to `threads` threads: the same covers (scan-parallel.ts), sooner. Both buffers must lie
 * in shared memory (a SharedArrayBuffer) for more than one thread to be used.
 */
export async function findCoversThreaded(
  oldBuf: Uint8Array,
  newBuf: Uint8Array,
  opts: FindCoversOptions & { threads: number },
): Promise<Cover[]> {
  const shared = oldBuf.buffer instanceof SharedArrayBuffer && newBuf.buffer instanceof SharedArrayBuffer;
  if (opts.threads <= 1 || !shared || newBuf.length < PARALLEL_SCAN_MIN_BYTES || oldBuf.length === 0) {
    const { threads: _, ...rest } = opts;
    return findCovers(oldBuf, newBuf, rest);
  }
  opts.signal?.throwIfAborted();
  opts.onProgress?.(0);
  const { threads, ...rest } = opts;
  const indexed = chooseIndexed(oldBuf, newBuf, rest);
  // Beside anchors the scan is quick, and the parts of a threaded scan meet late: on one thread it is sooner
  // (esbuild 0.9 s instead of 1.5 s on two, lightningcss 3.0 s instead of 3.8 s).
  if (indexed.anchored) return scanHere(oldBuf, newBuf, indexed, rest);
  const made = await makeSharedFinder(oldBuf, newBuf, indexed.plan, opts.signal);
  opts.signal?.throwIfAborted();
  const covers = await scanCoversParallel(oldBuf, newBuf, made.finder, made.shared, {
    farMargin: chooseFarMargin(oldBuf, newBuf, made.finder, opts.signal),
    threads,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  opts.onProgress?.(newBuf.length);
  return covers;
}

/**
 * New must be at least this share anchored (anchors.ts) for anchors to be used. Below it (a binary rebuilt by
 * another compiler: @swc/core 1.16.21 -> 1.16.22 is 4 % anchored) most positions of new match nothing, and
 * the short-string tables skip them (beside a suffix array, or beside hash chains for machine code:
 * codeChains) faster than plain hash chains search them (there, chains without the tables scan in 6.6 s
 * instead of 5.5 s for the same patch). Above it the stretches between anchors are near-copies, which hash
 * chains beside the anchors find about as well, in a third of the time: lightningcss (13 % anchored)
 * 1,029,640 B instead of 1,033,793; esbuild (45 %) 229,306 B instead of 224,668.
 */
export const ANCHORED_SHARE = 0.1;
/**
 * When what anchors leave of old (with margins) is at most this share of it, a suffix array over that rest
 * is the index; otherwise hash chains over all of old (every 2nd position). Measured with anchors on the
 * typescript tars: 5.6.2 -> 5.6.3 leaves 0.1 % (447 B with the reduced suffix array, 520 B with chains);
 * 5.5.4 -> 5.6.2 leaves 18 % (164,772 B reduced, 161,827 B with chains over all of old, in less time: the
 * text new copies from anchored parts of old stays findable).
 */
const SMALL_REST = 1 / 8;
/** Hash chains with anchors index every ANCHORED_STRIDE-th old position. */
const ANCHORED_STRIDE = 2;

/**
 * What the scan searches: the index `plan` picks over all of old, or the anchors and that index over the
 * reduced old's bytes (`anchored`).
 */
export interface Indexed {
  plan: DiffMemoryPlan;
  anchored?: { anchors: Int32Array; reduced: ReducedOld };
}

/**
 * The anchors the scan uses and the index beside them, or undefined. Anchors are looked for when old would
 * get a suffix array (beside which finding them costs little) and the memory plan has room, and used when
 * they cover ANCHORED_SHARE of new; `pieces` is the reduced old to index by suffix array, or undefined for
 * hash chains over all of old.
 */
export function usefulAnchors(
  oldBuf: Uint8Array,
  newBuf: Uint8Array,
  signal?: AbortSignal,
): { anchors: Int32Array; pieces: Pieces | undefined; plan: DiffMemoryPlan } | undefined {
  const budget = diffMemoryBudget(newBuf.length);
  const whole = planDiffMemory(oldBuf.length, newBuf.length);
  if (whole.finder !== 'suffix-array' || !whole.anchors) return undefined;
  const anchors = findAnchors(oldBuf, newBuf, signal);
  if (anchoredBytes(anchors) < ANCHORED_SHARE * newBuf.length) return undefined;
  const pieces = reducedPieces(oldBuf.length, newBuf.length, anchors);
  if (pieces.size <= SMALL_REST * oldBuf.length) {
    // The anchors stay in memory beside the index while the scan runs.
    const plan = planDiffMemory(oldBuf.length, newBuf.length, pieces.size);
    const estimate = plan.estimate + anchors.byteLength;
    if (plan.finder === 'suffix-array' && estimate <= budget)
      return { anchors, pieces, plan: { ...plan, estimate } };
  }
  const estimate =
    diffBaseBytes(oldBuf.length, newBuf.length, oldBuf.length) +
    chainsBytes(oldBuf.length, ANCHORED_STRIDE) +
    anchors.byteLength;
  if (estimate > budget) return undefined;
  const plan: DiffMemoryPlan = {
    finder: 'hash-chains',
    anchors: true,
    stride: ANCHORED_STRIDE,
    shortStrings: false,
    shortAnswers: false,
    estimate,
  };
  return { anchors, pieces: undefined, plan };
}

/** What the scan searches (the anchored one is scanned on the calling thread only). */
export function chooseIndexed(oldBuf: Uint8Array, newBuf: Uint8Array, opts: FindCoversOptions): Indexed {
  const found = opts.anchors === 'never' ? undefined : usefulAnchors(oldBuf, newBuf, opts.signal);
  if (!found)
    return { plan: codeChains(planDiffMemory(oldBuf.length, newBuf.length), oldBuf.length, newBuf) };
  const reduced = found.pieces ? reduceOld(oldBuf, found.pieces) : wholeOld(oldBuf);
  return { plan: found.plan, anchored: { anchors: found.anchors, reduced } };
}

/** The match finder over `indexed`, on the calling thread. */
function makeFinder(oldBuf: Uint8Array, indexed: Indexed, signal: AbortSignal | undefined): MatchFinder {
  const a = indexed.anchored;
  const inner = indexFinder(a ? a.reduced.bytes : oldBuf, indexed.plan, false, signal).finder;
  return a ? new AnchoredSearch(a.anchors, a.reduced, inner) : inner;
}

/** The finder over `bytes` (old, or what anchors leave of it) that `plan` picks. */
function indexFinder(
  bytes: Uint8Array,
  plan: DiffMemoryPlan,
  shared: boolean,
  signal: AbortSignal | undefined,
): { finder: MatchFinder; shared: SharedFinder } {
  if (plan.finder === 'suffix-array') {
    const short = plan.shortStrings ? buildShortStrings(bytes, shared) : undefined;
    const finder = new SuffixSearch(bytes, undefined, signal, shared, short);
    return {
      finder,
      shared: { kind: 'suffix-array', sa: finder.suffixArray, ...(short ? { short } : {}) },
    };
  }
  const built = new HashChainSearch(bytes, { stride: plan.stride, shared, ...(signal ? { signal } : {}) });
  const short = plan.shortStrings ? buildShortStrings(bytes, shared) : undefined;
  return chainsFinder(bytes, plan.stride, built.index, short ? { short } : {});
}

/**
 * The hash-chain finder over `bytes` with a built index, and that index as scan threads get it; `short`:
 * old's short-string tables (this thread only), or `answers` (computed ahead, for every thread).
 */
function chainsFinder(
  bytes: Uint8Array,
  stride: number,
  index: { head: Int32Array; next: Int32Array },
  skip: { short?: ShortStringTables; answers?: ShortAnswers } = {},
): { finder: MatchFinder; shared: SharedFinder } {
  return {
    finder: new HashChainSearch(bytes, { stride, depth: CHAIN_DEPTH, index, ...skip }),
    shared: {
      kind: 'hash-chains',
      stride,
      depth: CHAIN_DEPTH,
      ...index,
      ...(skip.answers ? { answers: skip.answers } : {}),
    },
  };
}

/**
 * Machine code (farJumpMargin's CODE_MARGIN) that anchors leave mostly unmatched gets hash chains over every
 * CODE_CHAINS_STRIDE-th old position where the memory plan gives a suffix array, with the same
 * short-string tables or answers to skip what matches nothing. A rebuilt binary's covers are approximate
 * copies of code grown from short exact matches, which chains find about as well as a suffix array, and
 * the chains are built in a fraction of the time: on @swc/core-linux-x64-gnu 1.16.21 -> 1.16.22 (10.7 MB,
 * 4 % anchored) 0.8 s of CPU instead of 3.8 s, the diff in 2.7-3.7 s instead of 6.1-6.4 s, the patch
 * 10,025,973 B instead of 10,025,553. Other machine code with its anchors turned off, suffix array against
 * chains: esbuild 0.28.1 -> 0.28.2 405,994 / 400,957 B, 0.24.0 -> 0.24.2 222,508 / 227,277 B, rollup's
 * 4.69.3 -> 4.70.0 59,918 / 60,460 B, lightningcss 1,033,536 / 1,031,588 B (every 2nd position: 411,494,
 * 226,740, 60,447, 1,032,715 B). Text keeps the suffix array: its longest matches make smaller patches.
 */
const CODE_CHAINS_STRIDE = 1;

function codeChains(plan: DiffMemoryPlan, oldSize: number, newBuf: Uint8Array): DiffMemoryPlan {
  if (plan.finder !== 'suffix-array' || farJumpMargin(newBuf) !== CODE_MARGIN) return plan;
  const estimate =
    plan.estimate - SUFFIX_ARRAY_BYTES_PER_BYTE * oldSize + chainsBytes(oldSize, CODE_CHAINS_STRIDE);
  if (estimate > diffMemoryBudget(newBuf.length)) return plan;
  return { ...plan, finder: 'hash-chains', stride: CODE_CHAINS_STRIDE, estimate };
}

/** Candidates a hash-chain search looks at per chain. */
const CHAIN_DEPTH = 16;
/** The chain heads: 2^HEAD_BITS entries (hash-search.ts). */
const CHAIN_HEADS_BYTES = 4 << HEAD_BITS;
/**
 * From this old size up a threaded diff builds the hash chains in two halves at once (buildChainsSplit),
 * when the memory plan has room for the second half's heads: each insert is a cache miss in the chain
 * heads, so the build waits on memory and a second core takes half of the waits.
 */
const CHAINS_SPLIT_MIN_BYTES = 16 << 20;

/**
 * The hash-chain index over old in shared memory, built in two halves at once: a worker inserts the later
 * half of the positions into its own heads while this thread inserts the earlier half, then the later
 * half's chain ends are linked to the earlier chains. The arrays are exactly those one build in order
 * makes (test/engine.test.ts compares them).
 */
export async function buildChainsSplit(
  old: Uint8Array,
  stride: number,
  signal: AbortSignal | undefined,
): Promise<{ head: Int32Array; next: Int32Array }> {
  const { entries, bits } = chainsLayout(old.length, stride);
  const shared = (n: number) => new Int32Array(new SharedArrayBuffer(4 * n));
  const next = shared(entries);
  const later = shared(1 << bits).fill(-1);
  const earlier = new Int32Array(1 << bits).fill(-1);
  const mid = entries >>> 1;
  const part: ChainsPart = { old, head: later, next, stride, bits, first: mid, last: entries, tails: true };
  const worker = runWorker<boolean>(import.meta.url, 'chains-worker', part, signal);
  try {
    insertChains({ old, head: earlier, next, stride, bits, first: 0, last: mid }, signal);
    await worker.result;
  } finally {
    worker.stop();
  }
  joinChains(earlier, later, next, mid, entries);
  return { head: later, next };
}

/**
 * The finder `plan` picks over all of old, its index in shared memory for scan threads. When the plan has
 * room, a worker computes the short-string answers for all of new while this thread builds the suffix
 * array: the second core is otherwise idle then, and the scan then skips nearly all its searches in
 * stretches of new that match nothing longer than 3 bytes.
 */
async function makeSharedFinder(
  oldBuf: Uint8Array,
  newBuf: Uint8Array,
  plan: DiffMemoryPlan,
  signal: AbortSignal | undefined,
): Promise<{ finder: MatchFinder; shared: SharedFinder }> {
  if (
    plan.finder === 'hash-chains' &&
    !plan.shortAnswers &&
    oldBuf.length >= CHAINS_SPLIT_MIN_BYTES &&
    plan.estimate + CHAIN_HEADS_BYTES <= diffMemoryBudget(newBuf.length)
  ) {
    return chainsFinder(oldBuf, plan.stride, await buildChainsSplit(oldBuf, plan.stride, signal));
  }
  if (!plan.shortAnswers) return indexFinder(oldBuf, plan, true, signal);
  const job: ShortStringJob = { old: oldBuf, neu: newBuf };
  const ahead = runWorker<Uint8Array>(import.meta.url, 'short-worker', job, signal);
  try {
    if (plan.finder === 'hash-chains') {
      const built = new HashChainSearch(oldBuf, {
        stride: plan.stride,
        shared: true,
        ...(signal ? { signal } : {}),
      });
      const answers = { at: await ahead.result, newLength: newBuf.length };
      return chainsFinder(oldBuf, plan.stride, built.index, { answers });
    }
    const sa = buildSuffixArray(oldBuf, signal, true);
    const answers = { at: await ahead.result, newLength: newBuf.length };
    const finder = new SuffixSearch(oldBuf, sa, signal, true, undefined, answers);
    return { finder, shared: { kind: 'suffix-array', sa, answers } };
  } finally {
    ahead.stop();
  }
}

/**
 * How much longer than the current diagonal's matching a far match must be to be taken. A far jump costs
 * about four bytes of control, and in machine code a short far match is often a coincidence: it cuts a
 * literal stretch into pieces and its cover's differences cost about a literal byte each. Where the balance
 * lies differs between binaries. Measured on the bench pairs (bench/patch, 2026-12-07), patch bytes at
 * margins 16 / 24 / 28 / 32 / 40:
 * - turbo (Go) 2,361,605 / 2,398,395 / 2,403,807 / 2,408,549 / 2,424,031: short far matches pay;
 * - lightningcss (Rust) 1,083,702 / 1,034,100 / 1,029,713 / 1,029,539 / 1,029,640: below 28 they do not;
 * - esbuild (Go) 240,571 / 227,890 / 227,708 / 228,191 / 229,306; node 1,177,693 / 1,175,404 / 1,173,758 /
 *   1,175,163 / 1,177,232; @next/swc and @swc/core move by under 0.01 %.
 * 28 costs at most 0.015 % anywhere (@swc/core +1,466 B, lightningcss +73 B) and saves 0.8 % on turbo and
 * 0.7 % on esbuild; 32 stays best for JavaScript tars. So 28 for machine code, sliding to 32 for text; and
 * machine code from MARGIN_TRIAL_MIN_BYTES up gets 16 instead when a trial expects it to pay
 * (chooseFarMargin).
 */
export function farJumpMargin(neu: Uint8Array): number {
  let printable = 0;
  let seen = 0;
  const step = Math.max(1, Math.floor(neu.length / 65536));
  for (let i = 0; i < neu.length; i += step) {
    const c = neu[i] as number;
    seen++;
    if ((c >= 32 && c < 127) || c === 9 || c === 10 || c === 13) printable++;
  }
  const text = seen === 0 ? 0 : printable / seen;
  return Math.round(CODE_MARGIN + 4 * Math.min(1, Math.max(0, (text - 0.6) / 0.3)));
}

/**
 * The margin machine code gets without a trial, and the one a trial may choose instead: on turbo 16 is a
 * sharp best (12: 2,390,224 B, 16: 2,361,605 B, 20: 2,395,568 B), and the trial's estimates at 20 are within
 * 0.5 % of those at 16, so a third candidate would be chosen by noise.
 */
const CODE_MARGIN = 28;
const SHORT_MARGIN = 16;
/**
 * New files from this size up get a trial: its slices are at least 32 KiB (shorter ones misjudged
 * lightningcss), so below this the 2 x 8 slices would be more than 6 % of the scan.
 */
export const MARGIN_TRIAL_MIN_BYTES = 8 << 20;
/**
 * How much cheaper SHORT_MARGIN's estimate must be to be chosen. The estimates on the bench pairs, 16's
 * over 28's: turbo 0.969 (16 is 1.8 % smaller in the patch), lightningcss 1.013 and esbuild 1.026 (16 is 5 %
 * larger), @swc/core and @next/swc 1.000; so the gain sits between, nearer the side that would cost more.
 */
const TRIAL_GAIN = 0.015;

/** The trial for a new file of `size` bytes: 8 slices of 1/256 of it each, 32 to 128 KiB. */
export function marginTrial(size: number): MarginTrial {
  const sliceBytes = Math.min(128 << 10, Math.max(32 << 10, Math.floor(size / 256)));
  return { candidates: [CODE_MARGIN, SHORT_MARGIN], gain: TRIAL_GAIN, slices: 8, sliceBytes };
}

/**
 * The far-jump margin the scan of `neu` uses: farJumpMargin's, except that machine code (a margin of exactly
 * CODE_MARGIN) from MARGIN_TRIAL_MIN_BYTES up gets SHORT_MARGIN when a trial (margin-trial.ts) over
 * `finder`, the index the scan then searches, expects it to make the smaller patch. The trial reads only
 * the files and the index, so the choice is the same on any number of threads. On the bench pairs
 * (2026-12-07) it gives turbo 16 (2,403,807 -> 2,361,605 B) and every other pair the same patch; it takes
 * 0.02-0.05 s of CPU on esbuild (10 MB, 2-5 % of its diff), 0.11-0.13 s on lightningcss (2 %), 0.22-0.32 s
 * on turbo (34 MB, 2-3 %), 0.08 s on @swc/core (2 %) and 0.07 s on @next/swc (1 %); node's new tar (29:
 * some text) and the typescript tars (32) get none.
 */
export function chooseFarMargin(
  old: Uint8Array,
  neu: Uint8Array,
  finder: MatchFinder,
  signal: AbortSignal | undefined,
): number {
  const margin = farJumpMargin(neu);
  if (margin !== CODE_MARGIN || neu.length < MARGIN_TRIAL_MIN_BYTES) return margin;
  return chooseMargin(old, neu, finder, marginTrial(neu.length), signal);
}

/** A suffix array's memory while it is built, per indexed byte. */
const SUFFIX_ARRAY_BYTES_PER_BYTE = 5.5;

/** Old files up to this size get a suffix array; larger ones hash chains. */
export const SUFFIX_ARRAY_LIMIT = 32 << 20;

const MiB = 1 << 20;
/**
 * findAnchors' table (8 bytes a slot, one slot per 8 to 16 old bytes) and, while it is filled, its samples
 * twice (8 bytes each, at most 3/4 of a sample a slot).
 */
const ANCHOR_BYTES_PER_OLD_BYTE = 2.5;

/**
 * Memory besides the index: both files (and the indexed bytes when they are a copy of part of old, see
 * anchors.ts), the encoder's buffers (up to the new size again for literals, 1/16 for its chunk map), and
 * about 64 MiB of runtime.
 */
function diffBaseBytes(oldSize: number, newSize: number, indexedSize: number): number {
  return oldSize + (indexedSize < oldSize ? indexedSize : 0) + 2 * newSize + newSize / 16 + 64 * MiB;
}

/** Hash chains over `size` bytes: 4 bytes per indexed position and 16 MiB of chain heads. */
function chainsBytes(size: number, stride: number): number {
  return (4 * size) / stride + CHAIN_HEADS_BYTES;
}

/** The memory diff may use: 6 x the new file's size + 200 MiB. */
export function diffMemoryBudget(newSize: number): number {
  return 6 * newSize + 200 * MiB;
}

export interface DiffMemoryPlan {
  finder: 'suffix-array' | 'hash-chains';
  /** There is room to look for anchors (anchors.ts) before the index is built. */
  anchors: boolean;
  /** Hash chains index every stride-th old position. */
  stride: number;
  /** The suffix array gets its short-string tables (short-strings.ts): faster, not needed. */
  shortStrings: boolean;
  /** ...and, on scan threads, their answers for all of new computed ahead (2 bits per new byte). */
  shortAnswers: boolean;
  /** Estimated peak bytes. */
  estimate: number;
}

/**
 * Chooses the match finder so the whole diff stays within diffMemoryBudget: both files, the encoder's
 * buffers (up to the new size again for literals, 1/16 for its chunk map), about 64 MiB of runtime, and
 * the finder: a suffix array (about 5.5 bytes per old byte while it is built: only for old files up to
 * SUFFIX_ARRAY_LIMIT, where its longer matches pay most) or hash chains (4 bytes per indexed position
 * plus 16 MiB of chain heads), indexing every 3rd (on the bench's node pair as small a patch as every
 * 2nd, in 60 % of the time), 4th, 8th or 16th old position as the budget requires. A suffix array also
 * gets its short-string tables (up to 10 MiB) and their answers (2 bits per new byte) when they fit too;
 * the answers go first, then the tables. `indexedSize`: the bytes indexed, when anchors (anchors.ts) leave
 * only part of old to index (a copy of them is counted too); `anchors` says whether finding them fits
 * (its table and samples, up to 2.5 times the size of old, and the anchors while they are collected, up to
 * new / 4).
 * Throws FILE_TOO_LARGE, naming the limit, when even the sparsest index would not fit.
 */
export function planDiffMemory(oldSize: number, newSize: number, indexedSize = oldSize): DiffMemoryPlan {
  const budget = diffMemoryBudget(newSize);
  const base = diffBaseBytes(oldSize, newSize, indexedSize);
  const anchors = base + ANCHOR_BYTES_PER_OLD_BYTE * oldSize + newSize / 4 + MiB <= budget;
  const sa = base + SUFFIX_ARRAY_BYTES_PER_BYTE * indexedSize;
  if (indexedSize <= SUFFIX_ARRAY_LIMIT && sa <= budget) {
    const withShort = sa + shortStringsBytes(indexedSize);
    const withAnswers = withShort + newSize / 4;
    const finder = 'suffix-array';
    if (withAnswers <= budget)
      return { finder, anchors, stride: 1, shortStrings: true, shortAnswers: true, estimate: withAnswers };
    return withShort <= budget
      ? { finder, anchors, stride: 1, shortStrings: true, shortAnswers: false, estimate: withShort }
      : { finder, anchors, stride: 1, shortStrings: false, shortAnswers: false, estimate: sa };
  }
  for (const stride of [3, 4, 8, 16]) {
    const estimate = base + chainsBytes(indexedSize, stride);
    if (estimate <= budget)
      return { finder: 'hash-chains', anchors, stride, shortStrings: false, shortAnswers: false, estimate };
  }
  throw new PatchError({
    code: 'FILE_TOO_LARGE',
    message:
      `diff of a ${oldSize}-byte old file and a ${newSize}-byte new file needs about ` +
      `${Math.ceil((base + chainsBytes(oldSize, 16)) / MiB)} MiB; the limit is 6 x new size + 200 MiB = ` +
      `${Math.floor(budget / MiB)} MiB (the old file is too large for the new one)`,
  });
}
