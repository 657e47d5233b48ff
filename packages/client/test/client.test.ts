// The Client end to end against repositories built with @tufup packages, served over HTTP on 127.0.0.1.
import assert from 'node:assert/strict';
import { readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractArchive } from '@tufup/archive';
import { hashFile, makeTempDir } from '@tufup/common';
import type { Channel } from '@tufup/metadata';
import { ClientError, type UpdateProgressEvent } from '../src/index.js';
import {
  type AppDirs,
  appDirs,
  cacheArchive,
  entriesStartingWith,
  makeClient,
  renameInstaller,
  shipRoot,
  treeOf,
} from './support/app.js';
import { TestRepo, makeBundle } from './support/repo.js';
import { TestServer } from './support/server.js';

const APP = 'demo_app';

describe('Client', () => {
  let tmp: string;
  let repo: TestRepo;
  let server: TestServer;
  const bundles: Record<string, string> = {};

  before(async () => {
    tmp = await makeTempDir('tufup-client-');
    repo = await TestRepo.create(join(tmp, 'repo'), APP);
    for (const v of ['1.0', '2.0', '3.0']) {
      bundles[v] = join(tmp, 'bundles', v);
      await makeBundle(bundles[v], v);
      await repo.addBundle(v, bundles[v], { user: { changes: [`release ${v}`] } });
    }
    server = await TestServer.start(join(repo.dir, 'repository'));
  });

  after(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  });

  let n = 0;
  /** An app at `version` installed from `r`'s archive, its archive cached, `r`'s first root trusted. */
  async function installed(version: string, r: TestRepo = repo): Promise<AppDirs> {
    const dirs = await appDirs(join(tmp, `case-${n++}`), APP);
    const archive = join(r.targetsDir, `${APP}-${version}.tar.gz`);
    await extractArchive(archive, dirs.installDir);
    await cacheArchive(dirs, archive, `${APP}-${version}.tar.gz`);
    await shipRoot(dirs, r.firstRoot);
    return dirs;
  }

  function assertMonotonic(events: UpdateProgressEvent[]): void {
    const last = new Map<string, number>();
    for (const e of events) {
      const key = `${e.phase}:${e.file ?? ''}`;
      assert.ok(e.done >= (last.get(key) ?? 0), `${key} went back from ${last.get(key)} to ${e.done}`);
      if (e.total !== undefined && e.phase !== 'download-total')
        assert.ok(e.done <= e.total, `${key} beyond total`);
      last.set(key, e.done);
    }
  }

  it('updates 1.0 → 3.0 by a chain of two patches, with monotonic progress ending at the total', async () => {
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    const info = await client.checkForUpdates();
    assert.equal(info?.version, '3.0');
    assert.deepEqual(
      info.patches.map((p) => p.filename),
      [`${APP}-2.0.patch`, `${APP}-3.0.patch`],
    );
    assert.deepEqual(info.custom, { changes: ['release 3.0'] });
    const patchTotal = info.patches.reduce((s, p) => s + p.length, 0);
    assert.equal(info.downloadSize, patchTotal);

    const events: UpdateProgressEvent[] = [];
    const calls: Parameters<ReturnType<typeof renameInstaller>>[0][] = [];
    const result = await client.downloadAndApplyUpdate({
      install: renameInstaller(calls),
      onProgress: (e) => events.push(e),
    });
    assert.equal(result.mode, 'patch');
    assert.equal(result.installed, true);
    assert.deepEqual(result.downloaded, [`${APP}-2.0.patch`, `${APP}-3.0.patch`]);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));

    // The installer got a staging dir beside the install dir, and the client wrote nothing into installDir.
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.version, '3.0');
    assert.equal(calls[0]!.dstDir, dirs.installDir);
    assert.equal(join(calls[0]!.srcDir, '..'), join(dirs.installDir, '..'));

    assertMonotonic(events);
    const overall = events.filter((e) => e.phase === 'download-total');
    assert.equal(overall.at(-1)!.done, patchTotal);
    assert.equal(overall.at(-1)!.total, patchTotal);
    for (const p of info.patches) {
      const perFile = events.filter((e) => e.phase === 'download' && e.file === p.filename);
      assert.equal(perFile.at(-1)!.done, p.length);
    }
    const patchSteps = events.filter((e) => e.phase === 'patch');
    assert.deepEqual([...new Set(patchSteps.map((e) => e.file))], [`${APP}-2.0.patch`, `${APP}-3.0.patch`]);
    assert.ok(events.some((e) => e.phase === 'stage'));

    // Only what the next update needs stays: the verified 3.0 tar.
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar`]);
    const tar = await hashFile(join(dirs.targetDir, `${APP}-3.0.tar`));
    assert.deepEqual(tar, repo.releases[2]!.tar);
    assert.deepEqual(await entriesStartingWith(join(dirs.root, 'apps'), `.${APP}.tufup-staging-`), []);

    assert.equal(await makeClient(dirs, server.url, APP, '3.0').checkForUpdates(), undefined);
  });

  it('resumes an archive download cut mid-way with a Range request in the same call', async () => {
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    const info = await client.checkForUpdates({ patch: false });
    assert.equal(info?.fullArchiveReason, 'patches-disabled');
    const archive = `/targets/${APP}-3.0.tar.gz`;
    const cutAt = Math.floor(info.archive.length / 2);
    server.failNext(archive, { kind: 'cut', afterBytes: cutAt });
    const before = server.requestsFor(archive).length;
    const events: UpdateProgressEvent[] = [];
    const result = await client.downloadAndApplyUpdate({
      install: renameInstaller(),
      onProgress: (e) => events.push(e),
    });
    const reqs = server.requestsFor(archive).slice(before);
    assert.equal(reqs.length, 2);
    const from = Number(/^bytes=(\d+)-$/.exec(reqs[1]!.range ?? '')?.[1]);
    assert.ok(from > 0 && from <= cutAt, `resumed from ${from}`);
    assert.equal(reqs[1]!.status, 206);
    assert.equal(result.mode, 'full');
    assertMonotonic(events);
    assert.equal(events.filter((e) => e.phase === 'download-total').at(-1)!.done, info.archive.length);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar.gz`]);
  });

  it('resumes an update interrupted in an earlier run from its partial download', async () => {
    const dirs = await installed('1.0');
    const archive = `/targets/${APP}-3.0.tar.gz`;
    // The network drops mid-download and this run has no retries left: the update fails, the bytes stay.
    const first = makeClient(dirs, server.url, APP, '1.0', { fetcherOptions: { retries: 0 } });
    await first.checkForUpdates({ patch: false });
    server.failNext(archive, { kind: 'cut', afterBytes: 60_000 });
    await assert.rejects(first.downloadAndApplyUpdate({ install: renameInstaller() }), {
      code: 'NETWORK_ERROR',
    });
    const partials = (await readdir(dirs.targetDir)).filter((f) => f.endsWith('.partial'));
    assert.equal(partials.length, 1);
    const partialSize = (await stat(join(dirs.targetDir, partials[0]!))).size;
    assert.ok(partialSize > 0);

    const second = makeClient(dirs, server.url, APP, '1.0');
    await second.checkForUpdates({ patch: false });
    const before = server.requestsFor(archive).length;
    const result = await second.downloadAndApplyUpdate({ install: renameInstaller() });
    const reqs = server.requestsFor(archive).slice(before);
    assert.deepEqual(
      reqs.map((r) => [r.range, r.status]),
      [[`bytes=${partialSize}-`, 206]],
    );
    assert.equal(result.installed, true);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar.gz`]);
  });

  it('a corrupted patch on the server: TUF reports the mismatch and the same call installs the full archive', async () => {
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    const info = await client.checkForUpdates();
    server.failNext(`/targets/${APP}-3.0.patch`, { kind: 'corrupt', offset: 40 });
    const events: UpdateProgressEvent[] = [];
    const result = await client.downloadAndApplyUpdate({
      install: renameInstaller(),
      onProgress: (e) => events.push(e),
    });
    assert.equal(result.mode, 'full');
    assert.equal(result.patchFailure?.code, 'TARGET_MISMATCH');
    assert.equal((result.patchFailure!.cause as Error).constructor.name, 'LengthOrHashMismatchError');
    assert.deepEqual(result.downloaded, [`${APP}-2.0.patch`, `${APP}-3.0.tar.gz`]);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
    assertMonotonic(events);
    const overall = events.filter((e) => e.phase === 'download-total').at(-1)!;
    assert.equal(overall.done, overall.total);
    assert.ok(overall.total > info!.downloadSize);
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar.gz`]);
  });

  it('remembers a failed patch when the fallback fails too, and plans the full archive next time', async () => {
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    await client.checkForUpdates();
    server.failNext(`/targets/${APP}-2.0.patch`, { kind: 'corrupt', offset: 10 });
    server.failNext(`/targets/${APP}-3.0.tar.gz`, { kind: 'status', status: 404 });
    await assert.rejects(client.downloadAndApplyUpdate({ install: renameInstaller() }), {
      code: 'HTTP_ERROR',
    });
    assert.ok((await readdir(dirs.targetDir)).includes(`${APP}-2.0.patch.failed`));
    const again = makeClient(dirs, server.url, APP, '1.0');
    assert.equal((await again.checkForUpdates())?.fullArchiveReason, 'patch-failed-before');
    const result = await again.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.mode, 'full');
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar.gz`]);
  });

  it('a patch whose result differs from the signed tar hash is discarded for the full archive (PATCH_FAILED)', async () => {
    const r = await TestRepo.create(join(tmp, 'repo-bad-hash'), APP);
    await r.addBundle('1.0', bundles['1.0']!);
    await r.addBundle('2.0', bundles['2.0']!, { wrongTarHash: true });
    const s = await TestServer.start(join(r.dir, 'repository'));
    try {
      const dirs = await installed('1.0', r);
      const client = makeClient(dirs, s.url, APP, '1.0');
      assert.equal((await client.checkForUpdates())?.patches.length, 1);
      const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
      assert.equal(result.patchFailure?.code, 'PATCH_FAILED');
      assert.equal(result.mode, 'full');
      assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['2.0']!));
      // No half-made tar is left, and the cache holds the verified archive only.
      assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-2.0.tar.gz`]);
    } finally {
      await s.close();
    }
  });

  it('a declined update installs nothing, removes its staging dir and keeps its downloads for later', async () => {
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    const info = await client.checkForUpdates();
    const seen: unknown[] = [];
    const result = await client.downloadAndApplyUpdate({
      install: () => Promise.reject(new Error('must not be called')),
      confirm: (i) => {
        seen.push(i);
        return false;
      },
    });
    assert.deepEqual(seen, [info]);
    assert.equal(result.installed, false);
    assert.deepEqual(await entriesStartingWith(join(dirs.root, 'apps'), `.${APP}.tufup-staging-`), []);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['1.0']!));
    const later = makeClient(dirs, server.url, APP, '1.0');
    await later.checkForUpdates();
    const applied = await later.downloadAndApplyUpdate({
      install: renameInstaller(),
      confirm: async () => true,
    });
    assert.deepEqual(applied.downloaded, []);
    assert.equal(applied.installed, true);
  });

  it('an installer failure is INSTALL_FAILED and leaves no staging dir', async () => {
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    await client.checkForUpdates();
    await assert.rejects(
      client.downloadAndApplyUpdate({ install: () => Promise.reject(new Error('disk on fire')) }),
      (err: unknown) =>
        err instanceof ClientError && err.code === 'INSTALL_FAILED' && /disk on fire/.test(err.message),
    );
    assert.deepEqual(await entriesStartingWith(join(dirs.root, 'apps'), `.${APP}.tufup-staging-`), []);
  });

  it('refuses to apply without a planned update, and a second concurrent call', async () => {
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    await assert.rejects(client.downloadAndApplyUpdate({ install: renameInstaller() }), {
      code: 'NO_UPDATE_PLANNED',
    });
    const checking = client.checkForUpdates();
    await assert.rejects(client.checkForUpdates(), { code: 'BUSY' });
    await checking;
  });

  it('a full disk while downloading is NO_SPACE', async () => {
    const dirs = await installed('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    await client.checkForUpdates({ patch: false });
    // The kernel's /dev/full answers every write with ENOSPC: the partial download goes there.
    const hash = repo.releases[2]!.gzip.sha256.slice(0, 16);
    await symlink('/dev/full', join(dirs.targetDir, `.${APP}-3.0.tar.gz.${hash}.partial`));
    await assert.rejects(client.downloadAndApplyUpdate({ install: renameInstaller() }), { code: 'NO_SPACE' });
  });

  it('needs the shipped trusted root', async () => {
    const dirs = await installed('1.0');
    await rm(join(dirs.metadataDir, 'root.json'));
    assert.throws(() => makeClient(dirs, server.url, APP, '1.0'), { code: 'TRUSTED_ROOT_MISSING' });
  });

  it('reports a failed refresh as no update with the reason kept, or throws with refreshRequired', async () => {
    const dirs = await installed('1.0');
    server.failNext('/metadata/timestamp.json', { kind: 'status', status: 500 }, 4);
    const client = makeClient(dirs, server.url, APP, '1.0', {
      fetcherOptions: { retries: 3, retryDelayMs: 1 },
    });
    assert.equal(await client.checkForUpdates(), undefined);
    assert.equal(client.lastRefreshError?.code, 'HTTP_ERROR');

    const dead = await TestServer.start(tmp);
    const deadUrl = dead.url;
    await dead.close();
    const offline = makeClient(dirs, deadUrl, APP, '1.0', {
      fetcherOptions: { retries: 1, retryDelayMs: 1 },
    });
    assert.equal(await offline.checkForUpdates(), undefined);
    assert.equal(offline.lastRefreshError?.code, 'NETWORK_ERROR');
    const strict = makeClient(dirs, deadUrl, APP, '1.0', {
      refreshRequired: true,
      fetcherOptions: { retries: 1, retryDelayMs: 1 },
    });
    await assert.rejects(strict.checkForUpdates(), { code: 'NETWORK_ERROR' });
  });

  it('fails a check whose timestamp.json drips in within the idle timeout with NETWORK_ERROR (slow retrieval)', async () => {
    const dirs = await installed('1.0');
    server.failNext('/metadata/timestamp.json', { kind: 'drip', bytes: 1, intervalMs: 100 }, 2);
    const client = makeClient(dirs, server.url, APP, '1.0', {
      fetcherOptions: { timeoutMs: 1000, retries: 1, metadataTimeoutMs: 700 },
    });
    const started = Date.now();
    assert.equal(await client.checkForUpdates(), undefined);
    // Dripped whole, the file (over 400 bytes) would take over 40 s at a byte per 100 ms: a generous bound
    // still tells the two apart on a loaded machine.
    assert.ok(Date.now() - started < 20_000, `gave up after ${Date.now() - started} ms`);
    assert.equal(client.lastRefreshError?.code, 'NETWORK_ERROR');
    assert.match(client.lastRefreshError?.message ?? '', /timestamp\.json: .*within 700 ms/);
    server.clearFaults();
  });

  it('ends a check at once when its signal aborts, also without refreshRequired', async () => {
    const dirs = await installed('1.0');
    server.failNext('/metadata/timestamp.json', { kind: 'drip', bytes: 1, intervalMs: 100 });
    const client = makeClient(dirs, server.url, APP, '1.0');
    const started = Date.now();
    await assert.rejects(client.checkForUpdates({ signal: AbortSignal.timeout(300) }), {
      name: 'TimeoutError',
    });
    assert.ok(
      Date.now() - started < 20_000,
      `ended after ${Date.now() - started} ms (the whole drip takes over 40 s)`,
    );
    assert.equal(client.lastRefreshError, undefined, 'an abort is no refresh failure');
    await assert.rejects(client.checkForUpdates({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    server.clearFaults();
    assert.equal((await client.checkForUpdates())?.version, '3.0', 'the next check runs normally');
  });

  it('rejects tampered metadata as METADATA_INVALID', async () => {
    const dirs = await installed('1.0');
    server.failNext('/metadata/timestamp.json', { kind: 'corrupt', offset: 60 });
    const client = makeClient(dirs, server.url, APP, '1.0', { refreshRequired: true });
    await assert.rejects(client.checkForUpdates(), { code: 'METADATA_INVALID' });
  });

  it('rejects an expired timestamp as METADATA_EXPIRED', async () => {
    const r = await TestRepo.create(join(tmp, 'repo-expired'), APP);
    await r.addBundle('1.0', bundles['1.0']!);
    await r.expireTimestamp();
    const s = await TestServer.start(join(r.dir, 'repository'));
    try {
      const dirs = await installed('1.0', r);
      const client = makeClient(dirs, s.url, APP, '1.0');
      assert.equal(await client.checkForUpdates(), undefined);
      assert.equal(client.lastRefreshError?.code, 'METADATA_EXPIRED');
    } finally {
      await s.close();
    }
  });

  it('cleanCache keeps the running version and removes old archives, patches, partials and staging dirs', async () => {
    const dirs = await installed('2.0');
    for (const junk of [
      `${APP}-1.0.tar.gz`,
      `${APP}-1.0.tar`,
      `${APP}-2.0.patch`,
      `${APP}-3.0.patch.failed`,
      `.${APP}-3.0.tar.gz.0123456789abcdef.partial`,
      `.${APP}-3.0.tar.abcdef012345.tmp`,
      'other_app-1.0.tar.gz',
      'notes.txt',
    ]) {
      await writeFile(join(dirs.targetDir, junk), 'x');
    }
    const apps = join(dirs.root, 'apps');
    for (const staged of [
      `.${APP}.tufup-staging-1.0-aaaaaa`,
      `.${APP}.tufup-staging-2.0-bbbbbb`,
      `.${APP}.tufup-staging-3.0-cccccc`,
    ]) {
      await makeBundle(join(apps, staged), 'x');
    }
    const client = makeClient(dirs, server.url, APP, '2.0');
    const removed = await client.cleanCache();
    assert.equal(removed.length, 8);
    assert.deepEqual((await readdir(dirs.targetDir)).sort(), [
      `${APP}-2.0.tar.gz`,
      'notes.txt',
      'other_app-1.0.tar.gz',
    ]);
    assert.deepEqual(await entriesStartingWith(apps, `.${APP}.tufup-staging-`), [
      `.${APP}.tufup-staging-3.0-cccccc`,
    ]);
  });

  it('a corrupted tar kept by an earlier update (and a changed install dir) is refused (CACHE_INVALID) and the same call installs the full archive', async () => {
    const dirs = await appDirs(join(tmp, `case-${n++}`), APP);
    await extractArchive(join(repo.targetsDir, `${APP}-2.0.tar.gz`), dirs.installDir);
    // Changed too, so that rebuilding the tar from the install dir can't stand in for the bad one.
    await writeFile(join(dirs.installDir, 'README.txt'), 'edited by the user\n');
    await shipRoot(dirs, repo.firstRoot);
    // The 2.0 tar as a patch update to 2.0 leaves it, one byte flipped: same size, wrong sha256.
    const tar = await readFile(join(repo.workDir, '2.0.tar'));
    tar[tar.length >> 1] = tar[tar.length >> 1]! ^ 0x01;
    await writeFile(join(dirs.targetDir, `${APP}-2.0.tar`), tar);
    const client = makeClient(dirs, server.url, APP, '2.0');
    assert.deepEqual(
      (await client.checkForUpdates())?.patches.map((p) => p.filename),
      [`${APP}-3.0.patch`],
    );
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.mode, 'full');
    assert.equal(result.patchFailure?.code, 'CACHE_INVALID');
    assert.deepEqual(result.downloaded, [`${APP}-3.0.patch`, `${APP}-3.0.tar.gz`]);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
    // The bad tar is gone: only what the next update needs is kept.
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar.gz`]);
    assert.equal(await makeClient(dirs, server.url, APP, '3.0').checkForUpdates(), undefined);
  });

  it('patches the next release from the tar kept by the previous update', async () => {
    const dirs = await installed('1.0');
    const first = makeClient(dirs, server.url, APP, '1.0');
    await first.checkForUpdates();
    await first.downloadAndApplyUpdate({ install: renameInstaller() });
    bundles['4.0'] = join(tmp, 'bundles', '4.0');
    await makeBundle(bundles['4.0'], '4.0');
    await repo.addBundle('4.0', bundles['4.0']);
    const next = makeClient(dirs, server.url, APP, '3.0');
    const info = await next.checkForUpdates();
    assert.deepEqual(
      info?.patches.map((p) => p.filename),
      [`${APP}-4.0.patch`],
    );
    const events: UpdateProgressEvent[] = [];
    const result = await next.downloadAndApplyUpdate({
      install: renameInstaller(),
      onProgress: (e) => events.push(e),
    });
    assert.equal(result.mode, 'patch');
    assert.ok(events.some((e) => e.phase === 'verify' && e.file === `${APP}-3.0.tar`));
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['4.0']!));
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-4.0.tar`]);
  });
});

describe('Client: channels × required releases (BSDIFF40 patches)', () => {
  let tmp: string;
  let repo: TestRepo;
  let server: TestServer;
  const bundles: Record<string, string> = {};

  before(async () => {
    tmp = await makeTempDir('tufup-matrix-');
    repo = await TestRepo.create(join(tmp, 'repo'), APP);
    const releases: [string, { required?: boolean }][] = [
      ['1.0', {}],
      ['2.0', { required: true }],
      ['3.0rc1', {}],
      ['3.0', {}],
      ['4.0a1', {}],
    ];
    for (const [v, opts] of releases) {
      bundles[v] = join(tmp, 'bundles', v);
      await makeBundle(bundles[v], v);
      await repo.addBundle(v, bundles[v], { ...opts, format: 'bsdiff4' });
    }
    server = await TestServer.start(join(repo.dir, 'repository'));
  });

  after(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const expected: [Channel | undefined, boolean, string, string[]][] = [
    [undefined, false, '2.0', ['2.0']],
    ['a', false, '2.0', ['2.0']],
    ['b', false, '2.0', ['2.0']],
    ['rc', false, '2.0', ['2.0']],
    [undefined, true, '3.0', ['2.0', '3.0rc1', '3.0']],
    ['a', true, '4.0a1', ['2.0', '3.0rc1', '3.0', '4.0a1']],
    ['b', true, '3.0', ['2.0', '3.0rc1', '3.0']],
    ['rc', true, '3.0', ['2.0', '3.0rc1', '3.0']],
  ];

  let n = 0;
  async function installed(version: string): Promise<AppDirs> {
    const dirs = await appDirs(join(tmp, `case-${n++}`), APP);
    const archive = join(repo.targetsDir, `${APP}-${version}.tar.gz`);
    await extractArchive(archive, dirs.installDir);
    await cacheArchive(dirs, archive, `${APP}-${version}.tar.gz`);
    await shipRoot(dirs, repo.firstRoot);
    return dirs;
  }

  for (const [pre, ignoreRequired, version, chain] of expected) {
    // Every combination is planned against the served repository; the longest chain and the required stop
    // are also installed (the other installs would test nothing new).
    const install = (pre === 'a' && ignoreRequired) || (pre === undefined && !ignoreRequired);
    it(`from 1.0 on channel ${pre ?? 'final'}${ignoreRequired ? ', ignoring required' : ''}: ${version}`, async () => {
      const dirs = await installed('1.0');
      const client = makeClient(dirs, server.url, APP, '1.0');
      const info = await client.checkForUpdates({ ...(pre ? { pre } : {}), ignoreRequired });
      assert.equal(info?.version, version);
      assert.equal(info.required, version === '2.0');
      assert.deepEqual(
        info.patches.map((p) => p.version),
        chain,
      );
      if (!install) return;
      const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
      assert.equal(result.mode, 'patch');
      assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles[version]!));
    });
  }

  it('from the required 2.0 the walk continues to 3.0', async () => {
    const dirs = await installed('2.0');
    const info = await makeClient(dirs, server.url, APP, '2.0').checkForUpdates();
    assert.equal(info?.version, '3.0');
    assert.deepEqual(
      info.patches.map((p) => p.version),
      ['3.0rc1', '3.0'],
    );
  });
});
