// Metadata at scale: what a repository's history costs a client and a release pipeline, at 10 / 100 / 1,000 releases,
// today's layout beside the delegated one, printed in one table.
// Run: npm run scale -w @tufup/bench [-- --sizes 10,100,1000 --layouts today,delegated --checks 15 --adds 5
//      --history-after 10]   (repositories are built once and cached under $TUFUP_BENCH_CACHE, default
//      <tmpdir>/tufup-bench-scale; building the 1,000-release ones takes minutes)
//
// Layouts:
//   - today: one platform-less app, every release in the top-level targets.json (what python tufup writes);
//   - delegated: the same number of releases on each of 3 platforms (linux-x64, win-x64, darwin-arm64), named by the
//     fleet contract (`<app>-<platform>-<version>.tar.gz|.patch`, `custom.tufup.platform` signed), one delegated
//     role per platform (`tufup delegate add <platform> --paths '<app>-<platform>-*' --history-after 10`: it holds
//     10–19 releases, older ones are in `<platform>.history`); the client measured is linux-x64's, configured with
//     app name `<app>-linux-x64` (as a python client would be), and `targets add` publishes a linux-x64 release.
//
// Per layout and size, on loopback through a real HTTP server (the client tests' TestServer) and the real
// @tufup/client:
//   - sizes: targets.json, the measured platform's role and its history role, and the metadata a client holds after
//     its first check (what it verified);
//   - a no-update check: an app at the newest version, its metadata dir warm (refreshed once before), median of
//     --checks runs of the same Client, each a whole `checkForUpdates()` (wall time, and the process's CPU time,
//     which other load disturbs less); and the median of 5 checks each by a new Client on the same warm metadata
//     dir (an app that just started: everything verified again);
//   - `targets add`: `Repository.open` + `addBundle` of a new tiny release on a copy of the repository (what one
//     `tufup targets add` does after Node has started), median of --adds runs. Archive and diff work is
//     separated by timing the same steps on the same inputs on their own just before each add (createArchive of
//     the bundle, hashing and gunzipping the previous archive, the diff on a worker thread as the CLI runs it):
//     "metadata part" = the median over runs of the add's time minus that run's archive and diff time, in wall
//     time and in CPU time of the process (worker threads included; less disturbed by other load);
//   - the metadata bytes one warm client downloads when that one new release is published (every metadata file
//     the server answered with 200 during the check that finds the new release).
// Releases are tiny (a two-file bundle); each has a real archive and a real patch from the release before, and the
// repository is signed with the keys `Repository.initialize` (and `addDelegation`) made; `tufup verify` (the
// Repository API's) must accept it before it is measured.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArchive, gunzipToTar } from '@tufup/archive';
import { Client } from '@tufup/client';
import { hashFile, makeTempDir } from '@tufup/common';
import {
  MetadataStore,
  formatTargetName,
  loadPrivateKeyFile,
  makeArchiveCustom,
  makePatchCustom,
} from '@tufup/metadata';
import { diff } from '@tufup/patch';
import { Repository } from '@tufup/repo-cli';
import { TestServer } from '../../packages/client/test/support/server.js';
// The CLI's own diff on a worker thread (the built file, so it really uses the worker).
import { diffOffThread } from '../../packages/repo-cli/dist/diff-thread.js';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const SIZES = (arg('sizes') ?? '10,100,1000').split(',').map(Number);
const CHECKS = Number(arg('checks')) || 15;
const ADDS = Number(arg('adds')) || 5;
const FRESH_CHECKS = 5;
const LAYOUTS = (arg('layouts') ?? 'today,delegated').split(',') as LayoutName[];
const CACHE = process.env.TUFUP_BENCH_CACHE ?? join(tmpdir(), 'tufup-bench-scale');
const APP = 'scaleapp';
const GOALS = { checkMs: 20, newReleaseBytes: 16 * 1024, addMs: 1000 };
/** Bumped when what a cached repository holds changes, so it is rebuilt. */
const REPO_LAYOUT = 'scale layout 1';
const EXPIRATION_DAYS = { root: 3650, targets: 3650, snapshot: 3650, timestamp: 3650 };

/** The version of release i (0-based): 1.0.0 … 1.0.999. */
const versionOf = (i: number) => `1.0.${i}`;

/** Platforms of the delegated layout (the fleet contract's `os-arch` tokens); the client measured is the first's. */
const PLATFORMS = ['linux-x64', 'win-x64', 'darwin-arm64'] as const;
/** `--history-after` of each platform's role: it holds 10–19 releases, older ones are in `<role>.history`. */
const HISTORY_AFTER = Number(arg('history-after')) || 10;

type LayoutName = 'today' | 'delegated';

/** A tiny bundle for `version` of `app`: two small files whose content changes a little per version. */
async function makeTinyBundle(dir: string, app: string, version: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'bin'), { recursive: true });
  await writeFile(join(dir, 'README.txt'), `${app} ${version}\n`);
  await writeFile(join(dir, 'bin', 'app'), `#!/bin/sh\necho ${app} ${version}\n${'#'.repeat(200)}\n`, {
    mode: 0o755,
  });
  return dir;
}

/**
 * The fleet contract's signed platform field (`custom.tufup.platform`) on a platform build's archive or patch.
 * Written here by hand until @tufup/metadata's makeArchiveCustom/makePatchCustom take `platform` (the fleet
 * branch): then this one helper goes.
 */
function withPlatform(
  custom: Record<string, unknown>,
  platform: string | undefined,
): Record<string, unknown> {
  if (platform === undefined) return custom;
  return { ...custom, tufup: { ...(custom.tufup as Record<string, unknown>), platform } };
}

interface BuiltRepo {
  layout: LayoutName;
  /** The dir holding `.tufup-repo-config`, `keystore/` and `repository/`. */
  dir: string;
  configPath: string;
  keysDir: string;
  repoDir: string;
  /** Releases per platform (today: of the one platform-less app). */
  releases: number;
  /** The app name in the measured build's target names: what its client and `targets add` are given. */
  app: string;
  /** The measured build's platform (undefined: a platform-less release, today's layout). */
  platform: string | undefined;
  latest: string;
  buildMs?: number;
}

/**
 * A repository of `n` releases (per platform), built once and cached: `Repository.initialize` (config, keys, first
 * metadata) and, for the delegated layout, `addDelegation` of one role per platform (`<platform>`, paths
 * `<app>-<platform>-*`, its own key, `historyAfter`); then every release's archive and patch made with the library
 * calls `targets add` uses and added in one MetadataStore edit (which routes each to its platform's role), bumped
 * and signed once with the keystore's keys (building 1,000 releases one `targets add` at a time would take as long
 * as the quadratic behaviour this bench is about).
 */
async function ensureRepo(layout: LayoutName, n: number): Promise<BuiltRepo> {
  const dir = join(CACHE, `${layout}-${n}`);
  const builds =
    layout === 'today'
      ? [{ app: APP, platform: undefined }]
      : PLATFORMS.map((platform) => ({ app: `${APP}-${platform}`, platform }));
  const built: BuiltRepo = {
    layout,
    dir,
    configPath: join(dir, '.tufup-repo-config'),
    keysDir: join(dir, 'keystore'),
    repoDir: join(dir, 'repository'),
    releases: n,
    app: builds[0]!.app,
    platform: builds[0]!.platform,
    latest: versionOf(n - 1),
  };
  const stamp = `${REPO_LAYOUT}\n${layout} ${n} history-after ${HISTORY_AFTER}`;
  const ready = join(dir, 'ready');
  if (existsSync(ready) && (await readFile(ready, 'utf8')) === stamp) return built;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const t0 = performance.now();
  const { repo } = await Repository.initialize(built.configPath, {
    appName: APP,
    repoDir: built.repoDir,
    keysDir: built.keysDir,
    expirationDays: EXPIRATION_DAYS,
  });
  if (layout === 'delegated') {
    for (const platform of PLATFORMS) {
      await repo.addDelegation({
        role: platform,
        paths: [`${APP}-${platform}-*`],
        keyNames: [platform],
        createKeys: true,
        historyAfter: HISTORY_AFTER,
        keyDirs: [built.keysDir],
      });
    }
  }
  const work = join(dir, 'work');
  const targetsDir = join(built.repoDir, 'targets');
  const store = await MetadataStore.load(join(built.repoDir, 'metadata'), {
    expirationDays: EXPIRATION_DAYS,
  });
  for (const { app, platform } of builds) {
    let previousTar: string | undefined;
    for (let i = 0; i < n; i++) {
      const version = versionOf(i);
      const bundle = await makeTinyBundle(join(work, 'bundle'), app, version);
      const archiveName = formatTargetName(app, version, 'archive');
      const tarPath = join(work, `${i % 2}.tar`);
      const made = await createArchive(bundle, join(targetsDir, archiveName), { tarPath });
      store.addTarget(archiveName, {
        length: made.gzip.size,
        sha256: made.gzip.sha256,
        custom: withPlatform(makeArchiveCustom({ required: false, user: null }), platform),
      });
      if (previousTar) {
        const patchName = formatTargetName(app, version, 'patch');
        const patch = await diff(previousTar, tarPath, join(targetsDir, patchName), { format: 'native' });
        store.addTarget(patchName, {
          length: patch.size,
          sha256: patch.sha256,
          custom: withPlatform(
            makePatchCustom({ tarSize: made.tar.size, tarHash: made.tar.sha256 }),
            platform,
          ),
        });
      }
      previousTar = tarPath;
    }
  }
  for (const role of store.bumpAll()) {
    // A delegated role and its history role are signed by the role's own key (named after the platform).
    const keyName = role.endsWith('.history') ? role.slice(0, -'.history'.length) : role;
    store.sign(role, [await loadPrivateKeyFile(join(built.keysDir, keyName))]);
  }
  await store.save();
  await rm(work, { recursive: true, force: true });
  built.buildMs = performance.now() - t0;
  await writeFile(ready, stamp);
  return built;
}

/** CPU time (user + system, all threads of this process: the diff worker's too) in ms. */
const cpuMs = (used: NodeJS.CpuUsage) => (used.user + used.system) / 1000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const fmtMs = (ms: number) => `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;
const fmtB = (b: number) => `${b.toLocaleString('en-US')} B`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** An app (`app`, the measured build's name) at `version` with its own metadata dir, trusting the first root. */
async function appAt(root: string, repoDir: string, serverUrl: string, app: string, version: string) {
  const dirs = {
    installDir: join(root, 'app'),
    metadataDir: join(root, 'metadata'),
    targetDir: join(root, 'targets'),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  await cp(join(repoDir, 'metadata', '1.root.json'), join(dirs.metadataDir, 'root.json'));
  const client = (current: string) =>
    new Client({
      appName: app,
      currentVersion: current,
      ...dirs,
      metadataBaseUrl: `${serverUrl}/metadata/`,
      targetBaseUrl: `${serverUrl}/targets/`,
    });
  return { dirs, client: client(version), clientAt: client };
}

/** Sizes of the measured platform's role files, e.g. `linux-x64.json 9,876 B + .history 600,000 B`. */
async function roleSizes(built: BuiltRepo): Promise<string> {
  if (!built.platform) return '-';
  const size = async (f: string) => (await stat(join(built.repoDir, 'metadata', f))).size;
  return `${fmtB(await size(`${built.platform}.json`))} + history ${fmtB(await size(`${built.platform}.history.json`))}`;
}

/** Total size of the files in `dir` (not below it). */
async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile()) total += (await stat(join(dir, e.name))).size;
  }
  return total;
}

/** `tufup verify` (the Repository API's) must accept the repository the bench measures. */
async function verifyBuilt(built: BuiltRepo): Promise<void> {
  const report = await (await Repository.open(built.configPath)).verify();
  if (!report.ok)
    throw new Error(`tufup verify refuses ${built.dir}: ${JSON.stringify(report).slice(0, 2000)}`);
}

/** Bytes the server sent with 200 for metadata requests logged from index `from` on. */
async function metadataBytesServed(
  server: TestServer,
  from: number,
): Promise<{ bytes: number; files: string[] }> {
  let bytes = 0;
  const files: string[] = [];
  for (const r of server.requests.slice(from)) {
    if (r.status !== 200 || !r.path.startsWith('/metadata/')) continue;
    bytes += (await stat(join(server.root, r.path))).size;
    files.push(r.path.slice('/metadata/'.length));
  }
  return { bytes, files };
}

interface Row {
  layout: string;
  releases: number;
  targetsJson: number;
  /** The measured platform's role and its history role (delegated layout). */
  roleFiles: string;
  /** Bytes of the metadata a warm client holds (what it verified). */
  clientMetadata: number;
  checkMedian: number;
  checkCpuMedian: number;
  freshCheckMedian: number;
  checkLoad: string;
  addMedian: number;
  archiveDiffMedian: number;
  addMetadataMedian: number;
  addMetadataCpuMedian: number;
  addLoad: string;
  newReleaseBytes: number;
  newReleaseFiles: string[];
  buildMs?: number;
}

async function measure(built: BuiltRepo, work: string): Promise<Row> {
  const metadataDir = join(built.repoDir, 'metadata');
  const topLevel = await Promise.all(
    ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json'].map(
      async (f) => (await stat(join(metadataDir, f))).size,
    ),
  );
  await verifyBuilt(built);

  // 1. No-update check, warm.
  const server = await TestServer.start(built.repoDir);
  let checkMedian: number;
  let checkCpuMedian: number;
  let freshCheckMedian: number;
  let checkLoad: string;
  let clientMetadata = 0;
  const warm = join(work, 'warm');
  try {
    const app = await appAt(warm, built.repoDir, server.url, built.app, built.latest);
    if ((await app.client.checkForUpdates()) !== undefined) throw new Error('expected no update');
    clientMetadata = await dirBytes(app.dirs.metadataDir);
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < CHECKS; i++) {
      const c = process.cpuUsage();
      const t = performance.now();
      const info = await app.client.checkForUpdates();
      times.push(performance.now() - t);
      cpu.push(cpuMs(process.cpuUsage(c)));
      if (info !== undefined) throw new Error('expected no update');
    }
    checkMedian = median(times);
    checkCpuMedian = median(cpu);
    // An app that just started: a new Client (nothing verified in this process yet), the metadata dir warm.
    const fresh: number[] = [];
    for (let i = 0; i < FRESH_CHECKS; i++) {
      const client = app.clientAt(built.latest);
      const t = performance.now();
      if ((await client.checkForUpdates()) !== undefined) throw new Error('expected no update');
      fresh.push(performance.now() - t);
    }
    freshCheckMedian = median(fresh);
    checkLoad = load();
  } finally {
    await server.close();
  }

  // 2. `targets add` on copies, and what a warm client downloads for the new release.
  const adds: number[] = [];
  const archiveDiffs: number[] = [];
  const metadataParts: number[] = [];
  const metadataCpu: number[] = [];
  let newRelease: { bytes: number; files: string[] } | undefined;
  const newVersion = versionOf(built.releases);
  const bundle = await makeTinyBundle(join(work, 'bundle'), built.app, newVersion);
  for (let round = 0; round < ADDS; round++) {
    const copy = join(work, `add-${round}`);
    await cp(built.dir, copy, { recursive: true });
    const configPath = join(copy, '.tufup-repo-config');
    // The config names the repository and keystore by absolute path: point it at the copy.
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    config.repo_dir = join(copy, 'repository');
    config.keys_dir = join(copy, 'keystore');
    await writeFile(configPath, JSON.stringify(config));
    const archiveDiff = await timeArchiveAndDiff(copy, bundle, built, join(work, `scratch-${round}`));
    archiveDiffs.push(archiveDiff.ms);

    const c = process.cpuUsage();
    const t = performance.now();
    const repo = await Repository.open(configPath);
    await repo.addBundle({
      appName: built.app,
      version: newVersion,
      bundleDir: bundle,
      keyDirs: [join(copy, 'keystore')],
    });
    adds.push(performance.now() - t);
    metadataParts.push(adds.at(-1)! - archiveDiff.ms);
    metadataCpu.push(cpuMs(process.cpuUsage(c)) - archiveDiff.cpu);

    if (round === 0) {
      const served = await TestServer.start(join(copy, 'repository'));
      try {
        const app = await appAt(
          join(work, 'new-release'),
          built.repoDir,
          served.url,
          built.app,
          built.latest,
        );
        await cp(join(warm, 'metadata'), app.dirs.metadataDir, { recursive: true });
        const from = served.requests.length;
        const info = await app.client.checkForUpdates();
        if (info?.version !== newVersion) throw new Error(`expected an update to ${newVersion}`);
        newRelease = await metadataBytesServed(served, from);
      } finally {
        await served.close();
      }
    }
    await rm(copy, { recursive: true, force: true });
  }
  const addMedian = median(adds);
  const archiveDiffMedian = median(archiveDiffs);
  return {
    layout: built.layout === 'today' ? 'today' : `delegated, ${PLATFORMS.length} platforms`,
    releases: built.releases,
    targetsJson: topLevel[3]!,
    roleFiles: await roleSizes(built),
    clientMetadata,
    checkMedian,
    checkCpuMedian,
    freshCheckMedian,
    checkLoad,
    addMedian,
    archiveDiffMedian,
    addMetadataMedian: median(metadataParts),
    addMetadataCpuMedian: median(metadataCpu),
    addLoad: load(),
    newReleaseBytes: newRelease?.bytes ?? Number.NaN,
    newReleaseFiles: newRelease?.files ?? [],
    ...(built.buildMs !== undefined ? { buildMs: built.buildMs } : {}),
  };
}

/** The archive and diff steps of `targets add` on their own: what the add's time minus this leaves is metadata work. */
async function timeArchiveAndDiff(
  copy: string,
  bundle: string,
  built: BuiltRepo,
  scratch: string,
): Promise<{ ms: number; cpu: number }> {
  await mkdir(scratch, { recursive: true });
  const prevArchive = join(
    copy,
    'repository',
    'targets',
    formatTargetName(built.app, built.latest, 'archive'),
  );
  const c = process.cpuUsage();
  const t = performance.now();
  const made = await createArchive(bundle, join(scratch, 'new.tar.gz'), {
    tarPath: join(scratch, 'new.tar'),
  });
  await hashFile(prevArchive);
  await gunzipToTar(prevArchive, join(scratch, 'old.tar'));
  await diffOffThread(join(scratch, 'old.tar'), join(scratch, 'new.tar'), join(scratch, 'new.patch'), {
    format: 'native',
  });
  const ms = performance.now() - t;
  const cpu = cpuMs(process.cpuUsage(c));
  if (made.tar.size <= 0) throw new Error('empty tar');
  await rm(scratch, { recursive: true, force: true });
  return { ms, cpu };
}

function printTable(rows: Row[]): void {
  const head = [
    'layout',
    'releases',
    'targets.json',
    'platform role',
    'client holds',
    'no-update check (median)',
    'its cpu',
    'check by a new Client',
    'load',
    'targets add (median)',
    'archive+diff',
    'metadata part',
    'its cpu',
    'load',
    'bytes for 1 new release',
  ];
  const cells = rows.map((r) => [
    r.layout,
    r.releases.toLocaleString('en-US'),
    fmtB(r.targetsJson),
    r.roleFiles,
    fmtB(r.clientMetadata),
    fmtMs(r.checkMedian),
    fmtMs(r.checkCpuMedian),
    fmtMs(r.freshCheckMedian),
    r.checkLoad,
    fmtMs(r.addMedian),
    fmtMs(r.archiveDiffMedian),
    fmtMs(r.addMetadataMedian),
    fmtMs(r.addMetadataCpuMedian),
    r.addLoad,
    fmtB(r.newReleaseBytes),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
  for (const r of rows) {
    console.log(
      `  ${r.layout} ${r.releases}: new release downloads ${r.newReleaseFiles.join(', ')}` +
        (r.buildMs !== undefined ? `; repository built in ${fmtMs(r.buildMs)} (cached)` : ''),
    );
  }
}

async function main(): Promise<void> {
  await mkdir(CACHE, { recursive: true });
  const rows: Row[] = [];
  for (const n of SIZES) {
    for (const layout of LAYOUTS) {
      const built = await ensureRepo(layout, n);
      const work = await makeTempDir('tufup-bench-scale-');
      try {
        rows.push(await measure(built, work));
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }
  }
  console.log('');
  console.log(
    `metadata at scale (node ${process.version}, ${process.platform}-${process.arch}, ${cpus().length} cores; ` +
      `checks: median of ${CHECKS}, adds: median of ${ADDS}; load = 1/5/15-min load average when measured)`,
  );
  printTable(rows);
  console.log(
    `  goals at 1,000 releases on 3 platforms: no-update check ≤ ${GOALS.checkMs} ms, ` +
      `bytes for 1 new release ≤ ${fmtB(GOALS.newReleaseBytes)}, targets add metadata part ≤ ${GOALS.addMs} ms`,
  );
  console.log(`  cache: ${CACHE}; git ${gitHead()}`);
}

function gitHead(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

await main();
