// Checks the engine's covers: valid shape, and new is rebuilt exactly from old + covers + literals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Cover, findCovers } from '../src/diff/engine/cover.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

function randomBytes(n: number, rand: () => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

function rebuild(oldBuf: Uint8Array, newBuf: Uint8Array, covers: Cover[]): Uint8Array {
  const out = new Uint8Array(newBuf.length);
  let pos = 0;
  for (const c of covers) {
    assert.ok(c.length > 0 && c.newPos >= pos, 'sorted, non-overlapping, non-empty');
    assert.ok(c.oldPos >= 0 && c.oldPos + c.length <= oldBuf.length, 'inside old');
    assert.ok(c.newPos + c.length <= newBuf.length, 'inside new');
    out.set(newBuf.subarray(pos, c.newPos), pos);
    for (let i = 0; i < c.length; i++) {
      const d = ((newBuf[c.newPos + i] as number) - (oldBuf[c.oldPos + i] as number)) & 255;
      out[c.newPos + i] = ((oldBuf[c.oldPos + i] as number) + d) & 255;
    }
    pos = c.newPos + c.length;
  }
  out.set(newBuf.subarray(pos), pos);
  return out;
}

test('findCovers covers an edited copy and its covers rebuild new exactly', () => {
  const rand = rng(7);
  const oldBuf = randomBytes(200_000, rand);
  const newBuf = new Uint8Array(oldBuf.length + 1000);
  newBuf.set(oldBuf.subarray(0, 50_000));
  newBuf.set(randomBytes(1000, rand), 50_000);
  newBuf.set(oldBuf.subarray(50_000), 51_000);
  for (let k = 0; k < 100; k++) {
    const at = (rand() * newBuf.length) | 0;
    newBuf[at] = (newBuf[at] ?? 0) ^ 0x55;
  }
  const covers = findCovers(oldBuf, newBuf);
  const coveredBytes = covers.reduce((s, c) => s + c.length, 0);
  assert.ok(coveredBytes > 0.95 * oldBuf.length, `covered ${coveredBytes}`);
  assert.deepEqual(rebuild(oldBuf, newBuf, covers), newBuf);
});

test('findCovers returns no covers when old or new is empty', () => {
  const rand = rng(1);
  assert.deepEqual(findCovers(new Uint8Array(0), randomBytes(100, rand)), []);
  assert.deepEqual(findCovers(randomBytes(100, rand), new Uint8Array(0)), []);
});
