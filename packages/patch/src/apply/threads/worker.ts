// Starting an apply worker thread (segment-worker.ts) and turning its reports into outcomes.
import { PatchError, type PatchErrorCode } from '../../errors.js';
import { startWorker } from '../../worker-thread.js';
import type { WorkerReport } from './shared-state.js';

/**
 * One worker thread of an apply. Its reports go to `onMessage`, which returns true for the report that
 * means the worker is done; a failure (its error, a stop it reports, an exit before that report, or what
 * `onMessage` throws) goes to `onFailure` at most once.
 */
export class ApplyWorker<M extends { type: string }> {
  /** Settles (never rejects) once the thread has ended: after that it holds no file open. */
  readonly exited: Promise<void>;
  /**
   * Settles once the worker has sent the report that means it is done, or has ended: after that report it
   * touches no file, so a successful apply need not wait for the thread's teardown (10-25 ms).
   */
  readonly done: Promise<void>;

  constructor(
    entry: 'segment-worker',
    data: unknown,
    onFailure: (err: unknown) => void,
    onMessage: (m: M) => boolean,
  ) {
    let ended = false;
    let markDone: () => void = () => {};
    this.done = new Promise((resolve) => {
      markDone = resolve;
    });
    let failed = false;
    const failure = (err: unknown) => {
      if (failed) return;
      failed = true;
      onFailure(err);
    };
    const worker = startWorker(import.meta.url, entry, data);
    worker.on('message', (m: M | WorkerReport) => {
      if (m.type === 'error') {
        const r = m as WorkerReport & { type: 'error' };
        const cause = r.errno ? Object.assign(new Error(r.message), { code: r.errno }) : undefined;
        failure(
          new PatchError({ code: r.code as PatchErrorCode, message: r.message, ...(cause ? { cause } : {}) }),
        );
      } else if (m.type === 'stopped') {
        failure(new PatchError({ code: 'IO_ERROR', message: 'apply stopped' }));
      } else {
        // onMessage calls the caller's onProgress: what it throws fails the apply, as on one thread.
        try {
          if (onMessage(m as M)) {
            ended = true;
            markDone();
          }
        } catch (err) {
          failure(err);
        }
      }
    });
    worker.on('error', (err) =>
      failure(
        new PatchError({ code: 'IO_ERROR', message: `apply worker failed: ${err.message}`, cause: err }),
      ),
    );
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        // Work it took on would otherwise never be done.
        if (!ended) failure(new PatchError({ code: 'IO_ERROR', message: 'apply worker ended unexpectedly' }));
        markDone();
        resolve();
      });
    });
  }
}
