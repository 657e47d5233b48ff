// Worker thread of a diff: builds the later part of the hash-chain index (hash-search.ts) while the calling
// thread builds the earlier part; the calling thread then joins the two.
import { parentPort, workerData } from 'node:worker_threads';
import { type ChainsPart, insertChains } from './hash-search.js';

const port = parentPort;
if (!port) throw new Error('chains-worker.js runs only as a worker thread of @tufup/patch diff');
try {
  insertChains(workerData as ChainsPart);
  port.postMessage({ type: 'done', result: true });
} catch (err) {
  port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}
