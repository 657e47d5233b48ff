// Writes a native-format patch from the engine's covers (see FORMAT.md).
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, constants as zc } from 'node:zlib';
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
import { encodeModelledStream, gatherLiterals, type ModelledStream } from './encode-model.js';
import { encodeHeader } from './header.js';
import { planSegments, type SegmentOptions } from './segments.js';

const brotli = promisify(brotliCompress);

export interface NativeWriteOptions {
  /** How to cut the new file into segments (default: by estimated decoding work; small patches stay one). */
  segments?: SegmentOptions;
  /**
   * One literal region for all segments ('shared'), one per segment ('per-segment'), or as sharesLiterals
   * decides (default). 'shared' needs more than one segment, some literal bytes and at most
   * MAX_SHARED_LITERAL_BYTES of them; otherwise the regions stay per segment.
   */
  literalLayout?: 'shared' | 'per-segment';
  onProgress?: (doneNewBytes: number) => void;
  signal?: AbortSignal;
  /**
   * The difference-byte model: 3 (default) writes compression id 4; 2 writes what earlier builds wrote
   * (id 3 when a segment is x86-filtered, else id 2), for tests that old patches still apply.
   */
  model?: 2 | 3;
}

/** Brotli quality for the literal bytes: the best the size allows in reasonable time. */
export function literalQuality(rawBytes: number): number {
  if (rawBytes <= 16 << 20) return 11;
  if (rawBytes <= 64 << 20) return 9;
  return 7;
}

/**
 * A literal stream that brotli at PROBE_QUALITY shrinks by less than this share is close to incompressible
 * (new machine code that matches nothing in old, compressed data): quality 11 then gains almost nothing in
 * many times the time. On @swc/core-linux-x64-gnu 1.16.21 -> 1.16.22 (10.0 MB of literal bytes): quality
 * 5 gives 10,027,957 B in 0.12 s of CPU, 9 10,021,044 B in 0.9 s, 11 10,019,987 B in 21.8 s.
 */
const INCOMPRESSIBLE_SAVING = 0.005;
const PROBE_QUALITY = 5;
/** What an incompressible literal stream gets instead of literalQuality. */
const INCOMPRESSIBLE_QUALITY = 9;
/** Streams from this size up are probed (below it, quality 11 is quick anyway). */
const PROBE_MIN_BYTES = 1 << 20;

function brotliAt(lit: Uint8Array, quality: number): Promise<Uint8Array> {
  return brotli(lit, {
    params: {
      [zc.BROTLI_PARAM_QUALITY]: quality,
      [zc.BROTLI_PARAM_LGWIN]: 24,
      [zc.BROTLI_PARAM_SIZE_HINT]: lit.length,
    },
  });
}

/** A segment's literal region: its brotli stream, and whether that holds the x86-filtered bytes. */
interface LiteralRegion {
  x86: boolean;
  bytes: Uint8Array;
}

/**
 * Below this many bytes a literal stream is compressed both plain and x86-filtered at its final quality;
 * from here on quality-PROBE_QUALITY probes choose and only the choice gets the final quality, which
 * halves the brotli work. The probes chose as quality 11 did on every segment of lightningcss and turbo
 * (bench/patch), where filtering saved from -0.2 % to 9 %.
 */
const CHOICE_PROBE_MIN_BYTES = 64 << 10;

/**
 * Compresses a literal stream plain or x86-filtered (`filtered`: the same bytes after filterX86), whichever
 * is smaller (plain on a tie), so data that is not x86 code loses nothing.
 */
async function compressLiteral(lit: Uint8Array, filtered: Uint8Array): Promise<LiteralRegion> {
  if (lit.length === 0) return { x86: false, bytes: new Uint8Array(0) };
  const quality = literalQuality(lit.length);
  // No call or jump operand changed: nothing to choose (plain would win the tie), at half the brotli work.
  const candidates = Buffer.from(filtered.buffer, filtered.byteOffset, filtered.byteLength).equals(lit)
    ? [lit]
    : [lit, filtered];
  const smallest = (packed: Uint8Array[]) =>
    packed.length > 1 && (packed[1] as Uint8Array).length < (packed[0] as Uint8Array).length ? 1 : 0;
  if (lit.length < CHOICE_PROBE_MIN_BYTES) {
    const packed = await Promise.all(candidates.map((c) => brotliAt(c, quality)));
    const k = smallest(packed);
    return { x86: k === 1, bytes: packed[k] as Uint8Array };
  }
  const mayBeIncompressible = lit.length >= PROBE_MIN_BYTES && quality > INCOMPRESSIBLE_QUALITY;
  if (candidates.length === 1 && !mayBeIncompressible)
    return { x86: false, bytes: await brotliAt(lit, quality) };
  const probes = await Promise.all(candidates.map((c) => brotliAt(c, PROBE_QUALITY)));
  const k = smallest(probes);
  const incompressible =
    mayBeIncompressible && (probes[k] as Uint8Array).length >= lit.length * (1 - INCOMPRESSIBLE_SAVING);
  return {
    x86: k === 1,
    bytes: await brotliAt(candidates[k] as Uint8Array, incompressible ? INCOMPRESSIBLE_QUALITY : quality),
  };
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
export function sharesLiterals(literalBytes: readonly number[]): boolean {
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
  const modelled = planned.map((seg) => encodeModelledStream(old, neu, seg.covers, seg, opts));
  // Both files are hashed while the thread pool compresses (on a 100 MB pair, 0.4 s off the end).
  const oldSha256 = createHash('sha256').update(old).digest('hex');
  const newSha256 = createHash('sha256').update(neu).digest('hex');
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
