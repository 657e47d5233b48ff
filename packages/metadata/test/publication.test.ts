// Tests of the journaled publication: a change is staged, committed by one journal write, then moved in place.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir, writeFileAtomic } from '@tufup/common';
import { Publication, recoverInterrupted } from '../src/publication.js';

test('recovery completes a committed change that was interrupted halfway through its moves', async () => {
  await withTempDir(async (repo) => {
    await mkdir(join(repo, 'metadata'));
    await mkdir(join(repo, 'targets'));
    for (const name of ['targets.json', 'snapshot.json', 'timestamp.json'])
      await writeFileAtomic(join(repo, 'metadata', name), `old ${name}`);
    await writeFileAtomic(join(repo, 'targets', 'app-1.0.tar.gz'), 'old archive');
    const publication = await Publication.begin(repo, 'test');
    await publication.writeFile('targets/app-2.0.tar.gz', 'new archive');
    for (const name of ['targets.json', 'snapshot.json', 'timestamp.json'])
      await publication.writeFile(`metadata/${name}`, `new ${name}`);
    publication.delete('targets/app-1.0.tar.gz');
    // Simulate a kill after the commit point with two files already moved.
    const plan = publication.plan();
    assert.deepEqual(plan.files, [
      'targets/app-2.0.tar.gz',
      'metadata/targets.json',
      'metadata/snapshot.json',
      'metadata/timestamp.json',
    ]);
    await writeFileAtomic(join(publication.dir, 'journal.json'), JSON.stringify(plan));
    for (const f of plan.files.slice(0, 2))
      await rename(publication.stagedPath(f), join(repo, ...f.split('/')));
    assert.equal(await readFile(join(repo, 'metadata', 'snapshot.json'), 'utf8'), 'old snapshot.json');

    const report = await recoverInterrupted(repo);
    assert.deepEqual(report.rolledForward, ['test']);
    for (const name of ['targets.json', 'snapshot.json', 'timestamp.json']) {
      assert.equal(await readFile(join(repo, 'metadata', name), 'utf8'), `new ${name}`);
    }
    assert.deepEqual((await readdir(join(repo, 'targets'))).sort(), ['app-2.0.tar.gz']);
    assert.deepEqual((await readdir(repo)).sort(), ['metadata', 'targets']);

    // An uncommitted staging dir (no journal) is discarded instead.
    const abandoned = await Publication.begin(repo, 'abandoned');
    await abandoned.writeFile('metadata/timestamp.json', 'never published');
    const report2 = await recoverInterrupted(repo);
    assert.equal(report2.discarded.length, 1);
    assert.equal(await readFile(join(repo, 'metadata', 'timestamp.json'), 'utf8'), 'new timestamp.json');
    assert.deepEqual((await readdir(repo)).sort(), ['metadata', 'targets']);
  });
});

test('with consistent snapshots the versioned files move in with their role: N.targets.json before the snapshot, timestamp last', async () => {
  await withTempDir(async (repo) => {
    const publication = await Publication.begin(repo, 'test');
    for (const name of [
      'timestamp.json',
      '5.snapshot.json',
      'snapshot.json',
      '5.targets.json',
      'targets.json',
      '3.root.json',
      'root.json',
    ])
      await publication.writeFile(`metadata/${name}`, name);
    await publication.writeFile('targets/0123.app-2.0.tar.gz', 'archive');
    assert.deepEqual(publication.plan().files, [
      'targets/0123.app-2.0.tar.gz',
      'metadata/3.root.json',
      'metadata/root.json',
      'metadata/5.targets.json',
      'metadata/targets.json',
      'metadata/5.snapshot.json',
      'metadata/snapshot.json',
      'metadata/timestamp.json',
    ]);
    await publication.discard();
  });
});
