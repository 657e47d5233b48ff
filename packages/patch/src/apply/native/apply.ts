// Applies a native-format patch: checks the old file, rebuilds the new file's segments (several at once when
// the patch has several), checks the result, all in bounded memory.
import { createHash, type Hash } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  fsyncDir,
  hashOpenFile,
  type OnProgress,
  sameDigest,
  siblingTempPath,
  throttleProgress,
} from '@tufup/common';
import { PatchError, type PatchErrorCode } from '../../errors.js';
import { MAX_HEADER_BYTES, type NativeHeader } from '../../format/native.js';
import type { HashWorkerData, HashWorkerMessage } from '../threads/hash-worker.js';
import type { SegmentWorkerData, SegmentWorkerMessage } from '../threads/segment-worker.js';
import { DecodeProgress, type WorkerReport } from '../threads/shared-state.js';
import { decodeHeader, segmentLayout } from './header.js';
import { decodeClaimed, descriptorFile, handleFile, readFully, SegmentDecoder } from './segment.js';

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
/** Dirty output is flushed in the background after each this many new bytes. */
const FLUSH_EVERY = 32 << 20;

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
      result = await rebuild({
        old,
        patch,
        h,
        out,
        opts,
        progress,
        verifyOld: !opts.oldVerified,
      });
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

/** The old file's size, and the caller's vouched-for hash when given: both checked before anything else. */
async function checkOldSize(
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

async function hashOldFile(
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
    // A system error is the disk's; anything else means the file changed under us (it shrank).
    const system = typeof (err as NodeJS.ErrnoException)?.code === 'string';
    throw new PatchError({
      code: system ? 'IO_ERROR' : 'BASE_MISMATCH',
      message: `cannot hash the old file: ${(err as Error).message}`,
      cause: err,
    });
  }
  checkOldDigest(digest, h);
}

function checkOldDigest(digest: string, h: NativeHeader): void {
  if (!sameDigest(digest, h.oldSha256)) {
    throw new PatchError({
      code: 'BASE_MISMATCH',
      message: `old file sha256 ${digest}; the patch was made from ${h.oldSha256}`,
    });
  }
}

/** The new file, written to a sibling temp path (by every decoding thread) and renamed into place when complete. */
class OutputFile {
  readonly #path: string;
  readonly tmp: string;
  readonly fh: FileHandle;
  readonly #durable: boolean;
  #flushing: Promise<void> | undefined;
  #flushedUpTo = 0;

  private constructor(path: string, tmp: string, fh: FileHandle, durable: boolean) {
    this.#path = path;
    this.tmp = tmp;
    this.fh = fh;
    this.#durable = durable;
  }

  static async create(path: string, durable: boolean): Promise<OutputFile> {
    const tmp = siblingTempPath(path);
    try {
      return new OutputFile(path, tmp, await open(tmp, 'wx+', 0o644), durable);
    } catch (err) {
      throw new PatchError({ code: 'IO_ERROR', message: `cannot create ${tmp}`, cause: err });
    }
  }

  /**
   * Told how many bytes are written so far: every FLUSH_EVERY bytes it starts writing dirty pages out in
   * the background, so the sync before the rename has little left to wait for.
   */
  written(bytes: number): void {
    if (!this.#durable || this.#flushing || bytes - this.#flushedUpTo < FLUSH_EVERY) return;
    this.#flushedUpTo = bytes;
    this.#flushing = this.fh
      .datasync()
      .catch(() => {})
      .finally(() => {
        this.#flushing = undefined;
      });
  }

  async commit(): Promise<void> {
    await this.#flushing;
    if (this.#durable) await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.#path);
    if (this.#durable) await fsyncDir(dirname(this.#path));
  }

  async discard(): Promise<void> {
    await this.#flushing;
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}

interface RebuildJob {
  old: FileHandle;
  patch: FileHandle;
  h: NativeHeader;
  out: OutputFile;
  opts: ApplyOptions;
  progress: OnProgress | undefined;
  /** Hash the old file and compare it with the header (false: the caller has verified it). */
  verifyOld: boolean;
}

/**
 * Rebuilds the new file into the temp file and checks it. With one thread (or a small file), this thread
 * hashes the old file, then decodes the segments in order, hashing each piece as it writes it. With more, a
 * hash worker hashes the old file and then the new file in order, piece by piece as the decoders report
 * pieces written; this thread decodes, and with more than two threads, decode workers decode segments
 * too, each claiming the next undecoded segment from a shared counter. Either way the whole new file is
 * checked against the declared sha256, and the old file before the new one is accepted.
 */
async function rebuild(job: RebuildJob): Promise<ApplyResult> {
  const { h, out, opts, progress } = job;
  const layout = segmentLayout(h);
  const maxThreads = opts.threads ?? Math.min(availableParallelism(), DEFAULT_MAX_THREADS);
  // A worker's start-up outweighs what it saves on a small file, unless the caller asked for threads.
  const hashAside = maxThreads >= 2 && (opts.threads !== undefined || h.newSize >= HASH_ASIDE_MIN_BYTES);
  const decodeWorkers = hashAside ? Math.min(maxThreads - 2, layout.length - 1) : 0;
  const state = new DecodeProgress(layout.length);
  const doneBySegment = new Float64Array(layout.length);
  /** A decoding thread's progress in one segment: the whole file's progress goes to the caller. */
  const segmentProgress = (segment: number, done: number) => {
    doneBySegment[segment] = done;
    let total = 0;
    for (const d of doneBySegment) total += d;
    out.written(total);
    progress?.({ phase: 'apply', done: total, total: h.newSize, unit: 'bytes' });
  };
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    state.stop();
  };
  const onAbort = () => state.stopAll();
  opts.signal?.addEventListener('abort', onAbort);
  const stopIfNeeded = () => {
    opts.signal?.throwIfAborted();
    if (failure) throw failure;
  };
  const workers: { exited: Promise<void> }[] = [];
  try {
    // Started inside the try: if starting one throws, those already running are stopped and waited for.
    let hashed: Promise<string> | undefined;
    if (hashAside) {
      let oldChecked = !job.verifyOld;
      let resolveHash: (sha256: string) => void = () => {};
      hashed = new Promise((resolve) => {
        resolveHash = resolve;
      });
      const data: HashWorkerData = {
        oldFd: job.verifyOld ? job.old.fd : undefined,
        oldSize: h.oldSize,
        outFd: out.fh.fd,
        segments: layout.map((s) => ({ newStart: s.newStart, newLength: s.newLength })),
        shared: state.buffer,
      };
      const hasher = new ApplyWorker<HashWorkerMessage>('hash-worker', data, fail, (m) => {
        if (m.type === 'old-progress')
          progress?.({ phase: 'verify-old', done: m.done, total: h.oldSize, unit: 'bytes' });
        else if (m.type === 'old') {
          try {
            checkOldDigest(m.sha256, h);
            oldChecked = true;
          } catch (err) {
            // A wrong base is the cause of whatever a decoder reported meanwhile (its contexts went astray).
            failure = err;
            state.stopAll();
          }
        } else if (m.type === 'new') {
          if (oldChecked) resolveHash(m.sha256);
          else fail(new PatchError({ code: 'IO_ERROR', message: 'apply: the old file was not checked' }));
          return true;
        }
        return false;
      });
      workers.push(hasher);
      hasher.exited.then(() => resolveHash(''));
    }
    const data: SegmentWorkerData = {
      oldFd: job.old.fd,
      patchFd: job.patch.fd,
      outFd: out.fh.fd,
      oldSize: h.oldSize,
      segments: layout,
      shared: state.buffer,
    };
    for (let i = 0; i < decodeWorkers; i++) {
      workers.push(
        new ApplyWorker<SegmentWorkerMessage>('segment-worker', data, fail, (m) => {
          if (m.type === 'progress') segmentProgress(m.segment, m.done);
          return m.type === 'finished';
        }),
      );
    }
    if (!hashAside && job.verifyOld) await hashOldFile(job.old, h, opts.signal, progress);
    // Without a hash worker this thread decodes every segment in order, so it can hash as it writes.
    const hash = hashAside ? undefined : createHash('sha256');
    // Blocking reads of the old file: a page-cache copy of a window costs less than a hand-off to the I/O pool.
    await decodeClaimed({
      decoder: new SegmentDecoder(descriptorFile(job.old.fd), h.oldSize),
      patch: handleFile(job.patch),
      out: handleFile(out.fh),
      oldSize: h.oldSize,
      segments: layout,
      state,
      ...(hash ? { hash } : {}),
      stopIfNeeded,
      onProgress: segmentProgress,
    });
    const sha256 = hashed ? await hashed : (hash as Hash).digest('hex');
    await Promise.all(workers.map((w) => w.exited));
    stopIfNeeded();
    if (!sameDigest(sha256, h.newSha256)) {
      throw new PatchError({
        code: 'OUTPUT_MISMATCH',
        message: `rebuilt file sha256 ${sha256}; the patch declares ${h.newSha256}`,
      });
    }
    return { size: h.newSize, sha256 };
  } catch (err) {
    fail(err);
    // No worker may still be reading or writing when the caller closes and removes the temp file.
    await Promise.all(workers.map((w) => w.exited));
    opts.signal?.throwIfAborted();
    throw failure;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * One worker thread of an apply. Its reports go to `onMessage`, which returns true for the report that
 * means the worker is done; a failure (its error, a stop it reports, an exit before that report, or what
 * `onMessage` throws) goes to `onFailure` at most once.
 */
class ApplyWorker<M extends { type: string }> {
  /** Settles (never rejects) once the thread has ended: after that it holds no file open. */
  readonly exited: Promise<void>;

  constructor(
    entry: 'segment-worker' | 'hash-worker',
    data: unknown,
    onFailure: (err: unknown) => void,
    onMessage: (m: M) => boolean,
  ) {
    let ended = false;
    let failed = false;
    const failure = (err: unknown) => {
      if (failed) return;
      failed = true;
      onFailure(err);
    };
    const worker = startWorker(entry, data);
    worker.on('message', (m: M | WorkerReport) => {
      if (m.type === 'error') {
        const r = m as WorkerReport & { type: 'error' };
        const cause = r.errno ? Object.assign(new Error(r.message), { code: r.errno }) : undefined;
        failure(
          new PatchError({ code: r.code as PatchErrorCode, message: r.message, ...(cause ? { cause } : {}) }),
        );
      } else if (m.type === 'stopped') {
        failure(new PatchError({ code: 'IO_ERROR', message: 'apply stopped' }));
      } else {
        // onMessage calls the caller's onProgress: what it throws fails the apply, as on one thread.
        try {
          if (onMessage(m as M)) ended = true;
        } catch (err) {
          failure(err);
        }
      }
    });
    worker.on('error', (err) =>
      failure(
        new PatchError({ code: 'IO_ERROR', message: `apply worker failed: ${err.message}`, cause: err }),
      ),
    );
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        // Work it took on would otherwise never be done.
        if (!ended) failure(new PatchError({ code: 'IO_ERROR', message: 'apply worker ended unexpectedly' }));
        resolve();
      });
    });
  }
}

function startWorker(entry: string, data: unknown): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from the TypeScript sources (the tests, under tsx): the worker registers tsx's loader first.
    const tsx = import.meta.resolve('tsx/esm/api');
    const url = new URL(`../threads/${entry}.ts`, here).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`;
    return new Worker(code, { eval: true, workerData: data });
  }
  // A worker inherits the process's Node options; --input-type (an app started with `node -e` or stdin)
  // applies only to that string input and makes loading the worker's file fail.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  return new Worker(new URL(`../threads/${entry}.js`, here), { workerData: data, execArgv });
}
