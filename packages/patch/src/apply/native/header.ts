// Reads and bounds-checks the native format's header and segment table (FORMAT.md).
import { PatchError } from '../../errors.js';
import {
  FIXED_HEADER_BYTES,
  hasFilterByte,
  headerBytes,
  KNOWN_COMPRESSIONS,
  MAX_FILE_BYTES,
  MAX_SEGMENTS,
  modelOf,
  NATIVE_MAGIC,
  NATIVE_VERSION,
  type NativeHeader,
  type NativeSegment,
  SEGMENT_ENTRY_BYTES,
  type SegmentLayout,
} from '../../format/native.js';

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
  if (!KNOWN_COMPRESSIONS.includes(compression)) {
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
  const literalFilterByte = hasFilterByte(h.compression);
  const model = modelOf(h.compression);
  for (const [index, s] of h.segments.entries()) {
    out.push({
      ...s,
      index,
      newStart,
      modelStart: at,
      literalStart: at + s.modelBytes,
      literalFilterByte,
      model,
    });
    newStart += s.newLength;
    at += s.modelBytes + s.literalBytes;
  }
  return out;
}
