// Worker thread of a native apply: rebuilds the segments it is given into the output file and reports back.
import { type FileHandle, open } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { PatchError } from '../errors.js';
import type { SegmentLayout } from './native-format.js';
import { decodeSegment, OldFile, SegmentWriter } from './segment.js';

/** What the main thread hands a worker (structured-cloned; `stop` is shared). */
export interface SegmentWorkerData {
  oldPath: string;
  patchPath: string;
  /** The output's temp file, created by the main thread; this worker writes only its segments' ranges. */
  outPath: string;
  oldSize: number;
  /** Every segment of the patch; a worker decodes those it claims. */
  segments: SegmentLayout[];
  /**
   * Two Int32s: [0] non-zero once the main thread wants every worker to stop (abort or a failure
   * elsewhere); [1] the next segment to claim, shared by all decoding threads.
   */
  shared: SharedArrayBuffer;
}

export type SegmentWorkerMessage =
  | { type: 'progress'; segment: number; done: number }
  | { type: 'done'; segment: number }
  /** No segment left to claim; the worker is about to end. */
  | { type: 'finished' }
  | { type: 'stopped' }
  | { type: 'error'; code: string; message: string; errno?: string };

class StopRequested extends Error {}

const port = parentPort;
if (!port) throw new Error('segment-worker.js runs only as a worker thread of @tufup/patch apply');
const job = workerData as SegmentWorkerData;
const shared = new Int32Array(job.shared);

async function run(): Promise<void> {
  const files: FileHandle[] = [];
  try {
    const old = await open(job.oldPath, 'r');
    files.push(old);
    const patch = await open(job.patchPath, 'r');
    files.push(patch);
    const out = await open(job.outPath, 'r+');
    files.push(out);
    const oldFile = new OldFile(old, job.oldSize);
    const buffers = SegmentWriter.buffers();
    for (;;) {
      if (Atomics.load(shared, 0) !== 0) throw new StopRequested();
      const index = Atomics.add(shared, 1, 1);
      const segment = job.segments[index];
      if (!segment) break;
      await decodeSegment({
        old: oldFile,
        patch,
        oldSize: job.oldSize,
        segment,
        writer: new SegmentWriter(out, segment.newStart, buffers),
        checkpoint: (done) => {
          if (Atomics.load(shared, 0) !== 0) throw new StopRequested();
          port?.postMessage({
            type: 'progress',
            segment: segment.index,
            done,
          } satisfies SegmentWorkerMessage);
        },
      });
      port?.postMessage({ type: 'done', segment: segment.index } satisfies SegmentWorkerMessage);
    }
  } finally {
    // Every write has settled (decodeSegment waits for its writer), so closing cannot cut one short.
    await Promise.allSettled(files.map((f) => f.close()));
  }
}

try {
  await run();
  port.postMessage({ type: 'finished' } satisfies SegmentWorkerMessage);
} catch (err) {
  let message: SegmentWorkerMessage;
  if (err instanceof StopRequested) message = { type: 'stopped' };
  else if (err instanceof PatchError) message = { type: 'error', code: err.code, message: err.message };
  else {
    const errno = (err as NodeJS.ErrnoException)?.code;
    message = {
      type: 'error',
      code: 'IO_ERROR',
      message: (err as Error)?.message ?? String(err),
      ...(typeof errno === 'string' ? { errno } : {}),
    };
  }
  port.postMessage(message);
}
