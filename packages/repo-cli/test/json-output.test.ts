// --json on every command: one JSON document on stdout that tells what was written, on success and on failure.
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import type {
  CommandError,
  InitReport,
  KeysReport,
  PruneReport,
  RemoveLatestReport,
  SignReport,
  TargetsAddReport,
} from '../src/reports.js';
import { makeBundle, readJson, sha256Hex, treeHash, tufup } from './helpers.js';

/** Runs tufup with --json; stdout must be exactly one JSON document. */
async function json<T>(args: string[], cwd: string, exit = 0): Promise<T> {
  const r = await tufup([...args, '--json'], { cwd });
  assert.equal(r.code, exit, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  let doc: unknown;
  assert.doesNotThrow(
    () => {
      doc = JSON.parse(r.stdout);
    },
    `${args.join(' ')}: stdout is not one JSON document:\n${r.stdout}`,
  );
  return doc as T;
}

/** The published role's metadata file says the version the document claims. */
async function assertPublished(dir: string, published: Array<{ role: string; version: number }>) {
  for (const p of published) {
    const md = await readJson<{ signed: { version: number } }>(
      join(dir, 'repository', 'metadata', `${p.role}.json`),
    );
    assert.equal(md.signed.version, p.version, `${p.role}.json version`);
  }
}

/** A target file in the document is on disk with that length and sha256. */
async function assertTargetFile(dir: string, entry: { filename: string; length: number; sha256: string }) {
  const bytes = await readFile(join(dir, 'repository', 'targets', entry.filename));
  assert.equal(bytes.length, entry.length, entry.filename);
  assert.equal(sha256Hex(bytes), entry.sha256, entry.filename);
}

test('--json on every command: files, sizes, hashes, versions and warnings, as one document', async () => {
  await withTempDir(async (dir) => {
    const init = await json<InitReport>(['init', '--non-interactive', '--app-name', 'my_app'], dir);
    assert.equal(init.ok, true);
    assert.equal(init.command, 'init');
    assert.equal(init.appName, 'my_app');
    assert.deepEqual(init.createdKeys.sort(), ['root', 'snapshot', 'targets', 'timestamp']);
    assert.deepEqual(init.reusedKeys, []);
    assert.equal(init.published.length, 4);
    await assertPublished(dir, init.published);
    await stat(init.configPath);

    for (const v of ['1.0', '2.0', '3.0']) await makeBundle(join(dir, `b${v}`), v, 32 * 1024);
    const first = await json<TargetsAddReport>(['targets', 'add', '1.0', 'b1.0', 'keystore'], dir);
    assert.equal(first.command, 'targets add');
    assert.equal(first.version, '1.0');
    assert.equal(first.patch, undefined);
    await assertTargetFile(dir, first.archive);
    const second = await json<TargetsAddReport>(
      ['targets', 'add', '-r', '-m', '{"changes": ["x"]}', '2.0', 'b2.0', 'keystore'],
      dir,
    );
    assert.equal(second.archive.required, true);
    assert.deepEqual(second.archive.user, { changes: ['x'] });
    assert.ok(second.patch, 'a patch from 1.0');
    await assertTargetFile(dir, second.archive);
    await assertTargetFile(dir, second.patch);
    assert.deepEqual(
      second.published.map((p) => p.role),
      ['targets', 'snapshot', 'timestamp'],
    );
    await assertPublished(dir, second.published);
    await json<TargetsAddReport>(['targets', 'add', '3.0', 'b3.0', 'keystore'], dir);

    const signed = await json<SignReport>(['sign', 'timestamp', '-e', '3', 'keystore'], dir);
    assert.equal(signed.role, 'timestamp');
    assert.match(signed.expires ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await assertPublished(dir, signed.published);

    const key = await json<KeysReport>(['keys', 'targets2', '-c', 'add', 'targets', 'keystore'], dir);
    assert.equal(key.key, 'targets2');
    assert.equal(key.addedTo, 'targets');
    assert.equal(key.created?.encrypted, false);
    assert.match(key.created?.keyid ?? '', /^[0-9a-f]{64}$/);
    await stat(key.created?.publicPath ?? 'missing');
    assert.equal(key.published[0]?.role, 'root');
    await assertPublished(dir, key.published);

    // Pruning a required release warns; the warning is in the document too.
    const pruned = await json<PruneReport>(['targets', 'prune', '--keep', '1', 'keystore'], dir);
    assert.equal(pruned.keep, 1);
    assert.deepEqual(pruned.removed.sort(), ['my_app-1.0.tar.gz', 'my_app-2.0.patch', 'my_app-2.0.tar.gz']);
    assert.equal(pruned.warnings.length, 1);
    assert.match(pruned.warnings[0] as string, /required release 2\.0/);

    const removed = await json<RemoveLatestReport>(['targets', 'remove-latest', 'keystore'], dir);
    assert.equal(removed.app, 'my_app');
    assert.equal(removed.version, '3.0');
    assert.deepEqual(removed.removed.sort(), ['my_app-3.0.patch', 'my_app-3.0.tar.gz']);

    // The reports that had --json before keep their shapes.
    const status = await json<{ roles: { timestamp: { version: number } } }>(['status'], dir);
    assert.equal(typeof status.roles.timestamp.version, 'number');
    const verify = await json<{ ok: boolean }>(['verify'], dir);
    assert.equal(verify.ok, true);
    const list = await json<unknown[]>(['targets', 'list'], dir);
    assert.ok(Array.isArray(list));

    // Failures: an error document with the code and the exit code, the tree untouched.
    const before = await treeHash(dir);
    const bad = await json<CommandError>(['targets', 'add', '1.x.bogus', 'b3.0', 'keystore'], dir, 5);
    assert.deepEqual(bad.error.code, 'INVALID_VERSION');
    assert.equal(bad.error.exit, 5);
    assert.equal(bad.ok, false);
    assert.equal(bad.command, 'targets add');
    const usage = await json<CommandError>(['targets', 'add', '4.0'], dir, 2);
    assert.equal(usage.error.code, 'USAGE');
    assert.match(usage.error.message, /missing BUNDLE_DIR and KEY_DIRS/);
    const nothing = await json<CommandError>(['sign', 'timestamp', 'keystore'], dir, 4);
    assert.equal(nothing.error.code, 'NOTHING_TO_SIGN');
    assert.deepEqual(await treeHash(dir), before);

    // verify that finds problems prints its report (ok: false) and no second document.
    const targetsJson = join(dir, 'repository', 'metadata', 'targets.json');
    const original = await readFile(targetsJson, 'utf8');
    await writeFile(targetsJson, original.replace(/"version": (\d+)/, '"version": 9$1'));
    const failed = await json<{ ok: boolean; problems: unknown[] }>(['verify'], dir, 6);
    assert.equal(failed.ok, false);
    assert.ok(failed.problems.length > 0);
  });
});
