// Progress of `targets add` in a CI log (no TTY): every phase starts, reports while it runs, and ends.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { BIN, childEnv, makeBundle, ok, treeHash } from './helpers.js';

/**
 * A repository with release 1.0 of a 12 MiB bundle, and bundle b2 for 2.0: big enough that archiving takes many
 * intervals of 2 ms and the diff's suffix sort seconds, on any machine.
 */
async function firstReleaseAndNext(dir: string): Promise<void> {
  await ok(['init', '--non-interactive', '--app-name', 'my_app'], { cwd: dir });
  await makeBundle(join(dir, 'b1'), '1.0', 12 << 20);
  await makeBundle(join(dir, 'b2'), '2.0', 12 << 20);
  await ok(['targets', 'add', '1.0', 'b1', 'keystore'], { cwd: dir });
}

test('without a TTY, targets add prints periodic progress lines during its long phases', async () => {
  await withTempDir(async (dir) => {
    await firstReleaseAndNext(dir);
    const r = await ok(['targets', 'add', '2.0', 'b2', 'keystore'], {
      cwd: dir,
      env: { TUFUP_PROGRESS_INTERVAL_MS: '2' },
    });
    const lines = r.stderr.split('\n');
    for (const phase of ['archive', 'gunzip', 'diff', 'encode']) {
      const start = lines.findIndex((l) => l.startsWith(`${phase}: `));
      const end = lines.findIndex((l) => l.startsWith(`${phase}: done (`));
      assert.ok(start >= 0 && end > start, `${phase} starts and ends:\n${r.stderr}`);
    }
    // While a phase runs: its percentage, done and total, and the time since it started.
    const periodic = lines.filter((l) => /^[a-z-]+: \d+% \(.+ \/ .+\), \d+ s$/.test(l));
    assert.ok(periodic.length >= 2, `periodic lines:\n${r.stderr}`);
    // The diff's suffix sort reports nothing for seconds; it runs on a worker thread, so the timer's lines
    // still come while it works (on the main thread they could not: it would block the timer).
    const diffStart = lines.findIndex((l) => l.startsWith('diff: '));
    const diffEnd = lines.findIndex((l) => l.startsWith('diff: done ('));
    const during = lines.slice(diffStart + 1, diffEnd).filter((l) => /^diff: \d+% /.test(l));
    assert.ok(during.length >= 2, `periodic lines during the diff:\n${r.stderr}`);
    // Nothing else on stderr but progress and the published roles, and no terminal control codes.
    assert.doesNotMatch(r.stderr, /\x1b|\r/);
  });
});

test('SIGINT during the diff stops it at once: exit 130, the repository as before', async () => {
  await withTempDir(async (dir) => {
    await firstReleaseAndNext(dir);
    const before = await treeHash(dir);
    const child = spawn(process.execPath, [BIN, 'targets', 'add', '2.0', 'b2', 'keystore'], {
      cwd: dir,
      env: childEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Wait for the line that says the diff has started (its suffix sort takes seconds), then interrupt.
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/^diff: /m.test(stderr)) resolve();
      });
      child.on('close', () => resolve());
    });
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /error \[INTERRUPTED\]/);
    assert.doesNotMatch(stderr, /diff: done/, 'interrupted before the diff ended');
    assert.deepEqual(await treeHash(dir), before);
  });
});
