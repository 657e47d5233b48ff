// Our client across `tufup migrate consistent-snapshot`, over a real HTTP server: clients that trust the old root
// walk to the new one, then read N.snapshot.json, N.targets.json and <sha256>.<name> targets; a repository made
// with `init --consistent-snapshot` and one served by two base URLs (a mirror) work the same way.
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { extractArchive } from '@tufup/archive';
import { Client, type UpdateResult } from '@tufup/client';
import { makeTempDir } from '@tufup/common';
import { renameInstaller, treeOf } from '../../packages/client/test/support/app.js';
import { TestServer } from '../../packages/client/test/support/server.js';
import { copyFixture } from '../../packages/repo-cli/test/helpers.js';
import { assertTreeIsBundle, readFixtureManifest } from '../support/attack-fixture.js';
import { tufup } from '../support/scenario.js';

const APP = 'demo_app';
let work: string;

before(async () => {
  work = await makeTempDir('tufup-e2e-consistent-');
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function bundle(version: string): Promise<string> {
  const dir = join(work, 'bundles', version);
  await mkdir(join(dir, 'lib'), { recursive: true });
  await writeFile(join(dir, 'README.txt'), `demo ${version}\n`);
  // Mostly the same bytes in every version: patches stay small.
  const data = Buffer.alloc(96 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
  data.write(`version ${version}`, 4096);
  await writeFile(join(dir, 'lib', 'core.dat'), data);
  return dir;
}

interface Installed {
  installDir: string;
  metadataDir: string;
  targetDir: string;
}

/** `version` installed from the repository's archive (found in either layout), trusting `1.root.json`. */
async function install(repoDir: string, name: string, version: string): Promise<Installed> {
  const dir = join(work, name);
  const app = {
    installDir: join(dir, 'app'),
    metadataDir: join(dir, 'metadata'),
    targetDir: join(dir, 'targets'),
  };
  await mkdir(app.metadataDir, { recursive: true });
  await mkdir(app.targetDir, { recursive: true });
  const archive = (await readdir(join(repoDir, 'targets'))).find((n) =>
    n.endsWith(`${APP}-${version}.tar.gz`),
  );
  await extractArchive(join(repoDir, 'targets', archive!), app.installDir);
  await writeFile(
    join(app.metadataDir, 'root.json'),
    await readFile(join(repoDir, 'metadata', '1.root.json')),
  );
  return app;
}

async function update(
  app: Installed,
  from: string,
  base: string,
  extra: Partial<ConstructorParameters<typeof Client>[0]> = {},
): Promise<UpdateResult | undefined> {
  const client = new Client({
    appName: APP,
    currentVersion: from,
    ...app,
    metadataBaseUrl: `${base}/metadata/`,
    targetBaseUrl: `${base}/targets/`,
    refreshRequired: true,
    fetcherOptions: { retryDelayMs: 5, maxRetryDelayMs: 20 },
    ...extra,
  });
  if (!(await client.checkForUpdates())) return undefined;
  return client.downloadAndApplyUpdate({ install: renameInstaller() });
}

test('clients update across `tufup migrate consistent-snapshot`, reading the new layout over HTTP', async () => {
  const pub = join(work, 'publisher');
  await mkdir(pub, { recursive: true });
  const repoDir = join(pub, 'repository');
  const run = (args: string[]) => tufup(args, { cwd: pub });
  await run(['init', '--non-interactive', '--app-name', APP]);
  for (const v of ['1.0', '2.0']) await run(['targets', 'add', v, await bundle(v), 'keystore']);
  const server = await TestServer.start(repoDir);
  try {
    // Before: python tufup's flat layout; this client updates to 2.0 and trusts root v1.
    const early = await install(repoDir, 'early', '1.0');
    assert.equal((await update(early, '1.0', server.url))?.version, '2.0');
    assert.ok(
      server.requestsFor(`/targets/${APP}-2.0.patch`).length +
        server.requestsFor(`/targets/${APP}-2.0.tar.gz`).length >
        0,
    );
    // A client installed at 1.0 that has not checked yet.
    const late = await install(repoDir, 'late', '1.0');

    await run(['migrate', 'consistent-snapshot', 'keystore']);
    await run(['targets', 'add', '3.0', await bundle('3.0'), 'keystore']);
    const names = await readdir(join(repoDir, 'targets'));
    assert.ok(
      names.every((n) => /^[0-9a-f]{64}\./.test(n)),
      names.join(' '),
    );

    server.requests.length = 0;
    const r = await update(early, '2.0', server.url);
    assert.equal(r?.version, '3.0');
    assert.equal(r?.mode, 'patch');
    assert.deepEqual(await treeOf(early.installDir), await treeOf(join(work, 'bundles', '3.0')));
    const paths = server.requests.map((q) => `${q.status} ${q.path}`);
    // The root walk first (to the root that turned consistent snapshots on), then the versioned files.
    assert.ok(paths.includes('200 /metadata/2.root.json'), paths.join('\n'));
    assert.ok(
      paths.some((p) => /^200 \/metadata\/\d+\.snapshot\.json$/.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      paths.some((p) => /^200 \/metadata\/\d+\.targets\.json$/.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      paths.some((p) => new RegExp(`^200 /targets/[0-9a-f]{64}\\.${APP}-3\\.0\\.patch$`).test(p)),
      paths.join('\n'),
    );
    assert.ok(
      !paths.some((p) => p.includes('/metadata/snapshot.json') || p.endsWith(`/targets/${APP}-3.0.patch`)),
    );

    // The client that never checked before the migration goes 1.0 → 3.0 in one step.
    const jump = await update(late, '1.0', server.url);
    assert.equal(jump?.version, '3.0');
    assert.deepEqual(await treeOf(late.installDir), await treeOf(join(work, 'bundles', '3.0')));
  } finally {
    await server.close();
  }
});

test('init --consistent-snapshot, served twice: a first install updates through the mirror when the primary is down', async () => {
  const pub = join(work, 'publisher-cs');
  await mkdir(pub, { recursive: true });
  const repoDir = join(pub, 'repository');
  const run = (args: string[]) => tufup(args, { cwd: pub });
  await run(['init', '--non-interactive', '--app-name', APP, '--consistent-snapshot']);
  for (const v of ['1.0', '2.0']) await run(['targets', 'add', v, await bundle(v), 'keystore']);
  const mirrorRoot = join(work, 'mirror-copy');
  await cp(repoDir, mirrorRoot, { recursive: true });
  const primary = await TestServer.start(repoDir);
  const mirror = await TestServer.start(mirrorRoot);
  try {
    primary.failNext('', { kind: 'status', status: 502 }, Number.POSITIVE_INFINITY);
    const app = await install(repoDir, 'cs-first', '1.0');
    const r = await update(app, '1.0', primary.url, {
      mirrors: [{ metadataBaseUrl: `${mirror.url}/metadata/`, targetBaseUrl: `${mirror.url}/targets/` }],
    });
    assert.equal(r?.version, '2.0');
    assert.deepEqual(await treeOf(app.installDir), await treeOf(join(work, 'bundles', '2.0')));
    assert.ok(mirror.requests.some((q) => q.status === 200 && /^\/targets\/[0-9a-f]{64}\./.test(q.path)));
    assert.ok(primary.requests.every((q) => q.status === 502));
  } finally {
    await primary.close();
    await mirror.close();
  }
});

test("python tufup's repository, migrated: our client on 3.0, trusting python's 1.root.json, patches to 4.0a1", async () => {
  const repo = await copyFixture(join(work, 'python-fixture'));
  await tufup(['migrate', 'consistent-snapshot', 'keystore'], {
    cwd: repo,
    env: { TUFUP_PASSPHRASE_ROOT: 'correct horse' },
  });
  const repoDir = join(repo, 'repository');
  const manifest = await readFixtureManifest();
  const app = manifest.app_name;
  const server = await TestServer.start(repoDir);
  try {
    const dir = join(work, 'python-client');
    const installed = {
      installDir: join(dir, 'app'),
      metadataDir: join(dir, 'metadata'),
      targetDir: join(dir, 'targets'),
    };
    await mkdir(installed.metadataDir, { recursive: true });
    await mkdir(installed.targetDir, { recursive: true });
    // What a python-made install holds: the 3.0 files, its archive in the cache (by its plain name), 1.root.json.
    const archive = (await readdir(join(repoDir, 'targets'))).find((n) => n.endsWith(`.${app}-3.0.tar.gz`));
    await extractArchive(join(repoDir, 'targets', archive!), installed.installDir);
    await cp(join(repoDir, 'targets', archive!), join(installed.targetDir, `${app}-3.0.tar.gz`));
    await writeFile(
      join(installed.metadataDir, 'root.json'),
      await readFile(join(repoDir, 'metadata', '1.root.json')),
    );
    const client = new Client({
      appName: app,
      currentVersion: '3.0',
      ...installed,
      metadataBaseUrl: `${server.url}/metadata/`,
      targetBaseUrl: `${server.url}/targets/`,
      refreshRequired: true,
    });
    assert.equal((await client.checkForUpdates({ pre: 'a' }))?.version, '4.0a1');
    const r = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(r.mode, 'patch');
    assert.deepEqual(r.downloaded, [`${app}-4.0a1.patch`]);
    await assertTreeIsBundle(installed.installDir, manifest.bundles.find((b) => b.version === '4.0a1')!);
    const paths = server.requests.map((q) => `${q.status} ${q.path}`);
    for (const want of [
      '200 /metadata/2.root.json',
      '200 /metadata/3.root.json',
      '404 /metadata/4.root.json',
    ]) {
      assert.ok(paths.includes(want), `${want}\n${paths.join('\n')}`);
    }
    assert.ok(paths.some((p) => new RegExp(`^200 /targets/[0-9a-f]{64}\\.${app}-4\\.0a1\\.patch$`).test(p)));
  } finally {
    await server.close();
  }
});
