// Tests of custom target metadata: python tufup's archive and patch shapes, legacy shapes, unknown fields.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  makeArchiveCustom,
  makePatchCustom,
  parseTargetName,
  isValidChannelName,
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
  // the fleet fields' defaults: channel stable, rollout 100 %, not yanked, no platform
  const fleet = { channel: 'stable', rolloutPercent: 100, yanked: false };
  assert.deepEqual(readArchiveCustom(undefined), { user: null, required: false, ...fleet, raw: {} });
  assert.deepEqual(readArchiveCustom(null), { user: null, required: false, ...fleet, raw: {} });
  // what @tufjs/models' TargetFile.custom returns for a target without custom metadata
  assert.deepEqual(readArchiveCustom({}), { user: null, required: false, ...fleet, raw: {} });
  // pre-0.7 top-level custom is the user's: its `channel` is not ours
  const legacy = { changes: ['old'], required: true, channel: 'BETA!' };
  assert.deepEqual(readArchiveCustom(legacy), { user: legacy, required: true, ...fleet, raw: legacy });
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

test('fleet fields: written inside custom.tufup, defaults stored as absence, unknown fields kept', async () => {
  // No fleet option: exactly today's bytes (python tufup's shape).
  assert.deepEqual(makeArchiveCustom({ required: false }), { user: null, tufup: { required: false } });
  const beta = makeArchiveCustom({ platform: 'win-x64', channel: 'beta', rolloutPercent: 10 });
  assert.deepEqual(beta, {
    user: null,
    tufup: { required: false, platform: 'win-x64', channel: 'beta', rollout_percent: 10 },
  });
  const read = readArchiveCustom(beta);
  assert.equal(read.platform, 'win-x64');
  assert.equal(read.channel, 'beta');
  assert.equal(read.rolloutPercent, 10);
  assert.equal(read.yanked, false);
  // promote to stable and roll out fully: the fields go away again; an unknown field stays
  const withUnknown = { ...beta, tufup: { ...(beta.tufup as object), future_field: [1] }, extra: 'x' };
  const back = makeArchiveCustom({ base: withUnknown, channel: 'stable', rolloutPercent: 100 });
  assert.deepEqual(back, {
    user: null,
    extra: 'x',
    tufup: { required: false, platform: 'win-x64', future_field: [1] },
  });
  const yanked = makeArchiveCustom({ base: back, yanked: true, yankReason: 'corrupts settings' });
  const y = readArchiveCustom(yanked);
  assert.equal(y.yanked, true);
  assert.equal(y.yankReason, 'corrupts settings');
  assert.deepEqual(makeArchiveCustom({ base: yanked, yanked: false }), back);
  // patches carry the platform
  const hash = 'ab'.repeat(32);
  const patch = makePatchCustom({ tarSize: 10, tarHash: hash, platform: 'linux-x64' });
  assert.equal(readPatchCustom(patch).platform, 'linux-x64');
  assert.equal(readPatchCustom(makePatchCustom({ tarSize: 10, tarHash: hash })).platform, undefined);
});

test('fleet fields: malformed values are coded errors (readers fail closed)', async () => {
  const bad = (tufup: Record<string, unknown>) => ({ user: null, tufup: { required: false, ...tufup } });
  for (const tufup of [
    { platform: 'Win-x64' },
    { platform: 'linux' },
    { channel: 'Beta' },
    { channel: '' },
    { rollout_percent: 101 },
    { rollout_percent: -1 },
    { rollout_percent: '50' },
    { yanked: 'yes' },
    { yank_reason: 5 },
  ]) {
    await assertCode(() => readArchiveCustom(bad(tufup)), 'INVALID_CUSTOM_METADATA');
  }
  await assertCode(
    () => readPatchCustom({ user: null, tufup: { tar_size: 1, tar_hash: 'ab'.repeat(32), platform: 'x' } }),
    'INVALID_CUSTOM_METADATA',
  );
  await assertCode(() => makeArchiveCustom({ platform: 'win x64' }), 'INVALID_PLATFORM');
  await assertCode(() => makeArchiveCustom({ channel: 'a/b' }), 'INVALID_CHANNEL');
  await assertCode(() => makeArchiveCustom({ channel: 'x'.repeat(33) }), 'INVALID_CHANNEL');
  await assertCode(() => makeArchiveCustom({ rolloutPercent: 10.5 }), 'INVALID_ROLLOUT');
  await assertCode(() => makeArchiveCustom({ rolloutPercent: 101 }), 'INVALID_ROLLOUT');
  assert.ok(isValidChannelName('canary-eu'));
});
