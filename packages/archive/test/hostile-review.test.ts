// Hostile archives found in review: each refused with its code, on the libuv path and on the small-file worker's.
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { extractArchive } from '../src/index.js';
import { type RawMember, rawTar, rejectsWithCode } from './helpers.js';

/** Enough small files before `member` that it is written by the worker thread rather than through libuv. */
const smallFiles = (n: number): RawMember[] =>
  Array.from({ length: n }, (_, i) => ({ name: `f${i}`, data: `${i}` }));

test('an mtime beyond what a Date holds is CORRUPT_ARCHIVE (not an I/O error), for small, worker-written and large files', async () => {
  const cases: RawMember[][] = [];
  for (const mtime of ['9999999999999999', '-9999999999999999']) {
    const odd = { pax: { mtime } };
    cases.push([{ name: 'a', data: 'x', ...odd }]);
    cases.push([...smallFiles(80), { name: 'a', data: 'x', ...odd }]);
    cases.push([{ name: 'big', data: Buffer.alloc(300_000), ...odd }]);
  }
  await withTempDir(async (tmp) => {
    for (const members of cases) {
      await writeFile(join(tmp, 'odd.tar'), rawTar(members));
      await rejectsWithCode(extractArchive(join(tmp, 'odd.tar'), join(tmp, 'dest')), 'CORRUPT_ARCHIVE');
      assert.deepEqual(await readdir(tmp), ['odd.tar']);
    }
  });
});
