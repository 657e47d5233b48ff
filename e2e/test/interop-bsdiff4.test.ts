// Interop: a repository made by our `tufup` with `--patch-format bsdiff4`, by the same commands python tufup's
// fixture was made with, follows that fixture's conventions exactly, so python tufup clients can use it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { makeTempDir } from '@tufup/common';
import {
  FIXTURE,
  type FixtureManifest,
  jsonShape,
  pythonTufFormat,
  readFixtureManifest,
} from '../support/attack-fixture.js';
import { tufup } from '../support/scenario.js';

const run = promisify(execFile);
const METADATA_FILES = [
  '1.root.json',
  '2.root.json',
  'root.json',
  'snapshot.json',
  'targets.json',
  'timestamp.json',
];

let work: string;
/** Holds our `.tufup-repo-config`, `keystore/` and `repository/`, as the fixture dir does. */
let ours: string;
let manifest: FixtureManifest;

before(async () => {
  work = await makeTempDir('tufup-e2e-interop-bsdiff4-');
  ours = join(work, 'publisher');
  await mkdir(ours);
  manifest = await readFixtureManifest();
  const env = { TUFUP_PASSPHRASE_ROOT: 'correct horse' };
  const opts = { cwd: ours, env };
  const bundle = (v: string) => join(FIXTURE, 'bundles', v);
  // The fixture's MANIFEST.md lists these as the equivalent python tufup commands.
  await tufup(
    [
      ...['init', '--non-interactive', '--app-name', manifest.app_name, '--patch-format', 'bsdiff4'],
      ...['--key', 'root=root', '--key', 'root=root_two', '--threshold', 'root=2', '--encrypted', 'root'],
      ...['root', 'targets', 'snapshot', 'timestamp'].flatMap((r) => ['--expiration-days', `${r}=3650`]),
    ],
    opts,
  );
  await tufup(['targets', 'add', '1.0', bundle('1.0'), 'keystore'], opts);
  await tufup(
    ['targets', 'add', '-r', '-m', '{"changes": ["fix a"]}', '2.0', bundle('2.0'), 'keystore'],
    opts,
  );
  await tufup(['targets', 'add', '3.0rc1', bundle('3.0rc1'), 'keystore'], opts);
  await tufup(
    ['targets', 'add', '-m', '{"build": 42, "changes": ["naïve café ✓"]}', '3.0', bundle('3.0'), 'keystore'],
    opts,
  );
  await tufup(['targets', 'add', '4.0a1', bundle('4.0a1'), 'keystore'], opts);
  await tufup(['keys', 'root_three', '-c', 'replace', 'root_two', 'keystore'], opts);
  await tufup(['sign', 'timestamp', '-e', 'keystore'], opts);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const text = (base: string, ...path: string[]) => readFile(join(base, ...path), 'utf8');
async function json<T = Record<string, unknown>>(base: string, ...path: string[]): Promise<T> {
  return JSON.parse(await text(base, ...path)) as T;
}
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface RoleJson {
  signed: { version: number; spec_version: string; expires: string };
  signatures: unknown[];
}

interface TargetEntry {
  length: number;
  hashes: Record<string, string>;
  custom: { user: unknown; tufup: Record<string, unknown> };
}

test('layout: the same dirs and file names as the fixture in repository/, keystore/ and the config', async () => {
  for (const dir of ['.', 'repository', 'repository/metadata', 'repository/targets', 'keystore']) {
    const list = async (base: string) =>
      (await readdir(join(base, dir))).filter((n) => n !== 'bundles').sort();
    const fixtureNames = (await list(FIXTURE)).filter(
      (n) => !/^(MANIFEST\.md|manifest\.json|client-scenarios\.json)$/.test(n),
    );
    assert.deepEqual(await list(ours), fixtureNames, `${dir}/ holds the same names`);
  }
  assert.deepEqual(await readdir(join(ours, 'repository', 'metadata')).then((n) => n.sort()), METADATA_FILES);
  // Same inputs, so the same config: python tufup's keys and values (no patch_format key: bsdiff4 is its default).
  assert.deepEqual(await json(ours, '.tufup-repo-config'), await json(FIXTURE, '.tufup-repo-config'));
  for (const base of [FIXTURE, ours]) {
    const config = await text(base, '.tufup-repo-config');
    const sortedIndent4 = JSON.stringify(JSON.parse(pythonTufFormat(config)), null, 4);
    assert.equal(config, sortedIndent4, `${base}: json.dumps(sort_keys=True, indent=4), no newline`);
  }
});

test('key files: securesystemslib formats as in the fixture (public JSON line, plain and encrypted private keys)', async () => {
  const pub =
    /^\{"keytype": "ed25519", "scheme": "ed25519", "keyid_hash_algorithms": \["sha256", "sha512"\], "keyval": \{"public": "[0-9a-f]{64}"\}\}$/;
  const encrypted = /^[0-9a-f]{32}@@@@100000@@@@[0-9a-f]{64}@@@@[0-9a-f]{32}@@@@[0-9a-f]+$/;
  for (const base of [FIXTURE, ours]) {
    for (const name of await readdir(join(base, 'keystore'))) {
      const content = await text(base, 'keystore', name);
      if (name.endsWith('.pub')) assert.match(content, pub, `${base}: ${name}`);
      else if (name === 'root') assert.match(content, encrypted, `${base}: ${name} is encrypted`);
      else {
        assert.deepEqual(
          jsonShape(JSON.parse(content)),
          jsonShape(await json(FIXTURE, 'keystore', 'targets')),
          `${base}: ${name} has the fixture's plain private key fields`,
        );
      }
    }
  }
});

test('metadata files: python-tuf JSON (indent 1, sorted keys, \\uXXXX escapes, no trailing newline), expires without fractions, same fields and versions as the fixture', async () => {
  for (const name of METADATA_FILES) {
    for (const base of [FIXTURE, ours]) {
      const content = await text(base, 'repository', 'metadata', name);
      assert.equal(
        content,
        pythonTufFormat(content),
        `${base}: ${name} is formatted as python-tuf writes it`,
      );
      assert.ok(!content.endsWith('\n'), `${base}: ${name} has no trailing newline`);
      assert.match(
        (JSON.parse(content) as { signed: { expires: string } }).signed.expires,
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/,
      );
    }
    const mine = await json<RoleJson>(ours, 'repository', 'metadata', name);
    const theirs = await json<RoleJson>(FIXTURE, 'repository', 'metadata', name);
    assert.deepEqual(jsonShape(mine), jsonShape(theirs), `${name}: the same fields and JSON types`);
    const summary = (md: RoleJson) => ({
      version: md.signed.version,
      spec_version: md.signed.spec_version,
      signatures: md.signatures.length,
    });
    assert.deepEqual(
      summary(mine),
      summary(theirs),
      `${name}: the same version, spec and number of signatures`,
    );
  }
  const root = await json<{ signed: { consistent_snapshot: boolean } }>(
    ours,
    'repository',
    'metadata',
    'root.json',
  );
  assert.equal(root.signed.consistent_snapshot, false, 'flat target names, as python tufup');
});

test('targets: the same names, and custom fields with the same keys and types; user metadata and required exactly as given', async () => {
  type TargetsJson = { signed: { targets: Record<string, TargetEntry> } };
  const mine = (await json<TargetsJson>(ours, 'repository', 'metadata', 'targets.json')).signed.targets;
  const theirs = (await json<TargetsJson>(FIXTURE, 'repository', 'metadata', 'targets.json')).signed.targets;
  assert.deepEqual(Object.keys(mine).sort(), Object.keys(theirs).sort());
  for (const [name, entry] of Object.entries(theirs)) {
    const got = mine[name]!;
    assert.deepEqual(jsonShape(got), jsonShape(entry), `${name}: same keys and types`);
    if (name.endsWith('.tar.gz')) {
      assert.deepEqual(got.custom, entry.custom, `${name}: {user, tufup: {required}} as the fixture's`);
    } else {
      assert.equal(got.custom.user, null);
      assert.equal(got.custom.tufup.tar_hash_algorithm, 'sha256');
      assert.match(String(got.custom.tufup.tar_hash), /^[0-9a-f]{64}$/);
    }
    const file = await readFile(join(ours, 'repository', 'targets', name));
    assert.deepEqual(
      { length: file.length, sha256: sha256(file) },
      { length: got.length, sha256: got.hashes.sha256 },
    );
  }
});

test('patches: BSDIFF40, based on the same previous version as python’s, and Debian bspatch turns the gunzipped previous archive into the signed tar byte for byte', async () => {
  type TargetsJson = { signed: { targets: Record<string, TargetEntry> } };
  const targets = (await json<TargetsJson>(ours, 'repository', 'metadata', 'targets.json')).signed.targets;
  const t = (name: string) => join(ours, 'repository', 'targets', name);
  const scratch = join(work, 'bspatch');
  await mkdir(scratch, { recursive: true });
  let applied = 0;
  for (const bundle of manifest.bundles) {
    if (!bundle.patch) continue;
    const app = manifest.app_name;
    const patchName = `${app}-${bundle.version}.patch`;
    const patch = await readFile(t(patchName));
    assert.equal(patch.subarray(0, 8).toString('latin1'), 'BSDIFF40', `${patchName} magic`);
    const oldTar = join(scratch, `${bundle.patch.from_version}.tar`);
    const newTar = join(scratch, `${bundle.version}.tar`);
    await writeFile(oldTar, gunzipSync(await readFile(t(`${app}-${bundle.patch.from_version}.tar.gz`))));
    await run('bspatch', [oldTar, newTar, t(patchName)]);
    const made = await readFile(newTar);
    const signed = targets[patchName]!.custom.tufup;
    assert.deepEqual(
      { size: made.length, sha256: sha256(made) },
      { size: signed.tar_size, sha256: signed.tar_hash },
    );
    assert.ok(
      made.equals(gunzipSync(await readFile(t(`${app}-${bundle.version}.tar.gz`)))),
      'the archive’s own tar',
    );
    applied++;
  }
  assert.equal(applied, 4, 'every release after the first has a patch');
});
