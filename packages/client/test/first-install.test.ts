// First install: nothing cached, so the client rebuilds the running version's tar from the install dir and patches it.
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashFile } from '@tufup/common';
import type { UpdateProgressEvent } from '../src/index.js';
import { makeClient, renameInstaller, treeOf } from './support/app.js';
import { TestRepo } from './support/repo.js';
import { ServedReleases } from './support/served.js';
import { TestServer } from './support/server.js';

const APP = 'fresh_app';

describe('first update after a fresh install (empty targetDir)', () => {
  let served: ServedReleases;
  let repo: TestRepo;
  let server: TestServer;
  let bundles: Record<string, string>;
  let tmp: string;
  const freshInstall = (version: string, r?: TestRepo) => served.freshInstall(version, r);

  before(async () => {
    served = await ServedReleases.start(APP, ['0.9', '1.0', '2.0', '3.0']);
    ({ repo, server, bundles, tmp } = served);
  });

  after(() => served.close());

  /** Bytes the server sent for targets since `from` (every response here is whole: no faults injected). */
  async function targetBytesSince(from: number): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const req of server.requests.slice(from)) {
      if (!req.path.startsWith('/targets/') || req.status !== 200) continue;
      const name = req.path.slice('/targets/'.length);
      out[name] = (out[name] ?? 0) + (await readFile(join(repo.targetsDir, name))).length;
    }
    return out;
  }

  it('2.0 → 3.0 by patch, downloading exactly the patch (as a steady-state update does)', async () => {
    const dirs = await freshInstall('2.0');
    assert.deepEqual(await readdir(dirs.targetDir), []);
    const client = makeClient(dirs, server.url, APP, '2.0');
    const info = await client.checkForUpdates();
    assert.equal(info?.version, '3.0');
    assert.equal(info.fullArchiveReason, undefined);
    assert.deepEqual(
      info.patches.map((p) => p.filename),
      [`${APP}-3.0.patch`],
    );
    const patchBytes = info.patches[0]!.length;
    assert.ok(patchBytes * 20 < info.archive.length, 'the patch is much smaller than the archive');

    const from = server.requests.length;
    const events: UpdateProgressEvent[] = [];
    const result = await client.downloadAndApplyUpdate({
      install: renameInstaller(),
      onProgress: (e) => events.push(e),
    });
    assert.equal(result.mode, 'patch');
    assert.equal(result.patchFailure, undefined);
    assert.deepEqual(result.downloaded, [`${APP}-3.0.patch`]);
    assert.deepEqual(await targetBytesSince(from), { [`${APP}-3.0.patch`]: patchBytes });
    assert.equal(events.filter((e) => e.phase === 'download-total').at(-1)?.done, patchBytes);
    // The base was verified (rebuilt from the install dir) before the patch was applied to it.
    assert.ok(events.some((e) => e.phase === 'verify' && e.file === APP));
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
    // The cache is what a steady-state update leaves: the new verified tar, no scratch tar.
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar`]);
    assert.deepEqual(await hashFile(join(dirs.targetDir, `${APP}-3.0.tar`)), repo.releases.at(-1)!.tar);
  });

  it('1.0 → 3.0 by a chain of two patches from the rebuilt 1.0 tar', async () => {
    const dirs = await freshInstall('1.0');
    const client = makeClient(dirs, server.url, APP, '1.0');
    const info = await client.checkForUpdates();
    assert.deepEqual(
      info?.patches.map((p) => p.filename),
      [`${APP}-2.0.patch`, `${APP}-3.0.patch`],
    );
    const from = server.requests.length;
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.mode, 'patch');
    assert.deepEqual(result.downloaded, [`${APP}-2.0.patch`, `${APP}-3.0.patch`]);
    assert.deepEqual(
      await targetBytesSince(from),
      Object.fromEntries(info.patches.map((p) => [p.filename, p.length])),
    );
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
  });

  it('the first release has no signed tar to check a rebuild against: the full archive, as before', async () => {
    const dirs = await freshInstall('0.9');
    const client = makeClient(dirs, server.url, APP, '0.9');
    assert.equal((await client.checkForUpdates())?.fullArchiveReason, 'no-cached-archive');
  });

  it('a modified install (one file changed, same size) falls back to the full archive in the same call', async () => {
    const dirs = await freshInstall('2.0');
    const notes = join(dirs.installDir, 'lib', 'deep', 'er', 'notes.txt');
    const text = await readFile(notes, 'utf8');
    await writeFile(notes, text.replace('notes', 'NOTES'));
    const client = makeClient(dirs, server.url, APP, '2.0');
    const info = await client.checkForUpdates();
    assert.equal(info?.patches.length, 1, 'planned by patch: only the rebuild can tell');

    const from = server.requests.length;
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.mode, 'full');
    assert.equal(result.patchFailure?.code, 'CACHE_INVALID');
    assert.match(result.patchFailure.message, /differs from the signed tar/);
    assert.ok(result.downloaded.includes(`${APP}-3.0.tar.gz`));
    assert.ok(Object.keys(await targetBytesSince(from)).includes(`${APP}-3.0.tar.gz`));
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar.gz`]);
  });

  it('a corrupted tar kept by an earlier update is deleted and the intact install dir patched instead', async () => {
    const dirs = await freshInstall('2.0');
    const tar = await readFile(join(repo.workDir, '2.0.tar'));
    tar[tar.length >> 1] = tar[tar.length >> 1]! ^ 0x01;
    await writeFile(join(dirs.targetDir, `${APP}-2.0.tar`), tar);
    const client = makeClient(dirs, server.url, APP, '2.0');
    await client.checkForUpdates();
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.mode, 'patch');
    assert.deepEqual(result.downloaded, [`${APP}-3.0.patch`]);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-3.0.tar`]);
  });

  it('an install with a file added falls back too, told by the tar size before any file is read', async () => {
    const dirs = await freshInstall('2.0');
    await writeFile(join(dirs.installDir, 'user-settings.json'), 'x'.repeat(20_000));
    const client = makeClient(dirs, server.url, APP, '2.0');
    await client.checkForUpdates();
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.mode, 'full');
    assert.match(result.patchFailure?.message ?? '', /TAR_SIZE_MISMATCH/);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['3.0']!));
  });

  it('a repository published with SOURCE_DATE_EPOCH patches a fresh install when told its archiveMtime', async () => {
    const epoch = 1_600_000_000;
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = String(epoch);
    let dated: TestRepo;
    try {
      dated = await TestRepo.create(join(tmp, 'repo-dated'), APP);
      for (const v of ['1.0', '2.0', '3.0']) await dated.addBundle(v, bundles[v]!);
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
    const datedServer = await TestServer.start(join(dated.dir, 'repository'));
    try {
      // Without it the rebuilt tar carries the default mtime, differs, and the archive is downloaded.
      const plain = await freshInstall('2.0', dated);
      const c1 = makeClient(plain, datedServer.url, APP, '2.0');
      await c1.checkForUpdates();
      const r1 = await c1.downloadAndApplyUpdate({ install: renameInstaller() });
      assert.equal(r1.mode, 'full');
      assert.equal(r1.patchFailure?.code, 'CACHE_INVALID');

      const told = await freshInstall('2.0', dated);
      const c2 = makeClient(told, datedServer.url, APP, '2.0', { archiveMtime: epoch });
      await c2.checkForUpdates();
      const r2 = await c2.downloadAndApplyUpdate({ install: renameInstaller() });
      assert.equal(r2.mode, 'patch');
      assert.deepEqual(r2.downloaded, [`${APP}-3.0.patch`]);
      assert.deepEqual(await treeOf(told.installDir), await treeOf(bundles['3.0']!));
    } finally {
      await datedServer.close();
    }
  });
});
