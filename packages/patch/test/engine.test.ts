// The engine's parts against brute force: suffix arrays, longest-match finders, cover invariants, memory plan.
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { buildChainsSplit, type Cover, findCovers, planDiffMemory } from '../src/diff/engine/cover.js';
import { HashChainSearch } from '../src/diff/engine/hash-search.js';
import { scanCovers } from '../src/diff/engine/scan.js';
import {
  answerAt,
  buildShortStrings,
  shortAnswers,
  shortMatchLength,
  shortStringsBytes,
} from '../src/diff/engine/short-strings.js';
import { buildSuffixArray } from '../src/diff/engine/suffix-array.js';
import { SuffixSearch } from '../src/diff/engine/suffix-search.js';
import { diff } from '../src/index.js';
import { assertCode, editedCopy, randomBytes, seeded, wordy } from './native-support.js';

function compareSuffixes(t: Uint8Array, a: number, b: number): number {
  while (a < t.length && b < t.length) {
    if (t[a] !== t[b]) return (t[a] as number) - (t[b] as number);
    a++;
    b++;
  }
  return a === t.length ? -1 : 1;
}

test('suffix array equals a brute-force sort on random, repetitive and degenerate texts', () => {
  const rand = seeded(3);
  const texts: Uint8Array[] = [
    new Uint8Array(0),
    Uint8Array.of(5),
    new Uint8Array(300).fill(7),
    Uint8Array.from({ length: 500 }, (_, i) => (i % 3 === 0 ? 1 : 2)),
    Uint8Array.from({ length: 700 }, () => ((rand() * 2) | 0) + 97),
    Uint8Array.from({ length: 900 }, (_, i) => [0, 1, 0, 0, 1, 0, 1, 0][i % 8] as number),
    randomBytes(2000, rand),
    wordy(3000, rand),
  ];
  for (const t of texts) {
    const sa = buildSuffixArray(t);
    const expected = Array.from({ length: t.length }, (_, i) => i).sort((a, b) => compareSuffixes(t, a, b));
    assert.deepEqual(Array.from(sa), expected, `text of ${t.length} bytes`);
  }
});

function longestBrute(old: Uint8Array, q: Uint8Array, pos: number): number {
  let best = 0;
  for (let s = 0; s < old.length; s++) {
    let k = 0;
    while (s + k < old.length && pos + k < q.length && old[s + k] === q[pos + k]) k++;
    best = Math.max(best, k);
  }
  return best;
}

test('suffix-array search finds the longest match (2+ bytes); hash chains every one of 7+ bytes', () => {
  const rand = seeded(4);
  const old = wordy(4000, rand);
  const neu = editedCopy(old, rand, 30);
  const sa = new SuffixSearch(old);
  const hc = new HashChainSearch(old, { stride: 2, depth: 64 });
  for (let pos = 0; pos < neu.length; pos += 37) {
    const want = longestBrute(old, neu, pos);
    sa.search(neu, pos, neu.length, -1);
    // A single shared byte is reported as no match (it is worth nothing to the scan).
    assert.equal(sa.matchLength, want >= 2 ? want : 0, `suffix array at ${pos}`);
    assert.ok(
      Buffer.from(old.subarray(sa.matchPos, sa.matchPos + sa.matchLength)).equals(
        neu.subarray(pos, pos + sa.matchLength),
      ),
    );
    hc.search(neu, pos, neu.length, -1);
    if (want >= 7) assert.equal(hc.matchLength, want, `hash chains at ${pos}`);
    assert.ok(
      Buffer.from(old.subarray(hc.matchPos, hc.matchPos + hc.matchLength)).equals(
        neu.subarray(pos, pos + hc.matchLength),
      ),
    );
  }
});

test('hash chains built in two halves at once (a worker, then joined) equal one build in order', async () => {
  const rand = seeded(21);
  // Text with repeats (long chains, chain ends in both halves) and sizes that do not divide by the stride.
  for (const [size, stride] of [
    [300_001, 1],
    [300_002, 2],
    [250_000, 3],
    [7, 3],
  ] as const) {
    const old = new Uint8Array(new SharedArrayBuffer(size));
    old.set(wordy(size, rand));
    const whole = new HashChainSearch(old, { stride, shared: true }).index;
    const split = await buildChainsSplit(old, stride, undefined);
    assert.deepEqual(split.head, whole.head, `heads, ${size} bytes, stride ${stride}`);
    assert.deepEqual(split.next, whole.next, `chains, ${size} bytes, stride ${stride}`);
  }
});

test('hash chains hold every indexed position once, newest first, linked in batches across their ends', () => {
  const rand = seeded(22);
  // Sizes around the batch of positions hashed before they are linked (4096), and repeats (long chains).
  for (const [size, stride] of [
    [4096 + 5, 1],
    [3 * 4096 + 6, 3],
    [50_001, 2],
    [6, 1],
    [5, 1],
  ] as const) {
    const old = wordy(size, rand);
    const { head, next } = new HashChainSearch(old, { stride }).index;
    const indexed = size >= 6 ? Math.floor((size - 6) / stride) + 1 : 0;
    const seen = new Uint8Array(indexed);
    for (const start of head) {
      for (let e = start, prev = Number.POSITIVE_INFINITY; e >= 0; e = next[e] as number) {
        assert.ok(e < prev && e < indexed, `${size} bytes, stride ${stride}: entry ${e} after ${prev}`);
        assert.equal(seen[e], 0, 'in one chain only');
        seen[e] = 1;
        prev = e;
      }
    }
    assert.equal(
      seen.reduce((n, v) => n + v, 0),
      indexed,
      `${size} bytes, stride ${stride}: all indexed`,
    );
  }
});

test('short-string tables answer only what the suffix search would find, and most of random data', () => {
  const rand = seeded(11);
  // Text, random bytes, and bytes from a small alphabet (where most 3- and 4-byte strings occur).
  const olds = [wordy(20_000, rand), randomBytes(20_000, rand), randomBytes(20_000, rand).map((b) => b & 7)];
  for (const old of olds) {
    const sa = new SuffixSearch(old);
    const tables = buildShortStrings(old);
    let answered = 0;
    for (const neu of [editedCopy(old, rand, 50), randomBytes(5001, rand), olds[2] as Uint8Array]) {
      const answers = shortAnswers(tables, neu);
      for (let pos = 0; pos < neu.length; pos++) {
        const short = shortMatchLength(tables, neu, pos, neu.length);
        assert.equal(answerAt(answers, pos), short, `answer computed ahead at ${pos}`);
        if (short < 0) continue;
        answered++;
        sa.search(neu, pos, neu.length, -1);
        assert.equal(short, sa.matchLength, `at ${pos}`);
      }
    }
    assert.ok(answered > 0);
  }
  // Random data with nearly every 2-byte string in old: nearly every position is answered.
  const old = randomBytes(400_000, rand);
  const tables = buildShortStrings(old);
  const neu = randomBytes(10_000, rand);
  let answered = 0;
  for (let pos = 0; pos < neu.length; pos++)
    if (shortMatchLength(tables, neu, pos, neu.length) >= 0) answered++;
  assert.ok(answered > 0.9 * neu.length, `${answered} of ${neu.length} answered`);
});

test('the scan finds the same covers with and without the short-string tables', () => {
  const rand = seeded(12);
  const pairs: [Uint8Array, Uint8Array][] = [
    (() => {
      const o = randomBytes(150_000, rand);
      const n = editedCopy(o, rand, 60);
      // Stretches that match nothing long: where the tables answer.
      n.set(randomBytes(20_000, rand), 40_000);
      return [o, n] as [Uint8Array, Uint8Array];
    })(),
    (() => {
      const o = wordy(100_000, rand);
      return [o, editedCopy(o, rand, 80)] as [Uint8Array, Uint8Array];
    })(),
  ];
  for (const [old, neu] of pairs) {
    const plain: Cover[] = [];
    const fast: Cover[] = [];
    const sa = buildSuffixArray(old);
    for (const farMargin of [2, 40]) {
      plain.length = 0;
      fast.length = 0;
      scanCovers(old, neu, new SuffixSearch(old, sa), plain, { farMargin });
      scanCovers(old, neu, new SuffixSearch(old, sa, undefined, false, buildShortStrings(old)), fast, {
        farMargin,
      });
      assert.deepEqual(fast, plain);
    }
  }
});

test('hash chains with the short-string tables or answers skip most searches in unmatched stretches, covers as good', () => {
  const rand = seeded(13);
  const old = randomBytes(300_000, rand);
  const neu = editedCopy(old, rand, 60);
  // Stretches that match nothing long: where the tables answer.
  neu.set(randomBytes(60_000, rand), 40_000);
  neu.set(randomBytes(60_000, rand), 200_000);
  const counted = (finder: HashChainSearch) => {
    let searches = 0;
    const search = finder.search.bind(finder);
    finder.search = (q, pos, end, near) => {
      searches++;
      search(q, pos, end, near);
    };
    return { finder, searches: () => searches };
  };
  const tables = buildShortStrings(old);
  const answers = { at: shortAnswers(tables, neu), newLength: neu.length };
  const plain = counted(new HashChainSearch(old, { stride: 1 }));
  const withTables = counted(new HashChainSearch(old, { stride: 1, short: tables }));
  const withAnswers = counted(new HashChainSearch(old, { stride: 1, answers }));
  const covers = [plain, withTables, withAnswers].map(({ finder }) => {
    const out: Cover[] = [];
    scanCovers(old, neu, finder, out, { farMargin: 28 });
    return out;
  });
  assert.deepEqual(covers[2], covers[1], 'answers computed ahead tell what the tables tell');
  const covered = covers.map((c) => checkCovers(old, neu, c));
  assert.ok((covered[1] as number) >= 0.995 * (covered[0] as number), `${covered[1]} of ${covered[0]} bytes`);
  assert.ok(withTables.searches() < plain.searches() / 2, `${withTables.searches()} of ${plain.searches()}`);
});

function checkCovers(old: Uint8Array, neu: Uint8Array, covers: Cover[]): number {
  let end = 0;
  let covered = 0;
  for (const c of covers) {
    assert.ok(Number.isInteger(c.length) && c.length > 0, 'non-empty');
    assert.ok(c.newPos >= end, 'sorted and disjoint in new');
    assert.ok(c.oldPos >= 0 && c.oldPos + c.length <= old.length, 'inside old');
    assert.ok(c.newPos + c.length <= neu.length, 'inside new');
    end = c.newPos + c.length;
    covered += c.length;
  }
  return covered;
}

test('covers from both finders are valid and cover nearly all of an edited copy', () => {
  const rand = seeded(5);
  const old = randomBytes(200_000, rand);
  const neu = editedCopy(old, rand, 40);
  for (const finder of [new SuffixSearch(old), new HashChainSearch(old, { stride: 2 })]) {
    const covers: Cover[] = [];
    scanCovers(old, neu, finder, covers);
    assert.ok(checkCovers(old, neu, covers) > 0.97 * neu.length);
  }
  assert.ok(checkCovers(old, neu, findCovers(old, neu)) > 0.97 * neu.length);
  assert.equal(
    checkCovers(old, randomBytes(50_000, rand), findCovers(old, randomBytes(50_000, rand))) < 5000,
    true,
  );
});

test('memory plan: suffix array when small, sparser hash chains as old outgrows new, FILE_TOO_LARGE beyond', async () => {
  assert.equal(planDiffMemory(20e6, 20e6).finder, 'suffix-array');
  assert.deepEqual(
    [planDiffMemory(150e6, 150e6).stride, planDiffMemory(2 ** 31 - 1, 2 ** 31 - 1).stride],
    [3, 3],
  );
  assert.ok(planDiffMemory(300e6, 100e6).stride > 3);
  // The short-string tables come with the suffix array, counted in the estimate, and are the first to go.
  const MiB = 2 ** 20;
  const roomy = planDiffMemory(20e6, 20e6);
  assert.deepEqual([roomy.shortStrings, roomy.shortAnswers], [true, true]);
  const sa = 20e6 + 2 * 20e6 + 20e6 / 16 + 64 * MiB + 5.5 * 20e6;
  assert.equal(roomy.estimate, sa + shortStringsBytes(20e6) + 20e6 / 4);
  // The answers (2 bits per new byte) go first: 28.8 MiB old, 16 MiB new leave room for the tables only.
  const noAnswers = planDiffMemory(28.8 * MiB, 16 * MiB);
  assert.deepEqual(
    [noAnswers.finder, noAnswers.shortStrings, noAnswers.shortAnswers],
    ['suffix-array', true, false],
  );
  // 20 MiB old, tiny new: the suffix array fits the 200 MiB budget, the tables (10 MiB) do not.
  const tight = planDiffMemory(20 * MiB, 1000);
  assert.deepEqual([tight.finder, tight.shortStrings, tight.shortAnswers], ['suffix-array', false, false]);
  assert.ok(
    tight.estimate <= 6 * 1000 + 200 * MiB &&
      tight.estimate + shortStringsBytes(20 * MiB) > 6 * 1000 + 200 * MiB,
  );
  // Anchors (anchors.ts): their table (2/3 of old) must fit beside both files; a suffix array over part of
  // old is counted with that part's copy.
  assert.equal(roomy.anchors, true);
  assert.equal(planDiffMemory(100e6, 1e6).anchors, false);
  const part = planDiffMemory(20e6, 20e6, 2e6);
  assert.equal(part.finder, 'suffix-array');
  assert.equal(
    part.estimate,
    20e6 + 2e6 + 2 * 20e6 + 20e6 / 16 + 64 * MiB + 5.5 * 2e6 + shortStringsBytes(2e6) + 20e6 / 4,
  );
  assert.equal(planDiffMemory(150e6, 150e6).shortStrings, false);
  for (const p of [planDiffMemory(150e6, 150e6), planDiffMemory(300e6, 100e6)]) {
    assert.ok(p.estimate <= 6 * 100e6 + 200 * 2 ** 20 || p.estimate <= 6 * 150e6 + 200 * 2 ** 20);
  }
  assert.throws(
    () => planDiffMemory(2e9, 1e6),
    (e: Error & { code?: string }) =>
      e.code === 'FILE_TOO_LARGE' && /6 x new size \+ 200 MiB/.test(e.message),
  );
  // diff refuses before reading: a sparse 3 GB old file and a small new one fail at once.
  await withTempDir(async (dir) => {
    const fh = await open(join(dir, 'old'), 'w');
    await fh.truncate(3e9);
    await fh.close();
    await writeFile(join(dir, 'new'), 'small');
    await assertCode(() => diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'patch')), 'FILE_TOO_LARGE');
  });
});
