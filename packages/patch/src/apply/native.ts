// Applies a native-format patch: checks the old file, rebuilds the new file's segments (several at once when
// the patch has several), checks the result, all in bounded memory.
import { createHash } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fsyncDir, type OnProgress, sameDigest, siblingTempPath, throttleProgress } from '@tufup/common';
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
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

export interface ApplyResult {
  size: number;
  sha256: string;
}

const DEFAULT_MAX_THREADS = 8;

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
    await checkOldFile(old, h, opts.oldVerified, opts.signal, progress);
    const out = await OutputFile.create(newPath);
    let result: ApplyResult;
    try {
      result = await rebuild({ oldPath, old, patchPath, patch, h, out, opts, progress });
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

async function checkOldFile(
  old: FileHandle,
  h: NativeHeader,
  verified: { size: number; sha256: string } | undefined,
  signal: AbortSignal | undefined,
  progress: OnProgress | undefined,
): Promise<void> {
  const size = (await old.stat()).size;
  if (size !== h.oldSize) {
    throw new PatchError({
      code: 'BASE_MISMATCH',
      message: `old file has ${size} bytes; the patch was made from one of ${h.oldSize} bytes`,
    });
  }
  if (verified) {
    if (verified.size !== size || !sameDigest(verified.sha256, h.oldSha256)) {
      throw new PatchError({
        code: 'BASE_MISMATCH',
        message: `old file is ${verified.size} bytes, sha256 ${verified.sha256}; the patch was made from ${h.oldSize} bytes, sha256 ${h.oldSha256}`,
      });
    }
    return;
  }
  const hash = createHash('sha256');
  // Two buffers: the next piece is read while the current one is hashed.
  const bufs = [new Uint8Array(Math.min(PIECE, size)), new Uint8Array(Math.min(PIECE, size))];
  const readPiece = (pos: number, buf: Uint8Array) => {
    const n = Math.min(buf.length, size - pos);
    return readAt(old, buf, 0, n, pos).then(() => n);
  };
  let pending = size > 0 ? readPiece(0, bufs[0] as Uint8Array) : undefined;
  for (let pos = 0, k = 0; pending; k ^= 1) {
    signal?.throwIfAborted();
    const n = await pending;
    const next = pos + n;
    pending = next < size ? readPiece(next, bufs[k ^ 1] as Uint8Array) : undefined;
    pending?.catch(() => {});
    hash.update((bufs[k] as Uint8Array).subarray(0, n));
    pos = next;
    progress?.({ phase: 'verify-old', done: pos, total: size, unit: 'bytes' });
  }
  const digest = hash.digest('hex');
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

  private constructor(path: string, tmp: string, fh: FileHandle) {
    this.#path = path;
    this.tmp = tmp;
    this.fh = fh;
  }

  static async create(path: string): Promise<OutputFile> {
    const tmp = siblingTempPath(path);
    try {
      return new OutputFile(path, tmp, await open(tmp, 'wx+', 0o644));
    } catch (err) {
      throw new PatchError({ code: 'IO_ERROR', message: `cannot create ${tmp}`, cause: err });
    }
  }

  async commit(): Promise<void> {
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.#path);
    await fsyncDir(dirname(this.#path));
  }

  async discard(): Promise<void> {
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
}

/**
 * Decodes the segments: the first group on this thread (hashing as it writes), each later group on a
 * worker thread writing its own ranges of the temp file. This thread then hashes the workers' ranges back
 * in file order as each segment completes, so the whole file is checked against the declared sha256.
 */
async function rebuild(job: RebuildJob): Promise<ApplyResult> {
  const { h, out, opts, progress } = job;
  const layout = segmentLayout(h);
  const maxThreads = opts.threads ?? Math.min(availableParallelism(), DEFAULT_MAX_THREADS);
  const groups = contiguousGroups(layout, Math.max(1, Math.min(maxThreads, layout.length)));
  const hash = createHash('sha256');
  const doneBySegment = new Float64Array(layout.length);
  const report = () => {
    let done = 0;
    for (const d of doneBySegment) done += d;
    progress?.({ phase: 'apply', done, total: h.newSize, unit: 'bytes' });
  };
  const stop = new Int32Array(new SharedArrayBuffer(4));
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    Atomics.store(stop, 0, 1);
  };
  const onAbort = () => Atomics.store(stop, 0, 1);
  opts.signal?.addEventListener('abort', onAbort);
  const helpers = groups.slice(1).map(
    (segments) =>
      new SegmentWorker(
        {
          oldPath: job.oldPath,
          patchPath: job.patchPath,
          outPath: out.tmp,
          oldSize: h.oldSize,
          segments,
          stop: stop.buffer as SharedArrayBuffer,
        },
        (segment, done) => {
          doneBySegment[segment] = done;
          report();
        },
        fail,
      ),
  );
  try {
    const checkpoint = (segment: number) => (done: number) => {
      opts.signal?.throwIfAborted();
      if (failure) throw failure;
      doneBySegment[segment] = done;
      report();
    };
    const oldFile = new OldFile(job.old, h.oldSize);
    for (const segment of groups[0] ?? []) {
      await decodeSegment({
        old: oldFile,
        patch: job.patch,
        oldSize: h.oldSize,
        segment,
        writer: new SegmentWriter(out.fh, segment.newStart, hash),
        checkpoint: checkpoint(segment.index),
      });
    }
    const buf = new Uint8Array(PIECE);
    for (const helper of helpers) {
      for (const segment of helper.segments) {
        await helper.finished(segment.index);
        for (let pos = segment.newStart, end = segment.newStart + segment.newLength; pos < end; ) {
          opts.signal?.throwIfAborted();
          const n = Math.min(PIECE, end - pos);
          await readAt(out.fh, buf, 0, n, pos);
          hash.update(buf.subarray(0, n));
          pos += n;
        }
      }
    }
    await Promise.all(helpers.map((w) => w.exited));
    if (failure) throw failure;
  } catch (err) {
    fail(err);
    // No worker may still be writing when the caller closes and removes the temp file.
    await Promise.all(helpers.map((w) => w.exited));
    opts.signal?.throwIfAborted();
    throw failure;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const sha256 = hash.digest('hex');
  if (!sameDigest(sha256, h.newSha256)) {
    throw new PatchError({
      code: 'OUTPUT_MISMATCH',
      message: `rebuilt file sha256 ${sha256}; the patch declares ${h.newSha256}`,
    });
  }
  return { size: h.newSize, sha256 };
}

/** `count` runs of consecutive segments, as equal in number as they can be (the writer balances their cost). */
function contiguousGroups(layout: SegmentLayout[], count: number): SegmentLayout[][] {
  const groups: SegmentLayout[][] = [];
  for (let g = 0; g < count; g++) {
    groups.push(
      layout.slice(Math.floor((g * layout.length) / count), Math.floor(((g + 1) * layout.length) / count)),
    );
  }
  return groups;
}

/** One worker thread decoding a run of segments; its failures are reported once, through `onFailure`. */
class SegmentWorker {
  readonly segments: SegmentLayout[];
  /** Settles (never rejects) once the thread has ended: after that it holds no file open. */
  readonly exited: Promise<void>;
  readonly #waiting = new Map<number, { resolve: () => void; reject: (err: unknown) => void }>();
  readonly #finished = new Set<number>();
  #error: unknown;

  constructor(
    data: SegmentWorkerData,
    onProgress: (segment: number, done: number) => void,
    onFailure: (err: unknown) => void,
  ) {
    this.segments = data.segments;
    const failed = (err: unknown) => {
      this.#error ??= err;
      onFailure(err);
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
    };
    const worker = startWorker(data);
    worker.on('message', (m: SegmentWorkerMessage) => {
      if (m.type === 'progress') onProgress(m.segment, m.done);
      else if (m.type === 'done') {
        this.#finished.add(m.segment);
        this.#waiting.get(m.segment)?.resolve();
        this.#waiting.delete(m.segment);
      } else if (m.type === 'error') {
        const cause = m.errno ? Object.assign(new Error(m.message), { code: m.errno }) : undefined;
        failed(
          new PatchError({ code: m.code as PatchErrorCode, message: m.message, ...(cause ? { cause } : {}) }),
        );
      } else failed(new PatchError({ code: 'IO_ERROR', message: 'apply stopped' }));
    });
    worker.on('error', (err) =>
      failed(
        new PatchError({ code: 'IO_ERROR', message: `apply worker failed: ${err.message}`, cause: err }),
      ),
    );
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        if (this.#finished.size < this.segments.length) {
          failed(
            new PatchError({ code: 'IO_ERROR', message: 'apply worker ended before its segments were done' }),
          );
        }
        resolve();
      });
    });
  }

  /** Resolves when segment `index` is completely written; rejects with the worker's failure. */
  finished(index: number): Promise<void> {
    if (this.#finished.has(index)) return Promise.resolve();
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiting.set(index, { resolve, reject }));
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
