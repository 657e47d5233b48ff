// Starting one of this package's worker threads (apply's hash and segment workers, diff's scan workers),
// from the compiled package or, in the tests, from the TypeScript sources under tsx.
import { Worker } from 'node:worker_threads';

/** Starts the worker module `entry` that lies beside the module at `callerUrl` (its import.meta.url). */
export function startWorker(callerUrl: string, entry: string, data: unknown): Worker {
  if (callerUrl.endsWith('.ts')) {
    // Running from the TypeScript sources (the tests, under tsx): the worker registers tsx's loader first.
    const tsx = import.meta.resolve('tsx/esm/api');
    const url = new URL(`./${entry}.ts`, callerUrl).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`;
    return new Worker(code, { eval: true, workerData: data });
  }
  // A worker inherits the process's Node options; --input-type (an app started with `node -e` or stdin)
  // applies only to that string input and makes loading the worker's file fail, so it is left out. Otherwise
  // nothing is passed: an explicit list is checked option by option, and Node 24 refuses some it starts its own
  // test processes with (ERR_WORKER_INVALID_EXEC_ARGV), while inheriting them is fine.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const url = new URL(`./${entry}.js`, callerUrl);
  if (execArgv.length === process.execArgv.length) return new Worker(url, { workerData: data });
  return new Worker(url, { workerData: data, execArgv });
}
