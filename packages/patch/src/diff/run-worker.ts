// Running one of diff's worker threads (engine/: scan, short-string and chains workers; native/: the
// segment encoder) to its one result.
import { PatchError } from '../errors.js';
import { startWorker } from '../worker-thread.js';
import type { WorkerReply } from './worker-reply.js';

/**
 * Starts the diff worker `entry`, a module beside the one at `callerUrl` (its import.meta.url), on `job`;
 * its result is what it posts with replyOnce (worker-reply.ts); a failure it posts fails it.
 * Stopped on an abort of `signal`, or by `stop`.
 */
export function runWorker<T>(
  callerUrl: string,
  entry: string,
  job: unknown,
  signal: AbortSignal | undefined,
): { result: Promise<T>; stop: () => void } {
  const worker = startWorker(callerUrl, entry, job);
  let settled = false;
  const result = new Promise<T>((resolve, reject) => {
    const fail = (message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      // A worker stopped by an abort reports the abort, as the calling thread's own work would.
      if (signal?.aborted) return reject(signal.reason);
      reject(
        new PatchError({
          code: 'IO_ERROR',
          message: `diff thread ${entry} failed: ${message}`,
          ...(cause ? { cause } : {}),
        }),
      );
    };
    worker.on('message', (m: WorkerReply<T>) => {
      if (m.type === 'done') {
        settled = true;
        resolve(m.result);
      } else fail(m.message);
    });
    worker.on('error', (err) => fail(err.message, err));
    worker.on('exit', () => fail('it ended without a result'));
  });
  const stop = () => void worker.terminate();
  signal?.addEventListener('abort', stop, { once: true });
  const done = result.finally(() => signal?.removeEventListener('abort', stop));
  // Awaited only when the calling thread's own work succeeds; a failure after its own is not unhandled.
  done.catch(() => {});
  return { result: done, stop };
}
