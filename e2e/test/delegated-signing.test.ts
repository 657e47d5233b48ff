// Delegated signing end to end: a repository published with the real `tufup` (the Windows CI holding only its role's
// key and the online keys, the role's older releases moved to its history role), served over HTTP, and an app on our
// client updating by the patch chain, which starts in the history role.
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { InstallRequest } from '@tufup/common';
import { Client } from '@tufup/client';
import { makeTempDir } from '@tufup/common';
import { makeAcmeBundle } from '../support/attack-repo.js';
import { tufup, treeDigest } from '../support/scenario.js';
import { type StaticServer, startStaticServer } from '../support/static-server.js';

const APP = 'acme-win-x64';
let work: string;
let server: StaticServer;

before(async () => {
  work = await makeTempDir('tufup-e2e-delegation-');
  const run = (args: string[]) => tufup(args, { cwd: work });
  await run(['init', '--non-interactive', '--app-name', 'acme']);
  await run([
    ...['delegate', 'add', 'win', '--paths', `${APP}-*`, '--key', 'win_ci', '--create-key'],
    ...['--key-dir', 'ci', '--history-after', '1', 'keystore'],
  ]);
  for (const name of ['snapshot', 'timestamp']) {
    await copyFile(join(work, 'keystore', name), join(work, 'ci', name));
  }
  // The release manager keeps the offline keys out of the CI's reach.
  await rename(join(work, 'keystore'), join(work, 'offline'));
  for (const v of ['1.0', '2.0', '3.0']) {
    await makeAcmeBundle(join(work, 'bundles', v), v);
    await run(['targets', 'add', v, join('bundles', v), 'ci', '--app-name', APP]);
  }
  server = await startStaticServer(join(work, 'repository'));
});

after(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

test('an app at 1.0 updates to 3.0 by patches signed by the win role, reading its history role for 2.0', async () => {
  const meta = join(work, 'repository', 'metadata');
  const head = JSON.parse(await readFile(join(meta, 'win.json'), 'utf8'));
  const history = JSON.parse(await readFile(join(meta, 'win.history.json'), 'utf8'));
  assert.deepEqual(Object.keys(head.signed.targets).sort(), [`${APP}-3.0.patch`, `${APP}-3.0.tar.gz`]);
  assert.ok(`${APP}-2.0.patch` in history.signed.targets);

  const dir = join(work, 'victim');
  const installDir = join(dir, 'apps', 'acme');
  const metadataDir = join(dir, 'metadata');
  const targetDir = join(dir, 'targets');
  await mkdir(metadataDir, { recursive: true });
  await mkdir(targetDir, { recursive: true });
  await cp(join(work, 'bundles', '1.0'), installDir, { recursive: true, verbatimSymlinks: true });
  await copyFile(join(meta, '1.root.json'), join(metadataDir, 'root.json'));
  await copyFile(
    join(work, 'repository', 'targets', `${APP}-1.0.tar.gz`),
    join(targetDir, `${APP}-1.0.tar.gz`),
  );
  const client = new Client({
    appName: APP,
    currentVersion: '1.0',
    installDir,
    metadataDir,
    targetDir,
    metadataBaseUrl: `${server.baseUrl}/metadata/`,
    targetBaseUrl: `${server.baseUrl}/targets/`,
    refreshRequired: true,
  });
  const update = await client.checkForUpdates();
  assert.equal(update?.version, '3.0');
  assert.deepEqual(
    update.patches.map((p) => p.filename),
    [`${APP}-2.0.patch`, `${APP}-3.0.patch`],
  );
  const calls: InstallRequest[] = [];
  const result = await client.downloadAndApplyUpdate({
    install: async (request) => {
      calls.push(request);
      await rm(request.dstDir, { recursive: true, force: true });
      await rename(request.srcDir, request.dstDir);
    },
  });
  assert.equal(result.mode, 'patch');
  assert.equal(calls.length, 1);
  assert.deepEqual(await treeDigest(installDir), await treeDigest(join(work, 'bundles', '3.0')));
});
