// samePrefix, sameSuffix and countSame against plain byte loops: on copies with differences placed at
// random, at the edges of the native compare's blocks (64 bytes doubling to 1 MiB, halved down to 32), at
// offsets that are not aligned, and with limits that end inside and just past an equal run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countSame, samePrefix, sameSuffix } from '../src/diff/same-bytes.js';
import { randomBytes, seeded } from './native-support.js';

function loopPrefix(a: Uint8Array, ai: number, b: Uint8Array, bi: number, max: number): number {
  let k = 0;
  while (k < max && a[ai + k] === b[bi + k]) k++;
  return k;
}

function loopSuffix(a: Uint8Array, ae: number, b: Uint8Array, be: number, max: number): number {
  let k = 0;
  while (k < max && a[ae - k - 1] === b[be - k - 1]) k++;
  return k;
}

function loopCount(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): number {
  let same = 0;
  for (let k = 0; k < n; k++) if (a[ai + k] === b[bi + k]) same++;
  return same;
}

/** `a` shifted by `shift` bytes into a longer array, with a difference at each of `at` (positions in a). */
function copyWithDifferences(a: Uint8Array, shift: number, at: number[]): Uint8Array {
  const b = new Uint8Array(a.length + shift + 7);
  b.set(a, shift);
  for (const p of at) b[p + shift] = ((a[p] as number) + 1) & 255;
  return b;
}

test('samePrefix and sameSuffix find the first difference wherever it lies, block edges included', () => {
  const rand = seeded(19);
  const a = randomBytes(3 << 20, rand);
  // Distances from the start that fall on and beside the doubling blocks' edges, and far beyond 1 MiB.
  const edges = [0, 1, 31, 32, 33, 63, 64, 65, 95, 96, 97, 191, 192, 193, 4095, 4096, 4160, 65_599];
  const far = [(1 << 20) + 63, (2 << 20) - 1, (2 << 20) + 32 + 64 + 1000];
  for (const shift of [0, 3]) {
    for (const start of [0, 5, 1 << 20]) {
      for (const d of [...edges, ...far]) {
        if (start + d >= a.length) continue;
        const b = copyWithDifferences(a, shift, [start + d]);
        for (const max of [d, d + 1, d + 40, a.length - start]) {
          const m = Math.min(max, a.length - start);
          assert.equal(
            samePrefix(a, start, b, start + shift, m),
            loopPrefix(a, start, b, start + shift, m),
            `prefix shift ${shift} start ${start} d ${d} max ${m}`,
          );
        }
        // The same distances backward from an end.
        const end = a.length - start;
        if (end - d - 1 < 0) continue;
        const c = copyWithDifferences(a, shift, [end - d - 1]);
        for (const max of [d, d + 1, d + 40, end]) {
          const m = Math.min(max, end);
          assert.equal(
            sameSuffix(a, end, c, end + shift, m),
            loopSuffix(a, end, c, end + shift, m),
            `suffix shift ${shift} end ${end} d ${d} max ${m}`,
          );
        }
      }
    }
  }
});

test('countSame counts like a byte loop on sparse, dense and absent differences', () => {
  const rand = seeded(7);
  const a = randomBytes(600_000, rand);
  for (const density of [0, 1e-5, 1e-3, 0.05, 0.5, 1]) {
    const at: number[] = [];
    for (let i = 0; i < a.length; i++) if (rand() < density) at.push(i);
    const b = copyWithDifferences(a, 1, at);
    for (const [start, n] of [
      [0, a.length],
      [17, 100_000],
      [a.length - 33, 33],
      [4, 0],
    ] as const) {
      assert.equal(
        countSame(a, start, b, start + 1, n),
        loopCount(a, start, b, start + 1, n),
        `density ${density} start ${start} n ${n}`,
      );
    }
  }
});

test('countSame with a bound: the exact count when it can reach the bound, else some count below it', () => {
  const rand = seeded(9);
  const a = randomBytes(50_000, rand);
  for (const density of [0.001, 0.1, 0.6]) {
    const at: number[] = [];
    for (let i = 0; i < a.length; i++) if (rand() < density) at.push(i);
    const b = copyWithDifferences(a, 0, at);
    for (let k = 0; k < 200; k++) {
      const start = Math.floor(rand() * a.length);
      const n = Math.floor(rand() * (a.length - start));
      const exact = loopCount(a, start, b, start, n);
      const need = Math.floor(rand() * (n + 2)) - 1;
      const got = countSame(a, start, b, start, n, need);
      if (exact >= need) assert.equal(got, exact, `start ${start} n ${n} need ${need}`);
      else assert.ok(got <= exact && got < need, `start ${start} n ${n} need ${need}: ${got} of ${exact}`);
    }
  }
  // Limits of zero or below measure nothing.
  assert.equal(samePrefix(a, 0, a, 0, 0), 0);
  assert.equal(sameSuffix(a, 10, a, 10, -3), 0);
});

test('runs of equal bytes in unrelated data (zeros) are measured to their end', () => {
  const a = new Uint8Array(200_000);
  const b = new Uint8Array(200_000);
  b[150_001] = 1;
  assert.equal(samePrefix(a, 0, b, 0, a.length), 150_001);
  assert.equal(sameSuffix(a, a.length, b, b.length, a.length), 200_000 - 150_002);
  assert.equal(countSame(a, 0, b, 0, a.length), a.length - 1);
});
