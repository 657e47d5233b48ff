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
  // applies only to that string input and makes loading the worker's file fail.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  return new Worker(new URL(`./${entry}.js`, callerUrl), { workerData: data, execArgv });
}
