// Applies a native-format patch: reads and checks the header, checks the old file, rebuilds the new file's
// segments on this thread (native/rebuild.ts) or on several (threads/rebuild.ts), all in bounded memory.
import { readFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { type OnProgress, sameDigest, throttleProgress } from '@tufup/common';
import { PatchError } from '../../errors.js';
import { MAX_HEADER_BYTES } from '../../format/native.js';
import { rebuildOnThreads } from '../threads/rebuild.js';
import { decodeHeader, segmentLayout } from './header.js';
import { inflateSharedLiterals } from './segment.js';
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
   * Threads a native apply decodes on (default: see `applyThreads`). With 2 or more, the calling thread and
   * worker threads decode segments side by side, and the first worker also hashes the old and the new file
   * (a patch of one segment still gets that worker, for the hashing). 1 keeps all work on the calling thread.
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
 * Threads used by default at most: the calling thread and one worker. Each further decoding thread costs
 * about 22 MB (its kernel's buffers and a V8 isolate), which would take apply past 64 MB over Node's
 * baseline; callers may still ask for more.
 */
const DEFAULT_MAX_THREADS = 2;
/** Below this new-file size (and unless `threads` is given) a worker's start-up costs more than it saves. */
const WORKER_MIN_BYTES = 16 << 20;

/**
 * The threads an apply uses when the caller does not say: one for a small file; else the calling thread and
 * one worker (at most DEFAULT_MAX_THREADS, at most the cores), unless every core is busy. Measured on
 * @next/swc (100 MB, 2 cores): with the other core idle, two threads took 0.43-0.49 s against 0.67-0.73 s on
 * one; with a busy loop on the other core, both took 0.72-0.80 s (two threads 0.15 s more CPU).
 *
 * Busy means both signals say so: the 1-minute load average `load1`, and `runnable`, the threads runnable
 * right now with the caller's own (runnableThreads(); undefined where unknown). The average lags a minute
 * behind: a process that has just ended still counts, like the diffs bench/patch runs just before each
 * apply, which made @next/swc apply on one thread (0.78 s instead of about 0.5). The count alone is a
 * snapshot of bursts, so it only overrules the average, never raises it.
 */
export function applyThreads(newSize: number, cores: number, load1: number, runnable?: number): number {
  if (newSize < WORKER_MIN_BYTES) return 1;
  // An unknown load counts as every core busy. (Windows reports 0: all free.)
  const averageSaysBusy = !Number.isFinite(load1) || load1 >= cores;
  const busyNow = runnable === undefined || runnable - 1 >= cores;
  return averageSaysBusy && busyNow ? 1 : Math.max(1, Math.min(DEFAULT_MAX_THREADS, cores));
}

/**
 * Threads runnable at this moment, the caller's included: the first number of /proc/loadavg's fourth
 * field ("running/total"), on Linux. Undefined where there is no such file or it reads otherwise.
 */
export function runnableThreads(): number | undefined {
  try {
    const field = readFileSync('/proc/loadavg', 'latin1').split(' ')[3] ?? '';
    const running = Number(field.split('/')[0]);
    return Number.isInteger(running) && running >= 1 ? running : undefined;
  } catch {
    return undefined;
  }
}

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
    const threads =
      opts.threads ?? applyThreads(h.newSize, availableParallelism(), loadavg()[0] ?? 0, runnableThreads());
    const layout = segmentLayout(h);
    // One worker at least (it hashes), and no more than there are segments for the others to decode.
    const workers = Math.min(threads - 1, Math.max(1, layout.length - 1));
    // The shared literal region is inflated whole before any segment is decoded (at most 16 MiB).
    const literals =
      h.sharedLiteralBytes > 0
        ? await inflateSharedLiterals(handleFile(patch), h, threads >= 2, opts.signal)
        : undefined;
    const out = await OutputFile.create(newPath, opts.durable !== false);
    let result: ApplyResult;
    try {
      const job: RebuildJob = {
        old,
        patch,
        h,
        layout,
        out,
        progress,
        signal: opts.signal,
        verifyOld: !opts.oldVerified,
        literals,
      };
      const sha256 = threads >= 2 ? await rebuildOnThreads(job, workers) : await rebuildOnThisThread(job);
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
