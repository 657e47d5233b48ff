// Worker thread of a native apply that hashes while the decoders decode: first the old file (unless the caller
// vouched for it), then the new file in order, each piece as soon as a decoder reports it written.
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PatchError } from '../../errors.js';
import { PIECE } from '../native/io.js';
import { DecodeProgress, failureReport, StopRequested, type WorkerReport } from './shared-state.js';

export interface HashWorkerData {
  /**
   * Descriptors the calling thread holds open for the whole apply (a worker reads through them, so it sees
   * the very files the decoders use, and never closes them): the old file, or undefined when the caller
   * has verified it; the output's temp file, written by the decoders.
   */
  oldFd: number | undefined;
  oldSize: number;
  outFd: number;
  /** Start and length of every segment in the new file, in order. */
  segments: { newStart: number; newLength: number }[];
  /** The decoders' shared state (DecodeProgress). */
  shared: SharedArrayBuffer;
}

export type HashWorkerMessage =
  | { type: 'old-progress'; done: number }
  | { type: 'old'; sha256: string }
  | { type: 'new'; sha256: string }
  | WorkerReport;

const port = parentPort;
if (!port) throw new Error('hash-worker.js runs only as a worker thread of @tufup/patch apply');
const job = workerData as HashWorkerData;
const state = new DecodeProgress(job.segments.length, job.shared);
const buf = new Uint8Array(PIECE);

/** n bytes at `position`; a file that ends early is `short` (it changed while being read). */
function readAt(fd: number, n: number, position: number, short: PatchError): Uint8Array {
  for (let done = 0; done < n; ) {
    const got = readSync(fd, buf, done, n - done, position + done);
    if (got === 0) throw short;
    done += got;
  }
  return buf.subarray(0, n);
}

const oldShrank = new PatchError({ code: 'BASE_MISMATCH', message: 'old file shrank while being hashed' });
const newShrank = new PatchError({ code: 'IO_ERROR', message: 'output file shrank while being hashed' });

function hashOld(fd: number): string {
  const hash = createHash('sha256');
  for (let pos = 0; pos < job.oldSize; ) {
    if (state.allStopped()) throw new StopRequested();
    const n = Math.min(PIECE, job.oldSize - pos);
    hash.update(readAt(fd, n, pos, oldShrank));
    pos += n;
    port?.postMessage({ type: 'old-progress', done: pos } satisfies HashWorkerMessage);
  }
  return hash.digest('hex');
}

function hashNew(): string {
  const hash = createHash('sha256');
  job.segments.forEach((segment, index) => {
    for (let done = 0; done < segment.newLength; ) {
      const seen = state.version();
      if (state.stopped()) throw new StopRequested();
      const written = state.written(index);
      if (written <= done) {
        // Nothing new to hash: sleep until a decoder reports a write (or a stop).
        state.waitForChange(seen);
        continue;
      }
      const n = Math.min(PIECE, written - done);
      hash.update(readAt(job.outFd, n, segment.newStart + done, newShrank));
      done += n;
    }
  });
  return hash.digest('hex');
}

try {
  if (job.oldFd !== undefined) {
    port.postMessage({ type: 'old', sha256: hashOld(job.oldFd) } satisfies HashWorkerMessage);
  }
  if (state.stopped()) throw new StopRequested();
  port.postMessage({ type: 'new', sha256: hashNew() } satisfies HashWorkerMessage);
} catch (err) {
  port.postMessage(failureReport(err, 'cannot hash'));
}
