// A check that finds nothing new reuses what the Client verified, and only then: new releases, changed local files,
// new roots and expiry all still count, through a real server on 127.0.0.1.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AppDirs, makeClient, shipRoot } from './support/app.js';
import { TestRepo, makeBundle } from './support/repo.js';
import { ServedReleases } from './support/served.js';
import { TestServer } from './support/server.js';

const APP = 'memo_app';

describe('a check that finds nothing new', () => {
  let served: ServedReleases;
  let server: TestServer;
  let repo: TestRepo;

  before(async () => {
    served = await ServedReleases.start(APP, ['1.0', '2.0'], { big: false });
    ({ server, repo } = served);
  });

  after(async () => {
    await served.close();
  });

  const installed = (version = '1.0'): Promise<AppDirs> => served.freshInstall(version);

  /** The metadata paths requested from `from` on. */
  const metadataRequests = (from: number) =>
    server.requests.slice(from).map((r) => r.path.replace('/metadata/', ''));

  it('asks only for the next root and timestamp.json, and plans from what it verified before', async () => {
    const dirs = await installed();
    const client = makeClient(dirs, server.url, APP, '1.0');
    const first = await client.checkForUpdates();
    assert.equal(first?.version, '2.0');
    const from = server.requests.length;
    const again = await client.checkForUpdates();
    assert.deepEqual(again, first);
    const rootVersion = JSON.parse(await readFile(join(dirs.metadataDir, 'root.json'), 'utf8')).signed
      .version;
    assert.deepEqual(metadataRequests(from), [`${rootVersion + 1}.root.json`, 'timestamp.json']);
  });

  it('sees a release published since, and a new root', async () => {
    const dirs = await installed('2.0');
    const client = makeClient(dirs, server.url, APP, '2.0');
    assert.equal(await client.checkForUpdates(), undefined);
    await makeBundle(join(served.tmp, 'bundles', '3.0'), '3.0');
    await repo.addBundle('3.0', join(served.tmp, 'bundles', '3.0'));
    let from = server.requests.length;
    assert.equal((await client.checkForUpdates())?.version, '3.0');
    assert.ok(metadataRequests(from).includes('targets.json'), metadataRequests(from).join());
    // A root rotation that changes nothing else still goes through tuf-js, which walks to the new root.
    await repo.rotateKeys(['timestamp']);
    from = server.requests.length;
    assert.equal((await client.checkForUpdates())?.version, '3.0');
    const rootVersion = JSON.parse(await readFile(join(dirs.metadataDir, 'root.json'), 'utf8')).signed
      .version;
    assert.equal(
      rootVersion,
      JSON.parse(await readFile(repo.firstRoot.replace('1.root', 'root'), 'utf8')).signed.version,
    );
    assert.ok(metadataRequests(from).includes(`${rootVersion}.root.json`));
  });

  it('verifies the local files again when one changed between checks (another process, a bad disk)', async () => {
    const dirs = await installed();
    const client = makeClient(dirs, server.url, APP, '1.0');
    const first = await client.checkForUpdates();
    assert.ok(first);
    const path = join(dirs.metadataDir, 'targets.json');
    const md = JSON.parse(await readFile(path, 'utf8'));
    md.signatures[0].sig = '00'.repeat(64);
    await writeFile(path, JSON.stringify(md));
    const from = server.requests.length;
    // tuf-js refuses the local targets.json and downloads it again: the memo was not used.
    assert.deepEqual(await client.checkForUpdates(), first);
    assert.ok(metadataRequests(from).includes('targets.json'), metadataRequests(from).join());
    assert.notEqual(await readFile(path, 'utf8'), JSON.stringify(md));
  });

  it('still refuses metadata that expired since it was verified, though the server serves the same files', async () => {
    const dirs = await installed();
    const expiring = await TestRepo.create(join(served.tmp, 'expiring'), APP);
    await makeBundle(join(served.tmp, 'bundles', 'e1'), '1.0');
    await expiring.addBundle('1.0', join(served.tmp, 'bundles', 'e1'));
    // targets expires in two seconds (whole seconds: the format has no milliseconds), timestamp in ten years.
    const expires = new Date(Math.ceil((Date.now() + 2000) / 1000) * 1000);
    await expiring.publish({ force: ['targets'], expires: { targets: expires } });
    const expiringServer = await TestServer.start(join(expiring.dir, 'repository'));
    try {
      await shipRoot(dirs, expiring.firstRoot);
      const client = makeClient(dirs, expiringServer.url, APP, '1.0', { refreshRequired: true });
      assert.equal(await client.checkForUpdates(), undefined);
      // Wait for the expiry itself (no deadline: a loaded machine only makes this later).
      while (Date.now() <= expires.getTime())
        await new Promise((r) => setTimeout(r, expires.getTime() + 50 - Date.now()));
      await assert.rejects(client.checkForUpdates(), { code: 'METADATA_EXPIRED' });
    } finally {
      await expiringServer.close();
    }
  });
});
