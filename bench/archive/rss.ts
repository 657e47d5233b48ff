// Benchmark: peak RSS of createArchive and extractArchive on a bundle holding a 5 GB (sparse) file.
//
//   node --import tsx bench/archive/rss.ts [--gb N]
//
// Each operation runs in its own plain `node` child (no tsx), which reports process.resourceUsage().maxRSS.
// Goal: under 150 MB for both, i.e. the file is streamed, never held in memory. Needs ~N GB of free disk
// for the extracted copy (the archive itself is small: the file is zeros).
import { spawnSync } from 'node:child_process';
import { mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '@tufup/common';

const args = process.argv.slice(2);
const gb = Number(args[args.indexOf('--gb') + 1]) || 5;
const child = fileURLToPath(new URL('./rss-child.mjs', import.meta.url));

interface ChildReport {
  op: string;
  seconds: number;
  peakRssMB: number;
  result: unknown;
}

function run(...childArgs: string[]): ChildReport {
  const r = spawnSync(process.execPath, [child, ...childArgs], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rss-child ${childArgs[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildReport;
}

const work = await makeTempDir('tufup-bench-rss-', tmpdir());
try {
  const bundle = join(work, 'bundle');
  await mkdir(join(bundle, 'bin'), { recursive: true });
  await writeFile(join(bundle, 'bin', 'app'), '#!/bin/sh\n', { mode: 0o755 });
  const big = join(bundle, 'data.bin');
  const fh = await open(big, 'w');
  await fh.truncate(gb * 1e9);
  await fh.close();
  console.log(`bundle: ${big} ${(await stat(big)).size / 1e9} GB (sparse), node ${process.version}`);

  const created = run('create', bundle, join(work, 'bundle.tar.gz'));
  const tarSize = (created.result as { tar: { size: number } }).tar.size;
  const extracted = run('extract', join(work, 'bundle.tar.gz'), join(work, 'out'), String(tarSize));
  const baseline = spawnSync(process.execPath, ['-e', 'console.log(process.resourceUsage().maxRSS / 1024)'], {
    encoding: 'utf8',
  });
  console.log('\n| operation | time | peak RSS |');
  console.log('|---|---|---|');
  for (const r of [created, extracted]) {
    console.log(`| ${r.op} (${gb} GB file) | ${r.seconds.toFixed(1)} s | ${r.peakRssMB.toFixed(0)} MB |`);
  }
  console.log(`| (empty node process) | | ${Number(baseline.stdout).toFixed(0)} MB |`);
  console.log(`\ncreate: ${JSON.stringify(created.result)}`);
  console.log(`extract: ${JSON.stringify(extracted.result)}`);
  const ok = created.peakRssMB < 150 && extracted.peakRssMB < 150;
  console.log(ok ? '\ngoal met: both under 150 MB' : '\ngoal MISSED: over 150 MB');
} finally {
  await rm(work, { recursive: true, force: true });
}
