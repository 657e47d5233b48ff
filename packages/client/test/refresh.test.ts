// The refresh against a real server on 127.0.0.1: honest failures, and trusted metadata that survives crashes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { type FSWatcher, watch } from 'node:fs';
import { link, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LockHolder, type Logger, makeTempDir, silentLogger, tryLockFile } from '@tufup/common';
import { parseMetadata } from '@tufup/metadata';
import { HttpTransport } from '../src/http/transport.js';
import type { Transport } from '../src/transport.js';
import { MetadataScratch } from '../src/tuf/metadata-dir.js';
import { type AppDirs, appDirs, cacheArchive, makeClient, shipRoot } from './support/app.js';
import { TestRepo, makeBundle } from './support/repo.js';
import { TestServer } from './support/server.js';

const APP = 'refresh_app';
const CHILD = fileURLToPath(new URL('./support/update-child.mjs', import.meta.url));
const PACKAGE = fileURLToPath(new URL('..', import.meta.url));

/** The kill test's child runs the built package: refuse to test a build older than the sources. */
async function assertBuildIsCurrent(): Promise<void> {
  const sources = (await readdir(join(PACKAGE, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts'));
  for (const file of sources) {
    const built = join(PACKAGE, 'dist', file.replace(/\.ts$/, '.js'));
    const [src, out] = await Promise.all([
      stat(join(PACKAGE, 'src', file)),
      stat(built).catch(() => undefined),
    ]);
    assert.ok(
      out && out.mtimeMs >= src.mtimeMs,
      `${built} is missing or older than its source: npm run build`,
    );
  }
}

/** A logger that keeps what it is told, by level. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {}, warnings };
}

async function rootVersion(path: string): Promise<number> {
  return parseMetadata('root', await readFile(path, 'utf8')).signed.version;
}

async function scratchDirs(metadataDir: string): Promise<string[]> {
  return (await readdir(metadataDir)).filter((n) => n.startsWith('.tuf-refresh-'));
}

describe('Client refresh', () => {
  let tmp: string;
  let repo: TestRepo;
  let server: TestServer;
  let n = 0;

  before(async () => {
    tmp = await makeTempDir('tufup-refresh-');
    repo = await TestRepo.create(join(tmp, 'repo'), APP);
    for (const v of ['1.0', '2.0']) {
      await makeBundle(join(tmp, 'bundles', v), v);
      await repo.addBundle(v, join(tmp, 'bundles', v));
    }
    server = await TestServer.start(join(repo.dir, 'repository'));
  });

  after(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  });

  /** An app at 1.0 that trusts the repository's current root. */
  async function installed(): Promise<AppDirs> {
    const dirs = await appDirs(join(tmp, `case-${n++}`), APP);
    await shipRoot(dirs, join(repo.metadataDir, 'root.json'));
    await cacheArchive(dirs, join(repo.targetsDir, `${APP}-1.0.tar.gz`), `${APP}-1.0.tar.gz`);
    return dirs;
  }

  describe('honest failures', () => {
    it('a wrong appName is APP_NOT_FOUND, not "up to date"', async () => {
      const dirs = await installed();
      const client = makeClient(dirs, server.url, 'refresh-app-typo', '1.0');
      await assert.rejects(client.checkForUpdates(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'APP_NOT_FOUND');
        assert.match(err.message, /no release of "refresh-app-typo"/);
        return true;
      });
      assert.equal(client.lastRefreshError, undefined, 'the refresh itself worked');
    });

    it('an unreachable server (a closed port on 127.0.0.1) is a warning and lastRefreshError', async () => {
      const dirs = await installed();
      const closed = await TestServer.start(tmp);
      const url = closed.url;
      await closed.close();
      const logger = recordingLogger();
      const client = makeClient(dirs, url, APP, '1.0', { logger, fetcherOptions: { retries: 1 } });
      assert.equal(await client.checkForUpdates(), undefined);
      assert.equal(client.lastRefreshError?.code, 'NETWORK_ERROR');
      assert.equal(logger.warnings.length, 1, logger.warnings.join('\n'));
      assert.match(logger.warnings[0]!, /cannot refresh the update metadata: .*127\.0\.0\.1.*\(2 attempts\)/);
      assert.equal(
        logger.warnings[0],
        `cannot refresh the update metadata: ${client.lastRefreshError?.message}`,
      );
    });

    it('logs every refresh failure at warn, also when it throws (refreshRequired)', async () => {
      const dirs = await installed();
      const logger = recordingLogger();
      server.failNext('/metadata/timestamp.json', { kind: 'status', status: 404 });
      const client = makeClient(dirs, server.url, APP, '1.0', { logger, refreshRequired: true });
      await assert.rejects(client.checkForUpdates(), { code: 'HTTP_ERROR' });
      assert.equal(client.lastRefreshError?.code, 'HTTP_ERROR');
      assert.equal(logger.warnings.length, 1);
      assert.match(logger.warnings[0]!, /timestamp\.json: HTTP 404/);
    });

    it('names the metadata file and code of a tuf-js failure wrapped as text (snapshot)', async () => {
      const dirs = await installed();
      server.failNext('/metadata/snapshot.json', { kind: 'status', status: 403 });
      const client = makeClient(dirs, server.url, APP, '1.0');
      assert.equal(await client.checkForUpdates(), undefined);
      assert.equal(client.lastRefreshError?.code, 'HTTP_ERROR');
      assert.match(client.lastRefreshError?.message ?? '', /snapshot\.json: HTTP 403/);
    });
    it('classifies an expired snapshot (which tuf-js rethrows as text) as METADATA_EXPIRED', async () => {
      const r = await TestRepo.create(join(tmp, `repo-expired-${n++}`), APP);
      await r.addBundle('1.0', join(tmp, 'bundles', '1.0'));
      const past = new Date(Date.now() - 2 * 86400_000);
      await r.publish({
        force: ['snapshot'],
        expires: { snapshot: past },
        now: new Date(past.getTime() - 3600_000),
      });
      const s = await TestServer.start(join(r.dir, 'repository'));
      try {
        const dirs = await appDirs(join(tmp, `case-${n++}`), APP);
        await shipRoot(dirs, r.firstRoot);
        const client = makeClient(dirs, s.url, APP, '1.0');
        assert.equal(await client.checkForUpdates(), undefined);
        assert.equal(client.lastRefreshError?.code, 'METADATA_EXPIRED', client.lastRefreshError?.message);
      } finally {
        await s.close();
      }
    });

    it('sends every request through the Transport it is given, and stops the root walk on its 404', async () => {
      const dirs = await installed();
      await repo.rotateKeys(['root']);
      const http = new HttpTransport({ retryDelayMs: 5 });
      const calls: string[] = [];
      const transport: Transport = {
        fetchMetadata: async (url, request) => {
          calls.push(`metadata ${new URL(url).pathname}`);
          return http.fetchMetadata(url, request);
        },
        downloadTarget: async (url, request) => {
          calls.push(`target ${new URL(url).pathname}`);
          return http.downloadTarget(url, request);
        },
      };
      const before = server.requests.length;
      const client = makeClient(dirs, server.url, APP, '1.0', { transport, refreshRequired: true });
      assert.equal((await client.checkForUpdates({ patch: false }))?.version, '2.0');
      await client.downloadAndApplyUpdate({ install: async ({ srcDir }) => rm(srcDir, { recursive: true }) });
      const root = await rootVersion(join(repo.metadataDir, 'root.json'));
      assert.deepEqual(calls, [
        `metadata /metadata/${root}.root.json`,
        `metadata /metadata/${root + 1}.root.json`,
        'metadata /metadata/timestamp.json',
        'metadata /metadata/snapshot.json',
        'metadata /metadata/targets.json',
        `target /targets/${APP}-2.0.tar.gz`,
      ]);
      assert.equal(server.requests.length - before, calls.length, 'nothing reached the server another way');
      http.close();
    });
  });

  describe('trusted metadata', () => {
    it('replaces root.json by rename across a rotation, never rewriting the trusted file in place', async () => {
      const dirs = await installed();
      const trusted = join(dirs.metadataDir, 'root.json');
      const before = await readFile(trusted);
      // A second name for the trusted file's inode: an in-place write (tuf-js' writeFileSync) would show here.
      const sameInode = join(dirs.root, 'root.json.inode');
      await link(trusted, sameInode);
      await repo.rotateKeys();
      await repo.rotateKeys(['root']);
      const client = makeClient(dirs, server.url, APP, '1.0', { refreshRequired: true });
      assert.equal((await client.checkForUpdates())?.version, '2.0');
      assert.deepEqual(await readFile(sameInode), before);
      assert.equal(await rootVersion(trusted), await rootVersion(join(repo.metadataDir, 'root.json')));
      assert.deepEqual(await scratchDirs(dirs.metadataDir), []);
    });

    it('keeps what was verified when a refresh fails part-way, as whole files', async () => {
      const dirs = await installed();
      const client = makeClient(dirs, server.url, APP, '1.0');
      assert.equal((await client.checkForUpdates())?.version, '2.0');
      const timestampBefore = await readFile(join(dirs.metadataDir, 'timestamp.json'));
      await repo.rotateKeys(['root']);
      server.failNext('/metadata/timestamp.json', { kind: 'status', status: 404 });
      assert.equal(await client.checkForUpdates(), undefined);
      assert.equal(client.lastRefreshError?.code, 'HTTP_ERROR');
      assert.equal(
        await rootVersion(join(dirs.metadataDir, 'root.json')),
        await rootVersion(join(repo.metadataDir, 'root.json')),
        'the new root was verified before the timestamp failed, and is kept',
      );
      assert.deepEqual(await readFile(join(dirs.metadataDir, 'timestamp.json')), timestampBefore);
      assert.deepEqual(await scratchDirs(dirs.metadataDir), []);
    });

    it('removes the scratch dirs of refreshes whose process died, not those of live ones', async () => {
      const dirs = await installed();
      const dead = await new Promise<number>((resolve) => {
        const child = spawn(process.execPath, ['-e', '0']);
        child.on('exit', () => resolve(child.pid!));
      });
      const stale = `.tuf-refresh-${dead}-0123456789ab`;
      const live = `.tuf-refresh-${process.pid}-ba9876543210`;
      for (const name of [stale, live]) {
        await mkdir(join(dirs.metadataDir, name));
        await writeFile(join(dirs.metadataDir, name, 'root.json'), '{"torn');
      }
      const client = makeClient(dirs, server.url, APP, '1.0', { refreshRequired: true });
      assert.equal((await client.checkForUpdates())?.version, '2.0');
      assert.deepEqual(await scratchDirs(dirs.metadataDir), [live]);
    });
  });

  describe('two refreshes at once', () => {
    const timestampVersion = async (dir: string) =>
      parseMetadata('timestamp', await readFile(join(dir, 'timestamp.json'), 'utf8')).signed.version;

    it('a slower refresh never rolls back what a faster one stored: no older file, nothing after a newer root', async () => {
      const dirs = await installed();
      const client = makeClient(dirs, server.url, APP, '1.0');
      assert.equal((await client.checkForUpdates())?.version, '2.0');
      // The slower refresh starts from what is trusted now and fetches the next timestamp...
      const slower = await MetadataScratch.create(dirs.metadataDir, silentLogger);
      await repo.publish({ force: ['timestamp'] });
      await writeFile(
        join(slower.dir, 'timestamp.json'),
        await readFile(join(repo.metadataDir, 'timestamp.json')),
      );
      // ... while a faster one stores the one after it.
      await repo.publish({ force: ['timestamp'] });
      assert.equal((await client.checkForUpdates())?.version, '2.0');
      const newest = await timestampVersion(dirs.metadataDir);
      assert.equal(newest, await timestampVersion(repo.metadataDir));
      assert.ok(newest > (await timestampVersion(slower.dir)));
      assert.deepEqual(await slower.commit(), [], 'the older timestamp is not put back');
      assert.equal(await timestampVersion(dirs.metadataDir), newest);
      await slower.discard();
      // A refresh starts under the old root; another one trusts a new root meanwhile. The first then fetches a
      // timestamp newer than the one stored: only the newer root keeps it out.
      const stale = await MetadataScratch.create(dirs.metadataDir, silentLogger);
      await repo.rotateKeys(['root']);
      assert.equal((await client.checkForUpdates())?.version, '2.0');
      const stored = await readFile(join(dirs.metadataDir, 'timestamp.json'));
      await repo.publish({ force: ['timestamp'] });
      await writeFile(
        join(stale.dir, 'timestamp.json'),
        await readFile(join(repo.metadataDir, 'timestamp.json')),
      );
      assert.ok((await timestampVersion(stale.dir)) > (await timestampVersion(dirs.metadataDir)));
      assert.deepEqual(await stale.commit(), [], 'nothing verified under an older root is stored');
      assert.deepEqual(await readFile(join(dirs.metadataDir, 'timestamp.json')), stored);
      assert.equal(
        await rootVersion(join(dirs.metadataDir, 'root.json')),
        await rootVersion(join(repo.metadataDir, 'root.json')),
      );
      await stale.discard();
      assert.deepEqual(await scratchDirs(dirs.metadataDir), []);
    });

    /**
     * An app that has refreshed once; a refresh (`scratch`) that has fetched the next timestamp; and the commit
     * lock held by this live process, as by another app instance in the middle of its commit.
     */
    async function commitBehindHeldLock(logger: Logger) {
      const dirs = await installed();
      const client = makeClient(dirs, server.url, APP, '1.0');
      assert.equal((await client.checkForUpdates())?.version, '2.0');
      const before = await readFile(join(dirs.metadataDir, 'timestamp.json'));
      const scratch = await MetadataScratch.create(dirs.metadataDir, logger);
      await repo.publish({ force: ['timestamp'] });
      await writeFile(
        join(scratch.dir, 'timestamp.json'),
        await readFile(join(repo.metadataDir, 'timestamp.json')),
      );
      const lockPath = join(dirs.metadataDir, '.tuf-commit.lock');
      const other = await tryLockFile(lockPath, { command: 'test' });
      assert.ok(!other.held);
      // Its record dated far ahead: it cannot go stale (10 s) however long a busy machine holds this test up.
      const record = JSON.parse(await readFile(lockPath, 'utf8')) as LockHolder;
      await writeFile(lockPath, JSON.stringify({ ...record, started: '9999-01-01T00:00:00.000Z' }));
      return { dirs, before, scratch, release: () => other.lock.release() };
    }

    it('an aborted refresh does not wait for the commit lock: it stores nothing and leaves the files', async () => {
      const { dirs, before, scratch, release } = await commitBehindHeldLock(silentLogger);
      assert.deepEqual(await scratch.commit(AbortSignal.abort()), []);
      assert.deepEqual(await readFile(join(dirs.metadataDir, 'timestamp.json')), before);
      await release();
      await scratch.discard();
    });

    it('a commit waits while another process holds the commit lock, then stores its files', async () => {
      let sawWait: () => void = () => {};
      const waiting = new Promise<void>((resolve) => {
        sawWait = resolve;
      });
      const logger: Logger = {
        ...silentLogger,
        debug: (m) => {
          if (m.startsWith('waiting for')) sawWait();
        },
      };
      const { dirs, before, scratch, release } = await commitBehindHeldLock(logger);
      const committing = scratch.commit();
      const first = await Promise.race([waiting.then(() => 'waited'), committing.then(() => 'committed')]);
      assert.equal(first, 'waited', 'the commit waits for the lock');
      assert.deepEqual(
        await readFile(join(dirs.metadataDir, 'timestamp.json')),
        before,
        'nothing moved while the lock is held',
      );
      await release();
      assert.deepEqual(await committing, ['timestamp.json']);
      assert.equal(await timestampVersion(dirs.metadataDir), await timestampVersion(repo.metadataDir));
      await scratch.discard();
      assert.deepEqual(
        (await readdir(dirs.metadataDir)).filter((n) => n.startsWith('.tuf-')),
        [],
        'no lock or scratch dir left',
      );
    });
  });

  describe('SIGKILL during a root rotation', () => {
    type KillPoint = { kind: 'request'; nth: number } | { kind: 'fs-event'; nth: number };

    /**
     * Alternate between the child's n-th metadata request (new root, the walk's 404, timestamp, snapshot,
     * targets) and the n-th file event in its metadata dir (scratch copy, tuf-js' writes, the commit's
     * renames: about 15 in a run; a point past the run's end lets it finish, and is not counted).
     */
    function killPoint(i: number): KillPoint {
      const round = Math.floor(i / 2);
      return i % 2 === 0
        ? { kind: 'request', nth: round % 5 }
        : { kind: 'fs-event', nth: 1 + ((round * 3) % 14) };
    }

    /** Run the update child and SIGKILL it at `point`; true when it was killed, false when it finished first. */
    async function runAndKill(dirs: AppDirs, point: KillPoint): Promise<boolean> {
      const options = {
        appName: APP,
        currentVersion: '1.0',
        installDir: dirs.installDir,
        metadataDir: dirs.metadataDir,
        targetDir: dirs.targetDir,
        metadataBaseUrl: `${server.url}/metadata/`,
        targetBaseUrl: `${server.url}/targets/`,
        fetcherOptions: { retryDelayMs: 5, maxRetryDelayMs: 20 },
      };
      const child = spawn(process.execPath, [CHILD, JSON.stringify(options)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d));
      child.stderr.on('data', (d: Buffer) => (output += d));
      let seen = 0;
      let killed = false;
      const kill = () => {
        if (!killed) killed = child.kill('SIGKILL');
      };
      let watcher: FSWatcher | undefined;
      if (point.kind === 'request') {
        server.onRequest = (path) => {
          if (path.startsWith('/metadata/') && seen++ === point.nth) kill();
        };
      } else {
        watcher = watch(dirs.metadataDir, { recursive: true }, () => {
          if (++seen === point.nth) kill();
        });
      }
      const [code, signal] = (await new Promise((resolve) =>
        child.on('exit', (c, s) => resolve([c, s])),
      )) as [number | null, NodeJS.Signals | null];
      server.onRequest = undefined;
      watcher?.close();
      if (killed) assert.equal(signal, 'SIGKILL', output);
      else assert.equal(code, 0, output);
      return killed;
    }

    /** What a crash may leave: every trusted file whole, root.json a parseable root. */
    async function assertWholeFiles(metadataDir: string): Promise<void> {
      for (const name of (await readdir(metadataDir)).filter((f) => f.endsWith('.json'))) {
        const text = await readFile(join(metadataDir, name), 'utf8');
        assert.doesNotThrow(() => JSON.parse(text), `${name} is torn: ${text.slice(0, 80)}`);
      }
      await rootVersion(join(metadataDir, 'root.json'));
    }

    it('50 kills at varied points; after each, the next start verifies and updates', async () => {
      await assertBuildIsCurrent();
      const dirs = await installed();
      const killedAt: string[] = [];
      for (let i = 0; killedAt.length < 50; i++) {
        assert.ok(i < 100, `only ${killedAt.length} of ${i} runs were killed before they finished`);
        await repo.rotateKeys(i % 3 === 0 ? ['root', 'timestamp'] : ['root']);
        const point = killPoint(i);
        if (await runAndKill(dirs, point)) killedAt.push(`${point.kind}#${point.nth}`);
        await assertWholeFiles(dirs.metadataDir);

        // The next start, as the app would: a fresh Client on the same dirs.
        const client = makeClient(dirs, server.url, APP, '1.0', { refreshRequired: true });
        const info = await client.checkForUpdates({ patch: false });
        assert.equal(info?.version, '2.0', `run ${i} (${point.kind}#${point.nth})`);
        const result = await client.downloadAndApplyUpdate({
          install: async ({ srcDir }) => rm(srcDir, { recursive: true, force: true }),
        });
        assert.equal(result.installed, true);
        assert.equal(
          await rootVersion(join(dirs.metadataDir, 'root.json')),
          await rootVersion(join(repo.metadataDir, 'root.json')),
        );
        assert.deepEqual(await scratchDirs(dirs.metadataDir), []);
      }
      // Both kinds of kill point were hit, at several depths each.
      assert.ok(new Set(killedAt.filter((k) => k.startsWith('request'))).size >= 4, killedAt.join(' '));
      assert.ok(new Set(killedAt.filter((k) => k.startsWith('fs-event'))).size >= 3, killedAt.join(' '));
    });
  });
});
