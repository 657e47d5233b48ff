#!/usr/bin/env node
// Runs every workspace's tests (or those under the given dirs) in one node:test run with one summary.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('-'));
const searchRoots = roots.length
  ? roots.map((r) => resolve(r))
  : [join(repo, 'packages'), join(repo, 'e2e')].filter((p) => existsSync(p));

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (/\.test\.ts$/.test(name) && /[\\/]test[\\/]/.test(p)) out.push(p);
  }
  return out;
}

const files = searchRoots.flatMap((r) => (statSync(r).isFile() ? [r] : collect(r, []))).sort();
if (files.length === 0) {
  console.error('no test files found under', searchRoots.join(', '));
  process.exit(1);
}
const args = [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=2',
  // The one deadline of a test: tests wait for events, not for time; this only ends a hang (20 minutes).
  '--test-timeout=1200000',
  '--test-reporter=spec',
  ...passThrough,
  ...files,
];
// tsx compiles TypeScript with esbuild's transformSync, which by default waits in Atomics.wait on a worker
// thread that talks to one long-lived esbuild process; once a test process stayed in that wait for good
// (no esbuild process left, its main thread idle from its first quarter second). With 0, each compile is a
// short esbuild process of its own (execFileSync), which fails loudly instead; tsx caches what it compiled.
const env = { ...process.env, ESBUILD_WORKER_THREADS: '0' };
const res = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: repo, env });
process.exit(res.status ?? 1);
