// The public diff: reads both files, finds covers with the engine, writes a native or BSDIFF40 patch.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { type OnProgress, throttleProgress } from '@tufup/common';
import { PatchError } from '../errors.js';
import type { PatchFormat } from '../format/patch-format.js';
import { writeBsdiff40 } from './bsdiff40/write.js';
import { findCovers, findCoversThreaded, planDiffMemory } from './engine/cover.js';
import { encodeNativePatch, writeNativePatch } from './native/write.js';

/** Largest old or new file `diff` accepts (positions must fit the engine's 32-bit suffix array). */
export const MAX_DIFF_INPUT_BYTES = 2 ** 31 - 1;

export interface DiffOptions {
  /** 'native' (default): our format, smallest; 'bsdiff4': BSDIFF40, for python tufup clients. */
  format?: PatchFormat;
  /**
   * Threads for the cover scan (default: the available parallelism, at most MAX_DIFF_THREADS); the patch is
   * byte for byte the same whatever the count. New files under 1 MiB are scanned on one.
   */
  threads?: number;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

/** Most threads diff uses by default: beyond this the scan's parts gain little. */
export const MAX_DIFF_THREADS = 4;

export interface DiffResult {
  format: PatchFormat;
  /** Patch size in bytes. */
  size: number;
  /** sha256 of the patch file. */
  sha256: string;
  oldSize: number;
  newSize: number;
}

async function sizeOf(path: string, what: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new PatchError({ code: 'IO_ERROR', message: `cannot read ${what} ${path}`, cause: err });
  }
  if (size > MAX_DIFF_INPUT_BYTES) {
    throw new PatchError({
      code: 'FILE_TOO_LARGE',
      message: `${what} ${path} has ${size} bytes; diff handles files up to ${MAX_DIFF_INPUT_BYTES} bytes (2 GiB - 1)`,
    });
  }
  return size;
}

async function readInput(path: string, what: string, signal: AbortSignal | undefined): Promise<Buffer> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new PatchError({ code: 'IO_ERROR', message: `cannot open ${what} ${path}`, cause: err });
  }
  try {
    const size = (await fh.stat()).size;
    if (size > MAX_DIFF_INPUT_BYTES) {
      throw new PatchError({
        code: 'FILE_TOO_LARGE',
        message: `${what} ${path} has ${size} bytes; diff handles files up to ${MAX_DIFF_INPUT_BYTES} bytes (2 GiB - 1)`,
      });
    }
    // Shared memory, so the scan threads read the file where it is.
    const buf = Buffer.from(new SharedArrayBuffer(size));
    for (let done = 0; done < size; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, done, Math.min(size - done, 1 << 24), done);
      if (bytesRead === 0)
        throw new PatchError({ code: 'IO_ERROR', message: `${what} ${path} shrank while being read` });
      done += bytesRead;
    }
    return buf;
  } catch (err) {
    if (err instanceof PatchError || (err as Error)?.name === 'AbortError') throw err;
    throw new PatchError({ code: 'IO_ERROR', message: `cannot read ${what} ${path}`, cause: err });
  } finally {
    await fh.close();
  }
}

/** Makes a patch at `patchPath` that turns the file at `oldPath` into the file at `newPath`. */
export async function diff(
  oldPath: string,
  newPath: string,
  patchPath: string,
  opts: DiffOptions = {},
): Promise<DiffResult> {
  const format = opts.format ?? 'native';
  if (format !== 'native' && format !== 'bsdiff4') {
    throw new PatchError({ code: 'INVALID_ARGUMENT', message: `unknown patch format ${String(format)}` });
  }
  const signal = opts.signal;
  const threads = opts.threads ?? Math.min(MAX_DIFF_THREADS, availableParallelism());
  if (!Number.isInteger(threads) || threads < 1) {
    throw new PatchError({
      code: 'INVALID_ARGUMENT',
      message: `threads must be a whole number >= 1, not ${threads}`,
    });
  }
  // Refuse at once, before reading anything, when the inputs are beyond the limits.
  const [oldSize, newSize] = await Promise.all([sizeOf(oldPath, 'old file'), sizeOf(newPath, 'new file')]);
  planDiffMemory(oldSize, newSize);
  const [oldBuf, newBuf] = await Promise.all([
    readInput(oldPath, 'old file', signal),
    readInput(newPath, 'new file', signal),
  ]);
  const progress = throttleProgress(opts.onProgress);
  const covers = await findCoversThreaded(oldBuf, newBuf, {
    threads,
    onProgress: (done) => progress?.({ phase: 'diff', done, total: newBuf.length, unit: 'bytes' }),
    ...(signal ? { signal } : {}),
  });
  if (format === 'bsdiff4') {
    const r = await writeBsdiff40(oldBuf, newBuf, covers, patchPath, {
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(signal ? { signal } : {}),
    });
    return { format, size: r.size, sha256: r.sha256, oldSize: oldBuf.length, newSize: newBuf.length };
  }
  const parts = await encodeNativePatch(oldBuf, newBuf, covers, {
    threads,
    onProgress: (done) => progress?.({ phase: 'encode', done, total: newBuf.length, unit: 'bytes' }),
    ...(signal ? { signal } : {}),
  });
  // The encoder reports inside covers only; the phase's end is reported here, so a bar reaches 100 %.
  progress?.({ phase: 'encode', done: newBuf.length, total: newBuf.length, unit: 'bytes' });
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  const size = await writeNativePatch(parts, patchPath, signal);
  return { format, size, sha256: hash.digest('hex'), oldSize: oldBuf.length, newSize: newBuf.length };
}

/** The native patch from `oldBuf` to `newBuf`, in memory. */
export async function diffBuffers(
  oldBuf: Uint8Array,
  newBuf: Uint8Array,
  opts: {
    signal?: AbortSignal;
    /** Cut the new file into this many segments of equal size (default: by estimated decoding work). */
    segments?: number;
    /**
     * Where the literal bytes go (FORMAT.md, literal layout); default: as the writer judges best. 'shared'
     * takes effect only with more than one segment and at most 16 MiB of literal bytes.
     */
    literalLayout?: 'shared' | 'per-segment';
  } = {},
): Promise<Uint8Array> {
  for (const [b, what] of [
    [oldBuf, 'old'],
    [newBuf, 'new'],
  ] as const) {
    if (b.length > MAX_DIFF_INPUT_BYTES) {
      throw new PatchError({
        code: 'FILE_TOO_LARGE',
        message: `${what} buffer has ${b.length} bytes; diff handles up to ${MAX_DIFF_INPUT_BYTES} bytes (2 GiB - 1)`,
      });
    }
  }
  planDiffMemory(oldBuf.length, newBuf.length);
  const covers = findCovers(oldBuf, newBuf, opts.signal ? { signal: opts.signal } : {});
  const parts = await encodeNativePatch(oldBuf, newBuf, covers, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.segments !== undefined ? { segments: { count: opts.segments } } : {}),
    ...(opts.literalLayout ? { literalLayout: opts.literalLayout } : {}),
  });
  return Buffer.concat(parts);
}
