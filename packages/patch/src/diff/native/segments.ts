// Cuts the new file into segments of about equal decoding work, so apply can decode them side by side.
import { MAX_SEGMENTS } from '../../format/native.js';
import type { Cover } from '../engine/cover.js';
import { samePrefix } from '../same-bytes.js';

export interface PlannedSegment {
  start: number;
  end: number;
  /** The covers inside [start, end); a cover that crossed a cut is split there. */
  covers: Cover[];
}

/** Costs are estimated per block of the new file. */
const BLOCK = 1 << 16;

/**
 * Estimated decoding cost, in nanoseconds on a typical core, of one byte or event (measured on the node
 * pair of bench/patch). Only their ratios matter for balance; the absolute figure sets the segment count.
 */
const COST = {
  /**
   * Every new byte: reading what it is made from, writing it, hashing it. Counted where the cuts go (so a
   * long stretch of plain copies is not left to one thread) but not in how many segments pay off.
   */
  anyByte: 3,
  literalByte: 3,
  /** A cover byte in a 16-byte stretch with no difference: copied from old. */
  copiedByte: 0.4,
  /** A cover byte in a 16-byte stretch holding a difference: its zero flag is decoded. */
  modelledByte: 25,
  /** A non-zero difference: its eight value bits are decoded. */
  nonzeroDifference: 150,
  cover: 300,
};

/** A segment is worth its restart (the model relearns; about 0.1-0.5 % of a large patch) above this work. */
export const SEGMENT_WORK_NS = 40e6;
/** Most segments the writer makes: enough for 8 threads, few enough to keep restarts cheap. */
export const MAX_WRITTEN_SEGMENTS = 8;

/**
 * Plans the segments. Small patches (under 2 x SEGMENT_WORK_NS of estimated decoding) stay one segment, so
 * they lose nothing; larger ones get one segment per SEGMENT_WORK_NS, at most `maxSegments`, cut at block
 * boundaries where the running cost crosses equal shares.
 */
export interface SegmentOptions {
  /** Most segments (default MAX_WRITTEN_SEGMENTS). */
  maxSegments?: number;
  /** Exactly this many segments of equal size (capped at the new size and MAX_SEGMENTS). */
  count?: number;
}

export function planSegments(
  old: Uint8Array,
  neu: Uint8Array,
  covers: readonly Cover[],
  opts: SegmentOptions = {},
): PlannedSegment[] {
  if (opts.count !== undefined) {
    // Equal byte shares, whatever the work (tests cut small files this way); empty segments are not allowed.
    const count = Math.max(1, Math.min(opts.count, MAX_SEGMENTS, neu.length));
    const cuts = Array.from({ length: count }, (_, k) => Math.floor(((k + 1) * neu.length) / count));
    return cutCovers(covers, cuts);
  }
  const maxSegments = Math.min(opts.maxSegments ?? MAX_WRITTEN_SEGMENTS, MAX_SEGMENTS);
  const blocks = Math.max(1, Math.ceil(neu.length / BLOCK));
  const cost = new Float64Array(blocks);
  const add = (pos: number, ns: number) => {
    const b = Math.floor(pos / BLOCK);
    cost[b] = (cost[b] as number) + ns;
  };
  let covered = 0;
  for (const c of covers) {
    covered += c.length;
    add(c.newPos, COST.cover);
    for (let k = 0; k < c.length; ) {
      const n = Math.min(16, c.length - k);
      let differences = 0;
      for (let j = 0; j < n; j++) if (neu[c.newPos + k + j] !== old[c.oldPos + k + j]) differences++;
      const perByte = differences ? COST.modelledByte : COST.copiedByte;
      add(c.newPos + k, perByte * n + differences * COST.nonzeroDifference);
      k += n;
      if (differences > 0 || k >= c.length) continue;
      // After a stretch without a difference, the whole stretches up to the next difference are counted
      // without looking at each (a native compare); next to a difference, looking at 16 bytes is cheaper.
      const same = samePrefix(neu, c.newPos + k, old, c.oldPos + k, c.length - k);
      for (const to = k + same - 16; k <= to; k += 16) add(c.newPos + k, COST.copiedByte * 16);
    }
  }
  // Literal bytes, spread evenly (they are a small share of the work wherever they sit).
  const literalCost = ((neu.length - covered) * COST.literalByte) / blocks;
  let decoding = 0;
  for (let b = 0; b < blocks; b++) {
    cost[b] = (cost[b] as number) + literalCost;
    decoding += cost[b] as number;
  }
  const count =
    decoding < 2 * SEGMENT_WORK_NS
      ? 1
      : Math.min(maxSegments, blocks, Math.floor(decoding / SEGMENT_WORK_NS));
  const total = decoding + neu.length * COST.anyByte;
  const perBlock = (neu.length * COST.anyByte) / blocks;
  for (let b = 0; b < blocks; b++) cost[b] = (cost[b] as number) + perBlock;
  const cuts: number[] = [];
  let acc = 0;
  for (let b = 0; b < blocks - 1 && cuts.length < count - 1; b++) {
    acc += cost[b] as number;
    if (acc >= (total * (cuts.length + 1)) / count) cuts.push((b + 1) * BLOCK);
  }
  cuts.push(neu.length);
  return cutCovers(covers, cuts);
}

/** Splits the covers at the cut positions (ascending, the last one the new size). */
function cutCovers(covers: readonly Cover[], cuts: readonly number[]): PlannedSegment[] {
  const segments: PlannedSegment[] = [];
  let start = 0;
  let i = 0;
  let carry: Cover | undefined;
  for (const end of cuts) {
    const mine: Cover[] = [];
    while (carry || i < covers.length) {
      const c = carry ?? (covers[i] as Cover);
      if (c.newPos >= end) break;
      if (!carry) i++;
      carry = undefined;
      if (c.newPos + c.length <= end) mine.push(c);
      else {
        const head = end - c.newPos;
        mine.push({ oldPos: c.oldPos, newPos: c.newPos, length: head });
        carry = { oldPos: c.oldPos + head, newPos: end, length: c.length - head };
        break;
      }
    }
    segments.push({ start, end, covers: mine });
    start = end;
  }
  return segments;
}
