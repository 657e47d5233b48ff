// Worker thread of a native apply: rebuilds the segments it is given into the output file and reports back.
import { parentPort, workerData } from 'node:worker_threads';
import type { SegmentLayout } from '../../format/native.js';
import { descriptorFile } from '../native/io.js';
import { decodeSegments, SegmentDecoder } from '../native/segment.js';
import { DecodeProgress, failureReport, StopRequested, type WorkerReport } from './shared-state.js';

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
  /** No segment left to claim; the worker is about to end. */
  | { type: 'finished' }
  | WorkerReport;

const port = parentPort;
if (!port) throw new Error('segment-worker.js runs only as a worker thread of @tufup/patch apply');
const job = workerData as SegmentWorkerData;
const state = new DecodeProgress(job.segments.length, job.shared);

async function run(): Promise<void> {
  // Blocking I/O: this thread has nothing else to do while a read or write runs.
  await decodeSegments({
    decoder: new SegmentDecoder(descriptorFile(job.oldFd), job.oldSize),
    patch: descriptorFile(job.patchFd),
    out: descriptorFile(job.outFd),
    oldSize: job.oldSize,
    next: () => job.segments[state.claim()],
    onWritten: (segment, bytes) => state.markWritten(segment, bytes),
    stopIfNeeded: () => {
      if (state.stopped()) throw new StopRequested();
    },
    onProgress: (segment, done) =>
      port?.postMessage({ type: 'progress', segment, done } satisfies SegmentWorkerMessage),
  });
}

try {
  await run();
  port.postMessage({ type: 'finished' } satisfies SegmentWorkerMessage);
} catch (err) {
  port.postMessage(failureReport(err, 'apply worker'));
}
