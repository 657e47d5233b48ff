// Rebuilding the new file on the calling thread alone: the old file's hash first, then every segment in
// order, hashing each piece as it is written. apply/threads/ does the same work on several threads.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { type OnProgress, sameDigest } from '@tufup/common';
import { PatchError } from '../../errors.js';
import type { NativeHeader, SegmentLayout } from '../../format/native.js';
import { descriptorFile, handleFile } from './io.js';
import { hashOldFile } from './old-check.js';
import type { OutputFile } from './output.js';
import { decodeSegments, SegmentDecoder, type SharedLiterals } from './segment.js';

/** What a rebuild, on one thread or several, works with. */
export interface RebuildJob {
  old: FileHandle;
  patch: FileHandle;
  h: NativeHeader;
  layout: SegmentLayout[];
  out: OutputFile;
  progress: OnProgress | undefined;
  signal: AbortSignal | undefined;
  /** Hash the old file and compare it with the header (false: the caller has verified it). */
  verifyOld: boolean;
  /** The inflated shared literal region, when the patch has one. */
  literals?: SharedLiterals | undefined;
}

/**
 * The whole file's progress from each decoding thread's progress in its segment: tells the output file
 * (which flushes as it grows) and the caller.
 */
export function segmentProgress(job: RebuildJob): (segment: number, done: number) => void {
  const doneBySegment = new Float64Array(job.layout.length);
  return (segment, done) => {
    doneBySegment[segment] = done;
    let total = 0;
    for (const d of doneBySegment) total += d;
    job.out.written(total);
    job.progress?.({ phase: 'apply', done: total, total: job.h.newSize, unit: 'bytes' });
  };
}

/** The rebuilt file's sha256 against the header's. */
export function checkNewDigest(sha256: string, h: NativeHeader): void {
  if (!sameDigest(sha256, h.newSha256)) {
    throw new PatchError({
      code: 'OUTPUT_MISMATCH',
      message: `rebuilt file sha256 ${sha256}; the patch declares ${h.newSha256}`,
    });
  }
}

/** Rebuilds the new file into the temp file on this thread and checks it; resolves to its sha256. */
export async function rebuildOnThisThread(job: RebuildJob): Promise<string> {
  const { h, signal } = job;
  if (job.verifyOld) await hashOldFile(job.old, h, signal, job.progress);
  const hash = createHash('sha256');
  let next = 0;
  try {
    // Blocking reads of the old file: a page-cache copy of a window costs less than a hand-off to the I/O pool.
    await decodeSegments({
      decoder: new SegmentDecoder(descriptorFile(job.old.fd), h.oldSize),
      patch: handleFile(job.patch),
      out: handleFile(job.out.fh),
      oldSize: h.oldSize,
      next: () => job.layout[next++],
      hash,
      stopIfNeeded: () => signal?.throwIfAborted(),
      onProgress: segmentProgress(job),
      literals: job.literals,
    });
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  }
  const sha256 = hash.digest('hex');
  checkNewDigest(sha256, h);
  return sha256;
}
