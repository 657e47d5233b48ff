// A repository made by the real python tufup 0.10: we release into it in place, and clients still accept it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { FIXTURE, copyFixture, ok, readJson, sha256Hex, treeHash } from './helpers.js';
import { tufDownload } from './tuf-client.js';

interface Doc {
  signatures: Array<{ keyid: string }>;
  signed: {
    version: number;
    targets: Record<string, { length: number; hashes: { sha256: string }; custom: Record<string, unknown> }>;
  };
}

test('python tufup fixture: targets add 5.0 from its directory, verify, and tuf-js still accepts it', async () => {
  await withTempDir(async (dir) => {
    const repo = await copyFixture(join(dir, 'fixture'));
    // The root key is encrypted; its passphrase comes from the environment (it is not needed to add a release).
    const env = { TUFUP_PASSPHRASE_ROOT: 'correct horse' };
    const run = (args: string[]) => ok(args, { cwd: repo, env });
    await run(['verify']);

    // Release 5.0: the 4.0a1 bundle with one file changed.
    const bundle = join(dir, 'bundle-5.0');
    await cp(join(repo, 'bundles', '4.0a1'), bundle, { recursive: true, verbatimSymlinks: true });
    await writeFile(join(bundle, 'README.txt'), 'example_app 5.0\n');
    const keysBefore = await treeHash(join(repo, 'keystore'));
    const targetsBefore = await readJson<Doc>(join(repo, 'repository', 'metadata', 'targets.json'));
    await run(['targets', 'add', '-m', '{"changes": ["five"]}', '5.0', bundle, 'keystore']);

    // python tufup's config and the keys are untouched; root is unchanged (no root key was needed).
    assert.deepEqual(
      await readFile(join(repo, '.tufup-repo-config')),
      await readFile(join(FIXTURE, '.tufup-repo-config')),
    );
    assert.deepEqual(await treeHash(join(repo, 'keystore')), keysBefore);
    const meta = join(repo, 'repository', 'metadata');
    assert.deepEqual(
      await readFile(join(meta, 'root.json')),
      await readFile(join(FIXTURE, 'repository', 'metadata', 'root.json')),
    );
    const targets = await readJson<Doc>(join(meta, 'targets.json'));
    assert.equal(targets.signed.version, 8);
    assert.equal((await readJson<Doc>(join(meta, 'snapshot.json'))).signed.version, 8);
    assert.equal((await readJson<Doc>(join(meta, 'timestamp.json'))).signed.version, 9);
    // Every earlier entry is carried over exactly.
    for (const [name, entry] of Object.entries(targetsBefore.signed.targets))
      assert.deepEqual(targets.signed.targets[name], entry, name);
    assert.deepEqual(targets.signed.targets['example_app-5.0.tar.gz']?.custom, {
      user: { changes: ['five'] },
      tufup: { required: false },
    });

    // The config has no patch_format, so the patch is BSDIFF40 (what python tufup clients apply), from 4.0a1:
    // Debian's bspatch turns the 4.0a1 tar into exactly the tar the patch's custom metadata names.
    const targetsDir = join(repo, 'repository', 'targets');
    const patch = await readFile(join(targetsDir, 'example_app-5.0.patch'));
    assert.equal(patch.subarray(0, 8).toString('latin1'), 'BSDIFF40');
    await writeFile(
      join(dir, 'old.tar'),
      gunzipSync(await readFile(join(targetsDir, 'example_app-4.0a1.tar.gz'))),
    );
    execFileSync('bspatch', [
      join(dir, 'old.tar'),
      join(dir, 'new.tar'),
      join(targetsDir, 'example_app-5.0.patch'),
    ]);
    const newTar = await readFile(join(dir, 'new.tar'));
    const tufupCustom = targets.signed.targets['example_app-5.0.patch']?.custom.tufup as {
      tar_hash: string;
      tar_size: number;
    };
    assert.equal(sha256Hex(newTar), tufupCustom.tar_hash);
    assert.equal(newTar.length, tufupCustom.tar_size);
    assert.deepEqual(gunzipSync(await readFile(join(targetsDir, 'example_app-5.0.tar.gz'))), newTar);

    const verify = JSON.parse((await run(['verify', '--json', '--deep'])).stdout) as {
      ok: boolean;
      checked: { targets: number; rootVersions: number; patchesReplayed: number };
    };
    assert.equal(verify.ok, true);
    assert.equal(verify.checked.targets, 11);
    assert.equal(verify.checked.rootVersions, 2);
    assert.equal(verify.checked.patchesReplayed, 5);

    // A client shipped with the fixture's 1.root.json rotates to 2.root.json and accepts the new files.
    const got = await tufDownload(join(repo, 'repository'), join(meta, '1.root.json'), join(dir, 'client'), [
      'example_app-5.0.tar.gz',
      'example_app-5.0.patch',
      'example_app-1.0.tar.gz',
    ]);
    assert.deepEqual(await readFile(got['example_app-5.0.patch'] as string), patch);
    assert.deepEqual((await readdir(join(repo, 'repository'))).sort(), ['metadata', 'targets']);
  });
});
