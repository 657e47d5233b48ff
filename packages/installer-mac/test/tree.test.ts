// flushTree: every staged file and directory is fsynced before the swap, links are not followed.
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Logger, withTempDir } from '@tufup/common';
import { flushTree } from '../src/tree.js';

function recordingLogger(lines: string[]): Logger {
  const push = (m: string) => lines.push(m);
  return { debug: push, info: push, warn: push, error: push };
}

test('flushTree flushes each file and directory once and never follows a symlink out of the tree', async () => {
  await withTempDir(async (dir) => {
    const staged = join(dir, 'staged');
    const outside = join(dir, 'outside');
    await mkdir(join(staged, 'Contents', 'MacOS'), { recursive: true });
    await mkdir(join(staged, 'empty'));
    await mkdir(outside);
    for (const f of ['a', 'b', 'c']) await writeFile(join(outside, f), f);
    await writeFile(join(staged, 'Contents', 'Info.plist'), '<plist/>');
    await writeFile(join(staged, 'Contents', 'MacOS', 'app'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(staged, 'readme.txt'), 'hello');
    await symlink(outside, join(staged, 'link-to-outside'));
    await symlink('does-not-exist', join(staged, 'dangling'));
    const lines: string[] = [];
    // 3 files + 4 directories (staged, Contents, Contents/MacOS, empty); the links count for nothing.
    assert.equal(await flushTree(staged, recordingLogger(lines)), 7);
    assert.deepEqual(lines, []);
  });
});

test('flushTree of a missing directory rejects (the swap must not go on with nothing staged)', async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(flushTree(join(dir, 'nope'), recordingLogger([])), { code: 'ENOENT' });
  });
});
