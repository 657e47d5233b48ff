// Writes the native format's header and segment table (FORMAT.md); apply/native/header.ts reads them.
import {
  FIXED_HEADER_BYTES,
  headerBytes,
  NATIVE_MAGIC,
  type NativeHeader,
  SEGMENT_ENTRY_BYTES,
} from '../../format/native.js';

/** The header and segment table of `h`, as bytes. */
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
