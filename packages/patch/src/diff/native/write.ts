// Writes a native-format patch from the engine's covers (see FORMAT.md).
import { createHash } from 'node:crypto';
import { writeFileAtomic } from '@tufup/common';
import {
  COMPRESSION_MODEL2_BROTLI,
  COMPRESSION_MODEL2_FILTERED_BROTLI,
  COMPRESSION_MODEL3_FILTERED_BROTLI,
  LiteralFilter,
  LiteralLayout,
  MAX_SHARED_LITERAL_BYTES,
  NATIVE_VERSION,
  type NativeSegment,
} from '../../format/native.js';
import { filterX86 } from '../../format/x86-filter.js';
import type { Cover } from '../engine/cover.js';
import { gatherLiterals, type ModelledStream } from './encode-model.js';
import { startSegmentEncoding } from './encode-parallel.js';
import { encodeHeader } from './header.js';
import { compressLiteral, type LiteralRegion } from './literal-region.js';
import { planSegments, type SegmentOptions } from './segments.js';

export interface NativeWriteOptions {
  /** How to cut the new file into segments (default: by estimated decoding work; small patches stay one). */
  segments?: SegmentOptions;
  /**
   * One literal region for all segments ('shared'), one per segment ('per-segment'), or as sharesLiterals
   * decides (default). 'shared' needs more than one segment, some literal bytes and at most
   * MAX_SHARED_LITERAL_BYTES of them; otherwise the regions stay per segment.
   */
  literalLayout?: 'shared' | 'per-segment';
  /**
   * Threads for the segments' modelled streams, this one included (default 1; more are used only for both
   * files in shared memory and at least 4 segments). The patch is the same whatever the count.
   */
  threads?: number;
  onProgress?: (doneNewBytes: number) => void;
  signal?: AbortSignal;
  /**
   * The difference-byte model: 3 (default) writes compression id 4; 2 writes what earlier builds wrote
   * (id 3 when a segment is x86-filtered, else id 2), for tests that old patches still apply.
   */
  model?: 2 | 3;
}

/**
 * The shared literal layout is used when the segments' literal bytes add up to at most this many: apply
 * inflates a shared region whole into memory (FORMAT.md bounds it at MAX_SHARED_LITERAL_BYTES).
 */
const SHARED_LITERAL_WRITE_MAX = 8 << 20;
/**
 * ... and when a segment has less than this many literal bytes on average. One brotli stream over all
 * segments finds what separate streams cannot (turbo-linux-64 2.8.16 -> 2.8.17, 8 segments of about 300 KB
 * of literals each: 903,449 B in 8 streams, 877,217 B in one); segments with more than this already give
 * brotli most of the context it can use (lightningcss, 2 segments of 1.5 MB: 0.2 % less in one stream),
 * while one stream is compressed on one thread where separate ones share the thread pool.
 */
const SHARED_LITERAL_MAX_PER_SEGMENT = 1 << 20;

/** Whether a patch of these segments' literal byte counts gets one shared literal region. */
function sharesLiterals(literalBytes: readonly number[]): boolean {
  const total = literalBytes.reduce((n, b) => n + b, 0);
  return (
    literalBytes.length > 1 &&
    total > 0 &&
    total <= SHARED_LITERAL_WRITE_MAX &&
    total < SHARED_LITERAL_MAX_PER_SEGMENT * literalBytes.length
  );
}

/** Encodes the patch into memory (header, literal and modelled regions) as a list of byte arrays. */
export async function encodeNativePatch(
  old: Uint8Array,
  neu: Uint8Array,
  covers: readonly Cover[],
  opts: NativeWriteOptions = {},
): Promise<Uint8Array[]> {
  const planned = planSegments(old, neu, covers, opts.segments);
  const gathered = planned.map((seg) => gatherLiterals(neu, seg.covers, seg));
  const literalBytes = gathered.map((g) => g.literal.length);
  const total = literalBytes.reduce((n, b) => n + b, 0);
  const shared =
    opts.literalLayout === undefined
      ? sharesLiterals(literalBytes)
      : opts.literalLayout === 'shared' &&
        planned.length > 1 &&
        total > 0 &&
        total <= MAX_SHARED_LITERAL_BYTES;
  // Each segment's literal stream is x86-filtered on its own (apply undoes it segment by segment).
  const filtered = gathered.map(({ literal, runs }) => filterX86(literal, runs, true));
  // All literal bytes go to the thread pool before any segment is modelled: brotli, most of the encoding
  // time on machine code, then runs beside the model from the start.
  const regions = shared
    ? [compressLiteral(Buffer.concat(gathered.map((g) => g.literal)), Buffer.concat(filtered))]
    : gathered.map((g, k) => compressLiteral(g.literal, filtered[k] as Uint8Array));
  for (const r of regions) r.catch(() => {});
  const encoding = startSegmentEncoding(old, neu, planned, {
    threads: opts.threads ?? 1,
    ...(opts.model ? { model: opts.model } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  // Both files are hashed while the thread pool compresses and encoding workers start (on a 100 MB pair,
  // 0.4 s off the end).
  const oldSha256 = createHash('sha256').update(old).digest('hex');
  const newSha256 = createHash('sha256').update(neu).digest('hex');
  const modelled = await encoding.finish();
  const packed = await Promise.all(regions);
  // Id 4 always has a filter byte before each literal region; under model 2, id 3 (with them) only when
  // it is needed, and id 2 otherwise.
  const model2 = opts.model === 2;
  const filterByte = !model2 || packed.some((r) => r.x86);
  const regionBytes = (region: LiteralRegion): Uint8Array[] =>
    filterByte && region.bytes.length > 0
      ? [Uint8Array.of(region.x86 ? LiteralFilter.x86 : LiteralFilter.none), region.bytes]
      : [region.bytes];
  const length = (parts: Uint8Array[]) => parts.reduce((n, b) => n + b.length, 0);
  // Under the shared layout the one literal region comes first, then each segment's modelled region.
  const sharedRegion = shared ? regionBytes(packed[0] as LiteralRegion) : [];
  const segments: NativeSegment[] = [];
  const bodies: Uint8Array[] = [...sharedRegion];
  for (const [k, seg] of planned.entries()) {
    const model = modelled[k] as ModelledStream;
    const literal = shared ? [] : regionBytes(packed[k] as LiteralRegion);
    segments.push({
      newLength: seg.end - seg.start,
      modelBytes: model.size,
      literalRawBytes: literalBytes[k] as number,
      literalBytes: length(literal),
    });
    bodies.push(...model.frames, ...literal);
  }
  const header = encodeHeader({
    version: NATIVE_VERSION,
    compression: !model2
      ? COMPRESSION_MODEL3_FILTERED_BROTLI
      : filterByte
        ? COMPRESSION_MODEL2_FILTERED_BROTLI
        : COMPRESSION_MODEL2_BROTLI,
    literalLayout: shared ? LiteralLayout.shared : LiteralLayout.perSegment,
    sharedLiteralBytes: length(sharedRegion),
    oldSize: old.length,
    oldSha256,
    newSize: neu.length,
    newSha256,
    segments,
  });
  return [header, ...bodies];
}

/** Writes encoded patch parts atomically to `patchPath`; returns the patch size. */
export async function writeNativePatch(
  parts: readonly Uint8Array[],
  patchPath: string,
  signal?: AbortSignal,
): Promise<number> {
  signal?.throwIfAborted();
  // The parts are in memory already and a patch is at most about the new file's size (the memory plan
  // counts it), so one contiguous write is simplest.
  const whole = Buffer.concat(parts);
  await writeFileAtomic(patchPath, whole);
  return whole.length;
}
