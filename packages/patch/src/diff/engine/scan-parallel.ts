// The cover scan in parts on several threads, with exactly the result of the sequential scan.
//
// New is cut into equal parts, several per thread (how much work a stretch of new takes varies a lot: code
// and data differ), which the calling thread and the workers claim one at a time. Part 0 starts as the
// sequential scan does, every other part from an arbitrary state, logging the states it passes through
// (the first LOG_STATES of them). The scan
// is a deterministic walk (scan.ts), so once the walk of an earlier part reaches a state a later part
// logged, the rest of its walk is the later part's. So the calling thread then follows the sequential walk
// from part to part: from where the walk's last part stopped it scans on until it meets a state the next
// part logged, and takes that part's covers from there. Greedy scans meet at the first match both accept
// (a few matches in), so the calling thread rescans little; a part without any match to meet at (a long
// stretch with no match at all) is scanned twice, which is still right, only slower.
import { runWorker } from '../run-worker.js';
import { HashChainSearch } from './hash-search.js';
import { type ScanState, StateLog, scanCovers, scanStart } from './scan.js';
import type { ShortAnswers, ShortStringTables } from './short-strings.js';
import { SuffixSearch } from './suffix-search.js';
import { type Cover, coversOf, flattenCovers, type MatchFinder } from './types.js';

/** A finder's index in shared memory, so a scan thread can search it without building its own. */
export type SharedFinder =
  | { kind: 'suffix-array'; sa: Int32Array; short?: ShortStringTables; answers?: ShortAnswers }
  | {
      kind: 'hash-chains';
      stride: number;
      depth: number;
      head: Int32Array;
      next: Int32Array;
      answers?: ShortAnswers;
    };

/** What a scan thread is given: both files and the index in shared memory, and the parts to claim. */
export interface ScanJob {
  old: Uint8Array;
  neu: Uint8Array;
  finder: SharedFinder;
  farMargin: number;
  /** Part k is new[starts[k], starts[k + 1]); the last entry is new's length. */
  starts: number[];
  /** Int32 0: the next part to claim. */
  claim: SharedArrayBuffer;
}

/** A part's covers (oldPos, newPos, length triples), its logged states, and where it stopped. */
export interface PartResult {
  part: number;
  covers: Int32Array;
  log: Int32Array;
  logCount: number;
  state: ScanState;
}

/** Parts per thread: enough that uneven work evens out, few enough that joining them costs nothing. */
const PARTS_PER_THREAD = 8;
/** Parts are at least this long. */
const MIN_PART_BYTES = 1 << 18;

/** States a part logs: 0.5 MB each, far more than the walks need to meet. */
const LOG_STATES = 1 << 14;

export function finderFromShared(old: Uint8Array, f: SharedFinder): MatchFinder {
  return f.kind === 'suffix-array'
    ? new SuffixSearch(old, f.sa, undefined, false, f.short, f.answers)
    : new HashChainSearch(old, {
        stride: f.stride,
        depth: f.depth,
        index: { head: f.head, next: f.next },
        ...(f.answers ? { answers: f.answers } : {}),
      });
}

/** Claims and scans parts until none is left (in a worker, and on the calling thread). */
export function runParts(
  job: ScanJob,
  finder = finderFromShared(job.old, job.finder),
  signal?: AbortSignal,
  onPart?: (part: number) => void,
): PartResult[] {
  const claim = new Int32Array(job.claim);
  const parts = job.starts.length - 1;
  const results: PartResult[] = [];
  for (let k = Atomics.add(claim, 0, 1); k < parts; k = Atomics.add(claim, 0, 1)) {
    signal?.throwIfAborted();
    const covers: Cover[] = [];
    const state = scanStart(job.starts[k] as number);
    const log = new StateLog(k === 0 ? 0 : LOG_STATES);
    scanCovers(job.old, job.neu, finder, covers, {
      farMargin: job.farMargin,
      state,
      stopAt: job.starts[k + 1] as number,
      record: log,
      ...(signal ? { signal } : {}),
    });
    results.push({ part: k, covers: flattenCovers(covers), log: log.data, logCount: log.count, state });
    onPart?.(k);
  }
  return results;
}

/** Threads are used only when the estimated time in parts of work is at most this share of one thread's. */
const WORTH = 0.8;
/** Positions probed per part for the estimate. */
const PROBES = 64;
/** A match this long is one the walk and a part both take: where they are expected to meet. */
const MEETING_MATCH = 48;

/** Where the parts of new start (its length last): PARTS_PER_THREAD per thread, at least MIN_PART_BYTES each. */
export function partStarts(n: number, threads: number): number[] {
  const parts = Math.max(1, Math.min(threads * PARTS_PER_THREAD, Math.floor(n / MIN_PART_BYTES)));
  return Array.from({ length: parts + 1 }, (_, k) => Math.floor((k * n) / parts));
}

/** Whether scanning these parts on `threads` threads is expected to take at most WORTH of one thread's time. */
export function threadsPay(
  neu: Uint8Array,
  finder: MatchFinder,
  starts: readonly number[],
  threads: number,
): boolean {
  const parts = starts.length - 1;
  return parts >= 2 && parts / threads + expectedRescan(neu, finder, starts) <= WORTH * parts;
}

/**
 * How many parts' worth of scanning the calling thread is expected to redo: in each part but the first,
 * the walk rescans up to where it meets the part's own walk, which is about the first place holding a
 * long match. Estimated from PROBES evenly spaced searches per part (a part with none: all of it).
 */
function expectedRescan(neu: Uint8Array, finder: MatchFinder, starts: readonly number[]): number {
  let rescan = 0;
  for (let k = 1; k + 1 < starts.length; k++) {
    const from = starts[k] as number;
    const len = (starts[k + 1] as number) - from;
    let share = 1;
    for (let i = 0; i < PROBES; i++) {
      finder.search(neu, from + Math.floor((i * len) / PROBES), neu.length, -1);
      if (finder.matchLength >= MEETING_MATCH) {
        share = i / PROBES;
        break;
      }
    }
    rescan += share;
  }
  return rescan;
}

export interface ParallelScanOptions {
  farMargin: number;
  threads: number;
  onProgress?: (scannedNewBytes: number) => void;
  signal?: AbortSignal;
}

/**
 * The covers scanCovers finds from the start of new, computed on `threads` threads. `old` and `neu` must lie
 * in shared memory, and `shared` be the index `finder` searches.
 */
export async function scanCoversParallel(
  old: Uint8Array,
  neu: Uint8Array,
  finder: MatchFinder,
  shared: SharedFinder,
  opts: ParallelScanOptions,
): Promise<Cover[]> {
  const n = neu.length;
  const starts = partStarts(n, opts.threads);
  const parts = starts.length - 1;
  if (!threadsPay(neu, finder, starts, opts.threads)) {
    // Too little to gain: the walk would have to rescan too much (long stretches with no match at all).
    const covers: Cover[] = [];
    scanCovers(old, neu, finder, covers, {
      farMargin: opts.farMargin,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return covers;
  }
  const job: ScanJob = {
    old,
    neu,
    finder: shared,
    farMargin: opts.farMargin,
    starts,
    claim: new SharedArrayBuffer(4),
  };
  const workers: ReturnType<typeof runWorker<PartResult[]>>[] = [];
  try {
    for (let t = 1; t < opts.threads && t < parts; t++)
      workers.push(runWorker<PartResult[]>(import.meta.url, 'scan-worker', job, opts.signal));
    // This thread claims parts too, meanwhile.
    // Progress: parts claimed so far (each about n / parts bytes), reported as they end here.
    const claimed = new Int32Array(job.claim);
    const here = runParts(job, finder, opts.signal, () =>
      opts.onProgress?.(Math.floor((Math.min(parts, Atomics.load(claimed, 0)) * n) / (parts + 1))),
    );
    const byPart: PartResult[] = new Array(parts);
    for (const r of [...here, ...(await Promise.all(workers.map((w) => w.result))).flat()])
      byPart[r.part] = r;
    const own: Cover[][] = byPart.map((r) => coversOf(r.covers));
    const states: ScanState[] = byPart.map((r) => r.state);
    const logs: StateLog[] = byPart.map((r) => new StateLog(r.log, r.logCount));
    // The sequential walk, part by part: it runs on from where its last part stopped until it meets a
    // state the next part logged (then that part's covers and end state are the walk's), or past that
    // part (then it tries the part after). A part with no state the walk meets costs its scan once more.
    const walk = byPart[0]?.state as ScanState;
    const covers = own[0] as Cover[];
    for (let m = 1; m < parts; m++) {
      const log = logs[m] as StateLog;
      log.cursor = 0;
      const end = scanCovers(old, neu, finder, covers, {
        farMargin: opts.farMargin,
        state: walk,
        stopAt: m + 1 < parts ? (starts[m + 1] as number) : Number.POSITIVE_INFINITY,
        syncWith: log,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (end.kind === 'end') break;
      if (end.kind === 'synced') {
        const theirs = own[m] as Cover[];
        for (let i = log.coversAt(end.index); i < theirs.length; i++) covers.push(theirs[i] as Cover);
        Object.assign(walk, states[m] as ScanState);
      }
    }
    return covers;
  } finally {
    for (const w of workers) w.stop();
  }
}
