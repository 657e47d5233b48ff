// Rebuilding the new file on several threads, layered over the single-threaded core (apply/native/segment.ts):
// the calling thread and the decode workers each claim the next undecoded segment from a shared counter;
// the first worker also hashes the old file and then the new file in order, as the decoders write it
// (threads/hashing.ts).
import { PatchError } from '../../errors.js';
import { descriptorFile, handleFile } from '../native/io.js';
import { checkOldDigest } from '../native/old-check.js';
import { checkNewDigest, type RebuildJob, segmentProgress } from '../native/rebuild.js';
import { decodeSegments, SegmentDecoder } from '../native/segment.js';
import type { SegmentWorkerData, SegmentWorkerMessage } from './segment-worker.js';
import { DecodeProgress } from './shared-state.js';
import { ApplyWorker } from './worker.js';

/**
 * Rebuilds the new file into the temp file with `decodeWorkers` (at least 1) decode workers beside this
 * thread, and checks it; resolves to its sha256. The old file is accepted before the new one is. When it
 * settles, no worker touches the files any more (on failure: no worker is running any more).
 */
export async function rebuildOnThreads(job: RebuildJob, decodeWorkers: number): Promise<string> {
  const { h, out, layout, progress, signal } = job;
  const state = new DecodeProgress(layout.length);
  const onProgress = segmentProgress(job);
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    state.stop();
  };
  const onAbort = () => state.stopAll();
  signal?.addEventListener('abort', onAbort);
  const stopIfNeeded = () => {
    signal?.throwIfAborted();
    if (failure) throw failure;
  };
  const workers: { exited: Promise<void>; done: Promise<void> }[] = [];
  try {
    // Started inside the try: if starting one throws, those already running are stopped and waited for.
    let oldChecked = !job.verifyOld;
    let resolveHash: (sha256: string) => void = () => {};
    const hashed = new Promise<string>((resolve) => {
      resolveHash = resolve;
    });
    const data: SegmentWorkerData = {
      oldFd: job.old.fd,
      patchFd: job.patch.fd,
      outFd: out.fh.fd,
      oldSize: h.oldSize,
      segments: layout,
      shared: state.buffer,
      literals: job.literals,
    };
    for (let i = 0; i < decodeWorkers; i++) {
      const hasher = i === 0;
      const worker = new ApplyWorker<SegmentWorkerMessage>(
        'segment-worker',
        hasher ? { ...data, hashes: { old: job.verifyOld } } : data,
        fail,
        (m) => {
          if (m.type === 'progress') onProgress(m.segment, m.done);
          else if (m.type === 'old-progress')
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
          }
          return m.type === (hasher ? 'new' : 'finished');
        },
      );
      workers.push(worker);
      if (hasher) worker.exited.then(() => resolveHash(''));
    }
    // Blocking reads of the old file: a page-cache copy of a window costs less than a hand-off to the I/O pool.
    await decodeSegments({
      decoder: new SegmentDecoder(descriptorFile(job.old.fd), h.oldSize),
      patch: handleFile(job.patch),
      out: handleFile(out.fh),
      oldSize: h.oldSize,
      next: () => layout[state.claim()],
      stopIfNeeded,
      onWritten: (segment, bytes) => state.markWritten(segment, bytes),
      onProgress,
      literals: job.literals,
    });
    const sha256 = await hashed;
    await Promise.all(workers.map((w) => w.done));
    stopIfNeeded();
    checkNewDigest(sha256, h);
    return sha256;
  } catch (err) {
    fail(err);
    // No worker may still be reading or writing when the caller closes and removes the temp file.
    await Promise.all(workers.map((w) => w.exited));
    signal?.throwIfAborted();
    throw failure;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
