// Applies a native-format patch: checks the old file, rebuilds the new file's segments (several at once when
// the patch has several), checks the result, all in bounded memory.
import { createHash } from 'node:crypto';
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
import { PatchError, type PatchErrorCode } from '../errors.js';
import {
  decodeHeader,
  MAX_HEADER_BYTES,
  type NativeHeader,
  type SegmentLayout,
  segmentLayout,
} from './native-format.js';
import { decodeSegment, OldFile, PIECE, readAt, readFully, SegmentWriter } from './segment.js';
import type { SegmentWorkerData, SegmentWorkerMessage } from './segment-worker.js';

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
   * Most threads a native apply decodes on (default: the machine's available parallelism, at most 8).
   * A patch made of several segments decodes them side by side; 1 keeps all work on the calling thread.
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

const DEFAULT_MAX_THREADS = 8;
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
    await readFully(patch, headBytes, 0);
    const h = decodeHeader(headBytes, patchSize);
    if (opts.expect && (opts.expect.size !== h.newSize || !sameDigest(opts.expect.sha256, h.newSha256))) {
      throw new PatchError({
        code: 'OUTPUT_MISMATCH',
        message: `patch builds a file of ${h.newSize} bytes, sha256 ${h.newSha256}; expected ${opts.expect.size} bytes, sha256 ${opts.expect.sha256}`,
      });
    }
    old = await open(oldPath, 'r');
    await checkOldSize(old, h, opts.oldVerified);
    const oldHandle = old;
    const out = await OutputFile.create(newPath, opts.durable !== false);
    let result: ApplyResult;
    try {
      result = await rebuild({
        oldPath,
        old,
        patchPath,
        patch,
        h,
        out,
        opts,
        progress,
        // Hashed while the workers (if any) already decode: a wrong base still fails before anything
        // is visible, and the workers' start-up is not waited for twice.
        checkOld: opts.oldVerified ? undefined : () => hashOldFile(oldHandle, h, opts.signal, progress),
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
  try {
    digest = (
      await hashOpenFile(old, {
        ...(signal ? { signal } : {}),
        onBytes: (done) => progress?.({ phase: 'verify-old', done, total: h.oldSize, unit: 'bytes' }),
      })
    ).sha256;
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err;
    // A system error is the disk's; anything else means the file changed under us (it shrank).
    const system = typeof (err as NodeJS.ErrnoException)?.code === 'string';
    throw new PatchError({
      code: system ? 'IO_ERROR' : 'BASE_MISMATCH',
      message: `cannot hash the old file: ${(err as Error).message}`,
      cause: err,
    });
  }
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
  oldPath: string;
  old: FileHandle;
  patchPath: string;
  patch: FileHandle;
  h: NativeHeader;
  out: OutputFile;
  opts: ApplyOptions;
  progress: OnProgress | undefined;
  /** Checks the old file's hash; runs on this thread while the workers start and decode. */
  checkOld: (() => Promise<void>) | undefined;
}

/**
 * Decodes the segments on this thread and up to `threads - 1` workers. Each thread claims the next
 * undecoded segment from a shared counter, so faster threads take more. This thread also hashes the new
 * file in order: a segment it decodes at the hashing frontier is hashed as it is written, any other is read
 * back once every segment before it is done. The whole file is checked against the declared sha256.
 */
async function rebuild(job: RebuildJob): Promise<ApplyResult> {
  const { h, out, opts, progress } = job;
  const layout = segmentLayout(h);
  const maxThreads = opts.threads ?? Math.min(availableParallelism(), DEFAULT_MAX_THREADS);
  const threads = Math.max(1, Math.min(maxThreads, layout.length));
  // [0]: non-zero once every thread must stop; [1]: the next segment to claim.
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const doneBySegment = new Float64Array(layout.length);
  const complete = new Uint8Array(layout.length);
  const report = () => {
    let done = 0;
    for (const d of doneBySegment) done += d;
    out.written(done);
    progress?.({ phase: 'apply', done, total: h.newSize, unit: 'bytes' });
  };
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (err: unknown) => {
    failure ??= err;
    Atomics.store(shared, 0, 1);
    notify();
  };
  const onAbort = () => {
    Atomics.store(shared, 0, 1);
    notify();
  };
  opts.signal?.addEventListener('abort', onAbort);
  const data: SegmentWorkerData = {
    oldPath: job.oldPath,
    patchPath: job.patchPath,
    outPath: out.tmp,
    oldSize: h.oldSize,
    segments: layout,
    shared: shared.buffer as SharedArrayBuffer,
  };
  const handlers: WorkerHandlers = {
    progress: (segment, done) => {
      doneBySegment[segment] = done;
      report();
    },
    done: (segment) => {
      complete[segment] = 1;
      notify();
    },
    failure: fail,
  };
  const workers: SegmentWorker[] = [];
  const stopIfNeeded = () => {
    opts.signal?.throwIfAborted();
    if (failure) throw failure;
  };
  try {
    // Started inside the try: if starting one throws, those already running are stopped and waited for.
    for (let i = 1; i < threads; i++) workers.push(new SegmentWorker(data, handlers));
    await job.checkOld?.();
    const hash = createHash('sha256');
    const buf = new Uint8Array(PIECE);
    let frontier = 0;
    const hashCompleted = async () => {
      for (; frontier < layout.length && complete[frontier]; frontier++) {
        const segment = layout[frontier] as SegmentLayout;
        for (let pos = segment.newStart, end = segment.newStart + segment.newLength; pos < end; ) {
          stopIfNeeded();
          const n = Math.min(PIECE, end - pos);
          await readAt(out.fh, buf, 0, n, pos);
          hash.update(buf.subarray(0, n));
          pos += n;
        }
      }
    };
    const oldFile = new OldFile(job.old, h.oldSize);
    const buffers = SegmentWriter.buffers();
    for (;;) {
      stopIfNeeded();
      const index = Atomics.add(shared, 1, 1);
      if (index >= layout.length) break;
      const segment = layout[index] as SegmentLayout;
      const inOrder = index === frontier;
      await decodeSegment({
        old: oldFile,
        patch: job.patch,
        oldSize: h.oldSize,
        segment,
        writer: new SegmentWriter(out.fh, segment.newStart, buffers, inOrder ? hash : undefined),
        checkpoint: (done) => {
          stopIfNeeded();
          doneBySegment[index] = done;
          report();
        },
      });
      complete[index] = 1;
      if (inOrder) frontier++;
      await hashCompleted();
    }
    for (;;) {
      await hashCompleted();
      if (frontier === layout.length) break;
      stopIfNeeded();
      // Woken by a worker's message (a segment done, a failure) or by an abort.
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    await Promise.all(workers.map((w) => w.exited));
    stopIfNeeded();
    const sha256 = hash.digest('hex');
    if (!sameDigest(sha256, h.newSha256)) {
      throw new PatchError({
        code: 'OUTPUT_MISMATCH',
        message: `rebuilt file sha256 ${sha256}; the patch declares ${h.newSha256}`,
      });
    }
    return { size: h.newSize, sha256 };
  } catch (err) {
    fail(err);
    // No worker may still be writing when the caller closes and removes the temp file.
    await Promise.all(workers.map((w) => w.exited));
    opts.signal?.throwIfAborted();
    throw failure;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

interface WorkerHandlers {
  progress: (segment: number, done: number) => void;
  done: (segment: number) => void;
  /** Called at most once per worker, with a PatchError (or its report that it stopped when asked). */
  failure: (err: unknown) => void;
}

/** One worker thread claiming and decoding segments until none are left. */
class SegmentWorker {
  /** Settles (never rejects) once the thread has ended: after that it holds no file open. */
  readonly exited: Promise<void>;

  constructor(data: SegmentWorkerData, on: WorkerHandlers) {
    let ended = false;
    let failed = false;
    const failure = (err: PatchError) => {
      if (failed) return;
      failed = true;
      on.failure(err);
    };
    const worker = startWorker(data);
    worker.on('message', (m: SegmentWorkerMessage) => {
      if (m.type === 'progress') on.progress(m.segment, m.done);
      else if (m.type === 'done') on.done(m.segment);
      else if (m.type === 'finished') ended = true;
      else if (m.type === 'error') {
        const cause = m.errno ? Object.assign(new Error(m.message), { code: m.errno }) : undefined;
        failure(
          new PatchError({ code: m.code as PatchErrorCode, message: m.message, ...(cause ? { cause } : {}) }),
        );
      } else failure(new PatchError({ code: 'IO_ERROR', message: 'apply stopped' }));
    });
    worker.on('error', (err) =>
      failure(
        new PatchError({ code: 'IO_ERROR', message: `apply worker failed: ${err.message}`, cause: err }),
      ),
    );
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        // A segment it claimed would otherwise never complete.
        if (!ended) failure(new PatchError({ code: 'IO_ERROR', message: 'apply worker ended unexpectedly' }));
        resolve();
      });
    });
  }
}

function startWorker(data: SegmentWorkerData): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from the TypeScript sources (the tests, under tsx): the worker registers tsx's loader first.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./segment-worker.ts', here).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true, workerData: data });
  }
  return new Worker(new URL('./segment-worker.js', here), { workerData: data });
}
