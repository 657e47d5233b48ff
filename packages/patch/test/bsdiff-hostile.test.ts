// Hostile BSDIFF40 patches: every bad header, triple and stream ends in a coded error and leaves no file.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { applyBsdiff40 } from '../src/apply/bsdiff40/apply.js';
import { createBsdiff40 } from '../src/diff/bsdiff40/write.js';
import { PatchError, type PatchErrorCode } from '../src/errors.js';
import {
  assertDirHolds,
  assertPatchCode,
  type CraftedTriple,
  craftBsdiff40,
  editedCopy,
  seededRandom,
  wordsSeeded,
} from './bsdiff-support.js';

const OLD = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
const PREVIOUS_OUTPUT = 'an earlier file at the output path';

/** Applies `patch` to OLD in a fresh dir; asserts the code, that nothing new is left and `out` is untouched. */
async function expectRejected(
  patch: Uint8Array,
  code: PatchErrorCode,
  message?: RegExp,
  opts = {},
): Promise<void> {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), patch);
    await writeFile(join(dir, 'out'), PREVIOUS_OUTPUT);
    await assertPatchCode(
      () => applyBsdiff40(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), opts),
      code,
      message,
    );
    await assertDirHolds(dir, ['old', 'out', 'patch']);
    assert.equal(await readFile(join(dir, 'out'), 'utf8'), PREVIOUS_OUTPUT);
  });
}

/** A valid patch OLD -> "0123" + "XY": one triple adding 4 zero differences, copying 2 extra bytes. */
const valid = (over: Partial<Parameters<typeof craftBsdiff40>[0]> = {}) =>
  craftBsdiff40({
    triples: [{ add: 4, copy: 2, seek: 0 }],
    diff: new Uint8Array(4),
    extra: Buffer.from('XY'),
    newSize: 6,
    ...over,
  });

test('the crafted baseline patch applies (so each hostile case below differs in one thing)', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), valid());
    await applyBsdiff40(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'));
    assert.equal(await readFile(join(dir, 'out'), 'utf8'), '0123XY');
  });
});

test('a patch without the BSDIFF40 magic is UNSUPPORTED_FORMAT', async () => {
  await expectRejected(valid({ magic: 'BSDIFF41' }), 'UNSUPPORTED_FORMAT');
  await expectRejected(Buffer.concat([Buffer.from('HDIFF13&'), valid().subarray(8)]), 'UNSUPPORTED_FORMAT');
});

test('a patch shorter than its header, or than its declared streams, is TRUNCATED_PATCH', async () => {
  await expectRejected(valid().subarray(0, 20), 'TRUNCATED_PATCH', /32-byte header/);
  await expectRejected(new Uint8Array(0), 'TRUNCATED_PATCH');
  await expectRejected(valid({ controlLength: 10_000 }), 'TRUNCATED_PATCH', /declares/);
  const p = valid();
  await expectRejected(p.subarray(0, p.length - 30), 'TRUNCATED_PATCH');
});

test('negative or impossible header lengths are CORRUPT_PATCH', async () => {
  await expectRejected(valid({ controlLength: -1 }), 'CORRUPT_PATCH', /control stream length/);
  await expectRejected(valid({ diffLength: -5 }), 'CORRUPT_PATCH', /diff stream length/);
  await expectRejected(valid({ newSize: -6 }), 'CORRUPT_PATCH', /new file size/);
  await expectRejected(valid({ newSize: 1n << 60n }), 'CORRUPT_PATCH', /new file size/);
});

test('a declared new size over maxNewSize is DECOMPRESSION_LIMIT before anything is decoded', async () => {
  await expectRejected(valid(), 'DECOMPRESSION_LIMIT', /allowed 5/, { maxNewSize: 5 });
  await expectRejected(valid(), 'OUTPUT_MISMATCH', /7 bytes were expected/, {
    expect: { size: 7, sha256: '00' },
  });
});

test('control triples with negative, oversized or overflowing values are CORRUPT_PATCH', async () => {
  const cases: [string, CraftedTriple[], RegExp][] = [
    ['negative add', [{ add: -4, copy: 2, seek: 0 }], /negative length/],
    ['negative copy', [{ add: 4, copy: -2, seek: 0 }], /negative length/],
    ['add past the new size', [{ add: 7, copy: 0, seek: 0 }], /past the declared new size/],
    ['copy past the new size', [{ add: 4, copy: 3, seek: 0 }], /past the declared new size/],
    ['add beyond 2^53', [{ add: 1n << 62n, copy: 0, seek: 0 }], /out of range/],
    ['seek beyond 2^53', [{ add: 0, copy: 0, seek: -(1n << 60n) }], /out of range/],
  ];
  for (const [name, triples, message] of cases) {
    const err = await assertPatchCodeOf(() => expectRejected(valid({ triples }), 'CORRUPT_PATCH', message));
    assert.equal(err, undefined, name);
  }
});

test('additions that read outside the old file are CORRUPT_PATCH (bspatch would read zeros)', async () => {
  // First triple seeks to 34 of 36 old bytes; the second adds 4 bytes from there.
  const pastEnd = valid({
    triples: [
      { add: 0, copy: 0, seek: 34 },
      { add: 4, copy: 2, seek: 0 },
    ],
  });
  await expectRejected(pastEnd, 'CORRUPT_PATCH', /reads outside the old file \(34\+4 of 36\)/);
  const beforeStart = valid({
    triples: [
      { add: 0, copy: 0, seek: -1 },
      { add: 4, copy: 2, seek: 0 },
    ],
  });
  await expectRejected(beforeStart, 'CORRUPT_PATCH', /reads outside the old file \(-1\+4/);
});

test('streams that end before the triples say are TRUNCATED_PATCH', async () => {
  await expectRejected(valid({ triples: [] }), 'TRUNCATED_PATCH', /control stream/);
  await expectRejected(
    valid({ triples: [{ add: 2, copy: 2, seek: 0 }] }),
    'TRUNCATED_PATCH',
    /control stream/,
  );
  await expectRejected(valid({ diff: new Uint8Array(3) }), 'TRUNCATED_PATCH', /diff stream/);
  await expectRejected(valid({ extra: Buffer.from('X') }), 'TRUNCATED_PATCH', /extra stream/);
  // A control stream cut short inside its bzip2 block data.
  await expectRejected(
    valid({ controlLength: 20 }),
    'TRUNCATED_PATCH',
    /control stream: bzip2 stream is truncated/,
  );
});

test('a control stream of triples that make no progress is CORRUPT_PATCH, not an endless loop', async () => {
  const idle = Array.from({ length: 100 }, () => ({ add: 0, copy: 0, seek: 0 }));
  await expectRejected(
    valid({ triples: [...idle, { add: 4, copy: 2, seek: 0 }] }),
    'CORRUPT_PATCH',
    /more triples/,
  );
});

test('a damaged bzip2 CRC inside a stream is CORRUPT_PATCH naming the stream', async () => {
  const patch = Buffer.from(valid());
  const controlLength = Number(patch.readBigUInt64LE(8));
  // The diff stream starts at 32 + controlLength; its block CRC is at bytes 10..13 of the stream.
  patch[32 + controlLength + 11] = (patch[32 + controlLength + 11] as number) ^ 0x04;
  await expectRejected(patch, 'CORRUPT_PATCH', /diff stream: bzip2: block CRC mismatch/);
});

test('an extra stream that inflates far past the new size is only decoded as far as needed', async () => {
  // 32 MB of zeros as the extra stream of a 6-byte file: the result is right and nothing large is held.
  const bomb = valid({ extra: Buffer.concat([Buffer.from('XY'), new Uint8Array(32 << 20)]) });
  assert.ok(bomb.length < 400);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), bomb);
    const before = process.memoryUsage().arrayBuffers;
    await applyBsdiff40(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'));
    assert.ok(process.memoryUsage().arrayBuffers - before < 32 << 20);
    assert.equal(await readFile(join(dir, 'out'), 'utf8'), '0123XY');
  });
});

test('seeded fuzz: 600 mutated patches end in a result or a coded error, and failures leave no file', async () => {
  const rand = seededRandom(4242);
  const oldBytes = wordsSeeded(rand, 20_000);
  const newBytes = editedCopy(rand, oldBytes);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), oldBytes);
    await writeFile(join(dir, 'new'), newBytes);
    await createBsdiff40(join(dir, 'old'), join(dir, 'new'), join(dir, 'good.patch'), { level: 1 });
    const good = await readFile(join(dir, 'good.patch'));
    const seen = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const m = Buffer.from(good);
      const at = (rand() * m.length) | 0;
      const kind = (rand() * 4) | 0;
      let patch: Uint8Array = m;
      if (kind === 0) m[at] = (m[at] as number) ^ (1 << (rand() * 8));
      else if (kind === 1) m[at] = (rand() * 256) | 0;
      else if (kind === 2) patch = m.subarray(0, at);
      else m.fill(0, at, Math.min(m.length, at + 1 + ((rand() * 8) | 0)));
      await writeFile(join(dir, 'p'), patch);
      try {
        await applyBsdiff40(join(dir, 'old'), join(dir, 'p'), join(dir, 'out'), { maxNewSize: 1 << 20 });
        seen.set('applied', (seen.get('applied') ?? 0) + 1);
      } catch (err) {
        assert.ok(err instanceof PatchError, `case ${i}: ${String(err)}`);
        seen.set(err.code, (seen.get(err.code) ?? 0) + 1);
      }
    }
    await assertDirHolds(dir, ['good.patch', 'new', 'old', 'p', ...(seen.has('applied') ? ['out'] : [])]);
    for (const code of ['CORRUPT_PATCH', 'TRUNCATED_PATCH'])
      assert.ok((seen.get(code) ?? 0) > 40, JSON.stringify([...seen]));
  });
});

/** Runs `fn` and returns its error (undefined when it passed): lets a loop name the failing case. */
async function assertPatchCodeOf(fn: () => Promise<void>): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

test('a missing patch or old file is IO_ERROR and leaves no output file', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), valid());
    await assertPatchCode(
      () => applyBsdiff40(join(dir, 'old'), join(dir, 'missing.patch'), join(dir, 'out')),
      'IO_ERROR',
      /cannot open the patch/,
    );
    await assertPatchCode(
      () => applyBsdiff40(join(dir, 'missing-old'), join(dir, 'patch'), join(dir, 'out')),
      'IO_ERROR',
      /cannot open the old file/,
    );
    await assertDirHolds(dir, ['old', 'patch']);
  });
});
