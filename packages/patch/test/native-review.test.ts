// Literal regions that decode to the right bytes but break the format's rules: refused on every thread.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { brotliCompressSync, constants as zc } from 'node:zlib';
import { withTempDir } from '@tufup/common';
import type { PatchErrorCode } from '../src/errors.js';
import { apply } from '../src/index.js';
import { assertCode, assertDirHolds, type CraftedSegment, craftNative, sha256 } from './native-support.js';

const OLD = new Uint8Array(64);
const FIRST = new TextEncoder().encode('the first segment, all literal bytes');
const SECOND = new TextEncoder().encode('the second segment, decoded by a worker when threads > 1');
const NEW = Buffer.concat([FIRST, SECOND]);

function literalSegment(bytes: Uint8Array, region?: Uint8Array): CraftedSegment {
  return {
    entries: [{ literal: bytes.length }],
    literal: bytes,
    literalRegion: region ?? brotliCompressSync(bytes),
  };
}

/** The new file in two segments, the second one's literal region as given; the declared sha256 is right. */
function patchWithSecondRegion(region: Uint8Array): Uint8Array {
  return craftNative({
    old: OLD,
    newSize: NEW.length,
    newSha256: sha256(NEW),
    segments: [literalSegment(FIRST), literalSegment(SECOND, region)],
  });
}

async function expectRejected(patch: Uint8Array, code: PatchErrorCode): Promise<void> {
  for (const threads of [1, 2]) {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'old'), OLD);
      await writeFile(join(dir, 'patch'), patch);
      await assertCode(
        () => apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), { threads }),
        code,
      );
      await assertDirHolds(dir, ['old', 'patch']);
    });
  }
}

test('the crafted two-segment patch applies as it is (the cases below differ only in the second region)', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), patchWithSecondRegion(brotliCompressSync(SECOND)));
    await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), { threads: 2 });
  });
});

test('a literal region with bytes after the end of its brotli stream is CORRUPT_PATCH', async () => {
  const junk = Buffer.concat([brotliCompressSync(SECOND), Buffer.from('hidden bytes after the stream')]);
  await expectRejected(patchWithSecondRegion(junk), 'CORRUPT_PATCH');
});

test("a literal region in brotli's large-window format is CORRUPT_PATCH (its window alone could take 1 GiB)", async () => {
  const large = brotliCompressSync(SECOND, {
    params: { [zc.BROTLI_PARAM_LGWIN]: 30, [zc.BROTLI_PARAM_LARGE_WINDOW]: 1 },
  });
  await expectRejected(patchWithSecondRegion(large), 'CORRUPT_PATCH');
});
