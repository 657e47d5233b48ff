import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { truncateSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import {
  CommonError,
  HashingStream,
  TufupError,
  describeErrorChain,
  hashFile,
  isTufupError,
  sameDigest,
  throttleProgress,
  withTempDir,
  writeFileAtomic,
  writeStreamAtomic,
} from '@tufup/common';

test('TufupError carries code, message, cause and the subclass name', () => {
  class PatchError extends TufupError<'PATCH_BAD'> {}
  const cause = new Error('disk on fire');
  const err = new PatchError({ code: 'PATCH_BAD', message: 'bad patch', cause });
  assert.equal(err.name, 'PatchError');
  assert.equal(err.code, 'PATCH_BAD');
  assert.equal(err.cause, cause);
  assert.ok(isTufupError(err));
  assert.ok(!isTufupError(new Error('plain')));
  assert.match(
    describeErrorChain(err),
    /PatchError \[PATCH_BAD\]: bad patch\ncaused by: Error: disk on fire/,
  );
});

test('writeFileAtomic writes with the given mode and leaves no temp files', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'sub', 'key');
    await writeFileAtomic(p, 'secret', { mode: 0o600 });
    assert.equal(await readFile(p, 'utf8'), 'secret');
    if (process.platform !== 'win32') assert.equal((await stat(p)).mode & 0o777, 0o600);
    await writeFileAtomic(p, 'second');
    assert.equal(await readFile(p, 'utf8'), 'second');
    assert.deepEqual(await readdir(join(dir, 'sub')), ['key']);
  });
});

test('writeStreamAtomic streams a large source into place with the given mode', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'big.bin');
    const chunk = Buffer.alloc(1 << 20, 3);
    await writeStreamAtomic(
      p,
      Readable.from(
        (async function* () {
          for (let i = 0; i < 8; i++) yield chunk;
        })(),
      ),
      { mode: 0o600 },
    );
    assert.equal((await stat(p)).size, 8 << 20);
    if (process.platform !== 'win32') assert.equal((await stat(p)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['big.bin']);
  });
});

test('writeStreamAtomic removes its temp file when the source fails', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'out.bin');
    await writeFile(p, 'old');
    const failing = Readable.from(
      (async function* () {
        yield Buffer.from('partial');
        throw new Error('network cut');
      })(),
    );
    await assert.rejects(writeStreamAtomic(p, failing), /network cut/);
    assert.equal(await readFile(p, 'utf8'), 'old');
    assert.deepEqual(await readdir(dir), ['out.bin']);
  });
});

test('hashFile and HashingStream agree with node:crypto', async () => {
  await withTempDir(async (dir) => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    data[12345] = 1;
    const p = join(dir, 'f');
    await writeFile(p, data);
    const expected = createHash('sha256').update(data).digest('hex');
    assert.deepEqual(await hashFile(p), { size: data.length, sha256: expected });
    const h = new HashingStream({ sha512: true });
    h.resume();
    await new Promise<void>((resolve, reject) => {
      h.on('end', resolve).on('error', reject);
      h.end(data);
    });
    assert.equal(h.digest().sha512, createHash('sha512').update(data).digest('hex'));
    assert.ok(sameDigest(expected, expected.toUpperCase()));
    assert.ok(!sameDigest(expected, expected.replace(/^./, expected[0] === 'a' ? 'b' : 'a')));
  });
});

test('a file that gets shorter while hashFile reads it is CommonError FILE_CHANGED, a coded error of ours', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'f');
    await writeFile(p, Buffer.alloc(3 * 1024 * 1024, 1));
    // Once the first MiB is hashed the file loses the other two (at once: the next read starts after this).
    const onBytes = (done: number) => {
      if (done === 1 << 20) truncateSync(p, 1 << 20);
    };
    const err = await hashFile(p, { onBytes }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CommonError, String(err));
    assert.equal(err.code, 'FILE_CHANGED');
    assert.ok(isTufupError(err));
    assert.match(err.message, /shrank while being hashed/);
  });
});

test('throttleProgress always passes the final event', () => {
  const seen: number[] = [];
  const p = throttleProgress((e) => seen.push(e.done), 10_000)!;
  for (let i = 0; i <= 100; i++) p({ phase: 'x', done: i, total: 100 });
  assert.deepEqual(seen, [0, 100]);
});

test('writeStreamAtomic leaves no temp file when the source fails before its first chunk', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'out.bin');
    for (let i = 0; i < 50; i++) {
      const failing = Readable.from(
        (async function* () {
          await Promise.resolve();
          if (i >= 0) throw new Error('source failed early');
          yield Buffer.alloc(0);
        })(),
      );
      await assert.rejects(writeStreamAtomic(p, failing), /source failed early/);
    }
    assert.deepEqual(await readdir(dir), []);
  });
});
