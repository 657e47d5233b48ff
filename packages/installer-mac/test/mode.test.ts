// The install dir keeps its own mode across an update (issue 17: it used to become the staging dir's 0700).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { startInstallWorker } from '@tufup/installer-mac';
import { waitForExit } from './support/app.js';
import { GONE_PID } from './support/crash-harness.js';
import { expectedAfterPreserve, listTree, makeNewTree, makeOldTree, sortedEntries } from './support/trees.js';

/** Installs a staged tree of mode `stagedMode` over an install dir of mode `installMode`; returns the result. */
async function installWithModes(base: string, installMode: number, stagedMode: number) {
  const root = await realpath(base);
  const dst = join(root, 'app');
  const src = join(root, '.app.tufup-staging-2.0-x1y2z3');
  await makeOldTree(dst);
  await chmod(dst, installMode);
  await makeNewTree(src);
  await chmod(src, stagedMode);
  const oldList = await listTree(dst);
  const newList = await listTree(src);
  const logFile = join(root, 'install.log');
  const started = await startInstallWorker(
    { appName: 'demo', version: '2.0', srcDir: src, dstDir: dst, pid: GONE_PID, relaunch: false },
    { logFile },
  );
  await waitForExit(started.pid);
  const log = await readFile(logFile, 'utf8');
  assert.match(log, /result: installed 2\.0/, log);
  return { dst, oldList, newList, log, mode: (await stat(dst)).mode & 0o7777 };
}

describe("the install dir's mode", () => {
  for (const [installMode, stagedMode] of [
    [0o755, 0o700], // the client's mkdtemp-style staging dir, as before the fix
    [0o750, 0o755], // a group-only install, staged with the archive root's 0755
    [0o755, 0o755],
    [0o700, 0o755], // a private install stays private
  ] as const) {
    test(`${installMode.toString(8)} stays ${installMode.toString(8)} when the staged dir is ${stagedMode.toString(8)}`, async () => {
      await withTempDir(async (base) => {
        const r = await installWithModes(base, installMode, stagedMode);
        assert.equal(r.mode, installMode);
        // Everything below the root is exactly the new version.
        const expected = expectedAfterPreserve(r.oldList, r.newList, []);
        assert.deepEqual(sortedEntries(await listTree(r.dst)), sortedEntries(expected));
        if (installMode !== stagedMode) assert.match(r.log, /install dir's mode/);
      });
    });
  }

  test('another user can still enter a 755 install after an update (the /opt case)', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to run a child as another user');
      return;
    }
    await withTempDir(async (base) => {
      await chmod(base, 0o755);
      const r = await installWithModes(base, 0o755, 0o700);
      // nobody (65534) reads a file of the new version, as any other user of a shared install would.
      const out = execFileSync('cat', [join(r.dst, 'VERSION')], { uid: 65534, gid: 65534 });
      assert.equal(out.toString(), '2.0\n');
    });
  });
});
