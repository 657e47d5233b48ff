// Tests of role metadata against python tufup's repository: verification, rotation, byte-identical files, hostile metadata.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign, constants } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Metadata, Root } from '@tufjs/models';
import { withTempDir } from '@tufup/common';
import { type RootFile, readRootFiles } from '../src/files.js';
import {
  addSignatures,
  expiresIn,
  formatExpires,
  generateEd25519Key,
  parseExpires,
  parseMetadata,
  PublicKey,
  type RoleName,
  readMetadataFile,
  serializeMetadata,
  type Signer,
  writeMetadataFile,
} from '../src/index.js';
import { pythonJsonDumps } from '../src/python-json.js';
import { createRoot, createTargets } from '../src/roles.js';
import { checkRootChain, Findings } from '../src/verify.js';
import { assertCode, FIXTURE_METADATA, loadFixtureKeys, verifyRole, verifyRootRotation } from './helpers.js';

/** The problems the verifier finds walking a root chain. */
function chainProblems(chain: readonly RootFile[]) {
  const f = new Findings();
  checkRootChain(f, chain);
  return f.problems;
}

const FILES: Array<[string, RoleName]> = [
  ['1.root.json', 'root'],
  ['2.root.json', 'root'],
  ['root.json', 'root'],
  ['targets.json', 'targets'],
  ['snapshot.json', 'snapshot'],
  ['timestamp.json', 'timestamp'],
];

async function fixtureRoots(): Promise<[Metadata<Root>, Metadata<Root>]> {
  return [
    await readMetadataFile(join(FIXTURE_METADATA, '1.root.json'), 'root'),
    await readMetadataFile(join(FIXTURE_METADATA, '2.root.json'), 'root'),
  ];
}

test('every role of every fixture metadata version verifies against its root', async () => {
  const [root1, root2] = await fixtureRoots();
  verifyRole(root1.signed, 'root', root1);
  verifyRole(root2.signed, 'root', root2);
  const latest = await readMetadataFile(join(FIXTURE_METADATA, 'root.json'), 'root');
  verifyRole(latest.signed, 'root', latest);
  for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
    const md = await readMetadataFile(join(FIXTURE_METADATA, `${role}.json`), role);
    verifyRole(root2.signed, role, md);
    verifyRole(latest.signed, role, md);
  }
  // root_two was revoked: root v2 lists root + root_three, so 2 of its 3 signatures count there.
  assert.equal(root2.signed.roles.root?.threshold, 2);
});

test('the root rotation 1.root.json → 2.root.json verifies (threshold of old and of new keys)', async () => {
  const [root1, root2] = await fixtureRoots();
  verifyRootRotation(root1, root2);
  const history = await readRootFiles(FIXTURE_METADATA);
  assert.deepEqual(
    history.map((r) => r.md?.signed.version),
    [1, 2],
  );
  assert.deepEqual(chainProblems(history), []);
  await assertCode(() => verifyRootRotation(root2, root1), 'BAD_VERSION');
  assert.deepEqual(
    chainProblems([
      { version: 1, md: root1 },
      { version: 2, md: root1 },
    ]).map((p) => p.code),
    ['BAD_VERSION', 'BAD_VERSION'],
  );
});

test('a new root missing the revoked key signature fails the rotation with "1 of 2"', async () => {
  const [root1, root2] = await fixtureRoots();
  const keys = await loadFixtureKeys();
  delete root2.signatures[keys.root_two!.keyid];
  verifyRole(root2.signed, 'root', root2); // fine for a client that already trusts v2...
  await assertCode(
    () => verifyRootRotation(root1, root2),
    'THRESHOLD_NOT_MET',
    /1 of 2 required old \(v1\) keys/,
  );
});

test('writing back the fixture metadata gives byte-identical files (all six)', async () => {
  await withTempDir(async (dir) => {
    for (const [file, role] of FILES) {
      const original = await readFile(join(FIXTURE_METADATA, file));
      const md = parseMetadata(role, original.toString('utf8'));
      await writeMetadataFile(join(dir, file), md);
      assert.deepEqual(await readFile(join(dir, file)), original, file);
    }
    assert.equal((await readdir(dir)).length, 6);
  });
  // The non-ASCII user metadata is what makes this interesting: \u escapes, raw UTF-8 in signatures.
  const targets = await readFile(join(FIXTURE_METADATA, 'targets.json'), 'utf8');
  assert.ok(targets.includes('na\\u00efve caf\\u00e9 \\u2713'));
});

test('pythonJsonDumps escapes like json.dumps(ensure_ascii=True) and sorts by code point', () => {
  // Expected strings are what CPython 3.11 prints for the same values.
  assert.equal(
    pythonJsonDumps({ b: 'é\u2713😀', a: '"\\\n\t\u0001\u007f/' }, { sortKeys: true }),
    '{"a": "\\"\\\\\\n\\t\\u0001\\u007f/", "b": "\\u00e9\\u2713\\ud83d\\ude00"}',
  );
  assert.equal(
    pythonJsonDumps({ z: [], y: {}, x: [1, { k: null }] }, { indent: 1, sortKeys: true }),
    '{\n "x": [\n  1,\n  {\n   "k": null\n  }\n ],\n "y": {},\n "z": []\n}',
  );
  assert.equal(
    pythonJsonDumps({ '\uffff': 1, '😀': 2 }, { sortKeys: true }),
    '{"\\uffff": 1, "\\ud83d\\ude00": 2}',
  );
  // After a common prefix, and against plain ASCII (the fast path compares UTF-16 units up to a surrogate).
  assert.equal(
    pythonJsonDumps({ 'a😀': 1, 'a\uffff': 2, ab: 3, a: 4, '10': 5, '9': 6 }, { sortKeys: true }),
    '{"10": 5, "9": 6, "a": 4, "ab": 3, "a\\uffff": 2, "a\\ud83d\\ude00": 1}',
  );
  assert.equal(pythonJsonDumps({ b: 1, a: 2 }), '{"b": 1, "a": 2}');
});

test('pythonJsonDumps refuses floats and non-JSON values with a coded error', async () => {
  await assertCode(() => pythonJsonDumps({ x: 1.5 }), 'INVALID_METADATA');
  await assertCode(() => pythonJsonDumps([Number.NaN]), 'INVALID_METADATA');
  await assertCode(() => pythonJsonDumps({ f: () => 1 }), 'INVALID_METADATA');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assertCode(() => pythonJsonDumps(cyclic), 'INVALID_METADATA');
});

test('a metadata file with a tampered signature or tampered content is BAD_SIGNATURE', async () => {
  const root = (await fixtureRoots())[1];
  const text = await readFile(join(FIXTURE_METADATA, 'targets.json'), 'utf8');
  const original = JSON.parse(text) as {
    signatures: Array<{ sig: string }>;
    signed: Record<string, unknown>;
  };
  const badSig = structuredClone(original);
  const sig = badSig.signatures[0]!.sig;
  badSig.signatures[0]!.sig = (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1);
  await assertCode(
    () => verifyRole(root.signed, 'targets', parseMetadata('targets', badSig)),
    'BAD_SIGNATURE',
    /0 of 1/,
  );
  // Content changed after signing: one more byte in an archive's length.
  const badContent = text.replace('"length": 70826', '"length": 70827');
  assert.notEqual(badContent, text);
  await assertCode(
    () => verifyRole(root.signed, 'targets', parseMetadata('targets', badContent)),
    'BAD_SIGNATURE',
  );
  // Signed by a key that is not a targets key: ignored, so 0 of 1.
  const keys = await loadFixtureKeys();
  const resigned = parseMetadata('targets', badContent);
  resigned.signatures = {};
  addSignatures(resigned, [keys.snapshot!]);
  await assertCode(() => verifyRole(root.signed, 'targets', resigned), 'THRESHOLD_NOT_MET', /0 of 1/);
});

test('signatures below threshold are THRESHOLD_NOT_MET saying n of t', async () => {
  const text = await readFile(join(FIXTURE_METADATA, '1.root.json'), 'utf8');
  const root1 = parseMetadata('root', text);
  const keys = await loadFixtureKeys();
  delete root1.signatures[keys.root_two!.keyid];
  await assertCode(() => verifyRole(root1.signed, 'root', root1), 'THRESHOLD_NOT_MET', /1 of 2/);
  root1.signatures = {};
  await assertCode(() => verifyRole(root1.signed, 'root', root1), 'THRESHOLD_NOT_MET', /0 of 2/);
});

test('expired metadata is EXPIRED_METADATA when verifying as of now, and fine before its expiry', async () => {
  const key = generateEd25519Key();
  const now = new Date();
  const root = createRoot({
    expires: formatExpires(new Date(now.getTime() - 1000)),
    keys: { root: [key], targets: [key], snapshot: [key], timestamp: [key] },
  });
  addSignatures(root, [key]);
  await assertCode(() => verifyRole(root.signed, 'root', root), 'EXPIRED_METADATA', /expired at/);
  verifyRole(root.signed, 'root', root, { now: new Date(now.getTime() - 60_000) });
  verifyRole(root.signed, 'root', root, { ignoreExpiry: true });
  // The fixture expires in 2036.
  const latest = await readMetadataFile(join(FIXTURE_METADATA, 'timestamp.json'), 'timestamp');
  const root2 = (await fixtureRoots())[1];
  await assertCode(
    () => verifyRole(root2.signed, 'timestamp', latest, { now: new Date('2036-11-23T20:45:24Z') }),
    'EXPIRED_METADATA',
  );
  verifyRole(root2.signed, 'timestamp', latest, { now: new Date('2036-11-23T20:45:23Z') });
  const roots = await fixtureRoots();
  await assertCode(
    () => verifyRootRotation(roots[0]!, roots[1]!, { now: new Date('2037-01-01T00:00:00Z') }),
    'EXPIRED_METADATA',
  );
});

test('expiry is written as YYYY-MM-DDTHH:MM:SSZ without milliseconds and read strictly', async () => {
  assert.equal(formatExpires(new Date('2030-01-02T03:04:05.987Z')), '2030-01-02T03:04:05Z');
  assert.equal(expiresIn(3650, new Date('2026-11-26T20:45:23.500Z')), '2036-11-23T20:45:23Z');
  assert.equal(parseExpires('2036-11-23T20:45:23Z').toISOString(), '2036-11-23T20:45:23.000Z');
  for (const bad of [
    '2036-11-23T20:45:23.000Z',
    '2036-11-23T20:45:23+00:00',
    '2036-11-23 20:45:23Z',
    '2036-02-30T00:00:00Z',
    '2036-11-23T24:00:00Z',
    '',
  ]) {
    await assertCode(() => parseExpires(bad), 'INVALID_EXPIRES');
  }
  await assertCode(() => formatExpires(new Date(Number.NaN)), 'INVALID_EXPIRES');
  await assertCode(() => expiresIn(0), 'INVALID_EXPIRES');
  // python-tuf cannot read milliseconds; neither do we.
  const text = (await readFile(join(FIXTURE_METADATA, 'snapshot.json'), 'utf8')).replace(
    '2036-11-23T20:45:23Z',
    '2036-11-23T20:45:23.000Z',
  );
  await assertCode(() => parseMetadata('snapshot', text), 'INVALID_EXPIRES');
});

test('malformed metadata files are INVALID_METADATA, missing ones FILE_NOT_FOUND', async () => {
  await assertCode(() => parseMetadata('targets', '{"signed": '), 'INVALID_METADATA');
  await assertCode(() => parseMetadata('targets', '[]'), 'INVALID_METADATA');
  const snapshot = await readFile(join(FIXTURE_METADATA, 'snapshot.json'), 'utf8');
  await assertCode(() => parseMetadata('targets', snapshot), 'INVALID_METADATA', /expected 'targets'/);
  await assertCode(
    () => parseMetadata('snapshot', snapshot.replace('"version": 7\n }', '"version": 0\n }')),
    'INVALID_METADATA',
  );
  await assertCode(
    () => parseMetadata('snapshot', snapshot.replace('"version": 7\n }', '"version": "7"\n }')),
    'INVALID_METADATA',
  );
  await assertCode(() => parseMetadata('mirrors' as RoleName, snapshot), 'UNKNOWN_ROLE');
  await assertCode(() => readMetadataFile(join(FIXTURE_METADATA, 'nope.json'), 'root'), 'FILE_NOT_FOUND');
  const md = parseMetadata('snapshot', snapshot);
  const root = (await fixtureRoots())[1];
  await assertCode(() => verifyRole(root.signed, 'targets', md), 'INVALID_METADATA');
});

/** A Signer over a node:crypto key, the way a KMS/HSM adapter would be written. */
function nodeSigner(keyid: string, sign: (data: Uint8Array) => Buffer): Signer {
  return { keyid, sign: (data) => sign(data).toString('hex') };
}

test('roles signed with ecdsa and rsassa-pss keys verify like ed25519 ones', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ecPub = new PublicKey({
    keytype: 'ecdsa',
    scheme: 'ecdsa-sha2-nistp256',
    public: ec.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  });
  const rsaPub = new PublicKey({
    keytype: 'rsa',
    scheme: 'rsassa-pss-sha256',
    public: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  });
  const ed = generateEd25519Key();
  const expires = expiresIn(1);
  const root = createRoot({
    expires,
    keys: { root: [ecPub, rsaPub, ed], targets: [rsaPub], snapshot: [ecPub], timestamp: [ed] },
    thresholds: { root: 3 },
  });
  addSignatures(root, [
    nodeSigner(ecPub.keyid, (d) => cryptoSign('sha256', d, ec.privateKey)),
    nodeSigner(rsaPub.keyid, (d) =>
      cryptoSign('sha256', d, {
        key: rsa.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      }),
    ),
    ed,
  ]);
  verifyRole(root.signed, 'root', root);
  const targets = createTargets({ expires });
  addSignatures(targets, [
    nodeSigner(rsaPub.keyid, (d) =>
      cryptoSign('sha256', d, {
        key: rsa.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      }),
    ),
  ]);
  verifyRole(root.signed, 'targets', targets);
  // and a wrong ecdsa signature does not count
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const forged = createTargets({ expires });
  addSignatures(forged, [nodeSigner(rsaPub.keyid, (d) => cryptoSign('sha256', d, other.privateKey))]);
  assert.throws(() => verifyRole(root.signed, 'targets', forged), { code: 'BAD_SIGNATURE' });
  assert.equal(serializeMetadata(root).includes('-----BEGIN PUBLIC KEY-----\\n'), true);
});

test('a root chain with a missing version, or a file holding another version, is BAD_VERSION', async () => {
  await withTempDir(async (dir) => {
    const text = await readFile(join(FIXTURE_METADATA, '2.root.json'));
    await writeFile(join(dir, '2.root.json'), text);
    await writeFile(join(dir, '1.root.json'), await readFile(join(FIXTURE_METADATA, '1.root.json')));
    await writeFile(join(dir, '4.root.json'), text);
    const gap = chainProblems(await readRootFiles(dir));
    assert.ok(
      gap.some((p) => p.code === 'BAD_VERSION' && /4\.root\.json holds root version 2/.test(p.message)),
    );
    assert.ok(gap.some((p) => p.code === 'BAD_VERSION' && /must be followed by v3, got v2/.test(p.message)));
    await writeFile(join(dir, '3.root.json'), text);
    const wrong = chainProblems(await readRootFiles(dir));
    assert.ok(
      wrong.some((p) => p.code === 'BAD_VERSION' && /3\.root\.json holds root version 2/.test(p.message)),
    );
    // Without 1.root.json a client has nothing to start the walk from.
    await writeFile(join(dir, '1.root.json'), 'not json');
    const broken = chainProblems(await readRootFiles(dir));
    assert.equal(broken[0]?.code, 'INVALID_METADATA');
  });
});
