// Interop: the client against the repository made by the real python tufup, compared with what its client did.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractArchive } from '@tufup/archive';
import { makeTempDir } from '@tufup/common';
import type { Channel } from '@tufup/metadata';
import type { UpdateProgressEvent } from '../src/index.js';
import {
  type AppDirs,
  appDirs,
  cacheArchive,
  makeClient,
  renameInstaller,
  shipRoot,
  treeOf,
} from './support/app.js';
import { type FixtureManifestFile, PYTHON_TUFUP_FIXTURE } from '../../../test-support/fixture.js';
import { TestRepo } from './support/repo.js';
import { TestServer } from './support/server.js';

const FIXTURE = PYTHON_TUFUP_FIXTURE;

interface Scenario {
  scenario: string;
  step: string;
  updated_to: string | null;
  mode: 'patch' | 'full' | null;
  downloaded: string[] | null;
  root_version?: number;
  error?: string;
}

interface Manifest {
  app_name: string;
  bundles: { version: string; files: Record<string, FixtureManifestFile> }[];
}

describe('python tufup fixture', () => {
  let server: TestServer;
  let tmp: string;
  let scenarios: Scenario[];
  let manifest: Manifest;
  let app: string;
  /** A private, writable copy of the fixture's repository (the shared one must never change under us). */
  let REPO: string;

  before(async () => {
    tmp = await makeTempDir('tufup-pyfix-');
    REPO = join(tmp, 'repository');
    for (const sub of ['metadata', 'targets']) {
      await mkdir(join(REPO, sub), { recursive: true });
      for (const name of await readdir(join(FIXTURE, 'repository', sub))) {
        await writeFile(join(REPO, sub, name), await readFile(join(FIXTURE, 'repository', sub, name)));
      }
    }
    server = await TestServer.start(REPO);
    scenarios = (
      JSON.parse(await readFile(join(FIXTURE, 'client-scenarios.json'), 'utf8')) as { scenarios: Scenario[] }
    ).scenarios;
    manifest = JSON.parse(await readFile(join(FIXTURE, 'manifest.json'), 'utf8')) as Manifest;
    app = manifest.app_name;
  });

  after(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  });

  let n = 0;
  /** An app at `version` installed from its archive, with the archive cached (or not) and `root` trusted. */
  async function installed(version: string, opts: { cache?: boolean; root?: string } = {}): Promise<AppDirs> {
    const dirs = await appDirs(join(tmp, `case-${n++}`), app);
    const archive = join(REPO, 'targets', `${app}-${version}.tar.gz`);
    await extractArchive(archive, dirs.installDir);
    if (opts.cache ?? true) await cacheArchive(dirs, archive, `${app}-${version}.tar.gz`);
    await shipRoot(dirs, opts.root ?? join(REPO, 'metadata', '1.root.json'));
    return dirs;
  }

  /** The installed files must be exactly the manifest's files of `version` (no extra, none missing). */
  async function assertFilesOf(dirs: AppDirs, version: string): Promise<void> {
    const expected = manifest.bundles.find((b) => b.version === version)!.files;
    const got = await treeOf(dirs.installDir);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort(), `files of ${version}`);
    for (const [path, want] of Object.entries(expected)) {
      const have = got[path]!;
      assert.equal(have.type, want.type, path);
      if (want.type === 'symlink') assert.equal(have.link, want.target, path);
      else {
        assert.equal(have.sha256, want.sha256, path);
        assert.equal(have.size, want.size, path);
        assert.equal(have.mode, want.mode, path);
      }
    }
  }

  function parseStep(step: string): { from: string; pre: Channel | undefined } {
    const m = /from (\S+)(?: pre=(\S+))?/.exec(step)!;
    return { from: m[1]!, pre: m[2] && m[2] !== 'None' ? (m[2] as Channel) : undefined };
  }

  /** Run one scenario's steps in sequence on one app (its cache carries over), comparing each with python's. */
  async function runChain(
    name: string,
    opts: { root?: string; ignoreRequired?: boolean; steps?: number } = {},
  ) {
    const steps = scenarios.filter((s) => s.scenario === name).slice(0, opts.steps);
    assert.ok(steps.length >= 2, `scenario ${name} in client-scenarios.json`);
    const dirs = await installed(parseStep(steps[0]!.step).from, opts.root ? { root: opts.root } : {});
    for (const step of steps) {
      const { from, pre } = parseStep(step.step);
      const client = makeClient(dirs, server.url, app, from);
      const info = await client.checkForUpdates({
        ...(pre ? { pre } : {}),
        ignoreRequired: opts.ignoreRequired ?? false,
      });
      if (step.updated_to === null) {
        assert.equal(info, undefined, `${name} ${step.step}: up to date`);
        continue;
      }
      assert.equal(info?.version, step.updated_to, `${name} ${step.step}`);
      const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
      assert.equal(result.mode, step.mode, `${name} ${step.step}: mode`);
      assert.deepEqual(
        [...result.downloaded].sort(),
        [...(step.downloaded ?? [])].sort(),
        `${name} ${step.step}`,
      );
      await assertFilesOf(dirs, step.updated_to);
      const root = JSON.parse(await readFile(join(dirs.metadataDir, 'root.json'), 'utf8')) as {
        signed: { version: number };
      };
      assert.equal(root.signed.version, step.root_version);
    }
  }

  it('updates 1.0 → 2.0 (required) → 3.0 → 4.0a1 by BSDIFF40 patches as python tufup did, trusting 1.root.json', async () => {
    const before = server.requestsFor('/metadata/2.root.json').length;
    await runChain('chain-patch');
    assert.ok(server.requestsFor('/metadata/2.root.json').length > before, 'fetched 2.root.json');
  });

  it('updates 1.0 → 2.0 → 3.0 the same way trusting root v2', async () => {
    await runChain('chain-trust-root-v2-purge', { root: join(REPO, 'metadata', 'root.json'), steps: 3 });
  });

  it('goes 1.0 → 3.0 past the required release with ignoreRequired, by three patches', async () => {
    await runChain('ignore-required', { ignoreRequired: true });
  });

  it('uses the full archive when the current archive is not cached', async () => {
    const want = scenarios.find((s) => s.scenario === 'full-no-cache')!;
    const dirs = await installed('1.0', { cache: false });
    const client = makeClient(dirs, server.url, app, '1.0');
    assert.equal((await client.checkForUpdates())?.fullArchiveReason, 'no-cached-archive');
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.version, want.updated_to);
    assert.equal(result.mode, want.mode);
    assert.deepEqual(result.downloaded, want.downloaded);
    await assertFilesOf(dirs, want.updated_to!);
  });

  it('uses the full archive with patch: false, with progress ending at the archive size', async () => {
    const want = scenarios.find((s) => s.scenario === 'no-patch')!;
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, app, '1.0');
    const info = await client.checkForUpdates({ patch: false });
    const events: UpdateProgressEvent[] = [];
    const result = await client.downloadAndApplyUpdate({
      install: renameInstaller(),
      onProgress: (e) => events.push(e),
    });
    assert.equal(result.mode, want.mode);
    assert.deepEqual(result.downloaded, want.downloaded);
    const last = events.filter((e) => e.phase === 'download-total').at(-1)!;
    assert.equal(last.done, info!.downloadSize);
    assert.equal(last.total, info!.downloadSize);
    await assertFilesOf(dirs, want.updated_to!);
  });

  it('reports no update for the newest final release', async () => {
    const want = scenarios.find((s) => s.scenario === 'up-to-date')!;
    const dirs = await installed(parseStep(want.step).from);
    assert.equal(
      await makeClient(dirs, server.url, app, parseStep(want.step).from).checkForUpdates(),
      undefined,
    );
  });

  it('with a wrong cached archive, installs from the full archive in the same run (python needed a rerun)', async () => {
    const failed = scenarios.find(
      (s) => s.scenario === 'bad-cached-archive' && s.step.includes('wrong cache'),
    )!;
    const rerun = scenarios.find((s) => s.scenario === 'bad-cached-archive' && s.step.startsWith('rerun'))!;
    assert.equal(failed.updated_to, null);
    const dirs = await installed('1.0', { cache: false });
    // A cached "1.0" archive whose bytes are another release's.
    await cacheArchive(dirs, join(REPO, 'targets', `${app}-3.0.tar.gz`), `${app}-1.0.tar.gz`);
    const client = makeClient(dirs, server.url, app, '1.0');
    assert.equal((await client.checkForUpdates())?.patches.length, 1);
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.patchFailure?.code, 'CACHE_INVALID');
    assert.equal(result.version, rerun.updated_to);
    assert.equal(result.mode, rerun.mode);
    // What python's failed run and its rerun downloaded, in one run.
    assert.deepEqual(result.downloaded, [...(failed.downloaded ?? []), ...(rerun.downloaded ?? [])]);
    await assertFilesOf(dirs, rerun.updated_to!);
  });

  it('with a tampered patch on the server, TUF reports the mismatch and the full archive is installed', async () => {
    const want = scenarios.find((s) => s.scenario === 'tampered-target')!;
    assert.match(want.error ?? '', /LengthOrHashMismatchError/);
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, app, '1.0');
    await client.checkForUpdates();
    server.failNext(`/targets/${app}-2.0.patch`, { kind: 'corrupt', offset: 200 }, 2);
    try {
      const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
      assert.equal(result.patchFailure?.code, 'TARGET_MISMATCH');
      assert.equal((result.patchFailure!.cause as Error).constructor.name, 'LengthOrHashMismatchError');
      assert.equal(result.mode, 'full');
      assert.deepEqual(result.downloaded, [`${app}-2.0.tar.gz`]);
      await assertFilesOf(dirs, '2.0');
    } finally {
      server.clearFaults();
    }
  });

  it('refuses a trusted root from another repository (no update, the reason kept)', async () => {
    const want = scenarios.find((s) => s.scenario === 'foreign-trusted-root')!;
    assert.match(want.error ?? '', /UnsignedMetadataError/);
    const other = await TestRepo.create(join(tmp, 'foreign-repo'), app);
    const dirs = await installed('1.0', { root: other.firstRoot });
    const client = makeClient(dirs, server.url, app, '1.0');
    assert.equal(await client.checkForUpdates(), undefined);
    assert.equal(client.lastRefreshError?.code, 'METADATA_INVALID');
    await assert.rejects(
      makeClient(dirs, server.url, app, '1.0', { refreshRequired: true }).checkForUpdates(),
      {
        code: 'METADATA_INVALID',
      },
    );
  });
});
