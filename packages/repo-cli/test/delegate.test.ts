// Delegated signing through the `tufup` command: a Windows CI holding only its role's key (and the online snapshot
// and timestamp keys) publishes Windows releases and nothing else; bad input changes nothing.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { errorLine, makeBundle, ok, readJson, treeHash, tufup } from './helpers.js';

interface Doc {
  signed: {
    version: number;
    targets: Record<string, unknown>;
    meta?: Record<string, { version: number }>;
    delegations?: { roles: Array<{ name: string; paths: string[]; keyids: string[] }> };
  };
}

/** A repository with a `win` role whose key lives in `ci/` with copies of the snapshot and timestamp keys. */
async function setUp(dir: string, extra: string[] = []): Promise<void> {
  const run = (args: string[]) => ok(args, { cwd: dir });
  await run(['init', '--non-interactive', '--app-name', 'my_app']);
  await makeBundle(join(dir, 'b1'), '1.0');
  await makeBundle(join(dir, 'b2'), '2.0');
  await run(['targets', 'add', '1.0', 'b1', 'keystore']);
  await run([
    'delegate',
    'add',
    'win',
    '--paths',
    'my_app-win-x64-*',
    '--key',
    'win_ci',
    '--create-key',
    '--key-dir',
    'ci',
    ...extra,
    'keystore',
  ]);
  for (const name of ['snapshot', 'timestamp', 'snapshot.pub', 'timestamp.pub']) {
    await copyFile(join(dir, 'keystore', name), join(dir, 'ci', name));
  }
}

test('delegate add / list; the CI with only the win key publishes Windows releases; other releases need the targets key', async () => {
  await withTempDir(async (dir) => {
    await setUp(dir);
    const meta = join(dir, 'repository', 'metadata');
    const targets1 = await readJson<Doc>(join(meta, 'targets.json'));
    assert.deepEqual(
      targets1.signed.delegations?.roles.map((r) => [r.name, r.paths]),
      [['win', ['my_app-win-x64-*']]],
    );
    assert.deepEqual((await readdir(join(dir, 'ci'))).sort(), [
      'snapshot',
      'snapshot.pub',
      'timestamp',
      'timestamp.pub',
      'win_ci',
      'win_ci.pub',
    ]);
    const list = JSON.parse((await ok(['delegate', 'list', '--json'], { cwd: dir })).stdout) as Array<{
      role: string;
      threshold: number;
      targets: number;
    }>;
    assert.deepEqual(
      list.map((r) => [r.role, r.threshold, r.targets]),
      [['win', 1, 0]],
    );

    // The Windows CI: its role's key and the online keys, no top-level targets key.
    const added = await ok(['targets', 'add', '1.0', 'b1', 'ci', '--app-name', 'my_app-win-x64', '--json'], {
      cwd: dir,
    });
    const doc = JSON.parse(added.stdout) as { published: Array<{ role: string; version: number }> };
    assert.deepEqual(
      doc.published.map((p) => p.role),
      ['win', 'snapshot', 'timestamp'],
    );
    await ok(['targets', 'add', '2.0', 'b2', 'ci', '--app-name', 'my_app-win-x64'], { cwd: dir });
    const win = await readJson<Doc>(join(meta, 'win.json'));
    assert.deepEqual(Object.keys(win.signed.targets).sort(), [
      'my_app-win-x64-1.0.tar.gz',
      'my_app-win-x64-2.0.patch',
      'my_app-win-x64-2.0.tar.gz',
    ]);
    assert.equal((await readJson<Doc>(join(meta, 'targets.json'))).signed.version, targets1.signed.version);
    assert.equal((await readJson<Doc>(join(meta, 'snapshot.json'))).signed.meta?.['win.json']?.version, 3);

    // The CI cannot publish a release of the platform-less app (top-level targets), nor one of another platform.
    let before = await treeHash(dir);
    for (const app of ['my_app', 'my_app-linux-x64']) {
      const refused = await tufup(['targets', 'add', '2.0', 'b2', 'ci', '--app-name', app], { cwd: dir });
      assert.equal(refused.code, 4, refused.stderr);
      assert.equal(errorLine(refused.stderr)?.code, 'KEY_NOT_FOUND');
      assert.deepEqual(await treeHash(dir), before);
    }
    // Nor can the holder of the top-level targets key alone publish a Windows release.
    await mkdir(join(dir, 'offline'));
    await rename(join(dir, 'ci', 'win_ci'), join(dir, 'offline', 'win_ci'));
    before = await treeHash(dir);
    const refused = await tufup(['targets', 'add', '3.0', 'b2', 'keystore', '--app-name', 'my_app-win-x64'], {
      cwd: dir,
    });
    assert.equal(refused.code, 4);
    assert.equal(errorLine(refused.stderr)?.code, 'KEY_NOT_FOUND');
    assert.match(refused.stderr, /delegated role win/);
    assert.deepEqual(await treeHash(dir), before);

    // targets list shows which role signs what; verify checks the delegated role too.
    const apps = JSON.parse((await ok(['targets', 'list', '--json'], { cwd: dir })).stdout) as Array<{
      app: string;
      releases: Array<{ archive?: { role?: string } }>;
    }>;
    assert.deepEqual(
      apps.map((a) => [a.app, a.releases.map((r) => r.archive?.role ?? 'targets')]),
      [
        ['my_app', ['targets']],
        ['my_app-win-x64', ['win', 'win']],
      ],
    );
    const verify = JSON.parse((await ok(['verify', '--json'], { cwd: dir })).stdout) as { ok: boolean };
    assert.equal(verify.ok, true);

    // status shows the delegated role; `sign win -e` re-signs it with its own key (plus the online keys).
    const st = JSON.parse((await ok(['status', '--json'], { cwd: dir })).stdout) as {
      delegatedRoles: Array<{ role: string; version: number; validSignatures: number; threshold: number }>;
    };
    assert.deepEqual(
      st.delegatedRoles.map((r) => [r.role, r.validSignatures, r.threshold]),
      [['win', 1, 1]],
    );
    const signed = JSON.parse(
      (await ok(['sign', 'win', '-e', '30', 'offline', 'ci', '--json'], { cwd: dir })).stdout,
    ) as { published: Array<{ role: string; version: number }> };
    assert.deepEqual(
      signed.published.map((p) => [p.role, p.version]),
      [
        ['win', (st.delegatedRoles[0]?.version ?? 0) + 1],
        ['snapshot', 6],
        ['timestamp', 6],
      ],
    );
    const exp = Date.parse(
      (await readJson<{ signed: { expires: string } }>(join(meta, 'win.json'))).signed.expires,
    );
    assert.ok(Math.abs(exp - Date.now() - 30 * 86_400_000) < 3_600_000);
    for (const args of [
      ['sign', 'win', 'offline', 'ci'],
      ['sign', 'nope', '-e', 'keystore'],
    ]) {
      const r = await tufup(args, { cwd: dir });
      assert.equal(errorLine(r.stderr)?.code, 'UNKNOWN_ROLE', r.stderr);
      assert.equal(r.code, 2);
    }

    // delegate remove: the Windows releases go back to the top-level targets, win.json goes away.
    await ok(['delegate', 'remove', 'win', 'keystore'], { cwd: dir });
    const top = await readJson<Doc>(join(meta, 'targets.json'));
    assert.equal(top.signed.delegations, undefined);
    assert.ok('my_app-win-x64-2.0.tar.gz' in top.signed.targets);
    assert.ok(!(await readdir(meta)).includes('win.json'));
    assert.equal((await readJson<Doc>(join(meta, 'snapshot.json'))).signed.meta?.['win.json'], undefined);
    assert.equal(
      (JSON.parse((await ok(['verify', '--json'], { cwd: dir })).stdout) as { ok: boolean }).ok,
      true,
    );
  });
});

test('delegate bad input: coded errors, non-zero exit, repository and keystores unchanged', async () => {
  await withTempDir(async (dir) => {
    await setUp(dir);
    const before = await treeHash(dir);
    const cases: Array<[string[], number, string]> = [
      [
        ['delegate', 'add', 'targets', '--paths', 'x-*', '--key', 'k1', '--create-key', 'keystore'],
        2,
        'INVALID_ROLE_NAME',
      ],
      [
        ['delegate', 'add', 'Mac', '--paths', 'x-*', '--key', 'k1', '--create-key', 'keystore'],
        2,
        'INVALID_ROLE_NAME',
      ],
      [
        ['delegate', 'add', 'a.history', '--paths', 'x-*', '--key', 'k1', '--create-key', 'keystore'],
        2,
        'INVALID_ROLE_NAME',
      ],
      [
        ['delegate', 'add', 'mac', '--paths', 'a/b', '--key', 'k1', '--create-key', 'keystore'],
        2,
        'INVALID_PATH_PATTERN',
      ],
      [
        ['delegate', 'add', 'mac', '--paths', '{a,b}*', '--key', 'k1', '--create-key', 'keystore'],
        2,
        'INVALID_PATH_PATTERN',
      ],
      [
        [
          'delegate',
          'add',
          'mac',
          '--paths',
          'x-*',
          '--key',
          'k1',
          '--create-key',
          '--threshold',
          '2',
          'keystore',
        ],
        2,
        'INVALID_THRESHOLD',
      ],
      [
        ['delegate', 'add', 'mac', '--paths', 'x-*', '--key', 'k1', '--threshold', '0', 'keystore'],
        2,
        'INVALID_ARGUMENT',
      ],
      [
        ['delegate', 'add', 'mac', '--paths', 'x-*', '--key', 'k1', '--history-after', '-1', 'keystore'],
        2,
        'INVALID_ARGUMENT',
      ],
      [
        ['delegate', 'add', 'win', '--paths', 'x-*', '--key', 'k1', '--create-key', 'keystore'],
        3,
        'ROLE_EXISTS',
      ],
      [['delegate', 'add', 'mac', '--paths', 'x-*', '--key', 'nokey', 'keystore'], 4, 'KEY_NOT_FOUND'],
      [['delegate', 'add', 'mac', '--key', 'k1', 'keystore'], 2, 'USAGE'],
      [
        ['delegate', 'add', 'mac', '--paths', 'x-*', '--key', 'k1', '--create-key', 'nodir'],
        4,
        'KEY_DIR_NOT_FOUND',
      ],
      // The new role's first version must be signed by its own key: a key the runner does not hold is refused.
      [['delegate', 'add', 'mac', '--paths', 'x-*', '--key', 'win_ci', 'keystore'], 4, 'KEY_NOT_FOUND'],
      [['delegate', 'remove', 'nope', 'keystore'], 2, 'UNKNOWN_ROLE'],
      [['delegate', 'remove', 'win', 'ci'], 4, 'KEY_NOT_FOUND'],
    ];
    for (const [args, exit, code] of cases) {
      const r = await tufup(args, { cwd: dir });
      assert.equal(errorLine(r.stderr)?.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.code, exit, args.join(' '));
      assert.deepEqual(await treeHash(dir), before, `${args.join(' ')} changed something`);
    }
  });
});

test('--history-after: the head role keeps between K and 2K-1 releases, the rest is in <role>.history', async () => {
  await withTempDir(async (dir) => {
    await setUp(dir, ['--history-after', '1']);
    const meta = join(dir, 'repository', 'metadata');
    for (const v of ['1.0', '2.0', '3.0']) {
      await makeBundle(join(dir, `w${v}`), v);
      await ok(['targets', 'add', v, `w${v}`, 'ci', '--app-name', 'my_app-win-x64'], { cwd: dir });
    }
    const head = await readJson<Doc>(join(meta, 'win.json'));
    const history = await readJson<Doc>(join(meta, 'win.history.json'));
    assert.deepEqual(Object.keys(head.signed.targets).sort(), [
      'my_app-win-x64-3.0.patch',
      'my_app-win-x64-3.0.tar.gz',
    ]);
    assert.deepEqual(Object.keys(history.signed.targets).sort(), [
      'my_app-win-x64-1.0.tar.gz',
      'my_app-win-x64-2.0.patch',
      'my_app-win-x64-2.0.tar.gz',
    ]);
    // Pruning from the history role is signed by the same CI key.
    await ok(['targets', 'prune', '--keep', '2', 'ci', '--app-name', 'my_app-win-x64'], { cwd: dir });
    const pruned = await readJson<Doc>(join(meta, 'win.history.json'));
    assert.deepEqual(Object.keys(pruned.signed.targets).sort(), [
      'my_app-win-x64-2.0.patch',
      'my_app-win-x64-2.0.tar.gz',
    ]);
    assert.equal(
      (JSON.parse((await ok(['verify', '--json'], { cwd: dir })).stdout) as { ok: boolean }).ok,
      true,
    );
  });
});
