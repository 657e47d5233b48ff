#!/usr/bin/env node
// The `tufup` executable: wires the process (argv, streams, signals) to the CLI and exits with its code.
import { main } from './cli.js';

const controller = new AbortController();
let interrupts = 0;
const onSignal = (signal: NodeJS.Signals) => {
  interrupts++;
  // First signal: stop cleanly (staged files are discarded, the lock released). Second: give up at once.
  if (interrupts > 1) process.exit(130);
  process.stderr.write(`\n${signal}: stopping…\n`);
  controller.abort(new DOMException(`interrupted by ${signal}`, 'AbortError'));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed pipe (`tufup status | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
});
