// BSDIFF40 interoperability: Debian bspatch applies our patches, we apply Debian bsdiff's and python tufup's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type ProgressEvent, withTempDir } from '@tufup/common';
import { applyBsdiff40 } from '../src/apply/bsdiff40/apply.js';
import { createBsdiff40, writeBsdiff40 } from '../src/diff/bsdiff40/write.js';
import type { Cover } from '../src/diff/engine/cover.js';
import {
  assertDirHolds,
  assertPatchCode,
  editedCopy,
  FIXTURE,
  randomBytesSeeded,
  run,
  seededRandom,
  wordsSeeded,
} from './bsdiff-support.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function pairs(): [string, Uint8Array, Uint8Array][] {
  const rand = seededRandom(99);
  const words = wordsSeeded(rand, 200_000);
  const random = randomBytesSeeded(rand, 120_000);
  const mixed = Buffer.concat([
    wordsSeeded(rand, 50_000),
    randomBytesSeeded(rand, 50_000),
    new Uint8Array(30_000),
  ]);
  return [
    ['edited text', words, editedCopy(rand, words)],
    ['edited random bytes', random, editedCopy(rand, random)],
    ['mixed, shifted', mixed, Buffer.concat([randomBytesSeeded(rand, 777), editedCopy(rand, mixed)])],
    ['empty old', new Uint8Array(0), wordsSeeded(rand, 10_000)],
    ['empty new', words.subarray(0, 5000), new Uint8Array(0)],
    ['identical', random, random],
  ];
}

test('Debian bspatch applies our BSDIFF40 patches byte-exactly, and so do we', async () => {
  await withTempDir(async (dir) => {
    for (const [name, oldBytes, newBytes] of pairs()) {
      const [oldPath, newPath, patchPath] = ['old', 'new', 'ours.patch'].map((f) => join(dir, f)) as [
        string,
        string,
        string,
      ];
      await writeFile(oldPath, oldBytes);
      await writeFile(newPath, newBytes);
      const made = await createBsdiff40(oldPath, newPath, patchPath);
      const patchBytes = await readFile(patchPath);
      assert.equal(made.size, patchBytes.length, name);
      assert.equal(made.sha256, sha256(patchBytes), name);
      await run('bspatch', [oldPath, join(dir, 'by-bspatch'), patchPath]);
      assert.equal(sha256(await readFile(join(dir, 'by-bspatch'))), sha256(newBytes), `bspatch: ${name}`);
      const applied = await applyBsdiff40(oldPath, patchPath, join(dir, 'by-us'), {
        expect: { size: newBytes.length, sha256: sha256(newBytes) },
      });
      assert.equal(applied.sha256, sha256(newBytes), `ours: ${name}`);
    }
  });
});

test('writeBsdiff40 turns hand-made covers (approximate, backward seeks, adjacent) into patches bspatch applies', async () => {
  const rand = seededRandom(5);
  const oldBytes = randomBytesSeeded(rand, 10_000);
  const newBytes = Buffer.concat([
    oldBytes.subarray(6000, 7000), // cover at new 0 that starts far into old
    oldBytes.subarray(100, 600), // adjacent cover, backward seek
    Buffer.from('literal bytes between covers'),
    oldBytes.subarray(2000, 4000),
    Buffer.from('tail'),
  ]);
  for (let i = 1500; i < 1600; i += 3) newBytes[i] = (newBytes[i] as number) ^ 0x55; // approximate match inside a cover
  const coverSets: [string, Cover[]][] = [
    [
      'approximate covers',
      [
        { oldPos: 6000, newPos: 0, length: 1000 },
        { oldPos: 100, newPos: 1000, length: 500 },
        { oldPos: 2000, newPos: 1528, length: 2000 },
      ],
    ],
    ['no covers (all literal)', []],
    ['a cover that is mostly differences', [{ oldPos: 0, newPos: 200, length: 3000 }]],
  ];
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), oldBytes);
    for (const [name, covers] of coverSets) {
      const patchPath = join(dir, 'hand.patch');
      await writeBsdiff40(oldBytes, newBytes, covers, patchPath);
      await run('bspatch', [join(dir, 'old'), join(dir, 'by-bspatch'), patchPath]);
      assert.equal(sha256(await readFile(join(dir, 'by-bspatch'))), sha256(newBytes), name);
      const applied = await applyBsdiff40(join(dir, 'old'), patchPath, join(dir, 'by-us'));
      assert.equal(applied.sha256, sha256(newBytes), name);
    }
  });
});

test('writeBsdiff40 refuses covers that overlap or leave the buffers with INVALID_ARGUMENT', async () => {
  const oldBytes = new Uint8Array(100);
  const newBytes = new Uint8Array(100);
  const bad: Cover[][] = [
    [{ oldPos: 90, newPos: 0, length: 20 }],
    [{ oldPos: 0, newPos: 95, length: 10 }],
    [
      { oldPos: 0, newPos: 10, length: 10 },
      { oldPos: 0, newPos: 15, length: 10 },
    ],
    [{ oldPos: 0, newPos: 0, length: 0 }],
    [{ oldPos: -1, newPos: 0, length: 5 }],
  ];
  await withTempDir(async (dir) => {
    for (const covers of bad) {
      await assertPatchCode(
        () => writeBsdiff40(oldBytes, newBytes, covers, join(dir, 'p')),
        'INVALID_ARGUMENT',
      );
    }
    await assertDirHolds(dir, []);
  });
});

test('we apply Debian bsdiff patches byte-exactly', async () => {
  await withTempDir(async (dir) => {
    // Debian bsdiff cannot mmap an empty file, so those pairs are left out here.
    for (const [name, oldBytes, newBytes] of pairs().filter(([, o, n]) => o.length > 0 && n.length > 0)) {
      await writeFile(join(dir, 'old'), oldBytes);
      await writeFile(join(dir, 'new'), newBytes);
      await run('bsdiff', [join(dir, 'old'), join(dir, 'new'), join(dir, 'debian.patch')]);
      const applied = await applyBsdiff40(join(dir, 'old'), join(dir, 'debian.patch'), join(dir, 'out'), {
        expect: { size: newBytes.length, sha256: sha256(newBytes) },
      });
      assert.equal(applied.size, newBytes.length, name);
      assert.equal(sha256(await readFile(join(dir, 'out'))), sha256(newBytes), name);
    }
  });
});

test('python tufup fixture patches rebuild the tar their signed custom metadata names', async () => {
  const manifest = JSON.parse(await readFile(join(FIXTURE, 'manifest.json'), 'utf8')) as {
    versions: string[];
    app_name: string;
  };
  const targets = JSON.parse(await readFile(join(FIXTURE, 'repository/metadata/targets.json'), 'utf8')) as {
    signed: { targets: Record<string, { custom: { tufup: { tar_hash: string; tar_size: number } } }> };
  };
  const targetsDir = join(FIXTURE, 'repository/targets');
  let applied = 0;
  await withTempDir(async (dir) => {
    for (let i = 1; i < manifest.versions.length; i++) {
      const prev = `${manifest.app_name}-${manifest.versions[i - 1]}`;
      const next = `${manifest.app_name}-${manifest.versions[i]}`;
      const info = targets.signed.targets[`${next}.patch`];
      assert.ok(info, `${next}.patch is in targets.json`);
      await writeFile(join(dir, 'prev.tar'), gunzipSync(await readFile(join(targetsDir, `${prev}.tar.gz`))));
      const expect = { size: info.custom.tufup.tar_size, sha256: info.custom.tufup.tar_hash };
      const result = await applyBsdiff40(
        join(dir, 'prev.tar'),
        join(targetsDir, `${next}.patch`),
        join(dir, 'next.tar'),
        {
          expect,
        },
      );
      assert.deepEqual(result, expect);
      // The rebuilt tar is the one inside the next archive.
      const nextTar = gunzipSync(await readFile(join(targetsDir, `${next}.tar.gz`)));
      assert.equal(sha256(await readFile(join(dir, 'next.tar'))), sha256(nextTar));
      applied++;
    }
  });
  assert.equal(applied, 4);
});

test('a wrong expected size or hash is OUTPUT_MISMATCH and leaves no output file', async () => {
  const [, oldBytes, newBytes] = pairs()[0] as [string, Uint8Array, Uint8Array];
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), oldBytes);
    await writeFile(join(dir, 'new'), newBytes);
    await createBsdiff40(join(dir, 'old'), join(dir, 'new'), join(dir, 'p'));
    const apply = (expect: { size: number; sha256: string }) =>
      applyBsdiff40(join(dir, 'old'), join(dir, 'p'), join(dir, 'out'), { expect });
    await assertPatchCode(
      () => apply({ size: newBytes.length + 1, sha256: sha256(newBytes) }),
      'OUTPUT_MISMATCH',
    );
    await assertPatchCode(
      () => apply({ size: newBytes.length, sha256: sha256(oldBytes) }),
      'OUTPUT_MISMATCH',
    );
    // Applied to another old file of the same size the patch still "works" (BSDIFF40 has no base hash):
    // only expect catches it.
    await writeFile(join(dir, 'old'), Buffer.from(oldBytes).reverse());
    await assertPatchCode(
      () => apply({ size: newBytes.length, sha256: sha256(newBytes) }),
      'OUTPUT_MISMATCH',
    );
    await assertDirHolds(dir, ['new', 'old', 'p']);
  });
});

test('apply reports progress up to the new size, and an abort leaves no output file', async () => {
  const rand = seededRandom(8);
  const oldBytes = wordsSeeded(rand, 3_000_000);
  const newBytes = editedCopy(rand, oldBytes);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), oldBytes);
    await writeFile(join(dir, 'new'), newBytes);
    const createEvents: ProgressEvent[] = [];
    await createBsdiff40(join(dir, 'old'), join(dir, 'new'), join(dir, 'p'), {
      onProgress: (e) => createEvents.push(e),
    });
    assert.deepEqual(createEvents.at(-1), {
      phase: 'compress',
      done: newBytes.length,
      total: newBytes.length,
      unit: 'bytes',
    });
    const events: ProgressEvent[] = [];
    await applyBsdiff40(join(dir, 'old'), join(dir, 'p'), join(dir, 'out'), {
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual(events.at(-1), {
      phase: 'apply',
      done: newBytes.length,
      total: newBytes.length,
      unit: 'bytes',
    });
    for (let i = 1; i < events.length; i++)
      assert.ok((events[i] as ProgressEvent).done >= (events[i - 1] as ProgressEvent).done);

    const controller = new AbortController();
    let aborted: unknown;
    try {
      await applyBsdiff40(join(dir, 'old'), join(dir, 'p'), join(dir, 'out2'), {
        signal: controller.signal,
        onProgress: (e) => {
          if (e.done > 0) controller.abort();
        },
      });
    } catch (err) {
      aborted = err;
    }
    assert.equal((aborted as Error | undefined)?.name, 'AbortError');
    await assertDirHolds(dir, ['new', 'old', 'out', 'p']);
  });
});
