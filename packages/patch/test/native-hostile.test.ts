// Hostile and damaged native patches: each ends in its coded error, leaves no file and keeps what was there.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { brotliCompressSync, constants as zc } from 'node:zlib';
import { withTempDir } from '@tufup/common';
import type { PatchErrorCode } from '../src/errors.js';
import { encodeHeader } from '../src/diff/native/header.js';
import { MAX_FRAME_BYTES, type NativeSegment } from '../src/format/native.js';
import { apply, diffBuffers } from '../src/index.js';
import {
  asVersion2,
  assertCode,
  assertDirHolds,
  craftNative,
  editedCopy,
  headerOf,
  randomBytes,
  seeded,
  sha256,
  withHeader,
} from './native-support.js';

const rand = seeded(99);
const OLD = randomBytes(4096, rand);
const NEW = editedCopy(OLD, rand, 5);
const PREVIOUS = 'an earlier file at the output path';

async function expectRejected(
  patch: Uint8Array,
  code: PatchErrorCode,
  old: Uint8Array = OLD,
  opts = {},
): Promise<void> {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), old);
    await writeFile(join(dir, 'patch'), patch);
    await writeFile(join(dir, 'out'), PREVIOUS);
    await assertCode(() => apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), opts), code);
    await assertDirHolds(dir, ['old', 'out', 'patch']);
    assert.equal(await readFile(join(dir, 'out'), 'utf8'), PREVIOUS);
  });
}

const good = await diffBuffers(OLD, NEW);

function withU64(patch: Uint8Array, at: number, value: bigint): Uint8Array {
  const out = Uint8Array.from(patch);
  new DataView(out.buffer).setBigUint64(at, value, true);
  return out;
}

test('the untouched patch applies (the base every hostile case below departs from)', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), good);
    const r = await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'));
    assert.equal(r.sha256, sha256(NEW));
  });
});

test('wrong base: same size other content, and other size, are BASE_MISMATCH before any output', async () => {
  const other = Uint8Array.from(OLD);
  other[100] = (other[100] as number) ^ 1;
  await expectRejected(good, 'BASE_MISMATCH', other);
  await expectRejected(good, 'BASE_MISMATCH', OLD.subarray(1));
});

test('oldVerified: a caller-verified base skips re-hashing; one that disagrees with the patch is BASE_MISMATCH', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), good);
    const r = await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), {
      oldVerified: { size: OLD.length, sha256: sha256(OLD) },
    });
    assert.equal(r.sha256, sha256(NEW));
  });
  const other = Uint8Array.from(OLD);
  other[7] = (other[7] as number) ^ 1;
  // The caller vouches for a different file than the patch's base: refused before any output.
  await expectRejected(good, 'BASE_MISMATCH', other, {
    oldVerified: { size: other.length, sha256: sha256(other) },
  });
  // The caller's size disagrees with the file on disk.
  await expectRejected(good, 'BASE_MISMATCH', OLD, {
    oldVerified: { size: OLD.length + 1, sha256: sha256(OLD) },
  });
});

test('expect that disagrees with the patch header is OUTPUT_MISMATCH', async () => {
  await expectRejected(good, 'OUTPUT_MISMATCH', OLD, {
    expect: { size: NEW.length, sha256: '0'.repeat(64) },
  });
  await expectRejected(good, 'OUTPUT_MISMATCH', OLD, {
    expect: { size: NEW.length + 1, sha256: sha256(NEW) },
  });
});

test('header: bad magic, empty file, unknown version or compression, version 2 reserved bytes set', async () => {
  const bad = Uint8Array.from(good);
  bad[1] = 0x58;
  await expectRejected(bad, 'UNSUPPORTED_FORMAT');
  await expectRejected(new Uint8Array(0), 'UNSUPPORTED_FORMAT');
  for (const version of [0, 1, 4, 255]) {
    const v = Uint8Array.from(good);
    v[8] = version;
    await expectRejected(v, 'UNSUPPORTED_VERSION');
  }
  // 1: the unreleased model without candidates (3 and 4, with filter bytes, have their own hostile tests).
  for (const compression of [0, 1, 5, 7]) {
    const c = Uint8Array.from(good);
    c[9] = compression;
    await expectRejected(c, 'UNSUPPORTED_VERSION');
  }
  const r = asVersion2(good);
  r[11] = 1;
  await expectRejected(r, 'CORRUPT_PATCH');
});

test('a version 2 header (fixed 8-byte fields) still applies, and is checked as before', async () => {
  const v2 = asVersion2(good);
  assert.equal(v2.length, good.length - headerOf(good).headerBytes + 100 + 32);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), v2);
    const r = await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'));
    assert.equal(r.sha256, sha256(NEW));
  });
  await expectRejected(withU64(v2, 52, 1n << 60n), 'CORRUPT_PATCH');
  await expectRejected(withU64(v2, 92, (1n << 64n) - 1n), 'CORRUPT_PATCH');
  await expectRejected(withU64(v2, 100, BigInt(NEW.length + 1)), 'CORRUPT_PATCH');
  await expectRejected(Buffer.concat([v2, Uint8Array.of(0)]), 'CORRUPT_PATCH');
  for (const cut of [10, 99, 100, 131, 132, v2.length - 1])
    await expectRejected(v2.subarray(0, cut), 'TRUNCATED_PATCH');
});

test('header varints: sizes beyond 2^53, over-long or padded varints, regions longer than the file, bytes after the end', async () => {
  const h = headerOf(good);
  const body = good.subarray(h.headerBytes);
  // The header up to its segment count (encoded with no segments, the count's one byte 0 cut off).
  const upToCount = encodeHeader({ ...h, segments: [] }).subarray(0, -1);
  const table = encodeHeader(h).subarray(upToCount.length);
  const withCount = (count: number[]) =>
    Buffer.concat([upToCount, Uint8Array.from(count), table.subarray(1), body]);
  assert.deepEqual(withCount([1]), good);
  // 2^56 - 1 in the most bytes a varint may take: beyond 2^53.
  await expectRejected(withCount([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), 'CORRUPT_PATCH');
  // Nine bytes: past the longest varint (also where the file ends: corrupt, not cut short).
  await expectRejected(withCount([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 'CORRUPT_PATCH');
  await expectRejected(Buffer.concat([upToCount, new Uint8Array(9).fill(0x80)]), 'CORRUPT_PATCH');
  // 1 with a redundant byte: each value has one encoding.
  await expectRejected(withCount([0x81, 0x00]), 'CORRUPT_PATCH');
  await expectRejected(
    withHeader(good, (f) => {
      f.newSize = 2 ** 60;
    }),
    'CORRUPT_PATCH',
  );
  await expectRejected(
    withHeader(good, (f) => {
      (f.segments[0] as NativeSegment).newLength = NEW.length + 1;
    }),
    'CORRUPT_PATCH',
  );
  await expectRejected(Buffer.concat([good, Uint8Array.of(0)]), 'CORRUPT_PATCH');
  // A cut anywhere in the header, or in the regions after it.
  for (let cut = 10; cut <= h.headerBytes; cut++)
    await expectRejected(good.subarray(0, cut), 'TRUNCATED_PATCH');
  await expectRejected(good.subarray(0, good.length - 1), 'TRUNCATED_PATCH');
});

test('a literal run past the end of the new file is CORRUPT_PATCH', async () => {
  await expectRejected(
    craftNative({
      old: OLD,
      newSize: 10,
      entries: [{ literal: 11 }],
      literal: new Uint8Array(11),
      literalRawBytes: 10,
    }),
    'CORRUPT_PATCH',
  );
});

test('covers that read outside the old file or write past the new one are CORRUPT_PATCH', async () => {
  const over = craftNative({
    old: OLD,
    newSize: 100,
    entries: [{ literal: 0, cover: 100, oldPos: OLD.length - 50 }],
  });
  await expectRejected(over, 'CORRUPT_PATCH');
  const negative = craftNative({
    old: OLD,
    newSize: 100,
    entries: [{ literal: 0, cover: 100, oldPos: -10 }],
  });
  await expectRejected(negative, 'CORRUPT_PATCH');
  const longer = craftNative({ old: OLD, newSize: 100, entries: [{ literal: 0, cover: 200, oldPos: 0 }] });
  await expectRejected(longer, 'CORRUPT_PATCH');
});

test('output that does not hash to the declared sha256 is OUTPUT_MISMATCH and leaves nothing', async () => {
  const patch = craftNative({
    old: OLD,
    newSize: 100,
    newSha256: sha256(new Uint8Array(100)),
    entries: [{ literal: 0, cover: 100, oldPos: 0 }],
  });
  await expectRejected(patch, 'OUTPUT_MISMATCH');
});

test('frames: oversized, miscounted, or followed by junk are CORRUPT_PATCH', async () => {
  const entries = [{ literal: 0, cover: 100, oldPos: 0 }];
  const sha = sha256(OLD.subarray(0, 100));
  const ok = craftNative({ old: OLD, newSize: 100, newSha256: sha, entries });
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), ok);
    assert.equal((await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'))).sha256, sha);
  });
  await expectRejected(
    craftNative({
      old: OLD,
      newSize: 100,
      newSha256: sha,
      entries,
      frameFields: ([, e, d]) => [MAX_FRAME_BYTES + 1, e, d],
    }),
    'CORRUPT_PATCH',
  );
  await expectRejected(
    craftNative({
      old: OLD,
      newSize: 100,
      newSha256: sha,
      entries,
      frameFields: ([b, e, d]) => [b, e + 1, d],
    }),
    'CORRUPT_PATCH',
  );
  await expectRejected(
    craftNative({
      old: OLD,
      newSize: 100,
      newSha256: sha,
      entries,
      frameFields: ([b, e, d]) => [b, e, d + 1],
    }),
    'CORRUPT_PATCH',
  );
  await expectRejected(
    craftNative({ old: OLD, newSize: 100, newSha256: sha, entries, frameFields: ([b]) => [b, 0, 0] }),
    'CORRUPT_PATCH',
  );
  await expectRejected(
    craftNative({
      old: OLD,
      newSize: 100,
      newSha256: sha,
      entries,
      frameFields: ([b, e, d]) => [b - 1, e, d],
    }),
    'CORRUPT_PATCH',
  );
});

test('a brotli bomb in the literal region is DECOMPRESSION_LIMIT', async () => {
  const bomb = brotliCompressSync(new Uint8Array(64 << 20), { params: { [zc.BROTLI_PARAM_QUALITY]: 5 } });
  assert.ok(bomb.length < 4096);
  await expectRejected(
    craftNative({
      old: OLD,
      newSize: 10,
      entries: [{ literal: 10 }],
      literalRawBytes: 10,
      literalRegion: bomb,
    }),
    'DECOMPRESSION_LIMIT',
  );
});

test('a literal region that is not brotli, or ends early, is CORRUPT_PATCH', async () => {
  await expectRejected(
    craftNative({
      old: OLD,
      newSize: 10,
      entries: [{ literal: 10 }],
      literalRawBytes: 10,
      literalRegion: randomBytes(40, rand),
    }),
    'CORRUPT_PATCH',
  );
  await expectRejected(
    craftNative({
      old: OLD,
      newSize: 10,
      entries: [{ literal: 10 }],
      literalRawBytes: 10,
      literalRegion: brotliCompressSync(new Uint8Array(5)),
    }),
    'CORRUPT_PATCH',
  );
});

test('an aborted apply throws AbortError and leaves nothing', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), good);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), { signal: ac.signal }),
      { name: 'AbortError' },
    );
    await assertDirHolds(dir, ['old', 'patch']);
  });
});
