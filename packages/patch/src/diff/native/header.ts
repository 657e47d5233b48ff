// Writes the native format's header and segment table (FORMAT.md); apply/native/header.ts reads them.
import { LiteralLayout, NATIVE_MAGIC, type NativeHeader } from '../../format/native.js';
import { pushVarint } from '../../format/varint.js';

/**
 * The header and segment table of `h` as bytes, in version 3's layout (sizes and lengths as varints, and
 * under the shared literal layout the shared region's length after the table).
 */
export function encodeHeader(h: NativeHeader): Uint8Array {
  const out: number[] = [...NATIVE_MAGIC, h.version, h.compression, h.literalLayout];
  pushVarint(out, h.oldSize);
  out.push(...Buffer.from(h.oldSha256, 'hex'));
  pushVarint(out, h.newSize);
  out.push(...Buffer.from(h.newSha256, 'hex'));
  pushVarint(out, h.segments.length);
  for (const s of h.segments) {
    for (const v of [s.newLength, s.modelBytes, s.literalRawBytes, s.literalBytes]) pushVarint(out, v);
  }
  if (h.literalLayout === LiteralLayout.shared) pushVarint(out, h.sharedLiteralBytes);
  return Uint8Array.from(out);
}
