// Worker thread of a diff's segment encoding (encode-parallel.ts): encodes the modelled streams of the
// segments it claims and sends them back.
import { parentPort, workerData } from 'node:worker_threads';
import { type EncodedSegment, type EncodeJob, encodeClaimed } from './encode-parallel.js';

const port = parentPort;
if (!port) throw new Error('encode-worker.js runs only as a worker thread of @tufup/patch diff');
try {
  const result: EncodedSegment[] = encodeClaimed(workerData as EncodeJob);
  port.postMessage(
    { type: 'done', result },
    result.flatMap((r) => r.stream.frames.map((f) => f.buffer as ArrayBuffer)),
  );
} catch (err) {
  port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}
