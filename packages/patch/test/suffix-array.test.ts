// The suffix array against independent constructions: a plain comparison sort for short texts, prefix
// doubling for texts long enough to recurse several levels (SA-IS's reduced strings, its bucket edges).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSuffixArray } from '../src/diff/engine/suffix-array.js';
import { randomBytes, seeded, wordy } from './native-support.js';

/** Suffix order by direct comparison; a suffix that is a prefix of another sorts first. */
function bySorting(t: Uint8Array): number[] {
  const cmp = (a: number, b: number): number => {
    while (a < t.length && b < t.length) {
      if (t[a] !== t[b]) return (t[a] as number) - (t[b] as number);
      a++;
      b++;
    }
    return a === t.length ? -1 : 1;
  };
  return Array.from({ length: t.length }, (_, i) => i).sort(cmp);
}

/** Suffix order by prefix doubling (Manber-Myers): ranks of 2h-prefixes from pairs of h-ranks. */
function byDoubling(t: Uint8Array): Int32Array {
  const n = t.length;
  const sa = Int32Array.from({ length: n }, (_, i) => i);
  let rank = Int32Array.from(t);
  const next = new Int32Array(n);
  for (let h = 1; ; h *= 2) {
    const r = rank;
    const key2 = (i: number): number => (i + h < n ? (r[i + h] as number) : -1);
    sa.sort((a, b) => (r[a] as number) - (r[b] as number) || key2(a) - key2(b));
    next[sa[0] as number] = 0;
    for (let i = 1; i < n; i++) {
      const a = sa[i - 1] as number;
      const b = sa[i] as number;
      const same = r[a] === r[b] && key2(a) === key2(b);
      next[b] = (next[a] as number) + (same ? 0 : 1);
    }
    rank = Int32Array.from(next);
    if ((rank[sa[n - 1] as number] as number) === n - 1 || h >= n) return sa;
  }
}

function fibonacci(n: number): Uint8Array {
  let a = 'b';
  let b = 'a';
  while (b.length < n) [a, b] = [b, b + a];
  return Uint8Array.from(b.slice(0, n), (ch) => ch.charCodeAt(0));
}

test('suffix array: every binary text up to 10 bytes, and short texts of all shapes, as sorted', () => {
  for (let len = 0; len <= 10; len++) {
    for (let bits = 0; bits < 1 << len; bits++) {
      const t = Uint8Array.from({ length: len }, (_, i) => (bits >>> i) & 1);
      assert.deepEqual(Array.from(buildSuffixArray(t)), bySorting(t), `bits ${bits} of length ${len}`);
    }
  }
  const rand = seeded(11);
  for (const len of [2, 3, 17, 255, 256, 257, 1000]) {
    const texts = [
      randomBytes(len, rand),
      new Uint8Array(len).fill(0),
      new Uint8Array(len).fill(255),
      Uint8Array.from({ length: len }, (_, i) => 255 - (i % 256)),
      Uint8Array.from({ length: len }, (_, i) => i % 256),
      Uint8Array.from({ length: len }, () => (rand() < 0.9 ? 0 : 255)),
      wordy(len, rand),
    ];
    for (const t of texts) assert.deepEqual(Array.from(buildSuffixArray(t)), bySorting(t), `length ${len}`);
  }
});

test('suffix array: long repetitive texts (deep recursion) equal prefix doubling, also in shared memory', () => {
  const rand = seeded(12);
  const n = 60_000;
  const runs = new Uint8Array(n);
  for (let i = 0; i < n; ) {
    const c = (rand() * 3) | 0;
    for (let r = 1 + ((rand() * 40) | 0); r > 0 && i < n; r--) runs[i++] = c;
  }
  const unit = wordy(997, rand);
  const texts: [string, Uint8Array][] = [
    ['fibonacci', fibonacci(n)],
    ['two symbols', Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 97 : 98))],
    ['runs', runs],
    [
      'period 997 with edits',
      Uint8Array.from({ length: n }, (_, i) => (rand() < 0.001 ? 0 : (unit[i % 997] as number))),
    ],
    ['random', randomBytes(n, rand)],
    ['one byte', new Uint8Array(n).fill(42)],
    ['period 2', Uint8Array.from({ length: n }, (_, i) => i & 1)],
  ];
  for (const [what, t] of texts) {
    const want = byDoubling(t);
    assert.deepEqual(buildSuffixArray(t), want, what);
    const shared = buildSuffixArray(t, undefined, true);
    assert.ok(shared.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(new Int32Array(shared), want, `${what}, shared`);
  }
});

test('suffix array: an aborted signal stops the build with its reason', () => {
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  assert.throws(() => buildSuffixArray(wordy(5000, seeded(13)), ac.signal), /stop/);
});
