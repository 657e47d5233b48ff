// applyPatchChain on real files and real native patches: each link's base is checked, vouched for or not.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashFile, makeTempDir, type SizeAndHash } from '@tufup/common';
import { PatchError, diff } from '@tufup/patch';
import { assertRejectsWithCode } from '../../../test-support/assert.js';
import { seededRandom } from '../../../test-support/random.js';
import { ClientError } from '../src/index.js';
import { PatchChainError, type PatchStep, applyPatchChain } from '../src/patching.js';

/** `base` with a few runs of bytes changed, so each version differs from the last as releases do. */
function nextVersion(base: Uint8Array, seed: number): Uint8Array<ArrayBuffer> {
  const random = seededRandom(seed);
  const out = Uint8Array.from(base);
  for (let k = 0; k < 8; k++) {
    const at = Math.floor(random() * (out.length - 64));
    for (let i = 0; i < 64; i++) out[at + i] = Math.floor(random() * 256);
  }
  return out;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('applyPatchChain', () => {
  let dir: string;
  const tars: { path: string; signed: SizeAndHash }[] = [];
  const steps: PatchStep[] = [];

  before(async () => {
    dir = await makeTempDir('tufup-chain-');
    const random = seededRandom(6);
    let bytes: Uint8Array<ArrayBuffer> = Uint8Array.from({ length: 256 * 1024 }, () =>
      Math.floor(random() * 256),
    );
    for (let v = 1; v <= 3; v++) {
      if (v > 1) bytes = nextVersion(bytes, v);
      const path = join(dir, `${v}.0.tar`);
      await writeFile(path, bytes);
      tars.push({ path, signed: { size: bytes.length, sha256: sha256(bytes) } });
      if (v > 1) {
        const patch = join(dir, `${v}.0.patch`);
        await diff(tars[v - 2]!.path, path, patch, { format: 'native' });
        steps.push({
          filename: `app-${v}.0.patch`,
          path: patch,
          tarSize: bytes.length,
          tarHash: sha256(bytes),
        });
      }
    }
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('applies two links onto a base vouched for by its signed hash and produces the signed last tar', async () => {
    const out = join(dir, 'vouched-3.0.tar');
    const result = await applyPatchChain({ path: tars[0]!.path, verified: tars[0]!.signed }, steps, out);
    assert.deepEqual(result, tars[2]!.signed);
    assert.deepEqual(await hashFile(out), tars[2]!.signed);
  });

  it('refuses a base vouched for with a hash other than the one the first patch was made from (BASE_MISMATCH)', async () => {
    const out = join(dir, 'wrong-base-3.0.tar');
    const before = await readdir(dir);
    // E.g. a repository whose signed tar hash of the current version is not what its next patch was made from.
    const err = await assertRejectsWithCode(
      () => applyPatchChain({ path: tars[0]!.path, verified: tars[1]!.signed }, steps, out),
      ClientError,
      'PATCH_FAILED',
    );
    assert.ok(err instanceof PatchChainError);
    assert.equal(err.failedPatch, 'app-2.0.patch');
    assert.ok(err.cause instanceof PatchError);
    assert.equal(err.cause.code, 'BASE_MISMATCH');
    assert.deepEqual(await readdir(dir), before, 'no result and no temp file is left');
  });

  it('without a vouched-for base, hashes it and refuses a corrupted one of the right size (BASE_MISMATCH)', async () => {
    const bad = await readFile(tars[0]!.path);
    bad[1000] = bad[1000]! ^ 0xff;
    const badPath = join(dir, 'corrupted-1.0.tar');
    await writeFile(badPath, bad);
    const out = join(dir, 'from-corrupted-3.0.tar');
    const err = await assertRejectsWithCode(
      () => applyPatchChain({ path: badPath }, steps, out),
      ClientError,
      'PATCH_FAILED',
    );
    assert.ok(err.cause instanceof PatchError);
    assert.equal(err.cause.code, 'BASE_MISMATCH');
    assert.ok(
      !(await readdir(dir)).some((n) => n.startsWith('from-corrupted') || n.startsWith('.from-corrupted')),
    );
  });
});
