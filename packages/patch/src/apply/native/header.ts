// Reads and bounds-checks the native format's header and segment table (FORMAT.md): version 3's varint
// layout, and version 2's fixed 8-byte fields.
import { PatchError } from '../../errors.js';
import {
  type DecodedHeader,
  HEADER_PREFIX_BYTES,
  hasFilterByte,
  KNOWN_COMPRESSIONS,
  LiteralLayout,
  MAX_FILE_BYTES,
  MAX_SEGMENTS,
  MAX_SHARED_LITERAL_BYTES,
  modelOf,
  NATIVE_MAGIC,
  NATIVE_VERSION,
  NATIVE_VERSION_FIXED_HEADER,
  type NativeSegment,
  type SegmentLayout,
  V2_FIXED_HEADER_BYTES,
  V2_SEGMENT_ENTRY_BYTES,
} from '../../format/native.js';
import { readVarint } from '../../format/varint.js';

function corrupt(message: string): PatchError {
  return new PatchError({ code: 'CORRUPT_PATCH', message });
}

function truncated(message: string): PatchError {
  return new PatchError({ code: 'TRUNCATED_PATCH', message });
}

function bounded(v: number | bigint, name: string): number {
  if (v > MAX_FILE_BYTES) throw corrupt(`native patch: ${name} ${v} exceeds ${MAX_FILE_BYTES}`);
  return Number(v);
}

/** The header's fields in reading order, whatever the layout. */
interface FieldReader {
  size(name: string): number;
  sha256(): string;
  /** Bytes read so far. */
  readonly at: number;
}

/** Version 3: sizes and lengths are minimal LEB128 varints; the header is exactly as long as its fields. */
function varintFields(bytes: Uint8Array): FieldReader {
  let at = HEADER_PREFIX_BYTES + 1;
  return {
    size(name) {
      const r = readVarint(bytes, at, true);
      if (r === 'short') throw truncated(`native patch: the header ends inside its ${name}`);
      if (r === 'bad') throw corrupt(`native patch: ${name} is not a valid varint`);
      at = r.next;
      return bounded(r.value, name);
    },
    sha256() {
      if (at + 32 > bytes.length) throw truncated('native patch: the header ends inside a sha256');
      at += 32;
      return Buffer.from(bytes.subarray(at - 32, at)).toString('hex');
    },
    get at() {
      return at;
    },
  };
}

/** Version 2: two reserved zero bytes, then 8-byte little-endian fields; 32 bytes a segment. */
function fixedFields(bytes: Uint8Array): FieldReader {
  if (bytes.length < V2_FIXED_HEADER_BYTES) {
    throw truncated(`native patch: header needs at least ${V2_FIXED_HEADER_BYTES} bytes`);
  }
  if (bytes[10] !== 0 || bytes[11] !== 0) throw corrupt('native patch: reserved header bytes are not zero');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 12;
  return {
    size(name) {
      if (at + 8 > bytes.length) throw truncated('native patch: the header ends inside its segment table');
      at += 8;
      return bounded(view.getBigUint64(at - 8, true), name);
    },
    sha256() {
      at += 32;
      return Buffer.from(bytes.subarray(at - 32, at)).toString('hex');
    },
    get at() {
      return at;
    },
  };
}

/**
 * Parses and bounds-checks the header of a patch file of `fileSize` bytes, given its first bytes (at most
 * MAX_HEADER_BYTES are needed).
 */
export function decodeHeader(bytes: Uint8Array, fileSize: number): DecodedHeader {
  if (bytes.length < HEADER_PREFIX_BYTES) {
    throw truncated(`native patch: header needs at least ${HEADER_PREFIX_BYTES} bytes`);
  }
  for (let i = 0; i < NATIVE_MAGIC.length; i++) {
    if (bytes[i] !== NATIVE_MAGIC[i])
      throw new PatchError({ code: 'UNSUPPORTED_FORMAT', message: 'not a native tufup patch' });
  }
  const version = bytes[8] as number;
  const compression = bytes[9] as number;
  if (version !== NATIVE_VERSION && version !== NATIVE_VERSION_FIXED_HEADER) {
    throw new PatchError({
      code: 'UNSUPPORTED_VERSION',
      message: `native patch: format version ${version} (this build reads ${NATIVE_VERSION_FIXED_HEADER} and ${NATIVE_VERSION})`,
    });
  }
  if (!KNOWN_COMPRESSIONS.includes(compression)) {
    throw new PatchError({
      code: 'UNSUPPORTED_VERSION',
      message: `native patch: compression id ${compression} unknown`,
    });
  }
  // Version 3's literal layout byte (a header that ends before it is cut inside its fields).
  const literalLayout =
    version === NATIVE_VERSION ? (bytes[HEADER_PREFIX_BYTES] ?? 0) : LiteralLayout.perSegment;
  if (literalLayout !== LiteralLayout.perSegment && literalLayout !== LiteralLayout.shared) {
    throw new PatchError({
      code: 'UNSUPPORTED_VERSION',
      message: `native patch: literal layout ${literalLayout} unknown`,
    });
  }
  const shared = literalLayout === LiteralLayout.shared;
  const f = version === NATIVE_VERSION ? varintFields(bytes) : fixedFields(bytes);
  const oldSize = f.size('old size');
  const oldSha256 = f.sha256();
  const newSize = f.size('new size');
  const newSha256 = f.sha256();
  const count = f.size('segment count');
  if (count < 1 || count > MAX_SEGMENTS) {
    throw corrupt(`native patch: ${count} segments (1 to ${MAX_SEGMENTS} allowed)`);
  }
  if (version === NATIVE_VERSION_FIXED_HEADER) {
    const tableEnd = V2_FIXED_HEADER_BYTES + count * V2_SEGMENT_ENTRY_BYTES;
    if (fileSize < tableEnd)
      throw truncated(`native patch: ${fileSize} bytes, its header alone needs ${tableEnd}`);
  }
  const segments: NativeSegment[] = [];
  for (let i = 0; i < count; i++) {
    segments.push({
      newLength: f.size(`segment ${i} length`),
      modelBytes: f.size(`segment ${i} modelled region length`),
      literalRawBytes: f.size(`segment ${i} literal length`),
      literalBytes: f.size(`segment ${i} literal region length`),
    });
  }
  const sharedLiteralBytes = shared ? f.size('shared literal region length') : 0;
  const headerBytes = f.at;
  let newTotal = 0;
  let literalTotal = 0;
  let expected = headerBytes + sharedLiteralBytes;
  for (const [i, s] of segments.entries()) {
    if (shared && s.literalBytes !== 0) {
      throw corrupt(`native patch: segment ${i} has a literal region of its own under the shared layout`);
    }
    literalTotal += s.literalRawBytes;
    if (count > 1 && s.newLength === 0) throw corrupt(`native patch: segment ${i} is empty`);
    if (s.literalRawBytes > s.newLength) {
      throw corrupt(`native patch: segment ${i} declares more literal bytes than it rebuilds`);
    }
    if (!shared && (s.literalRawBytes === 0) !== (s.literalBytes === 0)) {
      throw corrupt(`native patch: segment ${i} has a literal region without literal bytes, or lacks one`);
    }
    newTotal += s.newLength;
    if (newTotal > newSize) throw corrupt('native patch: segments rebuild more bytes than the new size');
    // Checked as it grows, so the sum stays exact (each term is below 2^53, the file size far below).
    expected += s.modelBytes + s.literalBytes;
    if (expected > fileSize) throw truncated(`native patch: ${fileSize} bytes, the header declares more`);
  }
  if (newTotal !== newSize) throw corrupt('native patch: segments rebuild fewer bytes than the new size');
  if (shared && literalTotal > MAX_SHARED_LITERAL_BYTES) {
    throw corrupt(
      `native patch: ${literalTotal} literal bytes in a shared region (at most ${MAX_SHARED_LITERAL_BYTES})`,
    );
  }
  if (shared && (literalTotal === 0) !== (sharedLiteralBytes === 0)) {
    throw corrupt(
      'native patch: a shared literal region without literal bytes, or literal bytes without one',
    );
  }
  if (expected < fileSize) throw corrupt(`native patch: ${fileSize - expected} bytes after the declared end`);
  return {
    version,
    compression,
    literalLayout,
    sharedLiteralBytes,
    oldSize,
    oldSha256,
    newSize,
    newSha256,
    segments,
    headerBytes,
  };
}

/** Where each segment writes and where its regions lie (regions follow the table, segment by segment). */
export function segmentLayout(h: DecodedHeader): SegmentLayout[] {
  const out: SegmentLayout[] = [];
  let newStart = 0;
  // Under the shared layout the shared literal region comes first, and each segment has only its modelled region.
  let at = h.headerBytes + h.sharedLiteralBytes;
  let sharedLiteralAt = 0;
  const literalFilterByte = hasFilterByte(h.compression);
  const model = modelOf(h.compression);
  for (const [index, s] of h.segments.entries()) {
    const placed: SegmentLayout = {
      ...s,
      index,
      newStart,
      modelStart: at,
      literalStart: at + s.modelBytes,
      literalFilterByte,
      model,
    };
    if (h.literalLayout === LiteralLayout.shared) placed.sharedLiteralAt = sharedLiteralAt;
    out.push(placed);
    newStart += s.newLength;
    sharedLiteralAt += s.literalRawBytes;
    at += s.modelBytes + s.literalBytes;
  }
  return out;
}
