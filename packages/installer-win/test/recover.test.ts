// recover() on every state a killed script can leave, with real directories (runs anywhere: it is plain fs work).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withTempDir } from '@tufup/common';
import { InstallerWinError } from '../src/errors.js';
import { recover } from '../src/recover.js';
import { encodeRequestFile } from '../src/request-file.js';
import { readTree, type Tree, writeTree } from './support/harness.js';

interface Layout {
  dst: string;
  src: string;
  state: string;
  backup: string;
  journal: string;
  log: string;
  oldTree: Tree;
  newTree: Tree;
}

async function layout(root: string): Promise<Layout> {
  const dst = join(root, 'My & App');
  const src = join(root, 'staged', '2.0');
  const state = join(root, '.My & App.tufup');
  await writeTree(dst, { 'version.txt': '1.0', 'lib/a.js': 'old' });
  await writeTree(src, { 'version.txt': '2.0', 'lib/a.js': 'new', 'lib/b.js': 'new' });
  await mkdir(state);
  const l = {
    dst,
    src,
    state,
    backup: join(state, 'old-t1'),
    journal: join(state, 'journal.txt'),
    log: join(root, 'install.log'),
    oldTree: await readTree(dst),
    newTree: await readTree(src),
  };
  return l;
}

async function writeJournal(l: Layout, phases: string[], over: Record<string, string> = {}): Promise<void> {
  const fields: Record<string, string> = {
    format: '1',
    appName: 'app',
    version: '2.0',
    srcDir: l.src,
    dstDir: l.dst,
    stateDir: l.state,
    backupDir: l.backup,
    journal: l.journal,
    guardDir: join(l.state, 'running'),
    logFile: l.log,
    ...over,
  };
  const text = encodeRequestFile(Object.entries(fields)) + phases.map((p) => `phase=${p}\r\n`).join('');
  await writeFile(l.journal, text);
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof InstallerWinError, String(err));
    return err.code;
  }
  return undefined;
}

const logText = async (l: Layout) => (await readFile(l.log)).toString('utf16le');

describe('recover()', () => {
  it('reports clean when no install ever ran', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      assert.deepEqual(await recover(join(root, 'elsewhere')), { outcome: 'clean' });
      assert.deepEqual(await recover(l.dst), { outcome: 'clean' });
      assert.deepEqual(await readTree(l.dst), l.oldTree);
    });
  });

  it('rolls back a kill before the first rename: old tree kept, staged copy and journal removed', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin']);
      const r = await recover(l.dst);
      assert.deepEqual(r, { outcome: 'rolled-back', version: '2.0' });
      assert.deepEqual(await readTree(l.dst), l.oldTree);
      assert.ok(!existsSync(l.src) && !existsSync(l.journal));
      assert.match(await logText(l), /the old version is in place/);
    });
  });

  it('finishes a kill between the two renames when the journal says swapping: the new tree moves in', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin', 'swapping']);
      await rename(l.dst, l.backup);
      assert.equal((await recover(l.dst)).outcome, 'completed');
      assert.deepEqual(await readTree(l.dst), l.newTree);
      assert.deepEqual(await readdir(l.state), ['recover.lock']);
    });
  });

  it('puts the old tree back when the staged tree is gone between the renames', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin', 'swapping']);
      await rename(l.dst, l.backup);
      await rename(l.src, join(root, 'vanished'));
      assert.equal((await recover(l.dst)).outcome, 'rolled-back');
      assert.deepEqual(await readTree(l.dst), l.oldTree);
    });
  });

  it('completes a kill after the second rename: new tree kept, backup deleted', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin', 'swapping']);
      await rename(l.dst, l.backup);
      await rename(l.src, l.dst);
      assert.equal((await recover(l.dst)).outcome, 'completed');
      assert.deepEqual(await readTree(l.dst), l.newTree);
      assert.ok(!existsSync(l.backup));
    });
  });

  it('completes a kill during cleanup (journal says swapped, backup half deleted)', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin', 'swapping', 'swapped']);
      await rename(l.dst, l.backup);
      await rename(l.src, l.dst);
      await writeFile(join(l.backup, 'lib', 'a.js'), 'half');
      assert.equal((await recover(l.dst)).outcome, 'completed');
      assert.deepEqual(await readTree(l.dst), l.newTree);
      assert.ok(!existsSync(l.backup) && !existsSync(l.journal));
    });
  });

  it('finishes a rollback the script had started (journal says rolled-back, old tree still aside)', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin', 'swapping', 'rolled-back']);
      await rename(l.dst, l.backup);
      assert.equal((await recover(l.dst)).outcome, 'rolled-back');
      assert.deepEqual(await readTree(l.dst), l.oldTree);
    });
  });

  it('ignores a phase line cut off by a kill', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin']);
      await writeFile(l.journal, `${await readFile(l.journal, 'ascii')}phase=swapp`);
      assert.equal((await recover(l.dst)).outcome, 'rolled-back');
      assert.deepEqual(await readTree(l.dst), l.oldTree);
    });
  });

  it('removes old versions left by an earlier cleanup when no journal is open', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeTree(join(l.state, 'old-earlier'), { 'x.txt': 'x' });
      await writeFile(join(l.state, 'journal.txt.tmp'), 'partial');
      assert.deepEqual(await recover(l.dst), { outcome: 'clean' });
      assert.deepEqual(await readdir(l.state), ['recover.lock']);
    });
  });

  it('refuses a journal of another install dir with JOURNAL_MISMATCH and changes nothing', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin', 'swapping'], { dstDir: join(root, 'other') });
      assert.equal(await codeOf(recover(l.dst)), 'JOURNAL_MISMATCH');
      assert.deepEqual(await readTree(l.dst), l.oldTree);
      assert.ok(existsSync(l.src) && existsSync(l.journal));
    });
  });

  it('refuses a journal naming a backup outside the state dir with JOURNAL_INVALID', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin', 'swapping'], { backupDir: join(root, 'old-x') });
      assert.equal(await codeOf(recover(l.dst)), 'JOURNAL_INVALID');
    });
  });

  it('refuses a journal whose staged dir is inside the install dir with JOURNAL_INVALID', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin'], { srcDir: join(l.dst, 'lib') });
      assert.equal(await codeOf(recover(l.dst)), 'JOURNAL_INVALID');
      assert.deepEqual(await readTree(l.dst), l.oldTree);
    });
  });

  it('refuses an incomplete journal with JOURNAL_INVALID', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeFile(l.journal, 'format=1\r\nphase=begin\r\n');
      assert.equal(await codeOf(recover(l.dst)), 'JOURNAL_INVALID');
    });
  });

  it('fails with RECOVERY_FAILED when neither the install dir nor its backup exists', async () => {
    await withTempDir(async (root) => {
      const l = await layout(root);
      await writeJournal(l, ['begin']);
      await rename(l.dst, join(root, 'gone'));
      assert.equal(await codeOf(recover(l.dst)), 'RECOVERY_FAILED');
    });
  });
});
