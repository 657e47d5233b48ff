// The whole release workflow through the real `tufup` binary: init, four releases, a root key rotation, re-signing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { computeKeyId, loadPublicKeyFile } from '@tufup/metadata';
import { makeBundle, ok, readJson, sha256Hex, tufup } from './helpers.js';
import { tufDownload } from './tuf-client.js';

interface Doc {
  signatures: Array<{ keyid: string; sig: string }>;
  signed: Record<string, unknown> & { version: number; expires: string };
}
interface TargetJson {
  length: number;
  hashes: { sha256: string };
  custom: { user: unknown; tufup: Record<string, unknown> };
}

test('init → 4 releases → root key rotation → sign timestamp -e → verify → status, all through the binary', async () => {
  await withTempDir(async (dir) => {
    const env = { TUFUP_PASSPHRASE_ROOT: 'root secret' };
    // Only commands that sign root get the root passphrase: the others must not even try to decrypt it.
    const withRoot = (args: string[]) => ok(args, { cwd: dir, env });
    const run = (args: string[]) => ok(args, { cwd: dir });
    const meta = join(dir, 'repository', 'metadata');
    const targetsDir = join(dir, 'repository', 'targets');
    const roleVersion = async (file: string) => (await readJson<Doc>(join(meta, file))).signed.version;

    // init: defaults (one key per role, 365/7/7/1 days, thresholds 1, native patches), root key encrypted.
    const init = await withRoot(['init', '--non-interactive', '--app-name', 'my_app', '--encrypted', 'root']);
    assert.match(init.stdout, /initialized/);
    const config = await readJson<Record<string, unknown>>(join(dir, '.tufup-repo-config'));
    assert.deepEqual(config.key_map, {
      root: ['root'],
      targets: ['targets'],
      snapshot: ['snapshot'],
      timestamp: ['timestamp'],
    });
    assert.deepEqual(config.expiration_days, { root: 365, targets: 7, snapshot: 7, timestamp: 1 });
    assert.deepEqual(config.thresholds, { root: 1, targets: 1, snapshot: 1, timestamp: 1 });
    assert.equal(config.patch_format, 'native');
    assert.deepEqual(config.encrypted_keys, ['root']);
    assert.match(await readFile(join(dir, 'keystore', 'root'), 'utf8'), /^[0-9a-f]{32}@@@@100000@@@@/);
    assert.equal((await stat(join(dir, 'keystore', 'targets'))).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(meta)).sort(), [
      '1.root.json',
      'root.json',
      'snapshot.json',
      'targets.json',
      'timestamp.json',
    ]);
    const root1 = await readJson<Doc>(join(meta, '1.root.json'));
    assert.equal(root1.signed.consistent_snapshot, false);
    assert.match(root1.signed.expires, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const days = (Date.parse(root1.signed.expires) - Date.now()) / 86_400_000;
    assert.ok(days > 364.9 && days <= 365, `root expires in ${days} days`);
    // python-tuf's on-disk form: indent 1, sorted keys, no trailing newline.
    const rootText = await readFile(join(meta, 'root.json'), 'utf8');
    assert.ok(rootText.startsWith('{\n "signatures": [\n  {\n   "keyid": '));
    assert.ok(!rootText.endsWith('\n'));

    // Four releases: plain, required with --meta, a pre-release, a final.
    for (const v of ['1.0', '2.0', '3.0rc1', '3.0']) await makeBundle(join(dir, 'bundles', v), v);
    const add1 = await run(['targets', 'add', '1.0', 'bundles/1.0', 'keystore']);
    assert.match(add1.stdout, /added my_app-1\.0\.tar\.gz/);
    assert.match(add1.stderr, /archive/, 'progress lines on stderr');
    await run([
      'targets',
      'add',
      '-r',
      '-m',
      '{"changes": ["fix a"], "build": 2}',
      '2.0',
      'bundles/2.0',
      'keystore',
    ]);
    await run(['targets', 'add', '3.0rc1', 'bundles/3.0rc1', 'keystore']);
    await run(['targets', 'add', '3.0', 'bundles/3.0', 'keystore']);

    const files = (await readdir(targetsDir)).sort();
    assert.deepEqual(files, [
      'my_app-1.0.tar.gz',
      'my_app-2.0.patch',
      'my_app-2.0.tar.gz',
      'my_app-3.0.patch',
      'my_app-3.0.tar.gz',
      'my_app-3.0rc1.patch',
      'my_app-3.0rc1.tar.gz',
    ]);
    const targets = (await readJson<Doc>(join(meta, 'targets.json'))).signed.targets as Record<
      string,
      TargetJson
    >;
    for (const name of files) {
      const bytes = await readFile(join(targetsDir, name));
      assert.equal(targets[name]?.length, bytes.length, name);
      assert.equal(targets[name]?.hashes.sha256, sha256Hex(bytes), name);
    }
    assert.deepEqual(targets['my_app-1.0.tar.gz']?.custom, { user: null, tufup: { required: false } });
    assert.deepEqual(targets['my_app-2.0.tar.gz']?.custom, {
      user: { changes: ['fix a'], build: 2 },
      tufup: { required: true },
    });
    // Each patch produces exactly the tar inside its version's archive, and is in our native format.
    for (const v of ['2.0', '3.0rc1', '3.0']) {
      const tar = gunzipSync(await readFile(join(targetsDir, `my_app-${v}.tar.gz`)));
      assert.deepEqual(targets[`my_app-${v}.patch`]?.custom, {
        user: null,
        tufup: { tar_hash: sha256Hex(tar), tar_hash_algorithm: 'sha256', tar_size: tar.length },
      });
      const magic = (await readFile(join(targetsDir, `my_app-${v}.patch`))).subarray(0, 8).toString('latin1');
      assert.notEqual(magic, 'BSDIFF40', 'native patches by default');
    }
    // The archive is reproducible: same bundle, same bytes (sha256 recorded in metadata).
    assert.equal(await roleVersion('targets.json'), 5);
    assert.equal(await roleVersion('snapshot.json'), 5);
    assert.equal(await roleVersion('timestamp.json'), 5);
    assert.equal(await roleVersion('root.json'), 1);

    // Root key rotation: new root signed by the old and the new key; the old key leaves root's keys.
    const oldRootId = (await loadPublicKeyFile(join(dir, 'keystore', 'root.pub'))).keyid;
    const rotate = await withRoot(['keys', 'root2', '-c', 'replace', 'root', 'keystore']);
    assert.match(rotate.stdout, /key root replaced by root2 in root/);
    const newRootId = (await loadPublicKeyFile(join(dir, 'keystore', 'root2.pub'))).keyid;
    const root2 = await readJson<Doc>(join(meta, '2.root.json'));
    assert.equal(
      await readFile(join(meta, '2.root.json'), 'utf8'),
      await readFile(join(meta, 'root.json'), 'utf8'),
    );
    const roles = root2.signed.roles as Record<string, { keyids: string[] }>;
    assert.deepEqual(roles.root?.keyids, [newRootId]);
    assert.ok(
      !(oldRootId in (root2.signed.keys as object)),
      'old root key removed from keys (python tufup #181)',
    );
    assert.deepEqual(root2.signatures.map((s) => s.keyid).sort(), [oldRootId, newRootId].sort());
    const config2 = await readJson<{ key_map: Record<string, string[]> }>(join(dir, '.tufup-repo-config'));
    assert.deepEqual(config2.key_map.root, ['root2']);
    assert.equal(await roleVersion('targets.json'), 6, 'root change re-signs the chain');

    // sign timestamp -e: only timestamp changes.
    const snapshotBefore = await readFile(join(meta, 'snapshot.json'));
    const sign = await run(['sign', 'timestamp', '-e', 'keystore']);
    assert.match(sign.stdout, /timestamp: re-signed/);
    assert.equal(await roleVersion('timestamp.json'), 7);
    assert.deepEqual(await readFile(join(meta, 'snapshot.json')), snapshotBefore);
    const ts = await readJson<Doc>(join(meta, 'timestamp.json'));
    const tsDays = (Date.parse(ts.signed.expires) - Date.now()) / 86_400_000;
    assert.ok(tsDays > 0.99 && tsDays <= 1, "timestamp gets the config's 1 day");

    // verify and status.
    const verify = await run(['verify', '--json', '--deep']);
    const report = JSON.parse(verify.stdout) as {
      ok: boolean;
      checked: Record<string, number>;
      warnings: unknown[];
    };
    assert.equal(report.ok, true);
    assert.equal(report.checked.targets, 7);
    assert.equal(report.checked.rootVersions, 2);
    assert.equal(report.checked.patchesReplayed, 3);
    const status = JSON.parse((await run(['status', '--json'])).stdout) as {
      roles: Record<
        string,
        { version: number; validSignatures: number; threshold: number; keys: Array<{ name?: string }> }
      >;
      apps: Array<{
        app: string;
        latest: string;
        releases: Array<{ version: string; required: boolean; prerelease: boolean }>;
      }>;
    };
    assert.deepEqual(Object.fromEntries(Object.entries(status.roles).map(([r, s]) => [r, s.version])), {
      root: 2,
      targets: 6,
      snapshot: 6,
      timestamp: 7,
    });
    for (const s of Object.values(status.roles)) assert.equal(s.validSignatures, s.threshold);
    assert.equal(status.roles.root?.keys[0]?.name, 'root2');
    assert.equal(status.apps[0]?.latest, '3.0');
    assert.deepEqual(
      status.apps[0]?.releases.map((r) => [r.version, r.required, r.prerelease]),
      [
        ['1.0', false, false],
        ['2.0', true, false],
        ['3.0rc1', false, true],
        ['3.0', false, false],
      ],
    );
    const list = JSON.parse((await run(['targets', 'list', '--json'])).stdout) as Array<{
      patchChainBreaks: string[];
    }>;
    assert.deepEqual(list[0]?.patchChainBreaks, []);

    // A TUF client that shipped with 1.root.json follows the rotation and accepts every file.
    const got = await tufDownload(join(dir, 'repository'), join(meta, '1.root.json'), join(dir, 'client'), [
      'my_app-3.0.tar.gz',
      'my_app-3.0.patch',
    ]);
    assert.equal(
      sha256Hex(await readFile(got['my_app-3.0.tar.gz'] as string)),
      targets['my_app-3.0.tar.gz']?.hashes.sha256,
    );

    // The keyid in root is securesystemslib's (over the .pub dict with keyid_hash_algorithms).
    const pub = JSON.parse(await readFile(join(dir, 'keystore', 'root2.pub'), 'utf8'));
    assert.equal(computeKeyId(pub), newRootId);

    // remove-latest withdraws 3.0 (archive + patch), then 3.0 can be re-added.
    const removed = await run(['targets', 'remove-latest', 'keystore']);
    assert.match(removed.stdout, /my_app-3\.0\.tar\.gz/);
    assert.ok(!(await readdir(targetsDir)).includes('my_app-3.0.tar.gz'));
    await run(['targets', 'add', '3.0', 'bundles/3.0', 'keystore']);
    // The rebuilt archive is byte-identical (reproducible archives).
    const targetsAgain = (await readJson<Doc>(join(meta, 'targets.json'))).signed.targets as Record<
      string,
      TargetJson
    >;
    assert.equal(
      targetsAgain['my_app-3.0.tar.gz']?.hashes.sha256,
      targets['my_app-3.0.tar.gz']?.hashes.sha256,
    );

    // prune keeps the newest 2 versions of the app.
    const pruned = await run(['targets', 'prune', '--keep', '2', 'keystore']);
    assert.match(pruned.stdout, /my_app-1\.0\.tar\.gz/);
    assert.deepEqual((await readdir(targetsDir)).sort(), [
      'my_app-3.0.patch',
      'my_app-3.0.tar.gz',
      'my_app-3.0rc1.patch',
      'my_app-3.0rc1.tar.gz',
    ]);
    await run(['verify']);
  });
});

test('several apps in one repository: latest, patch base, remove-latest and prune look at one app only', async () => {
  await withTempDir(async (dir) => {
    const run = (args: string[]) => ok(args, { cwd: dir });
    await run(['init', '--non-interactive', '--app-name', 'app', '--patch-format', 'bsdiff4']);
    for (const v of ['1.0', '2.0', '5.0']) await makeBundle(join(dir, 'b', v), v, 8192);
    await run(['targets', 'add', '1.0', 'b/1.0', 'keystore']);
    // "myapp" ends with "app" (python tufup's endswith() confusion) and has a higher version.
    await run(['targets', 'add', '--app-name', 'myapp', '5.0', 'b/5.0', 'keystore']);
    // app 2.0 is newer than app 1.0, though myapp 5.0 is higher: allowed, and patched from app 1.0.
    await run(['targets', 'add', '2.0', 'b/2.0', 'keystore']);
    const targets = (await readJson<Doc>(join(dir, 'repository/metadata/targets.json'))).signed
      .targets as Record<string, TargetJson>;
    assert.deepEqual(Object.keys(targets).sort(), [
      'app-1.0.tar.gz',
      'app-2.0.patch',
      'app-2.0.tar.gz',
      'myapp-5.0.tar.gz',
    ]);
    const patch = await readFile(join(dir, 'repository/targets/app-2.0.patch'));
    assert.equal(patch.subarray(0, 8).toString('latin1'), 'BSDIFF40');
    // The patch really goes from app 1.0 to app 2.0 (Debian's bspatch agrees).
    const t1 = join(dir, 'a1.tar');
    const t2 = join(dir, 'a2.tar');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(t1, gunzipSync(await readFile(join(dir, 'repository/targets/app-1.0.tar.gz'))));
    execFileSync('bspatch', [t1, t2, join(dir, 'repository/targets/app-2.0.patch')]);
    assert.equal(
      sha256Hex(await readFile(t2)),
      (targets['app-2.0.patch'] as TargetJson).custom.tufup.tar_hash,
    );

    // myapp's versions are its own: 1.0 is fine for it although app has 2.0... and 4.0 < 5.0 is refused.
    const lower = await tufup(['targets', 'add', '--app-name', 'myapp', '4.0', 'b/2.0', 'keystore'], {
      cwd: dir,
    });
    assert.equal(lower.code, 5);
    assert.match(
      lower.stderr,
      /error \[VERSION_NOT_NEWER\]: myapp 4\.0 is not newer than the latest release 5\.0/,
    );
    await run(['targets', 'remove-latest', 'keystore']);
    const after = (await readJson<Doc>(join(dir, 'repository/metadata/targets.json'))).signed
      .targets as object;
    assert.deepEqual(Object.keys(after).sort(), ['app-1.0.tar.gz', 'myapp-5.0.tar.gz']);
    const list = JSON.parse(
      (await run(['targets', 'list', '--json', '--app-name', 'myapp'])).stdout,
    ) as Array<{ app: string }>;
    assert.deepEqual(
      list.map((a) => a.app),
      ['myapp'],
    );
    await run(['verify']);
  });
});
