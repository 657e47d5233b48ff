// The old file's checks: its size (and the caller's vouched-for hash) first, its sha256 against the header.
import type { FileHandle } from 'node:fs/promises';
import { errnoCode, hashOpenFile, isTufupError, type OnProgress, sameDigest } from '@tufup/common';
import { PatchError } from '../../errors.js';
import type { NativeHeader } from '../../format/native.js';

/** The old file's size, and the caller's vouched-for hash when given: both checked before anything else. */
export async function checkOldSize(
  old: FileHandle,
  h: NativeHeader,
  verified: { size: number; sha256: string } | undefined,
): Promise<void> {
  const size = (await old.stat()).size;
  if (size !== h.oldSize) {
    throw new PatchError({
      code: 'BASE_MISMATCH',
      message: `old file has ${size} bytes; the patch was made from one of ${h.oldSize} bytes`,
    });
  }
  if (verified && (verified.size !== size || !sameDigest(verified.sha256, h.oldSha256))) {
    throw new PatchError({
      code: 'BASE_MISMATCH',
      message: `old file is ${verified.size} bytes, sha256 ${verified.sha256}; the patch was made from ${h.oldSize} bytes, sha256 ${h.oldSha256}`,
    });
  }
}

export async function hashOldFile(
  old: FileHandle,
  h: NativeHeader,
  signal: AbortSignal | undefined,
  progress: OnProgress | undefined,
): Promise<void> {
  let digest: string;
  // What the caller's progress callback throws is the caller's, not a sign of a changed old file.
  let callbackError: { error: unknown } | undefined;
  try {
    digest = (
      await hashOpenFile(old, {
        ...(signal ? { signal } : {}),
        onBytes: (done) => {
          try {
            progress?.({ phase: 'verify-old', done, total: h.oldSize, unit: 'bytes' });
          } catch (error) {
            callbackError = { error };
            throw error;
          }
        },
      })
    ).sha256;
  } catch (err) {
    if (callbackError) throw callbackError.error;
    if ((err as Error)?.name === 'AbortError') throw err;
    // A system error is the disk's; anything else means the file changed under us (FILE_CHANGED: it shrank).
    const system = errnoCode(err) !== undefined && !isTufupError(err);
    throw new PatchError({
      code: system ? 'IO_ERROR' : 'BASE_MISMATCH',
      message: `cannot hash the old file: ${(err as Error).message}`,
      cause: err,
    });
  }
  checkOldDigest(digest, h);
}

export function checkOldDigest(digest: string, h: NativeHeader): void {
  if (!sameDigest(digest, h.oldSha256)) {
    throw new PatchError({
      code: 'BASE_MISMATCH',
      message: `old file sha256 ${digest}; the patch was made from ${h.oldSha256}`,
    });
  }
}
