// The cover scan on several threads gives exactly the sequential scan's covers, with either finder, and a
// diff's patch is byte for byte the same whatever its thread count.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { chooseIndexed, type Cover, findCovers, findCoversThreaded } from '../src/diff/engine/cover.js';
import { HashChainSearch } from '../src/diff/engine/hash-search.js';
import { scanCovers } from '../src/diff/engine/scan.js';
import { partStarts, scanCoversParallel, threadsPay } from '../src/diff/engine/scan-parallel.js';
import { SuffixSearch } from '../src/diff/engine/suffix-search.js';
import { diff } from '../src/index.js';
import { editedCopy, randomBytes, seeded, wordy } from './native-support.js';

function shared(b: Uint8Array): Uint8Array {
  const s = new Uint8Array(new SharedArrayBuffer(b.length));
  s.set(b);
  return s;
}

/**
 * A pair like a recompiled executable: old is blocks of random "code" and text, new the same blocks
 * reordered in places, with sprinkled address changes (every ~12th byte of some stretches), edits, and
 * new blocks; so the scan jumps, follows approximate diagonals and leaves literal stretches.
 */
function recompiledPair(size: number, seed: number): { old: Uint8Array; neu: Uint8Array } {
  const rand = seeded(seed);
  const blocks: Uint8Array[] = [];
  for (let n = 0; n < size; ) {
    const len = 2000 + ((rand() * 60_000) | 0);
    const b = rand() < 0.6 ? randomBytes(len, rand) : wordy(len, rand);
    blocks.push(b);
    n += len;
  }
  const old = Buffer.concat(blocks);
  const out: Uint8Array[] = [];
  for (const b of blocks) {
    const r = rand();
    if (r < 0.1) continue; // dropped
    const c = r < 0.5 ? editedCopy(b, rand, 3) : Uint8Array.from(b);
    if (r > 0.7)
      for (let i = (rand() * 12) | 0; i < c.length; i += 8 + ((rand() * 8) | 0)) c[i] = (c[i] as number) + 1;
    out.push(c);
    if (rand() < 0.15) out.push(randomBytes(500 + ((rand() * 5000) | 0), rand));
  }
  // Some moved blocks.
  for (let k = 0; k < 5; k++) {
    const i = (rand() * out.length) | 0;
    const j = (rand() * out.length) | 0;
    [out[i], out[j]] = [out[j] as Uint8Array, out[i] as Uint8Array];
  }
  return { old, neu: Buffer.concat(out) };
}

test('threaded findCovers equals findCovers on recompiled-like pairs, 2 and 3 threads', async () => {
  for (const seed of [1, 2]) {
    const { old, neu } = recompiledPair(2_500_000, seed);
    const want = findCovers(old, neu);
    assert.ok(want.length > 100, `${want.length} covers`);
    // These pairs really are scanned on several threads (the estimate finds matches in every part).
    assert.ok(threadsPay(neu, new SuffixSearch(old), partStarts(neu.length, 2), 2));
    for (const threads of [2, 3]) {
      const got = await findCoversThreaded(shared(old), shared(neu), { threads });
      assert.deepEqual(got, want, `seed ${seed}, ${threads} threads`);
    }
  }
});

test('threaded scan over hash chains equals the sequential scan, also with tiny parts', async () => {
  const { old, neu } = recompiledPair(1_200_000, 3);
  const so = shared(old);
  const sn = shared(neu);
  const finder = new HashChainSearch(so, { stride: 3, depth: 16, shared: true });
  const want: Cover[] = [];
  scanCovers(so, sn, finder, want, { farMargin: 40 });
  for (const threads of [2, 4]) {
    const got = await scanCoversParallel(
      so,
      sn,
      finder,
      { kind: 'hash-chains', stride: 3, depth: 16, ...finder.index },
      {
        farMargin: 40,
        threads,
      },
    );
    assert.deepEqual(got, want, `${threads} threads`);
  }
});

/**
 * A pair like a binary rebuilt by another compiler: new is old's "code" (random bytes) with a changed byte
 * every 40 to 200 bytes (so nothing long enough for an anchor stays unchanged), some of it dropped, with
 * new code in between.
 */
function rebuiltPair(size: number, seed: number): { old: Uint8Array; neu: Uint8Array } {
  const rand = seeded(seed);
  const old = randomBytes(size, rand);
  const out: Uint8Array[] = [];
  for (let at = 0; at < size; ) {
    const len = Math.min(size - at, 5_000 + ((rand() * 40_000) | 0));
    if (rand() < 0.85) {
      const c = Uint8Array.from(old.subarray(at, at + len));
      for (let i = (rand() * 40) | 0; i < len; i += 40 + ((rand() * 160) | 0)) c[i] = (c[i] as number) ^ 0x10;
      out.push(c);
    }
    if (rand() < 0.3) out.push(randomBytes(2_000 + ((rand() * 20_000) | 0), rand));
    at += len;
  }
  return { old, neu: Buffer.concat(out) };
}

test('machine code that anchors leave unmatched gets hash chains with short-string answers: same covers on 1, 2 and 3 threads', async () => {
  const { old, neu } = rebuiltPair(2_000_000, 7);
  const indexed = chooseIndexed(old, neu, {});
  assert.equal(indexed.anchored, undefined, 'too little anchored');
  assert.deepEqual(
    [indexed.plan.finder, indexed.plan.stride, indexed.plan.shortAnswers],
    ['hash-chains', 1, true],
  );
  // Text (and old files beyond what a suffix array would take) keeps what the memory plan says.
  const text = wordy(300_000, seeded(8));
  assert.equal(
    chooseIndexed(text, editedCopy(text, seeded(9), 400), { anchors: 'never' }).plan.finder,
    'suffix-array',
  );
  // Really scanned on several threads (the estimate finds matches in every part).
  assert.ok(threadsPay(neu, new HashChainSearch(old, { stride: 1 }), partStarts(neu.length, 2), 2));
  const want = findCovers(old, neu);
  let covered = 0;
  for (const c of want) covered += c.length;
  assert.ok(covered > 0.7 * neu.length, `${covered} of ${neu.length} bytes covered`);
  for (const threads of [2, 3]) {
    const got = await findCoversThreaded(shared(old), shared(neu), { threads });
    assert.deepEqual(got, want, `${threads} threads`);
  }
});

test('diff writes the same patch with 1 and 2 threads, and rejects a bad thread count', async () => {
  await withTempDir(async (dir) => {
    const { old, neu } = recompiledPair(1_500_000, 4);
    await writeFile(join(dir, 'old'), old);
    await writeFile(join(dir, 'new'), neu);
    const one = await diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'p1'), { threads: 1 });
    const two = await diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'p2'), { threads: 2 });
    assert.equal(one.sha256, two.sha256);
    assert.deepEqual(await readFile(join(dir, 'p1')), await readFile(join(dir, 'p2')));
    await assert.rejects(diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'p3'), { threads: 0 }), {
      code: 'INVALID_ARGUMENT',
    });
  });
});

test('an aborted threaded diff rejects with the AbortError and leaves no patch', async () => {
  await withTempDir(async (dir) => {
    const { old, neu } = recompiledPair(2_000_000, 5);
    await writeFile(join(dir, 'old'), old);
    await writeFile(join(dir, 'new'), neu);
    const ac = new AbortController();
    const run = diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'p'), {
      threads: 2,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.phase === 'diff' && e.done > 0) ac.abort();
      },
    });
    const err = await run.then(
      () => undefined,
      (e) => e,
    );
    assert.equal(err?.name, 'AbortError', String(err));
    await assert.rejects(readFile(join(dir, 'p')), { code: 'ENOENT' });
  });
});

test('a new file that matches almost nothing is scanned on one thread (the walk would rescan every part), same covers', async () => {
  const rand = seeded(6);
  const old = randomBytes(1_500_000, rand);
  const neu = Buffer.concat([old.subarray(0, 100_000), randomBytes(1_900_000, rand)]);
  const so = shared(old);
  const sn = shared(neu);
  assert.equal(threadsPay(sn, new SuffixSearch(so), partStarts(sn.length, 2), 2), false);
  assert.deepEqual(await findCoversThreaded(so, sn, { threads: 2 }), findCovers(old, neu));
});
