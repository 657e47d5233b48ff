// The far-jump margin's trial (margin-trial.ts): it picks the margin that makes the smaller patch on pairs
// where the margin clearly matters, either way; its choice is the same whatever the finder's form or the
// thread count; and diffs made with the margin it picks still apply exactly.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import {
  chooseFarMargin,
  farJumpMargin,
  findCovers,
  findCoversThreaded,
  MARGIN_TRIAL_MIN_BYTES,
} from '../src/diff/engine/cover.js';
import { chooseMargin, type MarginTrial, marginCosts, trialSlices } from '../src/diff/engine/margin-trial.js';
import { scanCovers } from '../src/diff/engine/scan.js';
import { buildShortStrings, shortAnswers } from '../src/diff/engine/short-strings.js';
import { SuffixSearch } from '../src/diff/engine/suffix-search.js';
import type { Cover } from '../src/diff/engine/types.js';
import { encodeNativePatch } from '../src/diff/native/write.js';
import { apply, diff } from '../src/index.js';
import { randomBytes, seeded, wordy } from './native-support.js';

const TRIAL: MarginTrial = { candidates: [28, 16], gain: 0.015, slices: 4, sliceBytes: 16 << 10 };

/**
 * New is 22-byte pieces of old from random places: each is a far match that only margin 16 takes (22 > 16
 * but not > 28), so at 28 all of new is random literal bytes.
 */
function piecesPair(oldSize: number, newSize: number, seed: number): { old: Uint8Array; neu: Uint8Array } {
  const rand = seeded(seed);
  const old = randomBytes(oldSize, rand);
  const neu = new Uint8Array(newSize);
  for (let at = 0; at < newSize; at += 22) {
    const from = (rand() * (oldSize - 22)) | 0;
    neu.set(old.subarray(from, from + Math.min(22, newSize - at)), at);
  }
  return { old, neu };
}

/**
 * New is old with every 3rd byte of 512-byte bursts raised by one: one approximate cover of all of it, whose
 * differences cost little. Old also holds a 64-byte copy of a stretch of each burst elsewhere: at margin 16
 * the scan leaves the diagonal for each (64 > 2/3 x 64 + 16), which costs two far jumps each time.
 */
function burstsPair(size: number, seed: number): { old: Uint8Array; neu: Uint8Array } {
  const rand = seeded(seed);
  const base = randomBytes(size, rand);
  const neu = base.slice();
  const copies: Uint8Array[] = [];
  for (let at = 1000; at + 600 < size; at += 2000) {
    for (let i = 0; i < 512; i += 3) neu[at + i] = ((neu[at + i] as number) + 1) & 255;
    copies.push(neu.slice(at + 200, at + 264));
  }
  const old = new Uint8Array(size + copies.length * 200);
  old.set(base);
  copies.forEach((c, k) => {
    old.set(randomBytes(136, rand), size + k * 200);
    old.set(c, size + k * 200 + 136);
  });
  return { old, neu };
}

/** The native patch's size when all of new is scanned at `margin`. */
async function patchBytes(old: Uint8Array, neu: Uint8Array, margin: number): Promise<number> {
  const covers: Cover[] = [];
  scanCovers(old, neu, new SuffixSearch(old), covers, { farMargin: margin });
  const parts = await encodeNativePatch(old, neu, covers);
  return parts.reduce((n, p) => n + p.length, 0);
}

function shared(b: Uint8Array): Uint8Array {
  const s = new Uint8Array(new SharedArrayBuffer(b.length));
  s.set(b);
  return s;
}

test('the trial picks 16 where short far matches are real copies, and the patch is smaller for it', async () => {
  const { old, neu } = piecesPair(1 << 20, 1 << 19, 5);
  assert.equal(chooseMargin(old, neu, new SuffixSearch(old), TRIAL), 16);
  const at16 = await patchBytes(old, neu, 16);
  const at28 = await patchBytes(old, neu, 28);
  assert.ok(at16 < at28 / 2, `16: ${at16} B, 28: ${at28} B`);
});

test('the trial keeps 28 where short far matches would break a cheap approximate cover', async () => {
  const { old, neu } = burstsPair(1 << 19, 5);
  const costs = marginCosts(old, neu, new SuffixSearch(old), TRIAL);
  assert.ok((costs[0] as number) < (costs[1] as number), `estimates ${costs.join(' / ')}`);
  assert.equal(chooseMargin(old, neu, new SuffixSearch(old), TRIAL), 28);
  const at16 = await patchBytes(old, neu, 16);
  const at28 = await patchBytes(old, neu, 28);
  assert.ok(at28 < at16, `28: ${at28} B, 16: ${at16} B`);
});

test('a later candidate must beat the first by the trial gain; on a tie the first stays', () => {
  // New copies old: both margins find the same covers, the same cost.
  const rand = seeded(9);
  const old = randomBytes(300_000, rand);
  const neu = old.slice();
  const costs = marginCosts(old, neu, new SuffixSearch(old), TRIAL);
  assert.equal(costs[0], costs[1]);
  assert.equal(chooseMargin(old, neu, new SuffixSearch(old), TRIAL), 28);
  // A gain no estimate can reach keeps the first even where 16 is far cheaper.
  const p = piecesPair(1 << 20, 1 << 19, 6);
  assert.equal(chooseMargin(p.old, p.neu, new SuffixSearch(p.old), { ...TRIAL, gain: 1 }), 28);
});

test('the trial slices are evenly spread, inside new and apart', () => {
  for (const n of [1000, 100_000, 10_000_000]) {
    const slices = trialSlices(n, TRIAL);
    assert.equal(slices.length, TRIAL.slices);
    let end = 0;
    for (const s of slices) {
      assert.ok(s.start >= end && s.end > s.start && s.end <= n, `${n}: ${JSON.stringify(slices)}`);
      assert.ok(s.end - s.start <= TRIAL.sliceBytes);
      end = s.end;
    }
  }
  assert.deepEqual(trialSlices(3, TRIAL), []);
});

test('the trial costs are the same with the short-string tables, their answers for all of new, or neither', () => {
  // The threaded diff's finder answers short lengths from answers computed for the whole new file; a slice's
  // scan reads only a prefix of new, and must see the same lengths as the tables (or a real search) give.
  for (const [name, pair] of [
    ['pieces', piecesPair(1 << 19, 1 << 18, 11)],
    ['bursts', burstsPair(1 << 18, 12)],
  ] as const) {
    const { old, neu } = pair;
    const tables = buildShortStrings(old);
    const answers = { at: shortAnswers(tables, neu), newLength: neu.length };
    const plain = new SuffixSearch(old);
    const withTables = new SuffixSearch(old, plain.suffixArray, undefined, false, tables);
    const withAnswers = new SuffixSearch(old, plain.suffixArray, undefined, false, undefined, answers);
    const want = marginCosts(old, neu, plain, TRIAL);
    assert.deepEqual(marginCosts(old, neu, withTables, TRIAL), want, name);
    assert.deepEqual(marginCosts(old, neu, withAnswers, TRIAL), want, name);
    // And again: a finder keeps nothing from one trial that changes the next.
    assert.deepEqual(marginCosts(old, neu, withAnswers, TRIAL), want, name);
  }
});

test('text and new files under MARGIN_TRIAL_MIN_BYTES keep the margin without a trial', () => {
  const rand = seeded(3);
  const text = wordy(MARGIN_TRIAL_MIN_BYTES, rand);
  assert.equal(farJumpMargin(text), 32);
  assert.equal(
    chooseFarMargin(text.subarray(0, 1000), text, new SuffixSearch(text.subarray(0, 1000)), undefined),
    32,
  );
  // Below the size, even a pair the trial would give 16 keeps 28.
  const { old, neu } = piecesPair(1 << 20, 1 << 19, 5);
  assert.equal(chooseFarMargin(old, neu, new SuffixSearch(old), undefined), 28);
});

test('a diff the trial gives margin 16 is the same on 1 and 2 threads and applies exactly', async () => {
  // Pieces of a 2 MiB old: no anchors, a suffix array; with its short answers on 2 threads.
  const { old, neu } = piecesPair(2 << 20, MARGIN_TRIAL_MIN_BYTES + 12_345, 21);
  assert.equal(chooseFarMargin(old, neu, new SuffixSearch(old), undefined), 16);
  const one = findCovers(old, neu);
  const want: Cover[] = [];
  scanCovers(old, neu, new SuffixSearch(old), want, { farMargin: 16 });
  assert.deepEqual(one, want);
  assert.deepEqual(await findCoversThreaded(shared(old), shared(neu), { threads: 2 }), one);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), old);
    await writeFile(join(dir, 'new'), neu);
    const a = await diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'p1'), { threads: 1 });
    const b = await diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'p2'), { threads: 2 });
    assert.equal(a.sha256, b.sha256);
    // All of new would be literal at 28: 16 covers nearly all of it.
    assert.ok(a.size < neu.length / 4, `patch ${a.size} B`);
    await apply(join(dir, 'old'), join(dir, 'p2'), join(dir, 'out'));
    assert.ok(Buffer.from(neu).equals(await readFile(join(dir, 'out'))));
  });
});
