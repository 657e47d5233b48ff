// The BSDIFF40 container (bsdiff 4.x, python bsdiff4): a 32-byte header, then three bzip2 streams.
import { PatchError } from '../errors.js';

/**
 * Layout: "BSDIFF40", ctrl stream length, diff stream length, new file size (each an 8-byte
 * sign-magnitude little-endian integer), then the bzip2 streams of control triples, difference bytes and
 * extra bytes. Each control triple (add, copy, seek) of three such integers means: add `add` difference
 * bytes to the old file's bytes at the old cursor, then copy `copy` extra bytes, then move the old cursor by
 * `seek`. Nothing in the format identifies the old file; the caller's expected output hash does that.
 */
export const BSDIFF40_MAGIC = Buffer.from('BSDIFF40', 'latin1');
export const BSDIFF40_HEADER_SIZE = 32;
export const CONTROL_TRIPLE_SIZE = 24;

export interface Bsdiff40Header {
  controlLength: number;
  diffLength: number;
  newSize: number;
}

/**
 * Reads an 8-byte sign-magnitude integer; undefined when its magnitude is beyond 2^53 - 1 (no file or
 * stream here can be that large, so such a value is always corrupt).
 */
export function readSignMagnitude(buf: Uint8Array, at: number): number | undefined {
  const top = (buf[at + 7] as number) & 0x7f;
  const high = top * 0x1000000 + (buf[at + 6] as number) * 0x10000 + (buf[at + 5] as number) * 0x100;
  const high32 = high + (buf[at + 4] as number);
  if (high32 >= 0x200000) return undefined;
  const low32 =
    (buf[at + 3] as number) * 0x1000000 +
    (buf[at + 2] as number) * 0x10000 +
    (buf[at + 1] as number) * 0x100 +
    (buf[at] as number);
  const magnitude = high32 * 0x100000000 + low32;
  return (buf[at + 7] as number) & 0x80 ? -magnitude : magnitude;
}

/** Writes `value` (a safe integer) as an 8-byte sign-magnitude little-endian integer. */
export function writeSignMagnitude(value: number, buf: Uint8Array, at: number): void {
  let magnitude = Math.abs(value);
  for (let i = 0; i < 8; i++) {
    buf[at + i] = magnitude % 256;
    magnitude = Math.floor(magnitude / 256);
  }
  if (value < 0) buf[at + 7] = (buf[at + 7] as number) | 0x80;
}

/** Checks the magic and the three lengths of a header against the patch file's size. */
export function parseBsdiff40Header(header: Uint8Array, patchSize: number): Bsdiff40Header {
  if (header.length < BSDIFF40_HEADER_SIZE || patchSize < BSDIFF40_HEADER_SIZE) {
    throw new PatchError({
      code: 'TRUNCATED_PATCH',
      message: 'BSDIFF40 patch is shorter than its 32-byte header',
    });
  }
  if (!BSDIFF40_MAGIC.equals(header.subarray(0, 8))) {
    throw new PatchError({ code: 'UNSUPPORTED_FORMAT', message: 'not a BSDIFF40 patch (bad magic)' });
  }
  const controlLength = readSignMagnitude(header, 8);
  const diffLength = readSignMagnitude(header, 16);
  const newSize = readSignMagnitude(header, 24);
  if (controlLength === undefined || controlLength < 0) throw corruptHeader('control stream length');
  if (diffLength === undefined || diffLength < 0) throw corruptHeader('diff stream length');
  if (newSize === undefined || newSize < 0) throw corruptHeader('new file size');
  if (BSDIFF40_HEADER_SIZE + controlLength + diffLength > patchSize) {
    throw new PatchError({
      code: 'TRUNCATED_PATCH',
      message: `BSDIFF40 header declares ${controlLength} + ${diffLength} stream bytes but the patch has only ${patchSize - BSDIFF40_HEADER_SIZE}`,
    });
  }
  return { controlLength, diffLength, newSize };
}

function corruptHeader(field: string): PatchError {
  return new PatchError({ code: 'CORRUPT_PATCH', message: `BSDIFF40 header has an invalid ${field}` });
}
