// The install dir's mode survives an update through the real client and the real POSIX installer (issue 17):
// it used to become 0700, the mode of the mkdtemp-made staging dir, locking other users out of a shared install.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { extractArchive } from '@tufup/archive';
import { makeTempDir } from '@tufup/common';
import { createMacInstaller } from '@tufup/installer-mac';
import { type AppDirs, appDirs, cacheArchive, makeClient, shipRoot, treeOf } from './support/app.js';
import { TestRepo, makeBundle } from './support/repo.js';
import { TestServer } from './support/server.js';

const APP = 'mode_app';
/** A pid no process has (above Linux's pid_max): the installer's worker need not wait for an app to exit. */
const GONE_PID = 4_194_305;

const modeOf = async (path: string) => (await stat(path)).mode & 0o7777;

describe("the install dir's mode after an update", () => {
  let tmp: string;
  let repo: TestRepo;
  let server: TestServer;
  const bundles: Record<string, string> = {};

  before(async () => {
    tmp = await makeTempDir('tufup-install-mode-');
    repo = await TestRepo.create(join(tmp, 'repo'), APP);
    for (const v of ['1.0', '2.0']) {
      bundles[v] = join(tmp, 'bundles', v);
      await makeBundle(bundles[v], v);
      await repo.addBundle(v, bundles[v]);
    }
    server = await TestServer.start(join(repo.dir, 'repository'));
  });

  after(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  });

  let n = 0;
  async function installed(mode: number): Promise<AppDirs> {
    const dirs = await appDirs(join(tmp, `case-${n++}`), APP);
    const archive = join(repo.targetsDir, `${APP}-1.0.tar.gz`);
    await extractArchive(archive, dirs.installDir);
    await chmod(dirs.installDir, mode);
    await cacheArchive(dirs, archive, `${APP}-1.0.tar.gz`);
    await shipRoot(dirs, repo.firstRoot);
    return dirs;
  }

  /** Waits for the detached worker's last log line (it outlives the install() call by design). */
  async function workerResult(logFile: string): Promise<string> {
    for (;;) {
      const text = existsSync(logFile) ? await readFile(logFile, 'utf8') : '';
      if (text.includes('result: ')) return text;
      await sleep(25);
    }
  }

  for (const path of ['patch', 'full'] as const) {
    for (const mode of [0o755, 0o750]) {
      it(`${mode.toString(8)} stays ${mode.toString(8)} (${path} path, installer-mac)`, async () => {
        const dirs = await installed(mode);
        const client = makeClient(dirs, server.url, APP, '1.0');
        const info = await client.checkForUpdates(path === 'full' ? { patch: false } : {});
        assert.equal(info?.version, '2.0');
        const logFile = join(dirs.root, 'install.log');
        const result = await client.downloadAndApplyUpdate({
          install: createMacInstaller({ logFile }),
          pid: GONE_PID,
          relaunch: false,
        });
        assert.equal(result.mode, path);
        const log = await workerResult(logFile);
        assert.match(log, /result: installed 2\.0/, log);
        assert.equal(await modeOf(dirs.installDir), mode);
        assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['2.0']!));
      });
    }

    it(`the staged dir any installer gets has the archive root's mode, not 0700 (${path} path)`, async () => {
      const dirs = await installed(0o755);
      const client = makeClient(dirs, server.url, APP, '1.0');
      await client.checkForUpdates(path === 'full' ? { patch: false } : {});
      let staged: number | undefined;
      const result = await client.downloadAndApplyUpdate({
        install: async (req) => {
          staged = await modeOf(req.srcDir);
        },
      });
      assert.equal(result.mode, path);
      // createArchive stores the bundle root as 0755 (python tufup's archives carry their build dir's mode).
      assert.equal(staged, 0o755);
    });
  }
});
