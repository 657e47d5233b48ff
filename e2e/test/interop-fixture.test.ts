// Interop: an app on our client updates itself from the repository python tufup made, served by nginx, each
// update swapped in by the real POSIX installer (@tufup/installer-mac's worker) after the app exits.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { extractArchive } from '@tufup/archive';
import type { Installer } from '@tufup/common';
import { Client } from '@tufup/client';
import { makeTempDir } from '@tufup/common';
import { recover, startInstallWorker } from '@tufup/installer-mac';
import type { Channel } from '@tufup/metadata';
import {
  FIXTURE,
  type FixtureManifest,
  type FixtureScenarioStep,
  assertTreeIsBundle,
  readFixtureManifest,
  readFixtureScenarios,
} from '../support/attack-fixture.js';
import { type NginxServer, startNginx } from '../support/nginx.js';

let work: string;
let nginx: NginxServer;
let manifest: FixtureManifest;
let scenarios: FixtureScenarioStep[];

before(async () => {
  work = await makeTempDir('tufup-e2e-interop-fixture-');
  // nginx serves the fixture's repository dir itself (read-only), as any static host would.
  nginx = await startNginx(join(FIXTURE, 'repository'), join(work, 'nginx'));
  manifest = await readFixtureManifest();
  scenarios = await readFixtureScenarios();
});

after(async () => {
  await nginx?.stop();
  await rm(work, { recursive: true, force: true });
});

interface Victim {
  installDir: string;
  metadataDir: string;
  targetDir: string;
}

/** example_app `version` installed from the fixture's archive, trusting 1.root.json (so it must walk to v2). */
async function install(name: string, version: string, cacheArchive: boolean): Promise<Victim> {
  const dir = join(work, name);
  const victim = {
    installDir: join(dir, 'apps', manifest.app_name),
    metadataDir: join(dir, 'state', 'metadata'),
    targetDir: join(dir, 'state', 'targets'),
  };
  await mkdir(victim.metadataDir, { recursive: true });
  await mkdir(victim.targetDir, { recursive: true });
  const archive = join(FIXTURE, 'repository', 'targets', `${manifest.app_name}-${version}.tar.gz`);
  await extractArchive(archive, victim.installDir);
  // Copies by content: the fixture's files are read-only and the cache must be writable.
  await writeFile(
    join(victim.metadataDir, 'root.json'),
    await readFile(join(FIXTURE, 'repository', 'metadata', '1.root.json')),
  );
  if (cacheArchive) await cp(archive, join(victim.targetDir, `${manifest.app_name}-${version}.tar.gz`));
  return victim;
}

/**
 * The update as the app does it: a stand-in app process runs, the client hands the staged version to the
 * installer, the app exits, and the detached worker swaps the dirs. Resolves once the worker is gone.
 */
async function updateOnce(
  victim: Victim,
  from: string,
  pre: Channel | undefined,
): Promise<{ version: string; mode: string; downloaded: string[] } | undefined> {
  const client = new Client({
    appName: manifest.app_name,
    currentVersion: from,
    installDir: victim.installDir,
    metadataDir: victim.metadataDir,
    targetDir: victim.targetDir,
    metadataBaseUrl: `${nginx.baseUrl}/metadata/`,
    targetBaseUrl: `${nginx.baseUrl}/targets/`,
    refreshRequired: true,
  });
  const info = await client.checkForUpdates(pre ? { pre } : {});
  if (!info) return undefined;
  const app: ChildProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], {
    stdio: 'ignore',
  });
  const appExited = new Promise((r) => app.once('exit', r));
  let workerPid: number | undefined;
  const installer: Installer = async (request) => {
    workerPid = (
      await startInstallWorker({ ...request, pid: app.pid!, relaunch: false }, { waitTimeoutMs: 20_000 })
    ).pid;
  };
  try {
    const result = await client.downloadAndApplyUpdate({ install: installer });
    assert.ok(workerPid, 'the installer started its worker');
    app.kill();
    await appExited;
    await waitForExit(workerPid!);
    return { version: result.version, mode: result.mode, downloaded: result.downloaded };
  } finally {
    app.kill();
  }
}

/** Waits for the installer's worker to exit (for the event, not a deadline: the test runner's timeout is the one). */
async function waitForExit(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
}

function parseStep(step: string): { from: string; pre: Channel | undefined } {
  const m = /^from (\S+)(?: pre=(\S+))?/.exec(step);
  assert.ok(m, step);
  return { from: m[1]!, pre: m[2] && m[2] !== 'None' ? (m[2] as Channel) : undefined };
}

/** Replays one of python's client scenarios step by step on one installed app, through nginx and the installer. */
async function replay(scenario: string, opts: { cacheArchive: boolean }): Promise<void> {
  const steps = scenarios.filter((s) => s.scenario === scenario);
  assert.ok(steps.length > 0, `scenario ${scenario} exists`);
  const victim = await install(scenario, parseStep(steps[0]!.step).from, opts.cacheArchive);
  for (const step of steps) {
    const { from, pre } = parseStep(step.step);
    const done = await updateOnce(victim, from, pre);
    if (step.updated_to === null) {
      assert.equal(done, undefined, `${step.step}: up to date, as python's client found`);
      continue;
    }
    assert.deepEqual(
      { ...done, downloaded: [...(done?.downloaded ?? [])].sort() },
      { version: step.updated_to, mode: step.mode, downloaded: [...(step.downloaded ?? [])].sort() },
      `${step.step}: what python's client did`,
    );
    // Unlike python tufup's merge (which leaves stale files), the swap leaves exactly the new bundle.
    await assertTreeIsBundle(victim.installDir, manifest.bundles.find((b) => b.version === step.updated_to)!);
    assert.equal((await recover(victim.installDir)).outcome, 'clean', 'the installer finished cleanly');
    const root = JSON.parse(await readFile(join(victim.metadataDir, 'root.json'), 'utf8')) as {
      signed: { version: number };
    };
    assert.equal(root.signed.version, step.root_version, 'walked the root rotation to v2');
  }
}

test('python fixture over nginx: 1.0 → 2.0 (required) → 3.0 → 4.0a1 by BSDIFF40 patches, each swapped in by the installer', async () => {
  await replay('chain-patch', { cacheArchive: true });
});

test('python fixture over nginx: 1.0 without a cached archive → 2.0 by the full archive, swapped in by the installer', async () => {
  await replay('full-no-cache', { cacheArchive: false });
});
