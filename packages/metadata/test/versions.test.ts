// Tests of PEP 440 versions and update channels against python tufup's rules and the fixture.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  compareVersions,
  isPrerelease,
  isValidVersion,
  normalizeVersion,
  parseVersion,
  sortVersions,
  targetsForApp,
  versionInChannel,
} from '../src/index.js';
import { parseChannel } from '../src/versions.js';
import { assertCode, FIXTURE, FIXTURE_METADATA } from './helpers.js';

test('fixture archive versions sort in the order python tufup published them', async () => {
  const manifest = JSON.parse(await readFile(`${FIXTURE}manifest.json`, 'utf8')) as { versions: string[] };
  const targets = JSON.parse(await readFile(`${FIXTURE_METADATA}/targets.json`, 'utf8')) as {
    signed: { targets: Record<string, unknown> };
  };
  const archiveVersions = targetsForApp(Object.keys(targets.signed.targets), 'example_app')
    .filter((t) => t.kind === 'archive')
    .map((t) => t.version);
  // Object key order of targets.json is alphabetical (3.0 before 3.0rc1), so this is a real sort.
  assert.deepEqual(sortVersions([...archiveVersions].reverse()), manifest.versions);
  assert.deepEqual(sortVersions(archiveVersions), manifest.versions);
});

test('sortVersions follows the PEP 440 ordering (the spec example, epochs, locals, post and dev)', () => {
  // PEP 440's own example order, plus cases tufup users hit: numeric (not lexical) segments, epochs, locals.
  const ascending = [
    '0.9',
    '1.0.dev456',
    '1.0a1',
    '1.0a2.dev456',
    '1.0a12.dev456',
    '1.0a12',
    '1.0b1.dev456',
    '1.0b2',
    '1.0b2.post345.dev456',
    '1.0b2.post345',
    '1.0c1.dev456',
    '1.0c1',
    '1.0rc2',
    '1.0c3',
    '1.0',
    '1.0+abc',
    '1.0+local.7',
    '1.0+local.10',
    '1.0.post456.dev34',
    '1.0.post456',
    '1.1.dev1',
    '1.9',
    '1.10',
    '10.0',
    '2022.1',
    '1!0.1',
  ];
  const odd = ascending.filter((_, i) => i % 2 === 1);
  const even = ascending.filter((_, i) => i % 2 === 0);
  assert.deepEqual(sortVersions([...even.reverse(), ...odd]), ascending);
  assert.deepEqual(sortVersions([...ascending].reverse()), ascending);
  assert.equal(compareVersions('1.0', '1.0.0'), 0);
  assert.equal(compareVersions('2022-1', '2022.post1'), 0);
  assert.ok(compareVersions('3.0RC1', 'v3.0') < 0);
});

test('parseVersion returns valid versions unchanged and normalizeVersion gives the normal form', () => {
  for (const v of ['1.0', '3.0rc1', '4.0a1', '1!2.0', '1.0.post1', '1.0.dev0', '1.0+ubuntu.1', 'v2.0']) {
    assert.equal(parseVersion(v), v);
    assert.ok(isValidVersion(v));
  }
  assert.equal(normalizeVersion('1.0-RC1'), '1.0rc1');
  assert.equal(normalizeVersion('2022-1'), '2022.post1');
  assert.equal(normalizeVersion('1.0alpha2'), '1.0a2');
  assert.equal(normalizeVersion('v1.0+Local'), '1.0+local');
});

test('invalid versions are rejected whole, not just their first character', async () => {
  // tufup's CLI only checks values[0]: '1.x.bogus' passed there.
  for (const bad of [
    '1.x.bogus',
    '',
    ' 1.0',
    '1.0 ',
    'latest',
    '1.0/../..',
    '1..0',
    '1.0-',
    'a1.0',
    '1.0\n',
  ]) {
    assert.equal(isValidVersion(bad), false, bad);
    await assertCode(() => parseVersion(bad), 'INVALID_VERSION');
  }
  await assertCode(() => compareVersions('1.0', 'nope'), 'INVALID_VERSION');
  await assertCode(() => sortVersions(['1.0', '2.0', 'x']), 'INVALID_VERSION');
  await assertCode(() => isPrerelease('1.0 beta'), 'INVALID_VERSION');
  await assertCode(() => versionInChannel('one', 'a'), 'INVALID_VERSION');
});

test('channels: none → finals, a → a/b/rc/finals, b → b/rc/finals, rc → rc/finals', () => {
  const table: Array<[string, boolean, boolean, boolean, boolean]> = [
    // version, none, a, b, rc
    ['2.0', true, true, true, true],
    ['2.0a1', false, true, false, false],
    ['2.0alpha3', false, true, false, false],
    ['2.0b2', false, true, true, false],
    ['2.0rc1', false, true, true, true],
    ['2.0c1', false, true, true, true],
    ['2.0preview1', false, true, true, true],
    // tufup checks Version.pre only: dev and post releases count as final on every channel
    ['2.0.dev1', true, true, true, true],
    ['2.0.post1', true, true, true, true],
    ['2.0a1.dev1', false, true, false, false],
    ['2.0rc1.post2', false, true, true, true],
  ];
  for (const [v, none, a, b, rc] of table) {
    assert.equal(versionInChannel(v), none, `${v} none`);
    assert.equal(versionInChannel(v, 'a'), a, `${v} a`);
    assert.equal(versionInChannel(v, 'b'), b, `${v} b`);
    assert.equal(versionInChannel(v, 'rc'), rc, `${v} rc`);
    assert.equal(isPrerelease(v), !none, `${v} isPrerelease`);
  }
});

test('an unknown channel is a coded error, empty means finals only', async () => {
  assert.equal(parseChannel(undefined), undefined);
  assert.equal(parseChannel(''), undefined);
  assert.equal(parseChannel('rc'), 'rc');
  await assertCode(() => parseChannel('beta'), 'INVALID_CHANNEL');
  await assertCode(() => versionInChannel('1.0', 'dev' as 'a'), 'INVALID_CHANNEL');
});
