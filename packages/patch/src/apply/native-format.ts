// The native patch format's header, segment table and limits (documented field by field in FORMAT.md).
import { PatchError } from '../errors.js';

/** "\x89TUFUP\r\n": high bit and CR LF catch 7-bit and newline-mangling transfers. */
export const NATIVE_MAGIC = Uint8Array.from([0x89, 0x54, 0x55, 0x46, 0x55, 0x50, 0x0d, 0x0a]);
/** Version 2: the new file is cut into independently decodable segments (version 1 had exactly one). */
export const NATIVE_VERSION = 2;
/**
 * Control and differences in the adaptive binary model of model.ts (model 2: a non-zero difference byte is
 * first tested against its context's candidate value); literal bytes as brotli streams. Id 1, model 1
 * without candidates, was never released and is refused.
 */
export const COMPRESSION_MODEL2_BROTLI = 2;
/** Magic through the segment count; the segment table follows. */
export const FIXED_HEADER_BYTES = 100;
export const SEGMENT_ENTRY_BYTES = 32;
/** Most segments a patch may declare: bounds the header, and the threads an apply could use. */
export const MAX_SEGMENTS = 64;
export const MAX_HEADER_BYTES = FIXED_HEADER_BYTES + MAX_SEGMENTS * SEGMENT_ENTRY_BYTES;

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
  literalStart: number;
}

export interface NativeHeader {
  version: number;
  compression: number;
  oldSize: number;
  oldSha256: string;
  newSize: number;
  newSha256: string;
  segments: NativeSegment[];
}

export function headerBytes(segments: number): number {
  return FIXED_HEADER_BYTES + segments * SEGMENT_ENTRY_BYTES;
}

export function encodeHeader(h: NativeHeader): Uint8Array {
  const out = new Uint8Array(headerBytes(h.segments.length));
  const view = new DataView(out.buffer);
  out.set(NATIVE_MAGIC, 0);
  out[8] = h.version;
  out[9] = h.compression;
  view.setBigUint64(12, BigInt(h.oldSize), true);
  out.set(Buffer.from(h.oldSha256, 'hex'), 20);
  view.setBigUint64(52, BigInt(h.newSize), true);
  out.set(Buffer.from(h.newSha256, 'hex'), 60);
  view.setBigUint64(92, BigInt(h.segments.length), true);
  for (const [i, s] of h.segments.entries()) {
    const at = FIXED_HEADER_BYTES + i * SEGMENT_ENTRY_BYTES;
    view.setBigUint64(at, BigInt(s.newLength), true);
    view.setBigUint64(at + 8, BigInt(s.modelBytes), true);
    view.setBigUint64(at + 16, BigInt(s.literalRawBytes), true);
    view.setBigUint64(at + 24, BigInt(s.literalBytes), true);
  }
  return out;
}

function corrupt(message: string): PatchError {
  return new PatchError({ code: 'CORRUPT_PATCH', message });
}

function truncated(message: string): PatchError {
  return new PatchError({ code: 'TRUNCATED_PATCH', message });
}

function u64(view: DataView, at: number, name: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(MAX_FILE_BYTES)) throw corrupt(`native patch: ${name} ${v} exceeds ${MAX_FILE_BYTES}`);
  return Number(v);
}

/**
 * Parses and bounds-checks the header of a patch file of `fileSize` bytes, given its first bytes (at most
 * MAX_HEADER_BYTES are needed).
 */
export function decodeHeader(bytes: Uint8Array, fileSize: number): NativeHeader {
  if (bytes.length < FIXED_HEADER_BYTES) {
    throw truncated(`native patch: header needs at least ${FIXED_HEADER_BYTES} bytes`);
  }
  for (let i = 0; i < NATIVE_MAGIC.length; i++) {
    if (bytes[i] !== NATIVE_MAGIC[i])
      throw new PatchError({ code: 'UNSUPPORTED_FORMAT', message: 'not a native tufup patch' });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = bytes[8] as number;
  const compression = bytes[9] as number;
  if (version !== NATIVE_VERSION) {
    throw new PatchError({
      code: 'UNSUPPORTED_VERSION',
      message: `native patch: format version ${version} (this build reads ${NATIVE_VERSION})`,
    });
  }
  if (compression !== COMPRESSION_MODEL2_BROTLI) {
    throw new PatchError({
      code: 'UNSUPPORTED_VERSION',
      message: `native patch: compression id ${compression} unknown`,
    });
  }
  if (bytes[10] !== 0 || bytes[11] !== 0) throw corrupt('native patch: reserved header bytes are not zero');
  const oldSize = u64(view, 12, 'old size');
  const newSize = u64(view, 52, 'new size');
  const count = u64(view, 92, 'segment count');
  if (count < 1 || count > MAX_SEGMENTS) {
    throw corrupt(`native patch: ${count} segments (1 to ${MAX_SEGMENTS} allowed)`);
  }
  const tableEnd = headerBytes(count);
  if (fileSize < tableEnd)
    throw truncated(`native patch: ${fileSize} bytes, its header alone needs ${tableEnd}`);
  if (bytes.length < tableEnd) throw truncated(`native patch: header needs ${tableEnd} bytes`);
  const segments: NativeSegment[] = [];
  let newTotal = 0;
  let expected = tableEnd;
  for (let i = 0; i < count; i++) {
    const at = FIXED_HEADER_BYTES + i * SEGMENT_ENTRY_BYTES;
    const s: NativeSegment = {
      newLength: u64(view, at, `segment ${i} length`),
      modelBytes: u64(view, at + 8, `segment ${i} modelled region length`),
      literalRawBytes: u64(view, at + 16, `segment ${i} literal length`),
      literalBytes: u64(view, at + 24, `segment ${i} literal region length`),
    };
    if (count > 1 && s.newLength === 0) throw corrupt(`native patch: segment ${i} is empty`);
    if (s.literalRawBytes > s.newLength) {
      throw corrupt(`native patch: segment ${i} declares more literal bytes than it rebuilds`);
    }
    if ((s.literalRawBytes === 0) !== (s.literalBytes === 0)) {
      throw corrupt(`native patch: segment ${i} has a literal region without literal bytes, or lacks one`);
    }
    newTotal += s.newLength;
    if (newTotal > newSize) throw corrupt('native patch: segments rebuild more bytes than the new size');
    // Checked as it grows, so the sum stays exact (each term is below 2^53, the file size far below).
    expected += s.modelBytes + s.literalBytes;
    if (expected > fileSize) throw truncated(`native patch: ${fileSize} bytes, the header declares more`);
    segments.push(s);
  }
  if (newTotal !== newSize) throw corrupt('native patch: segments rebuild fewer bytes than the new size');
  if (expected < fileSize) throw corrupt(`native patch: ${fileSize - expected} bytes after the declared end`);
  return {
    version,
    compression,
    oldSize,
    oldSha256: Buffer.from(bytes.subarray(20, 52)).toString('hex'),
    newSize,
    newSha256: Buffer.from(bytes.subarray(60, 92)).toString('hex'),
    segments,
  };
}

/** Where each segment writes and where its regions lie (regions follow the table, segment by segment). */
export function segmentLayout(h: NativeHeader): SegmentLayout[] {
  const out: SegmentLayout[] = [];
  let newStart = 0;
  let at = headerBytes(h.segments.length);
  for (const [index, s] of h.segments.entries()) {
    out.push({ ...s, index, newStart, modelStart: at, literalStart: at + s.modelBytes });
    newStart += s.newLength;
    at += s.modelBytes + s.literalBytes;
  }
  return out;
}
