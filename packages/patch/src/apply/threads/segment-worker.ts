// Worker thread of a native apply: rebuilds the segments it claims into the output file and reports back.
// The first worker also hashes (threads/hashing.ts): the old file before it decodes, the new file between its
// pieces of output and, once no segment is left to claim, to its end.
import { parentPort, workerData } from 'node:worker_threads';
import type { SegmentLayout } from '../../format/native.js';
import { descriptorFile } from '../native/io.js';
import { decodeSegments, SegmentDecoder, type SharedLiterals } from '../native/segment.js';
import { FollowingHasher, hashOldFile } from './hashing.js';
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
  /** The inflated shared literal region (in shared memory), when the patch has one. */
  literals?: SharedLiterals | undefined;
  /** Only for the worker that hashes: whether it hashes the old file too (false: the caller vouched for it). */
  hashes?: { old: boolean };
}

export type SegmentWorkerMessage =
  | { type: 'progress'; segment: number; done: number }
  | { type: 'old-progress'; done: number }
  | { type: 'old'; sha256: string }
  /** No segment left to claim; the worker is about to end (a hashing worker says `new` instead). */
  | { type: 'finished' }
  /** The hashing worker's last report: the new file's sha256. */
  | { type: 'new'; sha256: string }
  | WorkerReport;

const port = parentPort;
if (!port) throw new Error('segment-worker.js runs only as a worker thread of @tufup/patch apply');
const job = workerData as SegmentWorkerData;
const state = new DecodeProgress(job.segments.length, job.shared);
const post = (m: SegmentWorkerMessage) => port?.postMessage(m);

async function run(): Promise<void> {
  let hasher: FollowingHasher | undefined;
  if (job.hashes) {
    if (job.hashes.old) {
      const sha256 = hashOldFile(job.oldFd, job.oldSize, state, (done) =>
        post({ type: 'old-progress', done }),
      );
      post({ type: 'old', sha256 });
    }
    hasher = new FollowingHasher(state, job.outFd, job.segments);
  }
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
    onProgress: (segment, done) => {
      post({ type: 'progress', segment, done });
      hasher?.catchUp();
    },
    literals: job.literals,
  });
  post(hasher ? { type: 'new', sha256: hasher.finish() } : { type: 'finished' });
}

try {
  await run();
} catch (err) {
  post(failureReport(err, 'apply worker'));
}
