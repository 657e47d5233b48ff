// Tests of MetadataStore: python tufup's publish workflow replayed byte for byte, cascade, rotation, multi-party signing.
import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import {
  formatTargetName,
  generateEd25519Key,
  makeArchiveCustom,
  makePatchCustom,
  MetadataStore,
  parseTargetName,
  readArchiveCustom,
  readMetadataFile,
  readPatchCustom,
  type RoleName,
} from '../src/index.js';
import {
  assertCode,
  copyFixtureMetadata,
  FIXTURE,
  FIXTURE_METADATA,
  loadFixtureKeys,
  verifyRootRotation,
} from './helpers.js';

const DAYS = { root: 3650, targets: 3650, snapshot: 3650, timestamp: 3650 };
// The fixture was generated at 2026-11-26T20:45:2xZ; its expiry dates are that + 3650 days.
const GENERATED = new Date('2026-11-26T20:45:23Z');

test('replaying the python tufup history through the API reproduces all six fixture files byte for byte', async () => {
  const k = await loadFixtureKeys();
  const fixtureTargets = (await readMetadataFile(join(FIXTURE_METADATA, 'targets.json'), 'targets')).signed
    .targets;
  await withTempDir(async (dir) => {
    const metadataDir = join(dir, 'metadata');
    // tufup init: root keys root + root_two (threshold 2), one key for each other role.
    const store = MetadataStore.create(metadataDir, {
      keys: {
        root: [k.root_two!, k.root!],
        targets: [k.targets!],
        snapshot: [k.snapshot!],
        timestamp: [k.timestamp!],
      },
      thresholds: { root: 2 },
      expirationDays: DAYS,
      now: GENERATED,
    });
    const signAll = (roles: RoleName[]) => {
      for (const role of roles) {
        if (role === 'root') store.sign('root', [k.root!, k.root_two!]);
        else store.sign(role, [k[role]!]);
      }
    };
    signAll(store.bump({ now: GENERATED }));
    await store.save({ now: GENERATED });
    // tufup targets add, once per version, with the custom metadata python tufup was given.
    for (const version of ['1.0', '2.0', '3.0rc1', '3.0', '4.0a1']) {
      const archive = formatTargetName('example_app', version, 'archive');
      const custom = readArchiveCustom(fixtureTargets[archive]!.custom);
      await store.addTargetFile(archive, join(FIXTURE, 'repository/targets', archive), {
        custom: makeArchiveCustom({ required: custom.required, user: custom.user }),
      });
      const patch = formatTargetName('example_app', version, 'patch');
      if (fixtureTargets[patch]) {
        const { tarSize, tarHash } = readPatchCustom(fixtureTargets[patch].custom);
        await store.addTargetFile(patch, join(FIXTURE, 'repository/targets', patch), {
          custom: makePatchCustom({ tarSize, tarHash }),
        });
      }
      const bumped = store.bump({ now: GENERATED });
      assert.deepEqual(bumped, ['targets', 'snapshot', 'timestamp']);
      signAll(bumped);
      await store.save({ now: GENERATED });
    }
    // tufup keys root_three -c replace root_two: signed by the new keys plus the revoked one.
    assert.deepEqual(store.replaceKey(k.root_two!.keyid, k.root_three!), ['root']);
    const bumped = store.bump({ now: GENERATED });
    assert.deepEqual(bumped, ['root', 'targets', 'snapshot', 'timestamp']);
    store.sign('root', [k.root_two!, k.root!, k.root_three!]);
    signAll(bumped.filter((r) => r !== 'root'));
    await store.save({ now: GENERATED });
    // tufup sign timestamp -e, a second later.
    const later = new Date(GENERATED.getTime() + 1000);
    assert.deepEqual(store.bump({ force: ['timestamp'], now: later }), ['timestamp']);
    store.sign('timestamp', [k.timestamp!]);
    await store.save({ now: later });

    const files = (await readdir(metadataDir)).sort();
    assert.deepEqual(files, (await readdir(FIXTURE_METADATA)).sort());
    for (const file of files) {
      assert.equal(
        await readFile(join(metadataDir, file), 'utf8'),
        await readFile(join(FIXTURE_METADATA, file), 'utf8'),
        file,
      );
    }
  });
});

test('loading the fixture and saving without changes writes nothing; verify() passes', async () => {
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir);
    assert.equal(store.root.signed.version, 2);
    assert.equal(store.previousRoot?.signed.version, 1);
    assert.deepEqual(store.changedRoles(), []);
    await store.verify();
    assert.deepEqual(await store.save(), []);
    assert.deepEqual(
      store.status().map((s) => [s.role, s.version, s.signatures.valid.length, s.signatures.threshold]),
      [
        ['root', 2, 2, 2],
        ['targets', 7, 1, 1],
        ['snapshot', 7, 1, 1],
        ['timestamp', 8, 1, 1],
      ],
    );
    assert.equal(store.targetPaths().length, 9);
    assert.deepEqual(
      store.keysFor('root').map((key) => key.keyid),
      store.root.signed.roles.root!.keyIDs,
    );
  });
});

test('adding a target cascades targets → snapshot → timestamp and only those files are rewritten', async () => {
  const k = await loadFixtureKeys();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir, { expirationDays: { targets: 30 } });
    const name = formatTargetName('example_app', '5.0', 'archive');
    await writeFile(join(dir, name), 'new release');
    const target = await store.addTargetFile(name, join(dir, name), { custom: makeArchiveCustom() });
    assert.equal(target.length, 11);
    assert.deepEqual(store.changedRoles(), ['targets']);
    const now = new Date('2030-01-01T00:00:00Z');
    assert.deepEqual(store.bump({ now }), ['targets', 'snapshot', 'timestamp']);
    assert.equal(store.targets.signed.version, 8);
    assert.equal(store.targets.signed.expires, '2030-01-31T00:00:00Z');
    assert.equal(store.snapshot.signed.version, 8);
    assert.equal(store.snapshot.signed.meta['targets.json']?.version, 8);
    assert.equal(store.timestamp.signed.version, 9);
    assert.equal(store.timestamp.signed.snapshotMeta.version, 8);
    assert.equal(store.timestamp.signed.expires, '2030-01-02T00:00:00Z');
    // Unsigned: save refuses.
    await assertCode(() => store.save({ now }), 'THRESHOLD_NOT_MET', /0 of 1/);
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) store.sign(role, [k[role]!]);
    const written = await store.save({ now });
    assert.deepEqual(
      written.map((p) => p.slice(metadataDir.length + 1)),
      ['targets.json', 'snapshot.json', 'timestamp.json'],
    );
    const again = await MetadataStore.load(metadataDir);
    await again.verify({ now });
    assert.equal(again.getTarget(name)?.hashes.sha256?.length, 64);
    assert.deepEqual(readArchiveCustom(again.getTarget(name)?.custom), {
      user: null,
      required: false,
      channel: 'stable',
      rolloutPercent: 100,
      yanked: false,
      raw: makeArchiveCustom(),
    });
  });
});

test('a root change bumps targets too, and the rotation needs a threshold of the old root keys', async () => {
  const k = await loadFixtureKeys();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir);
    const root_four = generateEd25519Key();
    store.replaceKey(k.root_three!.keyid, root_four);
    assert.ok(!(k.root_three!.keyid in store.root.signed.keys), 'a replaced key leaves root.keys');
    const now = new Date('2027-01-01T00:00:00Z');
    assert.deepEqual(store.bump({ now }), ['root', 'targets', 'snapshot', 'timestamp']);
    assert.equal(store.root.signed.version, 3);
    assert.equal(store.root.signed.expires, '2028-01-01T00:00:00Z', 'python tufup default: root 365 days');
    assert.equal(store.targets.signed.version, 8);
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) store.sign(role, [k[role]!]);
    // root + root_four meet the new threshold, but clients trusting v2 need 2 of {root, root_three}.
    store.sign('root', [k.root!, root_four]);
    await assertCode(() => store.save({ now }), 'THRESHOLD_NOT_MET', /1 of 2 required old \(v2\) keys/);
    assert.deepEqual(
      store.signingKeyIds('root').sort(),
      [k.root!.keyid, k.root_three!.keyid, root_four.keyid].sort(),
    );
    store.sign('root', [k.root_three!]);
    const written = (await store.save({ now })).map((p) => p.slice(metadataDir.length + 1));
    assert.deepEqual(written, [
      '3.root.json',
      'root.json',
      'targets.json',
      'snapshot.json',
      'timestamp.json',
    ]);
    assert.equal(
      await readFile(join(metadataDir, '3.root.json'), 'utf8'),
      await readFile(join(metadataDir, 'root.json'), 'utf8'),
    );
    const v2 = await readMetadataFile(join(metadataDir, '2.root.json'), 'root');
    const v3 = await readMetadataFile(join(metadataDir, '3.root.json'), 'root');
    verifyRootRotation(v2, v3, { now });
    const reloaded = await MetadataStore.load(metadataDir);
    assert.equal(reloaded.previousRoot?.signed.version, 2);
    await reloaded.verify({ now });
  });
});

test('multi-party threshold signing: a second signer adds a signature without dropping the first', async () => {
  await withTempDir(async (dir) => {
    const alice = generateEd25519Key();
    const bob = generateEd25519Key();
    const online = generateEd25519Key();
    const now = new Date('2027-01-01T00:00:00Z');
    const metadataDir = join(dir, 'metadata');
    const store = MetadataStore.create(metadataDir, {
      keys: { root: [alice, bob], targets: [alice, bob], snapshot: [online], timestamp: [online] },
      thresholds: { root: 2, targets: 2 },
      now,
    });
    store.bump({ now });
    store.sign('root', [alice, bob]);
    store.sign('targets', [alice, bob]);
    store.sign('snapshot', [online]);
    store.sign('timestamp', [online]);
    await store.save({ now });

    // Alice publishes a release on her machine and signs targets alone.
    const first = await MetadataStore.load(metadataDir);
    first.addTarget('app-1.0.tar.gz', { length: 3, sha256: 'ab'.repeat(32), custom: makeArchiveCustom() });
    first.bump({ now });
    first.sign('targets', [alice]);
    first.sign('snapshot', [online]);
    first.sign('timestamp', [online]);
    await assertCode(() => first.save({ now }), 'THRESHOLD_NOT_MET', /targets v2 is signed by 1 of 2/);
    await first.save({ now, allowBelowThreshold: true });

    // Bob loads what Alice saved, checks it, adds his signature; nothing is bumped, nothing dropped.
    const second = await MetadataStore.load(metadataDir);
    assert.deepEqual(second.changedRoles(), []);
    await assertCode(() => second.verify({ now }), 'THRESHOLD_NOT_MET', /1 of 2/);
    second.sign('targets', [bob]);
    assert.deepEqual(Object.keys(second.targets.signatures), [alice.keyid, bob.keyid]);
    assert.deepEqual(
      (await second.save({ now })).map((p) => p.slice(metadataDir.length + 1)),
      ['targets.json'],
    );
    const final = await MetadataStore.load(metadataDir);
    await final.verify({ now });
    assert.equal(final.targets.signed.version, 2);
    assert.equal(final.snapshot.signed.meta['targets.json']?.version, 2);
    // Bob bumping again before saving would not have thrown Alice's signature away either.
    final.bump({ now });
    assert.equal(Object.keys(final.targets.signatures).length, 2);
  });
});

test('sign() replaces stale signatures and refuses keys the role does not list', async () => {
  await withTempDir(async (dir) => {
    const key = generateEd25519Key();
    const stranger = generateEd25519Key();
    const now = new Date('2027-01-01T00:00:00Z');
    const store = MetadataStore.create(join(dir, 'm'), {
      keys: { root: [key], targets: [key], snapshot: [key], timestamp: [key] },
      now,
    });
    store.bump({ now });
    store.sign('targets', [key]);
    const before = store.targets.signatures[key.keyid]?.sig;
    store.addTarget('a-1.0.tar.gz', { length: 1, sha256: '00'.repeat(32) });
    assert.deepEqual(store.targets.signatures, {}, 'an edit clears signatures');
    store.sign('targets', [key]);
    assert.notEqual(store.targets.signatures[key.keyid]?.sig, before);
    await assertCode(() => store.sign('targets', [stranger]), 'KEY_NOT_AUTHORIZED');
    await assertCode(() => store.sign('nobody' as RoleName, [key]), 'UNKNOWN_ROLE');
  });
});

test('save() refuses changed content that was not bumped, unreachable thresholds and expired roles', async () => {
  const k = await loadFixtureKeys();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir);
    store.removeTarget('example_app-1.0.tar.gz');
    await assertCode(() => store.save(), 'BAD_VERSION', /call bump\(\)/);
    await assertCode(() => store.removeTarget('example_app-1.0.tar.gz'), 'TARGET_NOT_FOUND');

    const other = await MetadataStore.load(metadataDir);
    await assertCode(() => other.setThreshold('targets', 2), 'INVALID_THRESHOLD', /exceeds its 1 key/);
    await assertCode(() => other.setThreshold('targets', 0), 'INVALID_THRESHOLD');
    await assertCode(() => other.removeKey('targets', k.snapshot!.keyid), 'UNKNOWN_KEY');
    other.removeKey('targets', k.targets!.keyid);
    other.bump();
    await assertCode(() => other.save(), 'INVALID_THRESHOLD', /targets threshold 1 exceeds its 0 key/);

    const expired = await MetadataStore.load(metadataDir);
    const now = new Date('2027-01-01T00:00:00Z');
    expired.setExpires('timestamp', '2026-12-31T00:00:00Z');
    expired.bump({ now });
    expired.sign('timestamp', [k.timestamp!]);
    await assertCode(() => expired.save({ now }), 'EXPIRED_METADATA', /timestamp v9 expired/);
    assert.deepEqual(await readdir(metadataDir), await readdir(FIXTURE_METADATA));
  });
});

test('verify() catches a snapshot or timestamp that points at another version', async () => {
  const k = await loadFixtureKeys();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    // Re-sign an older-looking snapshot: validly signed, but timestamp names snapshot v7.
    const snapshot = JSON.parse(await readFile(join(metadataDir, 'snapshot.json'), 'utf8')) as {
      signed: { version: number };
    };
    snapshot.signed.version = 6;
    await writeFile(join(metadataDir, 'snapshot.json'), JSON.stringify(snapshot));
    const store = await MetadataStore.load(metadataDir);
    store.sign('snapshot', [k.snapshot!]);
    await assertCode(() => store.verify(), 'BAD_VERSION', /timestamp lists snapshot.json v7, snapshot is v6/);
  });
});

test('a new repository with consistent snapshots writes versioned targets and snapshot files', async () => {
  await withTempDir(async (dir) => {
    const key = generateEd25519Key();
    const metadataDir = join(dir, 'metadata');
    const store = MetadataStore.create(metadataDir, {
      keys: { root: [key], targets: [key], snapshot: [key], timestamp: [key] },
      consistentSnapshot: true,
    });
    assert.deepEqual(store.changedRoles(), ['root', 'targets', 'snapshot', 'timestamp']);
    const bumped = store.bump();
    assert.equal(store.root.signed.version, 1);
    for (const role of bumped) store.sign(role, [key]);
    await store.save();
    assert.deepEqual((await readdir(metadataDir)).sort(), [
      '1.root.json',
      '1.snapshot.json',
      '1.targets.json',
      'root.json',
      'snapshot.json',
      'targets.json',
      'timestamp.json',
    ]);
    const root = JSON.parse(await readFile(join(metadataDir, 'root.json'), 'utf8')) as {
      signed: Record<string, unknown>;
    };
    assert.equal(root.signed.consistent_snapshot, true);
    if (process.platform !== 'win32')
      assert.equal((await stat(join(metadataDir, 'root.json'))).mode & 0o777, 0o644);
    // and false by default
    const plain = MetadataStore.create(join(dir, 'plain'), {
      keys: { root: [key], targets: [key], snapshot: [key], timestamp: [key] },
    });
    assert.equal(plain.root.signed.consistentSnapshot, false);
    assert.equal(plain.root.signed.expires.length, 20);
  });
});

test('target paths that could escape the targets dir are INVALID_TARGET_PATH; keys must cover every role', async () => {
  await withTempDir(async (dir) => {
    const key = generateEd25519Key();
    const store = MetadataStore.create(join(dir, 'm'), {
      keys: { root: [key], targets: [key], snapshot: [key], timestamp: [key] },
    });
    for (const path of ['', '../x.tar.gz', 'a/../../x', '/abs.tar.gz', 'a//b', 'a\\b', 'x\n.tar.gz', '.']) {
      await assertCode(
        () => store.addTarget(path, { length: 1, sha256: '00'.repeat(32) }),
        'INVALID_TARGET_PATH',
      );
    }
    await assertCode(
      () => store.addTarget('ok-1.0.tar.gz', { length: -1, sha256: '00'.repeat(32) }),
      'INVALID_METADATA',
    );
    await assertCode(() => store.addTarget('ok-1.0.tar.gz', { length: 1, sha256: 'XY' }), 'INVALID_METADATA');
    await assertCode(
      () => store.addTarget('ok-1.0.tar.gz', { length: 1, sha256: '00'.repeat(32), custom: { user: 0.5 } }),
      'INVALID_METADATA',
    );
    assert.equal(
      parseTargetName(store.addTarget('ok-1.0.tar.gz', { length: 1, sha256: '00'.repeat(32) }).path).version,
      '1.0',
    );
    await assertCode(
      () =>
        MetadataStore.create(dir, { keys: { root: [key], targets: [key], snapshot: [], timestamp: [key] } }),
      'UNKNOWN_KEY',
    );
    await assertCode(() => MetadataStore.load(join(dir, 'missing')), 'FILE_NOT_FOUND');
  });
});

test('after an interrupted save the newest N.root.json wins and the next save repairs root.json', async () => {
  const k = await loadFixtureKeys();
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    const store = await MetadataStore.load(metadataDir);
    store.setExpires('root', '2030-01-01T00:00:00Z');
    const now = new Date('2027-01-01T00:00:00Z');
    for (const role of store.bump({ now })) {
      store.sign(role, role === 'root' ? [k.root!, k.root_three!] : [k[role]!]);
    }
    await store.save({ now });
    // Simulate a crash between writing 3.root.json and root.json.
    await writeFile(join(metadataDir, 'root.json'), await readFile(join(FIXTURE_METADATA, 'root.json')));
    const reloaded = await MetadataStore.load(metadataDir);
    assert.equal(reloaded.root.signed.version, 3);
    assert.equal(reloaded.previousRoot?.signed.version, 2);
    // verify says so (as `tufup verify` does: it is the same code); the next save repairs it.
    await assertCode(
      () => reloaded.verify({ now }),
      'ROOT_MISMATCH',
      /root\.json differs from 3\.root\.json/,
    );
    assert.deepEqual(
      (await reloaded.save({ now })).map((p) => p.slice(metadataDir.length + 1)),
      ['root.json'],
    );
    await reloaded.verify({ now });
    assert.equal(
      await readFile(join(metadataDir, 'root.json'), 'utf8'),
      await readFile(join(metadataDir, '3.root.json'), 'utf8'),
    );
  });
});

test('a root.json ahead of every N.root.json is BAD_VERSION (its versioned file is missing)', async () => {
  await withTempDir(async (dir) => {
    const metadataDir = await copyFixtureMetadata(dir);
    await rm(join(metadataDir, '2.root.json'));
    await assertCode(() => MetadataStore.load(metadataDir), 'BAD_VERSION', /root\.json \(v2\)/);
  });
});
