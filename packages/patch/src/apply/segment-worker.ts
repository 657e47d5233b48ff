// Worker thread of a native apply: rebuilds the segments it is given into the output file and reports back.
import { parentPort, workerData } from 'node:worker_threads';
import { PatchError } from '../errors.js';
import type { SegmentLayout } from './native-format.js';
import { decodeSegment, descriptorFile, SegmentDecoder, SegmentWriter } from './segment.js';
import { DecodeProgress } from './shared-state.js';

/** What the main thread hands a worker (structured-cloned; `shared` is shared). */
export interface SegmentWorkerData {
  /**
   * Descriptors the calling thread holds open for the whole apply (the worker reads and writes through
   * them and never closes them): the old file, the patch, and the output's temp file, of which this worker
   * writes only its segments' ranges.
   */
  oldFd: number;
  patchFd: number;
  outFd: number;
  oldSize: number;
  /** Every segment of the patch; a worker decodes those it claims. */
  segments: SegmentLayout[];
  /** The threads' shared state (DecodeProgress): stop flag, next segment to claim, bytes written. */
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
const state = new DecodeProgress(job.segments.length, job.shared);

async function run(): Promise<void> {
  // Blocking I/O: this thread has nothing else to do while a read or write runs.
  const patch = descriptorFile(job.patchFd);
  const out = descriptorFile(job.outFd);
  const decoder = new SegmentDecoder(descriptorFile(job.oldFd), job.oldSize);
  for (;;) {
    if (state.stopped()) throw new StopRequested();
    const segment = job.segments[state.claim()];
    if (!segment) break;
    // Every write has settled when decodeSegment returns or throws, so the caller may close the files.
    await decodeSegment({
      decoder,
      patch,
      oldSize: job.oldSize,
      segment,
      writer: new SegmentWriter(out, segment.newStart, decoder.outputs, {
        onWritten: (bytes) => state.markWritten(segment.index, bytes),
      }),
      checkpoint: (done) => {
        if (state.stopped()) throw new StopRequested();
        port?.postMessage({
          type: 'progress',
          segment: segment.index,
          done,
        } satisfies SegmentWorkerMessage);
      },
    });
    port?.postMessage({ type: 'done', segment: segment.index } satisfies SegmentWorkerMessage);
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
