// `tufup verify` (the real CLI, in a child process) and MetadataStore.verify report the same problems for the same
// corrupted repository: bad signature, expired role, wrong target hash, broken root chain, and all of them at once.
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTempDir } from '@tufup/common';
import {
  MetadataStore,
  type Problem,
  addSignatures,
  loadPrivateKeyFile,
  readMetadataFile,
  rebuild,
  writeMetadataFile,
} from '@tufup/metadata';
import { makeBundle, ok, tufup } from './helpers.js';

let dir: string;
let base: string;

before(async () => {
  dir = await makeTempDir('tufup-verify-same-');
  base = join(dir, 'base');
  await makeBundle(join(base, 'b1'), '1.0', 64 << 10);
  await makeBundle(join(base, 'b2'), '2.0', 64 << 10);
  await ok(['init', '--non-interactive', '--app-name', 'app'], { cwd: base });
  await ok(['targets', 'add', '1.0', 'b1', 'keystore'], { cwd: base });
  await ok(['targets', 'add', '2.0', 'b2', 'keystore'], { cwd: base });
  await ok(['sign', 'root', '-e', 'keystore'], { cwd: base }); // 2.root.json: a chain to break
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Corruption = (repo: string) => Promise<void>;

const metadataFile = (repo: string, name: string) => join(repo, 'repository', 'metadata', name);

/** One character of targets.json's signature changed: the signature no longer verifies. */
const badSignature: Corruption = async (repo) => {
  const path = metadataFile(repo, 'targets.json');
  const doc = JSON.parse(await readFile(path, 'utf8')) as { signatures: Array<{ sig: string }> };
  const sig = doc.signatures[0]!.sig;
  doc.signatures[0]!.sig = (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1);
  await writeFile(path, JSON.stringify(doc, null, 1));
};

/** timestamp.json re-signed with its own key, but expired (as a stale daily job leaves it). */
const expiredTimestamp: Corruption = async (repo) => {
  const path = metadataFile(repo, 'timestamp.json');
  const md = rebuild(await readMetadataFile(path, 'timestamp'), { expires: '2020-01-01T00:00:00Z' });
  addSignatures(md, [await loadPrivateKeyFile(join(repo, 'keystore', 'timestamp'))]);
  await writeMetadataFile(path, md);
};

/** One byte of the 2.0 patch changed on the server: its sha256 is not the signed one. */
const wrongTargetHash: Corruption = async (repo) => {
  const path = join(repo, 'repository', 'targets', 'app-2.0.patch');
  const bytes = await readFile(path);
  const last = bytes.length - 1;
  bytes.writeUInt8(bytes.readUInt8(last) ^ 0xff, last);
  await writeFile(path, bytes);
};

/** 1.root.json gone: a client that ships it can't start its walk to 2.root.json from anything on the server. */
const brokenRootChain: Corruption = async (repo) => {
  await rm(metadataFile(repo, '1.root.json'));
};

/** The problems `tufup verify --json` prints for the repository, and that MetadataStore finds for it. */
async function bothVerdicts(repo: string): Promise<{ cli: Problem[]; store: Problem[]; thrown: unknown }> {
  const run = await tufup(['verify', '--json'], { cwd: repo });
  const cli = (JSON.parse(run.stdout) as { problems: Problem[] }).problems;
  if (cli.length > 0) assert.equal(run.code, 6, run.stderr);
  const store = await MetadataStore.load(metadataFile(repo, ''));
  const targetsDir = join(repo, 'repository', 'targets');
  const { problems } = await store.problems({ targetsDir });
  const thrown = await store.verify({ targetsDir }).then(
    () => undefined,
    (err: unknown) => err,
  );
  return { cli, store: problems, thrown };
}

const cases: Array<{ name: string; corrupt: Corruption[]; codes: string[] }> = [
  { name: 'a bad signature', corrupt: [badSignature], codes: ['BAD_SIGNATURE'] },
  { name: 'an expired role', corrupt: [expiredTimestamp], codes: ['EXPIRED_METADATA'] },
  { name: 'a wrong target hash', corrupt: [wrongTargetHash], codes: ['HASH_MISMATCH'] },
  { name: 'a broken root chain', corrupt: [brokenRootChain], codes: ['ROOT_CHAIN_BROKEN'] },
  {
    name: 'all four at once',
    corrupt: [badSignature, expiredTimestamp, wrongTargetHash, brokenRootChain],
    codes: ['ROOT_CHAIN_BROKEN', 'BAD_SIGNATURE', 'EXPIRED_METADATA', 'HASH_MISMATCH'],
  },
];

for (const c of cases) {
  test(`tufup verify and MetadataStore.verify report the same problems: ${c.name}`, async () => {
    const repo = join(dir, c.name.replaceAll(' ', '-'));
    await cp(base, repo, { recursive: true, verbatimSymlinks: true });
    const clean = await bothVerdicts(repo);
    assert.deepEqual(clean.cli, [], 'the repository verifies before it is corrupted');
    assert.deepEqual(clean.store, []);
    assert.equal(clean.thrown, undefined);

    for (const corrupt of c.corrupt) await corrupt(repo);
    const { cli, store, thrown } = await bothVerdicts(repo);
    assert.deepEqual(
      cli.map((p) => p.code),
      c.codes,
    );
    assert.deepEqual(cli, store, 'the same problems, with the same messages and files, in the same order');
    assert.ok(thrown instanceof Error, 'MetadataStore.verify throws');
    assert.equal((thrown as { code?: string }).code, store[0]?.code, 'the first problem');
    assert.equal(thrown.message, store[0]?.message);
  });
}
