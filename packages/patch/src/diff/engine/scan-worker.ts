// Worker thread of a parallel cover scan (scan-parallel.ts): scans one part of new and sends back its covers,
// the states it passed through and where it stopped.
import { replyOnce } from '../worker-reply.js';
import { type PartResult, runParts, type ScanJob } from './scan-parallel.js';

replyOnce('scan-worker', (job) => {
  const result: PartResult[] = runParts(job as ScanJob);
  return {
    result,
    transfer: result.flatMap((r) => [r.covers.buffer as ArrayBuffer, r.log.buffer as ArrayBuffer]),
  };
});
