// TUF consistent snapshots through the real `tufup` binary: `init --consistent-snapshot`, every command on the
// hash-prefixed layout, and `migrate consistent-snapshot` of an existing (and of python tufup's) repository.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { FIXTURE, copyFixture, errorLine, makeBundle, ok, readJson, sha256Hex, tufup } from './helpers.js';
import { tufDownload } from './tuf-client.js';

interface Doc {
  signed: {
    version: number;
    consistent_snapshot?: boolean;
    meta?: Record<string, { version: number }>;
    targets?: Record<string, { length: number; hashes: Record<string, string> }>;
  };
}

/** `<sha256>.<name>` for every target in targets.json, sorted: the files a consistent-snapshot repo must hold. */
async function prefixedNames(repoDir: string): Promise<string[]> {
  const targets = await readJson<Doc>(join(repoDir, 'metadata', 'targets.json'));
  return Object.entries(targets.signed.targets ?? {})
    .map(([name, t]) => `${Object.values(t.hashes)[0]}.${name}`)
    .sort();
}

test('init --consistent-snapshot: versioned metadata, <sha256>.<name> targets, and every command on that layout', async () => {
  await withTempDir(async (dir) => {
    const plainDir = join(dir, 'plain');
    const repoDir = join(dir, 'cs');
    await ok(['init', '--non-interactive', '--app-name', 'my_app'], { cwd: await mkdirp(plainDir) });
    const run = (args: string[]) => ok(args, { cwd: repoDir });
    await mkdirp(repoDir);
    const init = await run([
      'init',
      '--non-interactive',
      '--app-name',
      'my_app',
      '--consistent-snapshot',
      '--json',
    ]);
    assert.equal(JSON.parse(init.stdout).consistentSnapshot, true);
    // The setting lives in root only: the config is the one a repository without it has, byte for byte.
    assert.deepEqual(
      await readFile(join(repoDir, '.tufup-repo-config')),
      await readFile(join(plainDir, '.tufup-repo-config')),
    );
    const meta = join(repoDir, 'repository', 'metadata');
    const targetsDir = join(repoDir, 'repository', 'targets');
    assert.equal((await readJson<Doc>(join(meta, 'root.json'))).signed.consistent_snapshot, true);

    for (const v of ['1.0', '2.0', '3.0']) {
      await makeBundle(join(dir, `bundle-${v}`), v);
      await run(['targets', 'add', v, join(dir, `bundle-${v}`), 'keystore']);
    }
    // One file per target, under its hash; no plain copies.
    assert.deepEqual((await readdir(targetsDir)).sort(), await prefixedNames(join(repoDir, 'repository')));
    assert.equal((await readdir(targetsDir)).length, 5);
    for (const name of await readdir(targetsDir)) {
      assert.equal(sha256Hex(await readFile(join(targetsDir, name))), name.slice(0, 64));
    }
    // What clients read: N.snapshot.json (named by timestamp) and N.targets.json (named by snapshot).
    const timestamp = await readJson<Doc>(join(meta, 'timestamp.json'));
    const snapshotVersion = timestamp.signed.meta?.['snapshot.json']?.version ?? 0;
    const snapshot = await readJson<Doc>(join(meta, `${snapshotVersion}.snapshot.json`));
    const targetsVersion = snapshot.signed.meta?.['targets.json']?.version ?? 0;
    assert.equal(targetsVersion, 4);
    assert.deepEqual(
      await readFile(join(meta, `${targetsVersion}.targets.json`)),
      await readFile(join(meta, 'targets.json')),
    );

    const verify = JSON.parse((await run(['verify', '--deep', '--json'])).stdout);
    assert.equal(verify.ok, true, JSON.stringify(verify.problems));
    assert.equal(verify.checked.targets, 5);
    assert.equal(verify.checked.patchesReplayed, 2);
    assert.deepEqual(verify.warnings, []);
    assert.equal(JSON.parse((await run(['status', '--json'])).stdout).consistentSnapshot, true);
    assert.match((await run(['status'])).stdout, /consistent snapshots/);

    // tuf-js, an independent client, downloads `<sha256>.<name>` and checks it.
    const got = await tufDownload(
      join(repoDir, 'repository'),
      join(meta, '1.root.json'),
      join(dir, 'tufjs'),
      ['my_app-3.0.tar.gz', 'my_app-3.0.patch'],
    );
    assert.equal(Object.keys(got).length, 2);

    // export reads the hash-prefixed archive.
    await run(['export', '2.0', join(dir, 'out')]);
    assert.match(await readFile(join(dir, 'out', 'README.txt'), 'utf8'), /2\.0/);

    // A hash-prefixed file must match its hash: one flipped byte is a verify problem.
    const [victim] = (await readdir(targetsDir)).filter((n) => n.endsWith('my_app-2.0.tar.gz'));
    const bytes = await readFile(join(targetsDir, victim!));
    const good = Buffer.from(bytes);
    bytes[10] = (bytes[10] ?? 0) ^ 0xff;
    await writeFile(join(targetsDir, victim!), bytes);
    const bad = await tufup(['verify', '--json'], { cwd: repoDir });
    assert.equal(bad.code, 6);
    assert.ok(
      JSON.parse(bad.stdout).problems.some((p: { code: string }) => p.code === 'HASH_MISMATCH'),
      bad.stdout,
    );
    await writeFile(join(targetsDir, victim!), good);
    // The versioned metadata clients read must be there.
    const versioned = join(meta, `${targetsVersion}.targets.json`);
    const versionedText = await readFile(versioned);
    await rm(versioned);
    const missing = await tufup(['verify', '--json'], { cwd: repoDir });
    assert.equal(missing.code, 6);
    assert.deepEqual(
      JSON.parse(missing.stdout).problems.map((p: { code: string; file: string }) => `${p.code} ${p.file}`),
      [`FILE_NOT_FOUND metadata/${targetsVersion}.targets.json`],
    );
    await writeFile(versioned, versionedText);

    // remove-latest and prune remove the prefixed files with their targets.
    await run(['targets', 'remove-latest', 'keystore']);
    await run(['targets', 'prune', '--keep', '1', 'keystore']);
    assert.deepEqual((await readdir(targetsDir)).sort(), await prefixedNames(join(repoDir, 'repository')));
    assert.deepEqual((await readdir(targetsDir)).map((n) => n.slice(65)).sort(), [
      'my_app-2.0.patch',
      'my_app-2.0.tar.gz',
    ]);
    assert.equal(JSON.parse((await run(['verify', '--json'])).stdout).ok, true);
  });
});

test('migrate consistent-snapshot: root bumped and re-signed, targets renamed, patches still made; twice is refused', async () => {
  await withTempDir(async (dir) => {
    const run = (args: string[]) => ok(args, { cwd: dir });
    await run(['init', '--non-interactive', '--app-name', 'my_app']);
    for (const v of ['1.0', '2.0']) {
      await makeBundle(join(dir, `bundle-${v}`), v);
      await run(['targets', 'add', v, join(dir, `bundle-${v}`), 'keystore']);
    }
    const meta = join(dir, 'repository', 'metadata');
    const targetsDir = join(dir, 'repository', 'targets');
    const config = await readFile(join(dir, '.tufup-repo-config'));
    const before = (await readdir(targetsDir)).sort();
    assert.deepEqual(before, ['my_app-1.0.tar.gz', 'my_app-2.0.patch', 'my_app-2.0.tar.gz']);

    const migrated = JSON.parse((await run(['migrate', 'consistent-snapshot', 'keystore', '--json'])).stdout);
    assert.equal(migrated.renamed, 3);
    assert.deepEqual(
      migrated.published.map((p: { role: string; version: number }) => `${p.role}@${p.version}`),
      ['root@2', 'targets@4', 'snapshot@4', 'timestamp@4'],
    );
    assert.deepEqual(await readFile(join(dir, '.tufup-repo-config')), config);
    const root2 = await readJson<Doc>(join(meta, '2.root.json'));
    assert.equal(root2.signed.consistent_snapshot, true);
    assert.equal((await readJson<Doc>(join(meta, '1.root.json'))).signed.consistent_snapshot, false);
    assert.ok((await readdir(meta)).includes('4.targets.json'));
    assert.ok((await readdir(meta)).includes('4.snapshot.json'));
    assert.deepEqual((await readdir(targetsDir)).sort(), await prefixedNames(join(dir, 'repository')));
    assert.equal(JSON.parse((await run(['verify', '--deep', '--json'])).stdout).ok, true);

    // A client that trusts the old root walks to 2.root.json, then reads the new layout.
    await tufDownload(join(dir, 'repository'), join(meta, '1.root.json'), join(dir, 'tufjs'), [
      'my_app-2.0.patch',
    ]);

    // The patch for 3.0 is made from 2.0's archive, found under its hash; and under its plain name too
    // (a copy from before the migration).
    await makeBundle(join(dir, 'bundle-3.0'), '3.0');
    const add3 = JSON.parse(
      (await run(['targets', 'add', '3.0', join(dir, 'bundle-3.0'), 'keystore', '--json'])).stdout,
    );
    assert.ok(add3.patch, 'a patch from 2.0');
    const [prefixed3] = (await readdir(targetsDir)).filter((n) => n.endsWith('.my_app-3.0.tar.gz'));
    await rename(join(targetsDir, prefixed3!), join(targetsDir, 'my_app-3.0.tar.gz'));
    await makeBundle(join(dir, 'bundle-4.0'), '4.0');
    const add4 = JSON.parse(
      (await run(['targets', 'add', '4.0', join(dir, 'bundle-4.0'), 'keystore', '--json'])).stdout,
    );
    assert.ok(add4.patch, 'a patch from the plain-named 3.0 archive');
    await rename(join(targetsDir, 'my_app-3.0.tar.gz'), join(targetsDir, prefixed3!));

    const again = await tufup(['migrate', 'consistent-snapshot', 'keystore'], { cwd: dir });
    assert.equal(again.code, 3);
    assert.equal(errorLine(again.stderr)?.code, 'ALREADY_MIGRATED');
    const bogus = await tufup(['migrate', 'flat', 'keystore'], { cwd: dir });
    assert.equal(bogus.code, 2);
  });
});

test('python tufup fixture, migrated: the names python-tuf ngclient requests exist, and tuf-js follows them', async () => {
  await withTempDir(async (dir) => {
    const repo = await copyFixture(join(dir, 'fixture'));
    // Root threshold 2: the encrypted root key (passphrase from the environment) and root_three.
    await ok(['migrate', 'consistent-snapshot', 'keystore'], {
      cwd: repo,
      env: { TUFUP_PASSPHRASE_ROOT: 'correct horse' },
    });
    const repoDir = join(repo, 'repository');
    const meta = join(repoDir, 'metadata');
    const root3 = await readJson<Doc>(join(meta, '3.root.json'));
    assert.equal(root3.signed.consistent_snapshot, true);
    // ngclient: timestamp.json, then `<snapshot_meta.version>.snapshot.json`, `<meta[targets.json].version>.targets.json`,
    // then `<first hash>.<path>` for each target (UpdaterConfig.prefix_targets_with_hash defaults to True).
    const timestamp = await readJson<Doc>(join(meta, 'timestamp.json'));
    const snapshot = await readJson<Doc>(
      join(meta, `${timestamp.signed.meta?.['snapshot.json']?.version}.snapshot.json`),
    );
    const targets = await readJson<Doc>(
      join(meta, `${snapshot.signed.meta?.['targets.json']?.version}.targets.json`),
    );
    const names = Object.entries(targets.signed.targets ?? {}).map(
      ([n, t]) => `${Object.values(t.hashes)[0]}.${n}`,
    );
    assert.equal(names.length, 9);
    assert.deepEqual((await readdir(join(repoDir, 'targets'))).sort(), names.sort());
    await ok(['verify', '--deep'], { cwd: repo });
    // The fixture's clients ship 1.root.json: they walk 2 and 3, then read the new layout.
    await tufDownload(repoDir, join(meta, '1.root.json'), join(dir, 'tufjs'), ['example_app-4.0a1.patch']);
    // And its config, python tufup's, is untouched.
    assert.deepEqual(
      await readFile(join(repo, '.tufup-repo-config')),
      await readFile(join(FIXTURE, '.tufup-repo-config')),
    );
  });
});

async function mkdirp(d: string): Promise<string> {
  await mkdir(d, { recursive: true });
  return d;
}

test('migrate --partial with a root threshold of 2: parked until the second root key holder signs, then published', async () => {
  await withTempDir(async (dir) => {
    const run = (args: string[]) => ok(args, { cwd: dir });
    await run([
      'init',
      '--non-interactive',
      '--app-name',
      'my_app',
      '--key',
      'root=root',
      '--key',
      'root=root2',
      '--threshold',
      'root=2',
    ]);
    await makeBundle(join(dir, 'bundle-1.0'), '1.0');
    await run(['targets', 'add', '1.0', join(dir, 'bundle-1.0'), 'keystore']);
    // Bob holds root2; Alice has every other key.
    await mkdir(join(dir, 'bob'));
    await rename(join(dir, 'keystore', 'root2'), join(dir, 'bob', 'root2'));
    const targetsDir = join(dir, 'repository', 'targets');

    const parked = JSON.parse(
      (await run(['migrate', 'consistent-snapshot', 'keystore', '--partial', '--json'])).stdout,
    );
    assert.deepEqual(parked.published, []);
    assert.deepEqual(
      parked.parked.unsignedRoles.map((u: { role: string }) => u.role),
      ['root'],
    );
    // Nothing published yet: the flat layout is still what is served.
    assert.deepEqual(await readdir(targetsDir), ['my_app-1.0.tar.gz']);
    assert.equal(
      (await readJson<Doc>(join(dir, 'repository', 'metadata', 'root.json'))).signed.consistent_snapshot,
      false,
    );

    await run(['sign', 'root', 'bob']);
    assert.equal(
      (await readJson<Doc>(join(dir, 'repository', 'metadata', '2.root.json'))).signed.consistent_snapshot,
      true,
    );
    assert.deepEqual(await readdir(targetsDir), await prefixedNames(join(dir, 'repository')));
    assert.equal(JSON.parse((await run(['verify', '--json'])).stdout).ok, true);
  });
});
