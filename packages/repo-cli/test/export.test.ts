// `tufup export` through the real binary: the verified bundle of a published version, refusals and their exit codes.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { errorLine, makeBundle, ok, treeHash, tufup } from './helpers.js';

test('export writes the published bundle (root.json included) and refuses what does not verify', async () => {
  await withTempDir(async (dir) => {
    const run = (args: string[]) => ok(args, { cwd: dir });
    await run(['init', '--non-interactive', '--app-name', 'my_app']);
    const root = join(dir, 'repository', 'metadata', 'root.json');
    const bundles: Record<string, string> = {};
    for (const v of ['1.0', '2.0', '3.0']) {
      bundles[v] = await makeBundle(join(dir, 'dist', v), v);
      // The recommended way: the trusted root ships inside every bundle; 3.0 forgets it.
      if (v !== '3.0') await copyFile(root, join(bundles[v], 'root.json'));
      await run(['targets', 'add', v, bundles[v], 'keystore']);
    }

    // A version equal by PEP 440 finds the published one; the export is the bundle, byte for byte.
    const r = await run(['export', '2.0.0', 'out/v2']);
    assert.match(r.stdout, /exported my_app-2\.0\.tar\.gz to .*out\/v2: \d+ files/);
    assert.deepEqual(await treeHash(join(dir, 'out', 'v2')), await treeHash(bundles['2.0']!));
    assert.doesNotMatch(r.stderr, /root\.json is not in the archive/);

    // Without root.json in the archive the repository's is added, and the user is told what that costs.
    const r3 = await run(['export', '3.0', join(dir, 'out', 'v3')]);
    assert.match(r3.stderr, /root\.json is not in the archive/);
    assert.deepEqual(await readFile(join(dir, 'out', 'v3', 'root.json')), await readFile(root));
    const { 'root.json': added, ...rest } = await treeHash(join(dir, 'out', 'v3'));
    assert.ok(added);
    assert.deepEqual(rest, await treeHash(bundles['3.0']!));

    const refused = async (args: string[], code: string, exit: number) => {
      const res = await tufup(args, { cwd: dir });
      assert.equal(res.code, exit, res.stderr);
      assert.equal(errorLine(res.stderr)?.code, code, res.stderr);
    };
    await refused(['export', '9.9', 'out/none'], 'RELEASE_NOT_FOUND', 5);
    await refused(['export', 'not-a-version', 'out/none'], 'INVALID_VERSION', 5);
    await mkdir(join(dir, 'out', 'busy'));
    await writeFile(join(dir, 'out', 'busy', 'keep.txt'), 'mine');
    await refused(['export', '1.0', 'out/busy'], 'OUTPUT_NOT_EMPTY', 5);
    assert.deepEqual(await readdir(join(dir, 'out', 'busy')), ['keep.txt']);

    // A tampered archive (one byte) is refused before anything is extracted.
    const archive = join(dir, 'repository', 'targets', 'my_app-1.0.tar.gz');
    const bytes = await readFile(archive);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0xff;
    await writeFile(archive, bytes);
    await refused(['export', '1.0', 'out/tampered'], 'METADATA_CORRUPT', 3);
    assert.deepEqual((await readdir(join(dir, 'out'))).sort(), ['busy', 'v2', 'v3']);

    // So is metadata whose signature no longer verifies (a changed expiry, not re-signed).
    const targetsJson = join(dir, 'repository', 'metadata', 'targets.json');
    const doc = JSON.parse(await readFile(targetsJson, 'utf8')) as { signed: { expires: string } };
    doc.signed.expires = '2099-01-01T00:00:00Z';
    await writeFile(targetsJson, JSON.stringify(doc, null, 1));
    await refused(['export', '2.0', 'out/forged'], 'METADATA_CORRUPT', 3);
  });
});
