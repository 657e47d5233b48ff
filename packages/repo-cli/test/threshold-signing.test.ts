// Multi-party threshold signing: a root that needs two keys, held by two people in two key directories.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { loadPublicKeyFile } from '@tufup/metadata';
import { errorLine, ok, readJson, treeHash, tufup } from './helpers.js';
import { tufDownload } from './tuf-client.js';

interface Doc {
  signatures: Array<{ keyid: string }>;
  signed: { version: number; roles: Record<string, { threshold: number; keyids: string[] }> };
}

test('root threshold 2: one key is refused, --partial stages the change, the second key signing publishes it', async () => {
  await withTempDir(async (dir) => {
    const run = (args: string[]) => ok(args, { cwd: dir });
    await run([
      'init',
      '--non-interactive',
      '--app-name',
      'my_app',
      '--key',
      'root=alice',
      '--key',
      'root=bob',
      '--threshold',
      'root=2',
      '--expiration-days',
      'root=30',
    ]);
    const meta = join(dir, 'repository', 'metadata');
    const root1 = await readJson<Doc>(join(meta, '1.root.json'));
    assert.equal(root1.signed.roles.root?.threshold, 2);
    assert.equal(root1.signatures.length, 2, 'init signs with both root keys');
    // Bob takes his private key away; alice keeps the rest.
    await mkdir(join(dir, 'bob-keys'));
    await rename(join(dir, 'keystore', 'bob'), join(dir, 'bob-keys', 'bob'));

    // Alice alone cannot publish a new root.
    const before = await treeHash(dir);
    const refused = await tufup(['sign', 'root', '-e', 'keystore'], { cwd: dir });
    assert.equal(refused.code, 4);
    assert.equal(errorLine(refused.stderr)?.code, 'THRESHOLD_NOT_MET');
    assert.match(refused.stderr, /root 1 of 2/);
    assert.deepEqual(await treeHash(dir), before);

    // With --partial the change is staged; what clients see is unchanged and still verifies.
    const staged = await run(['sign', 'root', '-e', 'keystore', '--partial']);
    assert.match(staged.stderr, /pending: root has 1 of 2 signatures/);
    assert.deepEqual((await readdir(meta)).sort(), [
      '1.root.json',
      'root.json',
      'snapshot.json',
      'targets.json',
      'timestamp.json',
    ]);
    const verify = JSON.parse((await run(['verify', '--json'])).stdout) as {
      ok: boolean;
      warnings: Array<{ code: string }>;
    };
    assert.equal(verify.ok, true);
    assert.ok(verify.warnings.some((w) => w.code === 'PENDING_CHANGE'));
    const status = JSON.parse((await run(['status', '--json'])).stdout) as {
      pending?: { unsignedRoles: Array<{ role: string; have: number; need: number }> };
    };
    assert.deepEqual(status.pending?.unsignedRoles, [{ role: 'root', have: 1, need: 2 }]);
    // Other writers wait until the pending change is complete.
    const blocked = await tufup(['sign', 'timestamp', '-e', 'keystore'], { cwd: dir });
    assert.equal(errorLine(blocked.stderr)?.code, 'REPO_PENDING');
    // Signing a role the change does not touch is refused.
    const wrongRole = await tufup(['sign', 'snapshot', 'keystore'], { cwd: dir });
    assert.equal(errorLine(wrongRole.stderr)?.code, 'NOTHING_TO_SIGN');

    // Bob signs: the threshold is met and the new root is published.
    const cosigned = await run(['sign', 'root', 'bob-keys']);
    assert.match(cosigned.stdout, /root: added 1 signature/);
    const root2 = await readJson<Doc>(join(meta, '2.root.json'));
    assert.equal(root2.signed.version, 2);
    const ids = [
      (await loadPublicKeyFile(join(dir, 'keystore', 'alice.pub'))).keyid,
      (await loadPublicKeyFile(join(dir, 'keystore', 'bob.pub'))).keyid,
    ].sort();
    assert.deepEqual(root2.signatures.map((s) => s.keyid).sort(), ids);
    assert.equal(
      await readFile(join(meta, 'root.json'), 'utf8'),
      await readFile(join(meta, '2.root.json'), 'utf8'),
    );
    // The cascade (targets, snapshot, timestamp) was signed by alice's online keys and published with it.
    assert.equal((await readJson<Doc>(join(meta, 'targets.json'))).signed.version, 2);
    assert.deepEqual(
      (await readdir(join(dir, 'repository'))).filter((n) => n.startsWith('.')),
      [],
      'no staging or lock left',
    );
    await run(['verify']);
    // A client that trusts 1.root.json accepts 2.root.json (signed by both old keys and both new ones).
    await tufDownload(join(dir, 'repository'), join(meta, '1.root.json'), join(dir, 'client'), []);

    // Co-signing what is already fully signed adds nothing: that is a failure with a hint, not a silent exit 0
    // (a cron job that forgot -e would otherwise "succeed" until clients freeze), and nothing is written.
    const signedTree = await treeHash(dir);
    const again = await tufup(['sign', 'root', 'bob-keys'], { cwd: dir });
    assert.equal(again.code, 4, again.stderr);
    assert.match(again.stderr, /^error \[NOTHING_TO_SIGN\]: .*-e/);
    assert.deepEqual(await treeHash(dir), signedTree);
  });
});
