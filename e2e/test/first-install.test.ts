// Shipping the first version: `tufup export` makes the install, and its first update downloads only the patch.
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@tufup/client';
import { makeTempDir } from '@tufup/common';
import { makeBundle, treeHash } from '../../packages/repo-cli/test/helpers.js';
import { tufup } from '../support/scenario.js';
import { type StaticServer, startStaticServer } from '../support/static-server.js';

const APP = 'shipit';
let dir: string;
let server: StaticServer;
const bundles: Record<string, string> = {};

before(async () => {
  dir = await makeTempDir('tufup-e2e-first-install-');
  await tufup(['init', '--non-interactive', '--app-name', APP], { cwd: dir });
  for (const v of ['1.0', '2.0', '3.0']) {
    bundles[v] = await makeBundle(join(dir, 'dist', v), v, 512 * 1024);
    await copyFile(join(dir, 'repository', 'metadata', 'root.json'), join(bundles[v], 'root.json'));
    await tufup(['targets', 'add', v, bundles[v], 'keystore'], { cwd: dir });
  }
  server = await startStaticServer(join(dir, 'repository'));
});

after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('an install made by `tufup export 2.0` updates to 3.0 by downloading only the patch', async () => {
  await tufup(['export', '2.0', 'out/shipit'], { cwd: dir });
  // The user's installer copies the exported files as they are; the app seeds its metadata dir from root.json.
  const installDir = join(dir, 'user', 'apps', APP);
  const metadataDir = join(dir, 'user', 'data', 'metadata');
  const targetDir = join(dir, 'user', 'data', 'targets');
  await mkdir(join(dir, 'user', 'apps'), { recursive: true });
  await cp(join(dir, 'out', 'shipit'), installDir, { recursive: true, verbatimSymlinks: true });
  await mkdir(metadataDir, { recursive: true });
  await copyFile(join(installDir, 'root.json'), join(metadataDir, 'root.json'));

  const client = new Client({
    appName: APP,
    currentVersion: '2.0',
    installDir,
    metadataDir,
    targetDir,
    metadataBaseUrl: `${server.baseUrl}/metadata/`,
    targetBaseUrl: `${server.baseUrl}/targets/`,
  });
  const info = await client.checkForUpdates();
  assert.equal(info?.version, '3.0');
  assert.deepEqual(
    info.patches.map((p) => p.filename),
    [`${APP}-3.0.patch`],
  );
  assert.ok(info.downloadSize < info.archive.length / 10, 'the patch, not the archive');
  const result = await client.downloadAndApplyUpdate({
    install: async ({ srcDir, dstDir }) => {
      await rm(dstDir, { recursive: true });
      await rename(srcDir, dstDir);
    },
  });
  assert.equal(result.mode, 'patch');
  assert.deepEqual(result.downloaded, [`${APP}-3.0.patch`]);
  assert.deepEqual(await treeHash(installDir), await treeHash(bundles['3.0']!));
  assert.deepEqual(await readdir(targetDir), [`${APP}-3.0.tar`]);
});
