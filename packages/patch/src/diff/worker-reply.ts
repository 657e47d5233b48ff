// The worker side of runWorker (run-worker.ts): the one result a diff worker sends back, or its failure.
import { parentPort, workerData } from 'node:worker_threads';

/** What a diff worker posts, exactly once. */
export type WorkerReply<T> = { type: 'done'; result: T } | { type: 'error'; message: string };

/**
 * Runs `work` on this worker's data and posts its result (moving the `transfer` buffers), or what it threw.
 * `entry` names the worker in the error a module gets when it is loaded outside a worker thread.
 */
export function replyOnce<T>(
  entry: string,
  work: (data: unknown) => { result: T; transfer?: ArrayBuffer[] },
): void {
  const port = parentPort;
  if (!port) throw new Error(`${entry}.js runs only as a worker thread of @tufup/patch diff`);
  const post = (reply: WorkerReply<T>, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
  try {
    const { result, transfer } = work(workerData);
    post({ type: 'done', result }, transfer);
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
}
