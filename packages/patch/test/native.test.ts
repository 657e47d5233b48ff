// Round trips through the public diff/apply on real files: the native format rebuilds every kind of change.
import assert from 'node:assert/strict';
import { truncateSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { apply, detectPatchFormat, diff, diffBuffers } from '../src/index.js';
import { editedCopy, randomBytes, seeded, sha256, wordy } from './native-support.js';

async function roundTrip(oldBuf: Uint8Array, newBuf: Uint8Array): Promise<number> {
  return withTempDir(async (dir) => {
    const [o, n, p, out] = ['old', 'new', 'patch', 'out'].map((f) => join(dir, f)) as [
      string,
      string,
      string,
      string,
    ];
    await writeFile(o, oldBuf);
    await writeFile(n, newBuf);
    const events: string[] = [];
    const made = await diff(o, n, p, { onProgress: (e) => events.push(e.phase) });
    assert.equal(made.format, 'native');
    assert.equal(made.size, (await readFile(p)).length);
    assert.equal(await detectPatchFormat(p), 'native');
    const applied = await apply(o, p, out, {
      expect: { size: newBuf.length, sha256: sha256(newBuf) },
      onProgress: (e) => events.push(e.phase),
    });
    assert.deepEqual(applied, { size: newBuf.length, sha256: sha256(newBuf) });
    assert.ok(Buffer.from(newBuf).equals(await readFile(out)), 'rebuilt file equals new');
    return made.size;
  });
}

test('native round trip: edited copy (flips, insertions, deletions, moves, relocations) is small', async () => {
  const rand = seeded(11);
  const oldBuf = randomBytes(300_000, rand);
  const newBuf = editedCopy(oldBuf, rand, 40);
  const size = await roundTrip(oldBuf, newBuf);
  assert.ok(size < 12_000, `patch of ${size} bytes for 40 edits`);
});

test('native round trip: text-like data with edits', async () => {
  const rand = seeded(12);
  const oldBuf = wordy(200_000, rand);
  await roundTrip(oldBuf, editedCopy(oldBuf, rand, 60));
});

test('native round trip: unrelated random files (all literal)', async () => {
  const rand = seeded(13);
  await roundTrip(randomBytes(50_000, rand), randomBytes(70_000, rand));
});

test('native round trip: identical files make a patch of little more than its header', async () => {
  const rand = seeded(14);
  const buf = randomBytes(1 << 20, rand);
  const size = await roundTrip(buf, buf);
  assert.ok(size < 160, `patch of ${size} bytes`);
});

test('native round trip: empty old, empty new, both empty, one byte', async () => {
  const rand = seeded(15);
  await roundTrip(new Uint8Array(0), randomBytes(1000, rand));
  await roundTrip(randomBytes(1000, rand), new Uint8Array(0));
  await roundTrip(new Uint8Array(0), new Uint8Array(0));
  await roundTrip(Uint8Array.of(7), Uint8Array.of(9));
  await roundTrip(Uint8Array.of(7), Uint8Array.of(7));
});

test('native round trip: long zero runs and repeats', async () => {
  const oldBuf = new Uint8Array(400_000);
  oldBuf.fill(0x41, 100_000, 200_000);
  const newBuf = new Uint8Array(450_000);
  newBuf.fill(0x41, 120_000, 260_000);
  newBuf[300_000] = 1;
  await roundTrip(oldBuf, newBuf);
});

test('diffBuffers makes the same patch as diff', async () => {
  const rand = seeded(16);
  const oldBuf = randomBytes(100_000, rand);
  const newBuf = editedCopy(oldBuf, rand, 10);
  const inMemory = await diffBuffers(oldBuf, newBuf);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), oldBuf);
    await writeFile(join(dir, 'new'), newBuf);
    await diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'patch'));
    assert.ok(Buffer.from(inMemory).equals(await readFile(join(dir, 'patch'))));
  });
});

test('diff with format bsdiff4 makes a BSDIFF40 patch that apply detects and applies', async () => {
  const rand = seeded(17);
  const oldBuf = randomBytes(100_000, rand);
  const newBuf = editedCopy(oldBuf, rand, 10);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), oldBuf);
    await writeFile(join(dir, 'new'), newBuf);
    const made = await diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'patch'), { format: 'bsdiff4' });
    assert.equal(made.format, 'bsdiff4');
    assert.equal(await detectPatchFormat(join(dir, 'patch')), 'bsdiff4');
    const r = await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'));
    assert.equal(r.sha256, sha256(newBuf));
    assert.ok(Buffer.from(newBuf).equals(await readFile(join(dir, 'out'))));
  });
});

test('durable: false rebuilds the same file in place of an old one, for both formats, leaving no temp file', async () => {
  const rand = seeded(19);
  const oldBuf = randomBytes(80_000, rand);
  const newBuf = editedCopy(oldBuf, rand, 10);
  for (const format of ['native', 'bsdiff4'] as const) {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'old'), oldBuf);
      await writeFile(join(dir, 'new'), newBuf);
      await writeFile(join(dir, 'out'), 'previous cache entry');
      await diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'patch'), { format });
      const r = await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), { durable: false });
      assert.equal(r.sha256, sha256(newBuf));
      assert.ok(Buffer.from(newBuf).equals(await readFile(join(dir, 'out'))));
      assert.deepEqual((await readdir(dir)).sort(), ['new', 'old', 'out', 'patch']);
    });
  }
});

test('diff aborted from a progress event rejects with AbortError and leaves no patch', async () => {
  const rand = seeded(18);
  const oldBuf = randomBytes(3 << 20, rand);
  const newBuf = editedCopy(oldBuf, rand, 50);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), oldBuf);
    await writeFile(join(dir, 'new'), newBuf);
    const ac = new AbortController();
    await assert.rejects(
      diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'patch'), {
        signal: ac.signal,
        onProgress: (e) => {
          if (e.phase === 'diff' && e.done > 0) ac.abort();
        },
      }),
      { name: 'AbortError' },
    );
    assert.deepEqual((await readdir(dir)).sort(), ['new', 'old']);
  });
});

test('native round trip: over 1 MiB of incompressible new bytes (the literal stream that gets quality 9)', async () => {
  const rand = seeded(17);
  const oldBuf = wordy(200_000, rand);
  const newBuf = Buffer.concat([oldBuf.subarray(0, 100_000), randomBytes(1_300_000, rand)]);
  const size = await roundTrip(oldBuf, newBuf);
  // The random bytes cost about themselves, the copied part next to nothing.
  assert.ok(size < 1_300_000 + 10_000, `patch of ${size} bytes`);
});

test('native round trip: a compressible stretch amid incompressible literal bytes is compressed, not stored with them', async () => {
  const rand = seeded(23);
  const oldBuf = wordy(200_000, rand);
  // 64 KiB of bytes under 128 (7 bits of entropy each, about 8 KiB to gain) between two megabytes of random
  // ones: the whole stream shrinks by under 0.5 %, so it gets quality 9, which stores one meta-block of it
  // raw, the seven-bit stretch with it, unless a meta-block ends on each side of that stretch.
  const sevenBit = randomBytes(64 << 10, rand).map((b) => b & 0x7f);
  const newBuf = Buffer.concat([
    oldBuf.subarray(0, 100_000),
    randomBytes(1 << 20, rand),
    sevenBit,
    randomBytes(1 << 20, rand),
  ]);
  const literal = newBuf.length - 100_000;
  const size = await roundTrip(oldBuf, newBuf);
  assert.ok(size < literal - 6_000, `patch of ${size} bytes for ${literal} literal bytes`);
});

test('an old file that gets shorter while apply hashes it is BASE_MISMATCH, and nothing is left', async () => {
  const rand = seeded(77);
  const oldBuf = randomBytes(3 << 20, rand);
  const newBuf = editedCopy(oldBuf, rand, 10);
  const patch = await diffBuffers(oldBuf, newBuf);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), oldBuf);
    await writeFile(join(dir, 'patch'), patch);
    // At the first report of the old file's hashing (after its first MiB) the file loses the rest, at once.
    let cut = false;
    const onProgress = (e: { phase: string }) => {
      if (e.phase !== 'verify-old' || cut) return;
      cut = true;
      truncateSync(join(dir, 'old'), 1 << 20);
    };
    await assert.rejects(
      apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), { threads: 1, onProgress }),
      {
        code: 'BASE_MISMATCH',
        message: /shrank while being hashed/,
      },
    );
    assert.ok(cut);
    assert.deepEqual((await readdir(dir)).sort(), ['old', 'patch']);
  });
});
