// The public apply: detects the patch format by its magic bytes and hands over to that format's applier.
import { open } from 'node:fs/promises';
import { PatchError } from '../errors.js';
import { BSDIFF40_MAGIC } from '../format/bsdiff40.js';
import { NATIVE_MAGIC } from '../format/native.js';
import type { PatchFormat } from '../format/patch-format.js';
import { applyBsdiff40 } from './bsdiff40/apply.js';
import { type ApplyOptions, type ApplyResult, applyNative } from './native/apply.js';

export type { ApplyOptions, ApplyResult } from './native/apply.js';

function startsWith(bytes: Uint8Array, magic: Uint8Array): boolean {
  if (bytes.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[i] !== magic[i]) return false;
  return true;
}

/** The format of a patch from its first bytes (8 are enough), or undefined when it is neither. */
export function detectPatchFormatOfBytes(bytes: Uint8Array): PatchFormat | undefined {
  if (startsWith(bytes, NATIVE_MAGIC)) return 'native';
  if (startsWith(bytes, BSDIFF40_MAGIC)) return 'bsdiff4';
  return undefined;
}

/** The format of the patch file at `path`; UNSUPPORTED_FORMAT when its magic is neither format's. */
export async function detectPatchFormat(path: string): Promise<PatchFormat> {
  let head: Uint8Array;
  try {
    const fh = await open(path, 'r');
    try {
      head = new Uint8Array(8);
      const { bytesRead } = await fh.read(head, 0, 8, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new PatchError({ code: 'IO_ERROR', message: `cannot read patch ${path}`, cause: err });
  }
  const format = detectPatchFormatOfBytes(head);
  if (!format) {
    throw new PatchError({
      code: 'UNSUPPORTED_FORMAT',
      message: `${path} is neither a native tufup patch nor a BSDIFF40 patch`,
    });
  }
  return format;
}

/**
 * Rebuilds `newPath` from `oldPath` and the patch at `patchPath` (native or BSDIFF40, told apart by magic
 * bytes). The new file appears only once complete and verified; on any failure nothing is left there.
 */
export async function apply(
  oldPath: string,
  patchPath: string,
  newPath: string,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  opts.signal?.throwIfAborted();
  const format = await detectPatchFormat(patchPath);
  try {
    if (format === 'bsdiff4') return await applyBsdiff40(oldPath, patchPath, newPath, opts);
    return await applyNative(oldPath, patchPath, newPath, opts);
  } catch (err) {
    if (err instanceof PatchError || (err as Error)?.name === 'AbortError') throw err;
    throw new PatchError({ code: 'IO_ERROR', message: `applying ${patchPath} failed`, cause: err });
  }
}
