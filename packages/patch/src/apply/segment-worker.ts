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
  segments: SegmentLayout[];
  /** Int32 flag: non-zero once the main thread wants every worker to stop (abort or a failure elsewhere). */
  stop: SharedArrayBuffer;
}

export type SegmentWorkerMessage =
  | { type: 'progress'; segment: number; done: number }
  | { type: 'done'; segment: number }
  | { type: 'stopped' }
  | { type: 'error'; code: string; message: string; errno?: string };

class StopRequested extends Error {}

const port = parentPort;
if (!port) throw new Error('segment-worker.js runs only as a worker thread of @tufup/patch apply');
const job = workerData as SegmentWorkerData;
const stop = new Int32Array(job.stop);

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
    for (const segment of job.segments) {
      if (Atomics.load(stop, 0) !== 0) throw new StopRequested();
      await decodeSegment({
        old: oldFile,
        patch,
        oldSize: job.oldSize,
        segment,
        writer: new SegmentWriter(out, segment.newStart),
        checkpoint: (done) => {
          if (Atomics.load(stop, 0) !== 0) throw new StopRequested();
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
