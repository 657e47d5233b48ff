// Difference model 3 (compression id 4, what the writer uses): a zero flag coded with the third context
// alone that comes out zero leaves the other two contexts alone. Patches of both models round-trip through
// diff and apply, model-2 patches (ids 2 and 3) still apply, and one model's bytes never pass as the other's.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { CHUNK } from '../src/format/model.js';
import {
  COMPRESSION_MODEL2_BROTLI,
  COMPRESSION_MODEL2_FILTERED_BROTLI,
  COMPRESSION_MODEL3_FILTERED_BROTLI,
} from '../src/format/native.js';
import { apply, diffBuffers } from '../src/index.js';
import { diffBuffersModel2, seeded } from './native-support.js';

/**
 * Code-like old bytes; new is old with sparse, repetitive differences (relocated calls), long stretches
 * with none (sure zeros, zero chunks), and differences placed last in a chunk, first in one, and at the
 * very end (a sure-zero stretch ending at a chunk edge, and one reaching the segment's end).
 */
function relocated(n: number, rand: () => number): { old: Uint8Array; neu: Uint8Array } {
  const old = new Uint8Array(n);
  for (let i = 0; i < n; i++) old[i] = rand() < 0.1 ? 0xe8 : (rand() * 256) | 0;
  const neu = old.slice();
  for (let i = 0; i + 5 < n; i++) {
    if (old[i] === 0xe8 && rand() < 0.6) neu[i + 1] = ((old[i + 1] as number) + 0x10) & 255;
    else if (rand() < 0.001) neu[i] = (rand() * 256) | 0;
  }
  for (let at = (n / 7) | 0; at + 4096 < n; at += (n / 5) | 0) neu.set(old.subarray(at, at + 4096), at);
  for (let c = 64; c * CHUNK < n; c += 97) {
    neu[c * CHUNK - 1] = ((old[c * CHUNK - 1] as number) + 1) & 255;
    neu[c * CHUNK] = ((old[c * CHUNK] as number) + 3) & 255;
  }
  neu[n - 1] = ((old[n - 1] as number) + 7) & 255;
  return { old, neu };
}

async function applied(old: Uint8Array, patch: Uint8Array, threads = 1): Promise<Uint8Array> {
  return withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), old);
    await writeFile(join(dir, 'patch'), patch);
    await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), { threads });
    return readFile(join(dir, 'out'));
  });
}

async function applyCode(old: Uint8Array, patch: Uint8Array): Promise<string> {
  return withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), old);
    await writeFile(join(dir, 'patch'), patch);
    try {
      await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'));
      return 'applied';
    } catch (err) {
      return String((err as { code?: string }).code);
    }
  });
}

const rand = seeded(404);
const { old: OLD, neu: NEW } = relocated(400_000, rand);

test('model 3 (id 4) round-trips, one segment and several, on one thread and several', async () => {
  const patch = await diffBuffers(OLD, NEW);
  assert.equal(patch[9], COMPRESSION_MODEL3_FILTERED_BROTLI);
  assert.ok(Buffer.from(await applied(OLD, patch)).equals(NEW));
  const cut = await diffBuffers(OLD, NEW, { segments: 4 });
  assert.equal(cut[9], COMPRESSION_MODEL3_FILTERED_BROTLI);
  assert.ok(Buffer.from(await applied(OLD, cut, 3)).equals(NEW));
});

test('model 2 patches (id 2, as earlier builds wrote them) still apply', async () => {
  const patch = await diffBuffersModel2(OLD, NEW);
  assert.equal(patch[9], COMPRESSION_MODEL2_BROTLI);
  assert.ok(Buffer.from(await applied(OLD, patch)).equals(NEW));
  const cut = await diffBuffersModel2(OLD, NEW, 4);
  assert.ok(Buffer.from(await applied(OLD, cut, 2)).equals(NEW));
});

test('the models differ, and model-3 bytes read as model 2 (id 3, the same layout) never yield an output', async () => {
  const m3 = await diffBuffers(OLD, NEW);
  const m2 = await diffBuffersModel2(OLD, NEW);
  assert.notDeepEqual(m3.subarray(100), m2.subarray(100), 'different modelled bytes');
  const as2 = Uint8Array.from(m3);
  as2[9] = COMPRESSION_MODEL2_FILTERED_BROTLI;
  assert.ok(['CORRUPT_PATCH', 'OUTPUT_MISMATCH'].includes(await applyCode(OLD, as2)));
});

test('sure zeros up to a chunk edge, across kernel calls and up to the end, in every cut of segments', async () => {
  const r = seeded(405);
  for (const n of [CHUNK, 3 * CHUNK + 1, 5000, 70_000]) {
    const { old, neu } = relocated(n, r);
    for (const segments of [1, 2, 3]) {
      if (n < 1000 && segments > 1) continue;
      const patch = await diffBuffers(old, neu, { segments });
      assert.ok(Buffer.from(await applied(old, patch)).equals(neu), `${n} bytes, ${segments} segments`);
    }
  }
});
