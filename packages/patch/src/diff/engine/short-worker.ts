// Worker thread of a diff: builds the short-string tables of old and their answers for every position of
// new (short-strings.ts), and sends back the answers, while the calling thread builds the suffix array.
import { parentPort, workerData } from 'node:worker_threads';
import { buildShortStrings, type ShortStringJob, shortAnswers } from './short-strings.js';

const port = parentPort;
if (!port) throw new Error('short-worker.js runs only as a worker thread of @tufup/patch diff');
try {
  const { old, neu } = workerData as ShortStringJob;
  const tables = buildShortStrings(old);
  port.postMessage({ type: 'done', result: shortAnswers(tables, neu, true) });
} catch (err) {
  port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}
