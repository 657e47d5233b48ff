// Worker thread of a parallel cover scan (scan-parallel.ts): scans one part of new and sends back its covers,
// the states it passed through and where it stopped.
import { parentPort, workerData } from 'node:worker_threads';
import { type PartResult, runParts, type ScanJob } from './scan-parallel.js';

const port = parentPort;
if (!port) throw new Error('scan-worker.js runs only as a worker thread of @tufup/patch diff');
try {
  const result: PartResult[] = runParts(workerData as ScanJob);
  port.postMessage(
    { type: 'done', result },
    result.flatMap((r) => [r.covers.buffer as ArrayBuffer, r.log.buffer as ArrayBuffer]),
  );
} catch (err) {
  port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}
