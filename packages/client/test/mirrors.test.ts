// Client mirrors against real HTTP servers on 127.0.0.1: a down primary, a 503 mirror, a mirror still syncing,
// and tampered bytes, which must fail the update and never send the client on to the next mirror.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractArchive } from '@tufup/archive';
import { makeTempDir, silentLogger } from '@tufup/common';
import { ClientError, HttpTransport, MirrorTransport } from '../src/index.js';
import {
  type AppDirs,
  appDirs,
  cacheArchive,
  makeClient,
  renameInstaller,
  shipRoot,
  treeOf,
} from './support/app.js';
import { TestRepo, makeBundle } from './support/repo.js';
import { TestServer } from './support/server.js';

const APP = 'demo_app';

describe('mirrors', () => {
  let tmp: string;
  let repo: TestRepo;
  const servers: TestServer[] = [];
  let downUrl: string;

  /** A server for the repository; each test gives it its own faults. */
  async function serve(): Promise<TestServer> {
    const s = await TestServer.start(join(repo.dir, 'repository'));
    servers.push(s);
    return s;
  }

  before(async () => {
    tmp = await makeTempDir('tufup-mirrors-');
    repo = await TestRepo.create(join(tmp, 'repo'), APP);
    for (const v of ['1.0', '2.0']) {
      await makeBundle(join(tmp, 'bundles', v), v);
      await repo.addBundle(v, join(tmp, 'bundles', v));
    }
    // A port nobody listens on: a server that is down (connection refused).
    const gone = await TestServer.start(tmp);
    downUrl = gone.url;
    await gone.close();
  });

  after(async () => {
    for (const s of servers) await s.close();
    await rm(tmp, { recursive: true, force: true });
  });

  let n = 0;
  /** 1.0 installed, trusting the first root; with its archive cached, or nothing cached (a first install). */
  async function installed(cached: boolean): Promise<AppDirs> {
    const dirs = await appDirs(join(tmp, `case-${n++}`), APP);
    const archive = join(repo.targetsDir, `${APP}-1.0.tar.gz`);
    await extractArchive(archive, dirs.installDir);
    if (cached) await cacheArchive(dirs, archive, `${APP}-1.0.tar.gz`);
    await shipRoot(dirs, repo.firstRoot);
    return dirs;
  }

  const bases = (url: string) => ({ metadataBaseUrl: `${url}/metadata/`, targetBaseUrl: `${url}/targets/` });

  it('first install: primary down, first mirror 503, the second mirror serves the whole update', async () => {
    const busy = await serve();
    busy.failNext('', { kind: 'status', status: 503 }, Number.POSITIVE_INFINITY);
    const good = await serve();
    const dirs = await installed(false);
    const client = makeClient(dirs, downUrl, APP, '1.0', {
      mirrors: [bases(busy.url), bases(good.url)],
      refreshRequired: true,
    });
    const info = await client.checkForUpdates();
    assert.equal(info?.version, '2.0');
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.installed, true);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(join(tmp, 'bundles', '2.0')));
    // The 503 mirror was asked first for every file, then the good one.
    assert.ok(busy.requestsFor('/metadata/timestamp.json').length > 0);
    assert.equal(good.requestsFor('/metadata/timestamp.json').at(-1)?.status, 200);
    for (const name of result.downloaded) {
      assert.ok(busy.requestsFor(`/targets/${name}`).length > 0, `${name} asked of the 503 mirror`);
      assert.equal(good.requestsFor(`/targets/${name}`).at(-1)?.status, 200);
    }
  });

  it('tampered target bytes fail the update; the next mirror is never asked for a target', async () => {
    const evil = await serve();
    evil.failNext('.tar.gz', { kind: 'corrupt', offset: 200 }, Number.POSITIVE_INFINITY);
    evil.failNext('.patch', { kind: 'corrupt', offset: 20 }, Number.POSITIVE_INFINITY);
    const good = await serve();
    const dirs = await installed(true);
    const client = makeClient(dirs, evil.url, APP, '1.0', { mirrors: [bases(good.url)] });
    assert.equal((await client.checkForUpdates())?.version, '2.0');
    await assert.rejects(
      client.downloadAndApplyUpdate({ install: renameInstaller() }),
      (err: unknown) => err instanceof ClientError && err.code === 'TARGET_MISMATCH',
    );
    assert.ok(evil.requestsFor('.tar.gz').length > 0);
    assert.deepEqual(
      good.requests.filter((r) => r.path.startsWith('/targets/')),
      [],
      'no target was asked of the next mirror',
    );
    assert.equal(good.requests.length, 0, 'the primary served the metadata itself');
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(join(tmp, 'bundles', '1.0')));
  });

  it('tampered metadata (a bad signature) fails the check; the next mirror is not asked for it', async () => {
    const evil = await serve();
    const text = await readFile(join(repo.metadataDir, 'timestamp.json'), 'utf8');
    evil.failNext('/metadata/timestamp.json', {
      kind: 'corrupt',
      offset: text.indexOf('"sig": "') + 12,
    });
    const good = await serve();
    const dirs = await installed(true);
    const client = makeClient(dirs, evil.url, APP, '1.0', {
      mirrors: [bases(good.url)],
      refreshRequired: true,
    });
    await assert.rejects(
      client.checkForUpdates(),
      (err: unknown) => err instanceof ClientError && err.code === 'METADATA_INVALID',
    );
    assert.equal(evil.requestsFor('/metadata/timestamp.json').length, 1);
    assert.equal(good.requestsFor('/metadata/timestamp.json').length, 0);
  });

  it('a target missing on the primary (still syncing) comes from the next mirror; missing metadata is final', async () => {
    const lagging = await serve();
    lagging.failNext(`${APP}-2.0.patch`, { kind: 'status', status: 404 }, Number.POSITIVE_INFINITY);
    const good = await serve();
    const dirs = await installed(true);
    const client = makeClient(dirs, lagging.url, APP, '1.0', { mirrors: [bases(good.url)] });
    assert.equal((await client.checkForUpdates())?.version, '2.0');
    const result = await client.downloadAndApplyUpdate({ install: renameInstaller() });
    assert.equal(result.mode, 'patch');
    assert.equal(lagging.requestsFor(`/targets/${APP}-2.0.patch`).at(-1)?.status, 404);
    assert.equal(good.requestsFor(`/targets/${APP}-2.0.patch`).at(-1)?.status, 200);
    // The root walk's 404 for the next root is an answer: the mirror is not asked for it.
    assert.equal(lagging.requestsFor('/metadata/2.root.json').at(-1)?.status, 404);
    assert.equal(good.requestsFor('/metadata/2.root.json').length, 0);

    // A primary without timestamp.json fails the check rather than switching repositories.
    const broken = await serve();
    broken.failNext('/metadata/timestamp.json', { kind: 'status', status: 404 });
    const other = await serve();
    const dirs2 = await installed(true);
    const client2 = makeClient(dirs2, broken.url, APP, '1.0', {
      mirrors: [bases(other.url)],
      refreshRequired: true,
    });
    await assert.rejects(client2.checkForUpdates(), ClientError);
    assert.equal(other.requestsFor('/metadata/timestamp.json').length, 0);
  });

  it('every base down: the last NETWORK_ERROR; bad mirror URLs are INVALID_OPTIONS', async () => {
    const inner = new HttpTransport({ retries: 0, timeoutMs: 60_000 });
    const t = new MirrorTransport(inner, [bases(downUrl), bases(`${downUrl}/b`)], silentLogger);
    await assert.rejects(
      t.fetchMetadata(`${downUrl}/metadata/timestamp.json`, { maxLength: 1000 }),
      (err: unknown) =>
        err instanceof ClientError && err.code === 'NETWORK_ERROR' && err.message.includes('/b/metadata/'),
    );
    inner.close();
    const dirs = await installed(true);
    assert.throws(
      () =>
        makeClient(dirs, downUrl, APP, '1.0', {
          mirrors: [{ metadataBaseUrl: 'ftp://x/', targetBaseUrl: 'x' }],
        }),
      (err: unknown) => err instanceof ClientError && err.code === 'INVALID_OPTIONS',
    );
  });
});
