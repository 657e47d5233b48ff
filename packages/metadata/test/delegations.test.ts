// Tests of delegated targets roles in MetadataStore: creating, routing, head/history moves, signing, verifying, saving.
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import {
  MetadataStore,
  type PrivateKey,
  canMatchPrefix,
  delegatedEntries,
  delegationMatcher,
  formatTargetName,
  generateEd25519Key,
  makeArchiveCustom,
  serializeMetadata,
  verifyRepository,
} from '../src/index.js';
import { assertCode, copyFixtureMetadata, loadFixtureKeys } from './helpers.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const SHA = 'a'.repeat(64);

/** Signs every bumped role: top-level with the fixture's keys, delegated with `delegated`. */
function signAll(
  store: MetadataStore,
  bumped: string[],
  k: Record<string, PrivateKey>,
  delegated: PrivateKey[],
) {
  for (const role of bumped) {
    if (role === 'targets' || role === 'snapshot' || role === 'timestamp') store.sign(role, [k[role]!]);
    else store.sign(role, delegated);
  }
}

function addRelease(store: MetadataStore, app: string, version: string): void {
  store.addTarget(formatTargetName(app, version, 'archive'), {
    length: 1,
    sha256: SHA,
    custom: makeArchiveCustom(),
  });
}

test('a delegation moves matching targets into its role; new targets route to it; snapshot lists it; files saved', async () => {
  const k = await loadFixtureKeys();
  const win = generateEd25519Key();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir);
    addRelease(store, 'example_app-win-x64', '1.0');
    store.addDelegation({ name: 'win', keys: [win.publicKey()], paths: ['example_app-win-x64-*'], now: NOW });
    assert.deepEqual(store.delegatedRoleNames(), ['win']);
    assert.equal(store.holderOf('example_app-win-x64-1.0.tar.gz'), 'win');
    addRelease(store, 'example_app-win-x64', '2.0');
    addRelease(store, 'example_app', '9.0');
    assert.equal(store.holderOf('example_app-win-x64-2.0.tar.gz'), 'win');
    assert.equal(store.holderOf('example_app-9.0.tar.gz'), 'targets');
    const bumped = store.bumpAll({ now: NOW });
    assert.deepEqual(bumped, ['targets', 'win', 'snapshot', 'timestamp']);
    assert.deepEqual(Object.keys(store.snapshot.signed.meta).sort(), ['targets.json', 'win.json']);
    // The delegated role's key cannot sign the top-level targets, nor the targets key the delegated role.
    await assertCode(() => store.sign('targets', [win]), 'KEY_NOT_AUTHORIZED');
    await assertCode(() => store.sign('win', [k.targets!]), 'KEY_NOT_AUTHORIZED');
    signAll(store, bumped, k, [win]);
    const written = (await store.save({ now: NOW })).map((p) => p.slice(metadataDir.length + 1));
    assert.deepEqual(written.sort(), ['snapshot.json', 'targets.json', 'timestamp.json', 'win.json']);
    const again = await MetadataStore.load(metadataDir);
    assert.equal(again.getTarget('example_app-win-x64-2.0.tar.gz')?.length, 1);
    assert.equal(again.delegationOf('win')?.entry.threshold, 1);
    assert.equal((await verifyRepository(metadataDir, { now: NOW })).ok, true);
    // A second, unchanged save writes nothing.
    assert.deepEqual(await again.save({ now: NOW }), []);
  });
});

test('a release added through the delegated role alone bumps only that role, snapshot and timestamp', async () => {
  const k = await loadFixtureKeys();
  const win = generateEd25519Key();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir);
    store.addDelegation({ name: 'win', keys: [win.publicKey()], paths: ['example_app-win-x64-*'], now: NOW });
    signAll(store, store.bumpAll({ now: NOW }), k, [win]);
    await store.save({ now: NOW });
    const next = await MetadataStore.load(metadataDir);
    addRelease(next, 'example_app-win-x64', '3.0');
    const bumped = next.bumpAll({ now: NOW });
    assert.deepEqual(bumped, ['win', 'snapshot', 'timestamp']);
    signAll(next, bumped, k, [win]);
    await next.save({ now: NOW });
    assert.equal((await verifyRepository(metadataDir, { now: NOW })).ok, true);
  });
});

test('the verifier refuses a delegated role signed by another key, below threshold, expired, stale or outside its paths', async () => {
  const k = await loadFixtureKeys();
  const win = generateEd25519Key();
  const win2 = generateEd25519Key();
  const thief = generateEd25519Key();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir);
    store.addDelegation({ name: 'win', keys: [win.publicKey()], paths: ['example_app-win-x64-*'], now: NOW });
    store.addDelegation({
      name: 'mac',
      keys: [win.publicKey(), win2.publicKey()],
      threshold: 2,
      paths: ['example_app-mac-arm64-*'],
      now: NOW,
    });
    addRelease(store, 'example_app-win-x64', '1.0');
    const bumped = store.bumpAll({ now: NOW });
    for (const role of bumped) {
      if (role === 'mac')
        store.sign(role, [win]); // 1 of 2
      else if (role === 'win') store.sign(role, [win]);
      else store.sign(role, [k[role]!]);
    }
    const found = await store.problems({ now: NOW });
    assert.deepEqual(
      found.problems.map((p) => p.code),
      ['THRESHOLD_NOT_MET'],
    );
    assert.match(found.problems[0]!.message, /mac v1 is signed by 1 of 2/);
    store.sign('mac', [win2]);
    await store.save({ now: NOW });
    const later = new Date(NOW.getTime() + 400 * 86_400_000);
    const expired = (await verifyRepository(metadataDir, { now: later })).problems
      .filter((p) => p.code === 'EXPIRED_METADATA')
      .map((p) => p.file);
    assert.ok(expired.includes('metadata/win.json') && expired.includes('metadata/mac.json'), expired.join());
    // A thief's signature instead of the win key's; then a target outside win's paths.
    const winFile = join(metadataDir, 'win.json');
    const original = await readFile(winFile, 'utf8');
    const tampered = JSON.parse(original);
    tampered.signed.targets['example_app-mac-arm64-9.0.tar.gz'] =
      tampered.signed.targets['example_app-win-x64-1.0.tar.gz'];
    await writeFile(winFile, JSON.stringify(tampered));
    let codes = (await verifyRepository(metadataDir, { now: NOW })).problems.map((p) => p.code);
    assert.ok(codes.includes('BAD_SIGNATURE'), codes.join());
    assert.ok(codes.includes('TARGET_OUTSIDE_PATHS'), codes.join());
    const resigned = await MetadataStore.load(metadataDir);
    const md = resigned.targetsRole('win');
    for (const id of Object.keys(md.signatures)) delete md.signatures[id];
    const { addSignatures } = await import('../src/signatures.js');
    addSignatures(md, [thief]);
    await writeFile(winFile, serializeMetadata(md));
    codes = (await verifyRepository(metadataDir, { now: NOW })).problems.map((p) => p.code);
    assert.ok(codes.includes('THRESHOLD_NOT_MET'), codes.join());
    // A stale (rolled back) role: the version snapshot does not name.
    await writeFile(winFile, original);
    const snap = JSON.parse(await readFile(join(metadataDir, 'snapshot.json'), 'utf8'));
    assert.equal(snap.signed.meta['win.json'].version, 1);
    const next = await MetadataStore.load(metadataDir);
    addRelease(next, 'example_app-win-x64', '2.0');
    const b2 = next.bumpAll({ now: NOW });
    signAll(next, b2, k, [win]);
    await next.save({ now: NOW });
    await writeFile(winFile, original);
    codes = (await verifyRepository(metadataDir, { now: NOW })).problems.map((p) => p.code);
    assert.deepEqual(codes, ['BAD_VERSION']);
  });
});

test('a head role with history-after k moves its oldest k releases to <role>.history when it reaches 2k', async () => {
  const k = await loadFixtureKeys();
  const win = generateEd25519Key();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir);
    store.addDelegation({
      name: 'win',
      keys: [win.publicKey()],
      paths: ['example_app-win-x64-*'],
      historyAfter: 2,
      now: NOW,
    });
    assert.deepEqual(store.delegatedRoleNames(), ['win', 'win.history']);
    signAll(store, store.bumpAll({ now: NOW }), k, [win]);
    await store.save({ now: NOW });
    const counts: Array<[number, number]> = [];
    for (const v of ['1', '2', '3', '4', '5']) {
      const s = await MetadataStore.load(metadataDir);
      addRelease(s, 'example_app-win-x64', v);
      const bumped = s.bumpAll({ now: NOW });
      signAll(s, bumped, k, [win]);
      await s.save({ now: NOW });
      counts.push([
        Object.keys(s.targetsRole('win').signed.targets).length,
        Object.keys(s.targetsRole('win.history').signed.targets).length,
      ]);
    }
    assert.deepEqual(counts, [
      [1, 0],
      [2, 0],
      [3, 0],
      [2, 2],
      [3, 2],
    ]);
    const s = await MetadataStore.load(metadataDir);
    // An old release is edited where it is (the history role), a new one goes to the head.
    assert.equal(s.roleForTarget('example_app-win-x64-1.tar.gz'), 'win.history');
    assert.equal(s.roleForTarget('example_app-win-x64-6.tar.gz'), 'win');
    assert.equal((await verifyRepository(metadataDir, { now: NOW })).ok, true);
    // Removing the delegation puts every release back in the top-level targets and deletes both files.
    assert.deepEqual(s.removeDelegation('win'), ['win', 'win.history']);
    assert.equal(s.holderOf('example_app-win-x64-1.tar.gz'), 'targets');
    const bumped = s.bumpAll({ now: NOW });
    assert.deepEqual(bumped, ['targets', 'snapshot', 'timestamp']);
    signAll(s, bumped, k, []);
    await s.save({ now: NOW });
    const names = await readdir(metadataDir);
    assert.ok(!names.includes('win.json') && !names.includes('win.history.json'), names.join());
    assert.deepEqual(Object.keys(s.snapshot.signed.meta), ['targets.json']);
    assert.equal((await verifyRepository(metadataDir, { now: NOW })).ok, true);
  });
});

test('bad delegations: role names, path patterns, thresholds, duplicates', async () => {
  const win = generateEd25519Key();
  await withTempDir(async (dir) => {
    const store = await MetadataStore.load(await copyFixtureMetadata(dir));
    const ok = { keys: [win.publicKey()], paths: ['app-*'] };
    for (const name of ['targets', 'root', 'Win', '../x', 'a/b', '', 'x.history', 'a'.repeat(65)]) {
      await assertCode(() => store.addDelegation({ name, ...ok }), 'INVALID_ROLE_NAME');
    }
    for (const paths of [[], ['a/b'], ['{a,b}'], ['[ab]*'], ['']]) {
      await assertCode(
        () => store.addDelegation({ name: 'w', keys: ok.keys, paths }),
        'INVALID_PATH_PATTERN',
      );
    }
    await assertCode(() => store.addDelegation({ name: 'w', ...ok, threshold: 2 }), 'INVALID_THRESHOLD');
    await assertCode(() => store.addDelegation({ name: 'w', ...ok, historyAfter: 0 }), 'INVALID_ARGUMENT');
    store.addDelegation({ name: 'w', ...ok });
    await assertCode(() => store.addDelegation({ name: 'w', ...ok }), 'ROLE_EXISTS');
    await assertCode(() => store.removeDelegation('nope'), 'UNKNOWN_ROLE');
  });
});

test("canMatchPrefix: which patterns can hold an app's targets", () => {
  assert.equal(canMatchPrefix('myapp-win-x64-*', 'myapp-'), true);
  assert.equal(canMatchPrefix('myapp-*', 'myapp-'), true);
  assert.equal(canMatchPrefix('*', 'myapp-'), true);
  assert.equal(canMatchPrefix('my?pp-*', 'myapp-'), true);
  assert.equal(canMatchPrefix('other-*', 'myapp-'), false);
  assert.equal(canMatchPrefix('myapp', 'myapp-'), false);
  assert.equal(canMatchPrefix('myap', 'myapp-'), false);
});

test('delegationMatcher agrees with tuf-js isDelegatedPath on the patterns we write; "!" (negation in minimatch) is refused', async () => {
  const win = generateEd25519Key();
  await withTempDir(async (dir) => {
    const store = await MetadataStore.load(await copyFixtureMetadata(dir));
    await assertCode(
      () => store.addDelegation({ name: 'neg', keys: [win.publicKey()], paths: ['!app-*'] }),
      'INVALID_PATH_PATTERN',
    );
    const patterns = [
      'app-win-x64-*',
      '*',
      '**',
      'a?p-*.tar.gz',
      'app-1.0+local-*',
      'x*y*z',
      '*.patch',
      'app',
    ];
    store.addDelegation({ name: 'all', keys: [win.publicKey()], paths: patterns });
    const entry = delegatedEntries(store.targets).find((e) => e.name === 'all')!;
    const names = [
      'app-win-x64-1.0.tar.gz',
      'app',
      '.app-1',
      'app-1.0+local-2.patch',
      'xyz',
      'xaybz',
      'a/b',
      'app-x.patch',
      '',
    ];
    for (const pattern of patterns) {
      const one = { ...entry, paths: [pattern] } as typeof entry;
      Object.setPrototypeOf(one, Object.getPrototypeOf(entry));
      const matches = delegationMatcher(one);
      for (const name of names) {
        assert.equal(matches(name), one.isDelegatedPath(name), `${pattern} vs ${JSON.stringify(name)}`);
      }
    }
  });
});
