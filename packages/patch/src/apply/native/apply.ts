// Applies a native-format patch: reads and checks the header, checks the old file, rebuilds the new file's
// segments on this thread (native/rebuild.ts) or on several (threads/rebuild.ts), all in bounded memory.
import { type FileHandle, open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { type OnProgress, sameDigest, throttleProgress } from '@tufup/common';
import { PatchError } from '../../errors.js';
import { MAX_HEADER_BYTES } from '../../format/native.js';
import { rebuildOnThreads } from '../threads/rebuild.js';
import { decodeHeader, segmentLayout } from './header.js';
import { handleFile, readFully } from './io.js';
import { checkOldSize } from './old-check.js';
import { OutputFile } from './output.js';
import { type RebuildJob, rebuildOnThisThread } from './rebuild.js';

export interface ApplyOptions {
  /** The new file's size and sha256 as the caller's signed metadata states them. */
  expect?: { size: number; sha256: string };
  /**
   * The old file's size and sha256, as the caller has just verified them against its own signed metadata
   * (e.g. the client's cached tar, or the previous link of a patch chain). The native format then compares
   * its declared base with these instead of hashing the old file a second time; the size is still checked.
   * BSDIFF40 declares no base, so there it changes nothing.
   */
  oldVerified?: { size: number; sha256: string };
  /**
   * Most threads a native apply uses (default: the machine's available parallelism, at most 3, and only the
   * calling thread for a new file under 16 MiB). With 2 or more, a worker thread hashes the old and the new
   * file while the calling thread decodes, and from 3 on, workers decode further segments side by side.
   * 1 keeps all work on the calling thread.
   */
  threads?: number;
  /**
   * false: skip the fsyncs that make the new file survive a power cut (it still appears only complete and
   * verified). For caches that are verified again before use, like the client's current tar. Default true.
   */
  durable?: boolean;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

export interface ApplyResult {
  size: number;
  sha256: string;
}

/**
 * Threads used by default at most: the calling thread, the hash worker and one decode worker. Each further
 * decoding thread costs about 22 MB (its kernel's buffers and a V8 isolate), which would take apply past
 * 64 MB over Node's baseline; callers may still ask for more.
 */
const DEFAULT_MAX_THREADS = 3;
/** Below this new-file size (and unless `threads` is given) a worker's start-up costs more than it saves. */
const HASH_ASIDE_MIN_BYTES = 16 << 20;

export async function applyNative(
  oldPath: string,
  patchPath: string,
  newPath: string,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw new PatchError({
      code: 'INVALID_ARGUMENT',
      message: `threads must be a positive integer, got ${opts.threads}`,
    });
  }
  const progress = throttleProgress(opts.onProgress);
  const patch = await open(patchPath, 'r');
  let old: FileHandle | undefined;
  try {
    const patchSize = (await patch.stat()).size;
    const headBytes = new Uint8Array(Math.min(MAX_HEADER_BYTES, patchSize));
    await readFully(handleFile(patch), headBytes, 0);
    const h = decodeHeader(headBytes, patchSize);
    if (opts.expect && (opts.expect.size !== h.newSize || !sameDigest(opts.expect.sha256, h.newSha256))) {
      throw new PatchError({
        code: 'OUTPUT_MISMATCH',
        message: `patch builds a file of ${h.newSize} bytes, sha256 ${h.newSha256}; expected ${opts.expect.size} bytes, sha256 ${opts.expect.sha256}`,
      });
    }
    old = await open(oldPath, 'r');
    await checkOldSize(old, h, opts.oldVerified);
    const out = await OutputFile.create(newPath, opts.durable !== false);
    let result: ApplyResult;
    try {
      const job: RebuildJob = {
        old,
        patch,
        h,
        layout: segmentLayout(h),
        out,
        progress,
        signal: opts.signal,
        verifyOld: !opts.oldVerified,
      };
      const maxThreads = opts.threads ?? Math.min(availableParallelism(), DEFAULT_MAX_THREADS);
      // A worker's start-up outweighs what it saves on a small file, unless the caller asked for threads.
      const threaded = maxThreads >= 2 && (opts.threads !== undefined || h.newSize >= HASH_ASIDE_MIN_BYTES);
      const sha256 = threaded
        ? await rebuildOnThreads(job, Math.min(maxThreads - 2, job.layout.length - 1))
        : await rebuildOnThisThread(job);
      result = { size: h.newSize, sha256 };
      await out.commit();
    } catch (err) {
      await out.discard();
      throw err;
    }
    return result;
  } finally {
    await old?.close();
    await patch.close();
  }
}
