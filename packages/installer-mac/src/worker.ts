// The worker script the installer starts (`node dist/worker.js run <request.json>`): loads all its code, then runs.
import { runWorker } from './worker-main.js';

process.exitCode = await runWorker(process.argv.slice(2));
