// recover() on every state an interrupted swap can leave, built by hand with real renames.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { InstallerMacError } from '../src/errors.js';
import { defaultStateDir } from '@tufup/common';
import { recover } from '../src/index.js';
import { type Journal, journalPath, newJournal, writeJournal } from '../src/journal.js';
import { writeLockRecord } from './support/app.js';
import { listTree, makeNewTree, makeOldTree, sortedEntries } from './support/trees.js';

async function scene(base: string) {
  const root = await realpath(base);
  const dst = join(root, 'app');
  const src = join(root, 'staged');
  await makeOldTree(dst);
  await makeNewTree(src);
  const stateDir = defaultStateDir(dst);
  await mkdir(stateDir);
  const journal = newJournal(stateDir, { appName: 'demo', version: '2.0', dstDir: dst, srcDir: src });
  return {
    dst,
    src,
    stateDir,
    journal,
    oldList: await listTree(dst),
    newList: await listTree(src),
    dstIno: (await stat(dst)).ino,
    write: (phase: Journal['phase'], patch: Partial<Journal> = {}) =>
      writeJournal(stateDir, { ...journal, phase, ...patch }),
  };
}

const entries = async (dir: string) => sortedEntries(await listTree(dir));

describe('recover() after an interrupted swap', () => {
  test('with no state dir it reports clean and creates nothing', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await rm(s.stateDir, { recursive: true });
      assert.deepEqual(await recover(s.dst), { outcome: 'clean' });
      assert.equal(existsSync(s.stateDir), false);
    });
  });

  test('phase preparing: rolls back, deletes the half-preserved staged dir, never moves the running app', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await s.write('preparing');
      await writeFile(join(s.src, 'data', 'settings.json'), 'half copied');
      assert.deepEqual(await recover(s.dst), { outcome: 'rolled-back', version: '2.0' });
      assert.deepEqual(await entries(s.dst), sortedEntries(s.oldList));
      assert.equal((await stat(s.dst)).ino, s.dstIno, 'dstDir is the same directory, not a moved copy');
      assert.equal(existsSync(s.src), false);
      assert.deepEqual(await readdir(s.stateDir), []);
    });
  });

  test('phase swapping before the first rename: rolls back', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await s.write('swapping');
      assert.equal((await recover(s.dst)).outcome, 'rolled-back');
      assert.deepEqual(await entries(s.dst), sortedEntries(s.oldList));
      assert.equal((await stat(s.dst)).ino, s.dstIno);
      assert.deepEqual(await readdir(s.stateDir), []);
    });
  });

  test('phase swapping between the renames (app dir missing): moves the new version in', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await s.write('swapping');
      await rename(s.dst, s.journal.backupDir);
      assert.deepEqual(await recover(s.dst), { outcome: 'completed', version: '2.0' });
      assert.deepEqual(await entries(s.dst), sortedEntries(s.newList));
      assert.equal(existsSync(s.src), false);
      assert.deepEqual(await readdir(s.stateDir), []);
    });
  });

  test('phase swapping between the renames with the staged dir gone: puts the old version back', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await s.write('swapping');
      await rename(s.dst, s.journal.backupDir);
      await rm(s.src, { recursive: true, force: true });
      assert.equal((await recover(s.dst)).outcome, 'rolled-back');
      assert.deepEqual(await entries(s.dst), sortedEntries(s.oldList));
      assert.deepEqual(await readdir(s.stateDir), []);
    });
  });

  test('phase swapping after both renames: keeps the new version and deletes the backup', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await s.write('swapping');
      await rename(s.dst, s.journal.backupDir);
      await rename(s.src, s.dst);
      const newIno = (await stat(s.dst)).ino;
      assert.equal((await recover(s.dst)).outcome, 'completed');
      assert.deepEqual(await entries(s.dst), sortedEntries(s.newList));
      assert.equal((await stat(s.dst)).ino, newIno, 'the running new version is not moved');
      assert.deepEqual(await readdir(s.stateDir), []);
    });
  });

  test('phase swapped with a half-deleted backup: finishes deleting it', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await rename(s.dst, s.journal.backupDir);
      await rename(s.src, s.dst);
      await rm(join(s.journal.backupDir, 'lib'), { recursive: true });
      await s.write('swapped');
      assert.equal((await recover(s.dst)).outcome, 'completed');
      assert.deepEqual(await entries(s.dst), sortedEntries(s.newList));
      assert.deepEqual(await readdir(s.stateDir), []);
    });
  });

  test('phase swapped with the backup already gone: just removes the journal', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await rm(s.dst, { recursive: true, force: true });
      await rename(s.src, s.dst);
      await s.write('swapped');
      assert.equal((await recover(s.dst)).outcome, 'completed');
      assert.deepEqual(await readdir(s.stateDir), []);
      assert.deepEqual(await recover(s.dst), { outcome: 'clean' }, 'a second call has nothing to do');
    });
  });

  test('phase swapped but the new version vanished: RECOVERY_FAILED and the partial backup is left alone', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await rename(s.dst, s.journal.backupDir);
      await s.write('swapped');
      const backupBefore = await entries(s.journal.backupDir);
      await assert.rejects(recover(s.dst), (err: unknown) => {
        assert.ok(err instanceof InstallerMacError);
        assert.equal(err.code, 'RECOVERY_FAILED');
        return true;
      });
      assert.deepEqual(await entries(s.journal.backupDir), backupBefore);
      assert.ok(existsSync(journalPath(s.stateDir)), 'the journal stays for a human to look at');
    });
  });

  test('a journal written for another install dir: JOURNAL_MISMATCH, nothing touched', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await s.write('preparing', { dstDir: join(await realpath(base), 'other') });
      await assert.rejects(recover(s.dst), { code: 'JOURNAL_MISMATCH' });
      assert.ok(existsSync(s.src));
    });
  });

  test('a journal whose backup path points outside the state dir: JOURNAL_INVALID, nothing deleted', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      const victim = join(await realpath(base), 'victim');
      await mkdir(victim);
      await writeFile(join(victim, 'keep'), 'x');
      await s.write('swapped', { backupDir: victim });
      await assert.rejects(recover(s.dst), { code: 'JOURNAL_INVALID' });
      assert.equal(await readFile(join(victim, 'keep'), 'utf8'), 'x');
    });
  });

  test('a journal whose staged dir is inside the app dir: JOURNAL_INVALID, nothing deleted', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await s.write('preparing', { srcDir: join(s.dst, 'lib') });
      await assert.rejects(recover(s.dst), { code: 'JOURNAL_INVALID' });
      assert.deepEqual(await entries(s.dst), sortedEntries(s.oldList));
    });
  });

  test('a journal that is not JSON: JOURNAL_INVALID', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await writeFile(journalPath(s.stateDir), '{"kind":');
      await assert.rejects(recover(s.dst), { code: 'JOURNAL_INVALID' });
    });
  });

  test('while a live process holds the lock: busy, and it acts once that process is gone', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await s.write('swapping');
      await rename(s.dst, s.journal.backupDir);
      const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      await new Promise((r) => holder.once('spawn', r));
      await writeLockRecord(join(s.stateDir, 'lock'), holder.pid as number);
      assert.deepEqual(await recover(s.dst), { outcome: 'busy' });
      assert.equal(existsSync(s.dst), false, 'nothing was done while busy');
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
      assert.equal((await recover(s.dst)).outcome, 'completed');
      assert.deepEqual(await entries(s.dst), sortedEntries(s.newList));
      assert.deepEqual(await readdir(s.stateDir), []);
    });
  });

  test('debris of a killed writer (torn journal temp file, dead lock) is cleaned and reported clean', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      await writeFile(join(s.stateDir, '.journal.json.0123456789ab.tmp'), '{"kind":"tufup-');
      await writeLockRecord(join(s.stateDir, 'lock'), 4_194_305);
      assert.deepEqual(await recover(s.dst), { outcome: 'clean' });
      assert.deepEqual(await readdir(s.stateDir), []);
      assert.deepEqual(await entries(s.dst), sortedEntries(s.oldList));
    });
  });
});
