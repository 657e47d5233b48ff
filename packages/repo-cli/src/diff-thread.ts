// Runs @tufup/patch's diff on a worker thread, so the CLI's main thread stays free while it computes.
//
// The diff's suffix sort is one synchronous computation of many seconds (20 s for a 54 MB tar) that reports no
// progress: on the main thread it blocks the timer that prints progress lines in CI logs, and the SIGINT
// handler. On a worker, the main thread keeps printing and can stop the diff at once (terminate).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { OnProgress, ProgressEvent } from '@tufup/common';
import { type DiffResult, PatchError, type PatchErrorCode, type PatchFormat } from '@tufup/patch';

interface Job {
  tufupDiff: true;
  oldPath: string;
  newPath: string;
  patchPath: string;
  format: PatchFormat;
}

type Message =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'done'; result: DiffResult }
  | { type: 'error'; patchCode?: PatchErrorCode; message: string; stack?: string };

export interface DiffThreadOptions {
  format: PatchFormat;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

/** `diff(oldPath, newPath, patchPath)` on a worker thread; PatchErrors keep their code. */
export async function diffOffThread(
  oldPath: string,
  newPath: string,
  patchPath: string,
  opts: DiffThreadOptions,
): Promise<DiffResult> {
  opts.signal?.throwIfAborted();
  if (import.meta.url.endsWith('.ts')) {
    // Running from the TypeScript sources (in-process tests under tsx), where a worker cannot load this file:
    // the same diff on this thread. The built CLI, which the child-process tests run, always uses the worker.
    const { diff } = await import('@tufup/patch');
    return diff(oldPath, newPath, patchPath, {
      format: opts.format,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }
  const job: Job = { tufupDiff: true, oldPath, newPath, patchPath, format: opts.format };
  // A worker inherits the process's Node options; --input-type would make loading its file fail.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const worker = new Worker(new URL(import.meta.url), { workerData: job, execArgv });
  return new Promise<DiffResult>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      settle(() => reject(opts.signal?.reason));
      void worker.terminate();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: Message) => {
      if (m.type === 'progress') {
        try {
          opts.onProgress?.(m.event);
        } catch (err) {
          settle(() => reject(err));
          void worker.terminate();
        }
      } else if (m.type === 'done') settle(() => resolve(m.result));
      else {
        const err =
          m.patchCode !== undefined
            ? new PatchError({ code: m.patchCode, message: m.message })
            : new Error(`diff failed: ${m.message}`);
        if (m.stack) err.stack = m.stack;
        settle(() => reject(err));
      }
    });
    worker.on('error', (err) => settle(() => reject(err)));
    worker.on('exit', (code) =>
      settle(() => reject(new Error(`the diff worker exited (code ${code}) without a result`))),
    );
  });
}

async function runJob(job: Job, port: NonNullable<typeof parentPort>): Promise<void> {
  const { diff } = await import('@tufup/patch');
  try {
    const result = await diff(job.oldPath, job.newPath, job.patchPath, {
      format: job.format,
      onProgress: (event) => port.postMessage({ type: 'progress', event } satisfies Message),
    });
    port.postMessage({ type: 'done', result } satisfies Message);
  } catch (err) {
    const e = err as Error & { code?: unknown };
    port.postMessage({
      type: 'error',
      ...(err instanceof PatchError ? { patchCode: err.code } : {}),
      message: e?.message ?? String(err),
      ...(e?.stack ? { stack: e.stack } : {}),
    } satisfies Message);
  }
}

if (!isMainThread && parentPort && (workerData as Partial<Job> | null)?.tufupDiff === true) {
  void runJob(workerData as Job, parentPort);
}
