// Hostile and mistaken input: each failure is a one-line coded message, a non-zero exit, and no change on disk.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { errorLine, makeBundle, ok, treeHash, tufup } from './helpers.js';

interface Case {
  name: string;
  args: string[];
  env?: Record<string, string>;
  code: string;
  exit: number;
  /** Prepare the case's copy first (the "before" hash is taken after this). */
  before?: (dir: string) => Promise<void>;
  /** Something the message must say. */
  says?: RegExp;
  /** Something stderr must not say (a claim of what did not happen). */
  neverSays?: RegExp;
}

test('bad input fails with a coded one-line message, a non-zero exit and the repository byte-identical', async () => {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, 'base');
    await mkdir(dir);
    // A repository with encrypted root and targets keys and one release.
    const env = { TUFUP_PASSPHRASE_TARGETS: 'right horse' };
    await ok(
      ['init', '--non-interactive', '--app-name', 'my_app', '--encrypted', 'targets', '--encrypted', 'root'],
      { cwd: dir, env: { ...env, TUFUP_PASSPHRASE_ROOT: 'root horse' } },
    );
    await makeBundle(join(dir, 'b1'), '1.0', 4096);
    await makeBundle(join(dir, 'b2'), '2.0', 4096);
    await mkdir(join(dir, 'empty-bundle'));
    await mkdir(join(dir, 'no-keys-here'));
    await writeFile(join(dir, 'a-file'), 'not a directory\n');
    await ok(['targets', 'add', '1.0', 'b1', 'keystore'], { cwd: dir, env });
    const rel = join('repository', 'metadata', 'targets.json');
    const targetsJson = join(dir, rel);
    const original = await readFile(targetsJson);

    const cases: Case[] = [
      {
        name: 'missing key dir',
        args: ['targets', 'add', '2.0', 'b2', 'nowhere'],
        env,
        code: 'KEY_DIR_NOT_FOUND',
        exit: 4,
      },
      {
        name: 'key dir without the key',
        args: ['targets', 'add', '2.0', 'b2', 'no-keys-here'],
        env,
        code: 'KEY_NOT_FOUND',
        exit: 4,
        says: /targets/,
      },
      {
        name: 'wrong passphrase',
        args: ['targets', 'add', '2.0', 'b2', 'keystore'],
        env: { TUFUP_PASSPHRASE_TARGETS: 'wrong horse' },
        code: 'WRONG_PASSPHRASE',
        exit: 4,
      },
      {
        name: 'an empty passphrase variable (an undefined CI secret)',
        args: ['targets', 'add', '2.0', 'b2', 'keystore'],
        env: { TUFUP_PASSPHRASE_TARGETS: '' },
        code: 'PASSPHRASE_REQUIRED',
        exit: 4,
        says: /TUFUP_PASSPHRASE_TARGETS is set but empty/,
      },
      {
        name: 'no passphrase and no terminal',
        args: ['targets', 'add', '2.0', 'b2', 'keystore'],
        code: 'PASSPHRASE_REQUIRED',
        exit: 4,
        says: /TUFUP_PASSPHRASE_TARGETS/,
      },
      // python tufup only checked the first character of the version (its "1.x.bogus" passed).
      {
        name: 'invalid version',
        args: ['targets', 'add', '1.x.bogus', 'b2', 'keystore'],
        env,
        code: 'INVALID_VERSION',
        exit: 5,
      },
      {
        name: 'older version',
        args: ['targets', 'add', '0.9', 'b2', 'keystore'],
        env,
        code: 'VERSION_NOT_NEWER',
        exit: 5,
      },
      {
        name: 'same version, spelled differently',
        args: ['targets', 'add', '1.0.0', 'b2', 'keystore'],
        env,
        code: 'VERSION_NOT_NEWER',
        exit: 5,
      },
      {
        name: 'missing bundle dir',
        args: ['targets', 'add', '2.0', 'nope', 'keystore'],
        env,
        code: 'BUNDLE_NOT_FOUND',
        exit: 5,
      },
      {
        name: 'empty bundle dir',
        args: ['targets', 'add', '2.0', 'empty-bundle', 'keystore'],
        env,
        code: 'BUNDLE_EMPTY',
        exit: 5,
      },
      {
        name: 'meta that is not a JSON object',
        args: ['targets', 'add', '-m', '[1, 2]', '2.0', 'b2', 'keystore'],
        env,
        code: 'INVALID_META_JSON',
        exit: 5,
      },
      {
        name: 'meta that is not JSON',
        args: ['targets', 'add', '-m', '{nope', '2.0', 'b2', 'keystore'],
        env,
        code: 'INVALID_META_JSON',
        exit: 5,
      },
      {
        name: 'unknown role to sign',
        args: ['sign', 'snapshots', '-e', 'keystore'],
        code: 'UNKNOWN_ROLE',
        exit: 2,
      },
      {
        name: 'unknown role for a new key',
        args: ['keys', 'k1', '-c', 'add', 'admin', 'keystore'],
        code: 'UNKNOWN_ROLE',
        exit: 2,
      },
      {
        name: 'a new key for a step that fails',
        args: ['keys', 'k2', '-c', 'add', 'targets', 'nowhere'],
        code: 'KEY_DIR_NOT_FOUND',
        exit: 4,
      },
      {
        name: 'replacing a key no role uses',
        args: ['keys', 'root', 'replace', 'no_such_key', 'keystore'],
        code: 'KEY_NOT_FOUND',
        exit: 4,
      },
      {
        name: 'a bundle with a FIFO',
        args: ['targets', 'add', '2.0', 'b-fifo', 'keystore'],
        env,
        code: 'UNSUPPORTED_FILE_TYPE',
        exit: 5,
        says: /fifo|FIFO/,
        // A bundle holds only files, directories and symlinks (made per case: cp copies no FIFO).
        before: async (d) => {
          await makeBundle(join(d, 'b-fifo'), '2.0', 4096);
          execFileSync('mkfifo', [join(d, 'b-fifo', 'pipe')]);
        },
      },
      {
        name: 'a bundle dir that contains the repository',
        args: ['targets', 'add', '2.0', '.', 'keystore'],
        env,
        code: 'INVALID_OPTION',
        exit: 5,
      },
      {
        name: 'a bundle path that is a file',
        args: ['targets', 'add', '2.0', 'a-file', 'keystore'],
        env,
        code: 'BUNDLE_NOT_DIRECTORY',
        exit: 5,
        says: /not a directory/,
        neverSays: /does not exist/,
      },
      {
        name: 'an expiry past year 9999',
        args: ['sign', 'timestamp', '-e', '3000000', 'keystore'],
        code: 'INVALID_EXPIRES',
        exit: 2,
        says: /years 0000-9999/,
      },
      {
        name: 'an expiry far past year 9999',
        args: ['sign', 'timestamp', '-e', '100000000', 'keystore'],
        code: 'INVALID_EXPIRES',
        exit: 2,
        says: /years 0000-9999/,
      },
      {
        // A cron job that forgot -e must not "succeed" while the timestamp runs out.
        name: 'sign without -e that would add no signature',
        args: ['sign', 'timestamp', 'keystore'],
        code: 'NOTHING_TO_SIGN',
        exit: 4,
        says: /-e/,
      },
      {
        name: 'a new key for a role, and a wrong root passphrase',
        args: ['keys', 'k4', '-c', 'add', 'snapshot', 'keystore'],
        env: { ...env, TUFUP_PASSPHRASE_ROOT: 'wrong horse' },
        code: 'WRONG_PASSPHRASE',
        exit: 4,
        neverSays: /created key/,
      },
      {
        name: 'an empty --app-name',
        args: ['targets', 'add', '--app-name', '', '2.0', 'b2', 'keystore'],
        env,
        code: 'INVALID_ARGUMENT',
        exit: 2,
        says: /--app-name is empty/,
      },
      {
        name: 'an empty --app-name for prune',
        args: ['targets', 'prune', '--keep', '1', '--app-name=', 'keystore'],
        env,
        code: 'INVALID_ARGUMENT',
        exit: 2,
        says: /--app-name is empty/,
      },
      {
        name: 'an empty bundle dir',
        args: ['targets', 'add', '2.0', '', 'keystore'],
        env,
        code: 'INVALID_ARGUMENT',
        exit: 2,
        says: /BUNDLE_DIR is empty/,
      },
      {
        name: 'an empty key dir',
        args: ['sign', 'timestamp', '-e', 'keystore', ''],
        code: 'INVALID_ARGUMENT',
        exit: 2,
        says: /KEY_DIRS is empty/,
      },
      {
        name: 'an empty -e',
        args: ['sign', 'timestamp', '-e', '', 'keystore'],
        code: 'INVALID_ARGUMENT',
        exit: 2,
        says: /--expiration-days is empty/,
      },
      {
        name: 'an empty --config',
        args: ['status', '--config', ''],
        code: 'INVALID_ARGUMENT',
        exit: 2,
        says: /--config is empty/,
      },
      {
        name: 'missing arguments are named',
        args: ['targets', 'add', '2.0'],
        code: 'USAGE',
        exit: 2,
        says: /^missing BUNDLE_DIR and KEY_DIRS/,
      },
      {
        name: 'a missing key dir is named',
        args: ['sign', 'timestamp'],
        code: 'USAGE',
        exit: 2,
        says: /^missing KEY_DIRS/,
      },
      {
        name: 'no arguments at all',
        args: [],
        code: '',
        exit: 2,
      },
      { name: 'unknown command', args: ['publish'], code: 'USAGE', exit: 2 },
      {
        name: 'init over an existing repository',
        args: ['init', '--non-interactive', '--app-name', 'x'],
        code: 'CONFIG_EXISTS',
        exit: 3,
      },
      {
        name: 'truncated targets.json',
        args: ['targets', 'add', '2.0', 'b2', 'keystore'],
        env,
        code: 'METADATA_CORRUPT',
        exit: 3,
        before: async (d) => writeFile(join(d, rel), original.subarray(0, 100)),
      },
      {
        // Valid JSON, but the signature no longer matches: we must not re-sign a tampered file.
        name: 'tampered targets.json',
        args: ['targets', 'add', '2.0', 'b2', 'keystore'],
        env,
        code: 'METADATA_CORRUPT',
        exit: 3,
        says: /valid signature/,
        before: async (d) =>
          writeFile(join(d, rel), original.toString('utf8').replace(/"length": (\d+)/, '"length": 1$1')),
      },
      {
        name: 'tampered targets.json, verify',
        args: ['verify'],
        code: 'VERIFY_FAILED',
        exit: 6,
        before: async (d) =>
          writeFile(join(d, rel), original.toString('utf8').replace(/"length": (\d+)/, '"length": 1$1')),
      },
      {
        // Root ignores permission bits; tufup looks at them so a write-protected copy stays untouched.
        name: 'a read-only repository',
        args: ['targets', 'add', '2.0', 'b2', 'keystore'],
        env,
        code: 'REPO_READ_ONLY',
        exit: 3,
        before: async (d) => chmod(join(d, 'repository', 'metadata'), 0o555),
      },
      {
        name: 'another writer holds the lock',
        args: ['targets', 'add', '2.0', 'b2', 'keystore'],
        env,
        code: 'REPO_LOCKED',
        exit: 7,
        says: new RegExp(`pid ${process.pid}`),
        before: async (d) =>
          writeFile(
            join(d, 'repository', '.tufup.lock'),
            JSON.stringify({
              pid: process.pid,
              host: hostname(),
              started: new Date().toISOString(),
              command: 'test',
              token: 't',
            }),
          ),
      },
    ];

    // Each case runs on its own copy of the repository, a few at a time (spawning node is the slow part).
    const runCase = async (c: Case, i: number) => {
      const caseDir = join(tmp, 'cases', String(i));
      await cp(dir, caseDir, { recursive: true, verbatimSymlinks: true });
      await c.before?.(caseDir);
      const before = await treeHash(caseDir);
      const r = await tufup(c.args, { cwd: caseDir, ...(c.env ? { env: c.env } : {}) });
      const after = await treeHash(caseDir);
      assert.equal(r.code, c.exit, `${c.name}: exit ${r.code}, stderr: ${r.stderr}`);
      const line = errorLine(r.stderr);
      if (c.code === '') assert.match(r.stdout, /Commands:/, `${c.name}: the help`);
      else assert.equal(line?.code, c.code, `${c.name}: ${r.stderr}`);
      if (c.says) assert.match(line?.message ?? '', c.says, c.name);
      if (c.neverSays) assert.doesNotMatch(r.stderr, c.neverSays, c.name);
      // One line: no stack traces without --verbose.
      assert.equal(
        r.stderr.split('\n').filter((l) => l.startsWith('    at ')).length,
        0,
        `${c.name}: ${r.stderr}`,
      );
      assert.deepEqual(after, before, `${c.name}: the tree changed`);
      await chmod(join(caseDir, 'repository', 'metadata'), 0o755);
      await rm(caseDir, { recursive: true, force: true });
    };
    const queue = cases.map((c, i) => [c, i] as const);
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await runCase(next[0], next[1]);
      }),
    );

    // --verbose adds the cause chain (here: the metadata error under METADATA_CORRUPT).
    await writeFile(targetsJson, original.subarray(0, 100));
    const verbose = await tufup(['targets', 'add', '2.0', 'b2', 'keystore', '--verbose'], { cwd: dir, env });
    await writeFile(targetsJson, original);
    assert.equal(errorLine(verbose.stderr)?.code, 'METADATA_CORRUPT');
    assert.match(verbose.stderr, /caused by: MetadataError \[INVALID_METADATA\]/);
    assert.match(verbose.stderr, /\n\s+at /, 'stack trace with --verbose');

    // And after all that, the repository still works.
    await ok(['targets', 'add', '2.0', 'b2', 'keystore'], { cwd: dir, env });
    await ok(['verify'], { cwd: dir });
  });
});

test('a stale lock of a dead process is taken over', async () => {
  await withTempDir(async (dir) => {
    await ok(['init', '--non-interactive', '--app-name', 'my_app'], { cwd: dir });
    // pid 2^22+1 is above Linux's pid_max default range: no such process.
    await writeFile(
      join(dir, 'repository', '.tufup.lock'),
      JSON.stringify({
        pid: 4194305,
        host: hostname(),
        started: '2020-01-01T00:00:00Z',
        command: 'dead',
        token: 'x',
      }),
    );
    await ok(['sign', 'timestamp', '-e', 'keystore'], { cwd: dir });
    assert.deepEqual(
      Object.keys(await treeHash(join(dir, 'repository'))).filter((p) => p.startsWith('.')),
      [],
    );
  });
});

test('an empty --app-name is a value, not the default app: remove-latest refuses and removes nothing', async () => {
  await withTempDir(async (dir) => {
    // The repro: main_app 1.0 and 2.0, other_app 1.0, then `--app-name "$APP"` with APP unset.
    await ok(['init', '--non-interactive', '--app-name', 'main_app'], { cwd: dir });
    await makeBundle(join(dir, 'b1'), '1.0', 4096);
    await makeBundle(join(dir, 'b2'), '2.0', 4096);
    await ok(['targets', 'add', '1.0', 'b1', 'keystore'], { cwd: dir });
    await ok(['targets', 'add', '2.0', 'b2', 'keystore'], { cwd: dir });
    await ok(['targets', 'add', '--app-name', 'other_app', '1.0', 'b1', 'keystore'], { cwd: dir });
    const before = await treeHash(dir);
    for (const args of [
      ['targets', 'remove-latest', '--app-name', '', 'keystore'],
      ['targets', 'prune', '--keep', '1', '--app-name', '', 'keystore'],
      ['targets', 'add', '--app-name', '', '3.0', 'b2', 'keystore'],
      ['targets', 'list', '--app-name', ''],
    ]) {
      const r = await tufup(args, { cwd: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(errorLine(r.stderr)?.code, 'INVALID_ARGUMENT', r.stderr);
      assert.deepEqual(await treeHash(dir), before, `${args.join(' ')} changed the tree`);
    }
    const list = JSON.parse((await ok(['targets', 'list', '--json'], { cwd: dir })).stdout) as Array<{
      app: string;
      latest: string;
    }>;
    assert.deepEqual(
      list.map((a) => [a.app, a.latest]),
      [
        ['main_app', '2.0'],
        ['other_app', '1.0'],
      ],
    );
  });
});
