// checkSwapDirs on disk (no wine needed): the state dir's nearest existing ancestor, found with common's
// lstat-based nearestExisting, decides the volume check.
import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { InstallerWinError } from '../src/errors.js';
import { checkSwapDirs } from '../src/paths.js';

async function scene(base: string) {
  const dst = join(base, 'app');
  const src = join(base, '.app.tufup-staging-2.0-abc');
  await mkdir(dst);
  await mkdir(src);
  return { dstDir: dst, srcDir: src, logFile: join(base, 'install.log') };
}

describe("checkSwapDirs and the state dir's parent", () => {
  test('a state dir that does not exist yet, two levels deep: its existing ancestor is checked', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await checkSwapDirs({ ...s, stateDir: join(base, 'not', 'yet', '.app.tufup') });
    });
  });

  test('a parent that is a link to a real directory on the same volume is fine', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await mkdir(join(base, 'real'));
      await symlink(join(base, 'real'), join(base, 'linked'));
      await checkSwapDirs({ ...s, stateDir: join(base, 'linked', '.app.tufup') });
    });
  });

  test('a dangling link as the parent is UNSAFE_PATH (stat-based walking used to skip it and check its parent)', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await symlink(join(base, 'gone'), join(base, 'dangling'));
      await assert.rejects(
        checkSwapDirs({ ...s, stateDir: join(base, 'dangling', '.app.tufup') }),
        (err: unknown) => err instanceof InstallerWinError && err.code === 'UNSAFE_PATH',
      );
    });
  });

  test('a staged dir that is missing is SOURCE_MISSING', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await assert.rejects(
        checkSwapDirs({ ...s, srcDir: join(base, 'nope'), stateDir: join(base, '.app.tufup') }),
        (err: unknown) => err instanceof InstallerWinError && err.code === 'SOURCE_MISSING',
      );
    });
  });
});
