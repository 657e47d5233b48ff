// The far-jump margin chosen per file by a sampled trial: a few slices of new are scanned at each
// candidate margin, each result's patch cost is estimated, and the cheaper margin scans the whole file.
import { brotliCompressSync, constants as zc } from 'node:zlib';
import { filterX86 } from '../../format/x86-filter.js';
import { encodeModelledStream, gatherLiterals } from '../native/encode-model.js';
import { scanCovers, scanStart } from './scan.js';
import type { Cover, MatchFinder } from './types.js';

export interface MarginTrial {
  /** The margins tried, the default first. */
  candidates: readonly number[];
  /** A later candidate is chosen only when its estimate is below the best so far by this share. */
  gain: number;
  /** Slices of new scanned per candidate, spread evenly. */
  slices: number;
  /** Bytes per slice (less when new is short). */
  sliceBytes: number;
}

/** Brotli quality for a slice's literal bytes: quick; the estimate need only rank the candidates. */
const TRIAL_QUALITY = 5;

/** The slices [start, end) of new that a trial scans: `slices` of them, evenly spread, not overlapping. */
export function trialSlices(newLength: number, trial: MarginTrial): { start: number; end: number }[] {
  const len = Math.min(trial.sliceBytes, Math.floor(newLength / trial.slices));
  if (len <= 0) return [];
  return Array.from({ length: trial.slices }, (_, k) => {
    const start = Math.floor(((k + 0.5) * newLength) / trial.slices - len / 2);
    return { start, end: start + len };
  });
}

/**
 * The estimated patch bytes of each candidate margin over the trial's slices: each slice scanned as a scan
 * part starting there (scan-parallel.ts) and ending at its end, then its modelled stream encoded
 * as the native writer does plus its literal bytes (plain or x86-filtered, the smaller) at brotli quality
 * TRIAL_QUALITY.
 */
export function marginCosts(
  old: Uint8Array,
  neu: Uint8Array,
  finder: MatchFinder,
  trial: MarginTrial,
  signal?: AbortSignal,
): number[] {
  const slices = trialSlices(neu.length, trial);
  return trial.candidates.map((margin) => {
    let cost = 0;
    for (const slice of slices) {
      signal?.throwIfAborted();
      cost += sliceCost(old, neu, finder, margin, slice);
    }
    return cost;
  });
}

/**
 * The margin of `trial.candidates` with the smallest estimated patch, where each candidate after the first
 * must beat the best before it by `trial.gain` (the estimate is a sample: a small lead is noise).
 */
export function chooseMargin(
  old: Uint8Array,
  neu: Uint8Array,
  finder: MatchFinder,
  trial: MarginTrial,
  signal?: AbortSignal,
): number {
  const costs = marginCosts(old, neu, finder, trial, signal);
  let best = 0;
  for (let i = 1; i < costs.length; i++)
    if ((costs[i] as number) < (costs[best] as number) * (1 - trial.gain)) best = i;
  return trial.candidates[best] as number;
}

function sliceCost(
  old: Uint8Array,
  neu: Uint8Array,
  finder: MatchFinder,
  margin: number,
  slice: { start: number; end: number },
): number {
  const { start, end } = slice;
  // The scan reads new only to the slice's end: a scan told to stop there would still run on until it next
  // takes a match, which in a stretch that matches nothing can be far.
  const covers: Cover[] = [];
  scanCovers(old, neu.subarray(0, end), finder, covers, { farMargin: margin, state: scanStart(start) });
  const model = encodeModelledStream(old, neu, covers, slice).size;
  const { literal, runs } = gatherLiterals(neu, covers, slice);
  if (literal.length === 0) return model;
  const packed = Math.min(brotliSize(literal), brotliSize(filterX86(literal, runs, true)));
  return model + packed;
}

function brotliSize(bytes: Uint8Array): number {
  return brotliCompressSync(bytes, {
    params: {
      [zc.BROTLI_PARAM_QUALITY]: TRIAL_QUALITY,
      [zc.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }).length;
}
