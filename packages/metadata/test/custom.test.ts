// Tests of custom target metadata: python tufup's archive and patch shapes, legacy shapes, unknown fields.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  makeArchiveCustom,
  makePatchCustom,
  parseTargetName,
  readArchiveCustom,
  readPatchCustom,
} from '../src/index.js';
import { assertCode, FIXTURE, FIXTURE_METADATA } from './helpers.js';

test('every custom field of the fixture parses and matches what python tufup was given', async () => {
  const targets = JSON.parse(await readFile(`${FIXTURE_METADATA}/targets.json`, 'utf8')) as {
    signed: { targets: Record<string, { custom: unknown }> };
  };
  const md = await readFile(`${FIXTURE}MANIFEST.md`, 'utf8');
  let archives = 0;
  let patches = 0;
  for (const [filename, info] of Object.entries(targets.signed.targets)) {
    const t = parseTargetName(filename);
    if (t.kind === 'archive') {
      const custom = readArchiveCustom(info.custom);
      archives++;
      // MANIFEST.md's table: | version | archive ... | required | user custom metadata | ...
      const row = md.split('\n').find((l) => l.startsWith(`| ${t.version} |`));
      assert.ok(row, `no manifest row for ${t.version}`);
      const cells = row.split('|').map((c) => c.trim());
      assert.equal(custom.required, cells[3] === 'True', `${filename} required`);
      assert.deepEqual(custom.user, JSON.parse(cells[4]!.replace(/^`|`$/g, '')), `${filename} user`);
      assert.deepEqual(makeArchiveCustom({ required: custom.required, user: custom.user }), info.custom);
    } else {
      const custom = readPatchCustom(info.custom);
      patches++;
      const row = md.split('\n').find((l) => l.startsWith(`| ${t.version} |`));
      const cells = row!.split('|').map((c) => c.trim());
      const [tarSize, tarHash] = cells[6]!.split(' / ');
      assert.equal(custom.tarSize, Number(tarSize));
      assert.equal(custom.tarHash, tarHash!.replace(/`/g, ''));
      assert.deepEqual(makePatchCustom({ tarSize: custom.tarSize, tarHash: custom.tarHash }), info.custom);
    }
  }
  assert.equal(archives, 5);
  assert.equal(patches, 4);
});

test('makeArchiveCustom and makePatchCustom write the python tufup shapes', () => {
  assert.deepEqual(makeArchiveCustom(), { user: null, tufup: { required: false } });
  assert.deepEqual(makeArchiveCustom({ required: true, user: { changes: ['x'] } }), {
    user: { changes: ['x'] },
    tufup: { required: true },
  });
  const hash = 'ab'.repeat(32);
  assert.deepEqual(makePatchCustom({ tarSize: 10, tarHash: hash }), {
    user: null,
    tufup: { tar_size: 10, tar_hash: hash, tar_hash_algorithm: 'sha256' },
  });
});

test('unknown fields survive a read and re-make, at the top level and inside tufup', () => {
  const stored = { user: { a: 1 }, tufup: { required: true, channel_hint: 'x' }, signer_note: 'kept' };
  const read = readArchiveCustom(stored);
  assert.equal(read.required, true);
  assert.deepEqual(makeArchiveCustom({ base: read.raw }), stored);
  assert.deepEqual(makeArchiveCustom({ base: read.raw, required: false }), {
    ...stored,
    tufup: { required: false, channel_hint: 'x' },
  });
  const hash = 'cd'.repeat(32);
  const patch = {
    user: null,
    tufup: { tar_size: 5, tar_hash: hash, tar_hash_algorithm: 'sha256', codec: 'z' },
  };
  const readPatch = readPatchCustom(patch);
  assert.deepEqual(makePatchCustom({ tarSize: 5, tarHash: hash, base: readPatch.raw }), patch);
});

test('missing custom reads as not required; pre-0.7 custom without the user/tufup split is read like tufup does', () => {
  assert.deepEqual(readArchiveCustom(undefined), { user: null, required: false, raw: {} });
  assert.deepEqual(readArchiveCustom(null), { user: null, required: false, raw: {} });
  // what @tufjs/models' TargetFile.custom returns for a target without custom metadata
  assert.deepEqual(readArchiveCustom({}), { user: null, required: false, raw: {} });
  const legacy = { changes: ['old'], required: true };
  assert.deepEqual(readArchiveCustom(legacy), { user: legacy, required: true, raw: legacy });
  const hash = 'ef'.repeat(32);
  const legacyPatch = { tar_size: 7, tar_hash: hash, tar_hash_algorithm: 'sha256' };
  assert.equal(readPatchCustom(legacyPatch).tarSize, 7);
});

test('malformed custom metadata is a coded error', async () => {
  const hash = '0a'.repeat(32);
  for (const bad of [
    undefined,
    null,
    [],
    'x',
    { user: null, tufup: 'x' },
    { user: null, tufup: {} },
    { user: null, tufup: { tar_size: -1, tar_hash: hash } },
    { user: null, tufup: { tar_size: 1.5, tar_hash: hash } },
    { user: null, tufup: { tar_size: '5', tar_hash: hash } },
    { user: null, tufup: { tar_size: 5, tar_hash: hash.toUpperCase() } },
    { user: null, tufup: { tar_size: 5, tar_hash: hash.slice(2) } },
    { user: null, tufup: { tar_size: 5, tar_hash: hash, tar_hash_algorithm: 'md5' } },
  ]) {
    await assertCode(() => readPatchCustom(bad), 'INVALID_CUSTOM_METADATA');
  }
  await assertCode(() => readArchiveCustom([1]), 'INVALID_CUSTOM_METADATA');
  await assertCode(
    () => readArchiveCustom({ user: null, tufup: { required: 'yes' } }),
    'INVALID_CUSTOM_METADATA',
  );
  await assertCode(() => makePatchCustom({ tarSize: 5, tarHash: 'nothex' }), 'INVALID_CUSTOM_METADATA');
  // Canonical JSON (what gets signed) has no floats.
  await assertCode(() => makeArchiveCustom({ user: { ratio: 0.5 } }), 'INVALID_CUSTOM_METADATA');
  await assertCode(() => makeArchiveCustom({ user: new Date() }), 'INVALID_CUSTOM_METADATA');
});
