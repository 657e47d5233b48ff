// The native patch format's fixed header and limits (documented field by field in FORMAT.md).
import { PatchError } from '../errors.js';

/** "\x89TUFUP\r\n": high bit and CR LF catch 7-bit and newline-mangling transfers. */
export const NATIVE_MAGIC = Uint8Array.from([0x89, 0x54, 0x55, 0x46, 0x55, 0x50, 0x0d, 0x0a]);
export const NATIVE_VERSION = 1;
/** Control and differences in the adaptive binary model of model.ts; literal bytes as one brotli stream. */
export const COMPRESSION_MODEL1_BROTLI = 1;
export const HEADER_BYTES = 116;

/** The encoder ends a frame once it holds this many bytes (plus at most one 64 KiB piece of differences). */
export const FRAME_TARGET_BYTES = 1 << 20;
/** A frame longer than this is refused before anything is allocated for it. */
export const MAX_FRAME_BYTES = 4 << 20;
/** Largest old or new file size the format admits (2^53 - 1 keeps every offset an exact number). */
export const MAX_FILE_BYTES = Number.MAX_SAFE_INTEGER;

export interface NativeHeader {
  version: number;
  compression: number;
  oldSize: number;
  oldSha256: string;
  newSize: number;
  newSha256: string;
  modelBytes: number;
  literalRawBytes: number;
  literalBytes: number;
}

export function encodeHeader(h: NativeHeader): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const view = new DataView(out.buffer);
  out.set(NATIVE_MAGIC, 0);
  out[8] = h.version;
  out[9] = h.compression;
  view.setBigUint64(12, BigInt(h.oldSize), true);
  out.set(Buffer.from(h.oldSha256, 'hex'), 20);
  view.setBigUint64(52, BigInt(h.newSize), true);
  out.set(Buffer.from(h.newSha256, 'hex'), 60);
  view.setBigUint64(92, BigInt(h.modelBytes), true);
  view.setBigUint64(100, BigInt(h.literalRawBytes), true);
  view.setBigUint64(108, BigInt(h.literalBytes), true);
  return out;
}

function corrupt(message: string): PatchError {
  return new PatchError({ code: 'CORRUPT_PATCH', message });
}

function u64(view: DataView, at: number, name: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(MAX_FILE_BYTES)) throw corrupt(`native patch: ${name} ${v} exceeds ${MAX_FILE_BYTES}`);
  return Number(v);
}

/** Parses and bounds-checks the header of a patch file of `fileSize` bytes. */
export function decodeHeader(bytes: Uint8Array, fileSize: number): NativeHeader {
  if (bytes.length < HEADER_BYTES) {
    throw new PatchError({
      code: 'TRUNCATED_PATCH',
      message: `native patch: header needs ${HEADER_BYTES} bytes`,
    });
  }
  for (let i = 0; i < NATIVE_MAGIC.length; i++) {
    if (bytes[i] !== NATIVE_MAGIC[i])
      throw new PatchError({ code: 'UNSUPPORTED_FORMAT', message: 'not a native tufup patch' });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const version = bytes[8] as number;
  const compression = bytes[9] as number;
  if (version !== NATIVE_VERSION) {
    throw new PatchError({
      code: 'UNSUPPORTED_VERSION',
      message: `native patch: format version ${version} (this build reads ${NATIVE_VERSION})`,
    });
  }
  if (compression !== COMPRESSION_MODEL1_BROTLI) {
    throw new PatchError({
      code: 'UNSUPPORTED_VERSION',
      message: `native patch: compression id ${compression} unknown`,
    });
  }
  if (bytes[10] !== 0 || bytes[11] !== 0) throw corrupt('native patch: reserved header bytes are not zero');
  const h: NativeHeader = {
    version,
    compression,
    oldSize: u64(view, 12, 'old size'),
    oldSha256: Buffer.from(bytes.subarray(20, 52)).toString('hex'),
    newSize: u64(view, 52, 'new size'),
    newSha256: Buffer.from(bytes.subarray(60, 92)).toString('hex'),
    modelBytes: u64(view, 92, 'model region length'),
    literalRawBytes: u64(view, 100, 'literal length'),
    literalBytes: u64(view, 108, 'literal region length'),
  };
  if (h.literalRawBytes > h.newSize) throw corrupt('native patch: more literal bytes than new bytes');
  if ((h.literalRawBytes === 0) !== (h.literalBytes === 0)) {
    throw corrupt('native patch: literal region present without literal bytes, or missing');
  }
  const expected = HEADER_BYTES + h.modelBytes + h.literalBytes;
  if (expected > fileSize) {
    throw new PatchError({
      code: 'TRUNCATED_PATCH',
      message: `native patch: ${fileSize} bytes, header declares ${expected}`,
    });
  }
  if (expected < fileSize) throw corrupt(`native patch: ${fileSize - expected} bytes after the declared end`);
  return h;
}
