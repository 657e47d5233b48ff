// The native patch format's constants, header fields and limits (documented field by field in FORMAT.md), for
// the writer (src/diff/native/) and the reader (src/apply/native/) alike.
import { MAX_VARINT_BYTES } from './varint.js';

/** "\x89TUFUP\r\n": high bit and CR LF catch 7-bit and newline-mangling transfers. */
export const NATIVE_MAGIC = Uint8Array.from([0x89, 0x54, 0x55, 0x46, 0x55, 0x50, 0x0d, 0x0a]);
/**
 * Version 3: the header's sizes and segment table are varints (version 2 wrote each as 8 bytes; its
 * patches still apply). Version 2 cut the new file into independently decodable segments (version 1 had
 * exactly one and is refused).
 */
export const NATIVE_VERSION = 3;
/** The version whose header has fixed 8-byte fields. */
export const NATIVE_VERSION_FIXED_HEADER = 2;
/**
 * Control and differences in the adaptive binary model of format/model.ts (model 2: a non-zero difference byte is
 * first tested against its context's candidate value); literal bytes as brotli streams. Id 1, model 1
 * without candidates, was never released and is refused.
 */
export const COMPRESSION_MODEL2_BROTLI = 2;
/**
 * Model 2 as id 2, and each literal region starts with a LiteralFilter byte saying how its brotli stream's
 * bytes were filtered (the x86 filter of format/x86-filter.ts, or none). The writer uses it only when some
 * segment is filtered, so other patches stay exactly as id 2 wrote them.
 */
export const COMPRESSION_MODEL2_FILTERED_BROTLI = 3;
/**
 * Model 3 (src/diff/native/diff-model.ts: a zero flag coded with the third context alone that comes out zero
 * leaves the first two contexts unchanged, so apply decodes it touching one table, not three), with a
 * LiteralFilter byte before each literal region as under id 3. What the writer uses for every new patch.
 */
export const COMPRESSION_MODEL3_FILTERED_BROTLI = 4;
/** The compression ids this build reads. */
export const KNOWN_COMPRESSIONS: readonly number[] = [
  COMPRESSION_MODEL2_BROTLI,
  COMPRESSION_MODEL2_FILTERED_BROTLI,
  COMPRESSION_MODEL3_FILTERED_BROTLI,
];
/** The difference-byte model of a (known) compression id. */
export function modelOf(compression: number): 2 | 3 {
  return compression === COMPRESSION_MODEL3_FILTERED_BROTLI ? 3 : 2;
}
/** Whether each literal region starts with a LiteralFilter byte under a (known) compression id. */
export function hasFilterByte(compression: number): boolean {
  return compression !== COMPRESSION_MODEL2_BROTLI;
}
/** The first byte of a literal region under ids 3 and 4. */
export const LiteralFilter = { none: 0, x86: 1 } as const;
/** Magic, version and compression id: where every version's header starts. */
export const HEADER_PREFIX_BYTES = 10;
/**
 * Version 3's byte after the compression id: where the literal bytes are. `perSegment`: each segment's
 * literal region follows its modelled region (version 2's only layout). `shared`: one literal region for
 * the whole patch, right after the header, holding the segments' literal streams one after the other.
 */
export const LiteralLayout = { perSegment: 0, shared: 1 } as const;
/**
 * Most literal bytes a shared literal region may hold: apply inflates it whole into memory before the
 * segments are decoded, so this bounds what that takes.
 */
export const MAX_SHARED_LITERAL_BYTES = 16 << 20;
/** Version 2: magic through the segment count, then 32 bytes a segment. */
export const V2_FIXED_HEADER_BYTES = 100;
export const V2_SEGMENT_ENTRY_BYTES = 32;
/** Most segments a patch may declare: bounds the header, and the threads an apply could use. */
export const MAX_SEGMENTS = 64;
/** Version 2's longest header: its fixed fields and MAX_SEGMENTS table entries. */
const V2_MAX_HEADER_BYTES = V2_FIXED_HEADER_BYTES + MAX_SEGMENTS * V2_SEGMENT_ENTRY_BYTES;
/**
 * Version 3's longest header: the prefix and the layout byte, two sizes and two digests, the count (one
 * byte up to MAX_SEGMENTS), MAX_SEGMENTS entries of four varints and the shared region's length, each
 * varint at its longest (MAX_VARINT_BYTES).
 */
const V3_MAX_HEADER_BYTES =
  HEADER_PREFIX_BYTES + 1 + 2 * (MAX_VARINT_BYTES + 32) + 1 + (MAX_SEGMENTS * 4 + 1) * MAX_VARINT_BYTES;
/** The most header bytes either version can take: apply reads this much (or the whole file) to parse one. */
export const MAX_HEADER_BYTES = Math.max(V2_MAX_HEADER_BYTES, V3_MAX_HEADER_BYTES);

/** The encoder ends a frame once it holds this many bytes (plus at most one 64 KiB piece of differences). */
export const FRAME_TARGET_BYTES = 1 << 20;
/** A frame longer than this is refused before anything is allocated for it. */
export const MAX_FRAME_BYTES = 4 << 20;
/** Largest old or new file size the format admits (2^53 - 1 keeps every offset an exact number). */
export const MAX_FILE_BYTES = Number.MAX_SAFE_INTEGER;

/** One segment as the table declares it. */
export interface NativeSegment {
  /** New-file bytes this segment rebuilds (the segments rebuild the new file in order). */
  newLength: number;
  /** M: length of its modelled region. */
  modelBytes: number;
  /** L: literal bytes its control entries take (uncompressed). */
  literalRawBytes: number;
  /** B: length of its literal region (one brotli stream, or nothing when L is 0). */
  literalBytes: number;
}

/** A segment with the offsets that follow from the table: where it writes, and where its regions are. */
export interface SegmentLayout extends NativeSegment {
  index: number;
  newStart: number;
  modelStart: number;
  /** Where its literal region starts (unused under the shared layout, where its literalBytes is 0). */
  literalStart: number;
  /** The literal region starts with a LiteralFilter byte (compression ids 3 and 4). */
  literalFilterByte: boolean;
  /** The difference-byte model (2: ids 2 and 3; 3: id 4). */
  model: 2 | 3;
  /** Under the shared layout: where its literal bytes start in the inflated shared region. */
  sharedLiteralAt?: number;
}

export interface NativeHeader {
  version: number;
  compression: number;
  /** A LiteralLayout value (version 3; version 2 has only the per-segment layout). */
  literalLayout: number;
  /** Under the shared layout: the length of the shared literal region (0 when no segment has literals). */
  sharedLiteralBytes: number;
  oldSize: number;
  oldSha256: string;
  newSize: number;
  newSha256: string;
  segments: NativeSegment[];
}

/** A header as apply read it: the fields, and how many bytes they took (the regions follow). */
export interface DecodedHeader extends NativeHeader {
  headerBytes: number;
}
