// Tests of keys and key files against python tufup's keystore: keyids, plain and encrypted files, hostile files.
import assert from 'node:assert/strict';
import {
  createDecipheriv,
  createPublicKey,
  generateKeyPairSync,
  pbkdf2Sync,
  verify as cryptoVerify,
} from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { withTempDir } from '@tufup/common';
import {
  computeKeyId,
  findPrivateKeyFile,
  generateEd25519Key,
  loadPrivateKeyFile,
  loadPublicKeyFile,
  PrivateKey,
  PublicKey,
  writeKeyPair,
} from '../src/index.js';
import { assertCode, FIXTURE, FIXTURE_KEYSTORE, FIXTURE_METADATA, FIXTURE_PASSPHRASE } from './helpers.js';

async function fixtureKeyNames(): Promise<string[]> {
  return (await readdir(FIXTURE_KEYSTORE)).filter((n) => !n.endsWith('.pub')).sort();
}

const passphrase = async () => FIXTURE_PASSPHRASE;

function decryptByManifestRecipe(text: string): string {
  const [salt, iterations, , iv, ciphertext] = text.split('@@@@') as [string, string, string, string, string];
  const key = pbkdf2Sync(FIXTURE_PASSPHRASE, Buffer.from(salt, 'hex'), Number(iterations), 32, 'sha256');
  const decipher = createDecipheriv('aes-256-ctr', key, Buffer.from(iv, 'hex'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'hex')), decipher.final()]).toString('utf8');
}

test('every fixture key file loads (the encrypted root with its passphrase) with the keyids of MANIFEST.md', async () => {
  const md = await readFile(`${FIXTURE}MANIFEST.md`, 'utf8');
  const names = await fixtureKeyNames();
  assert.equal(names.length, 6);
  const asked: string[] = [];
  for (const name of names) {
    const key = await loadPrivateKeyFile(join(FIXTURE_KEYSTORE, name), {
      passphrase: async (keyName) => {
        asked.push(keyName);
        return FIXTURE_PASSPHRASE;
      },
    });
    const pub = await loadPublicKeyFile(join(FIXTURE_KEYSTORE, `${name}.pub`));
    assert.equal(pub.keyid, key.keyid, name);
    assert.equal(pub.publicHex, key.publicHex, name);
    const row = md.split('\n').find((l) => l.startsWith(`| \`keystore/${name}\` |`));
    assert.ok(row, `MANIFEST.md has no row for ${name}`);
    assert.ok(row.includes(`\`${key.keyid}\``), `${name}: keyid ${key.keyid} not in ${row}`);
    assert.equal(row.includes('| True |'), name === 'root', `${name} encrypted`);
  }
  assert.deepEqual(asked, ['root']);
});

test('keyids computed from the key files equal those in 1.root.json and root.json', async () => {
  const inRoots = new Map<string, { public: string }>();
  for (const file of ['1.root.json', 'root.json']) {
    const root = JSON.parse(await readFile(join(FIXTURE_METADATA, file), 'utf8')) as {
      signed: { keys: Record<string, { keyval: { public: string } }> };
    };
    for (const [keyid, k] of Object.entries(root.signed.keys)) inRoots.set(keyid, k.keyval);
  }
  assert.equal(inRoots.size, 6);
  for (const name of await fixtureKeyNames()) {
    const pub = await loadPublicKeyFile(join(FIXTURE_KEYSTORE, `${name}.pub`));
    assert.deepEqual(inRoots.get(pub.keyid), { public: pub.publicHex }, name);
    assert.deepEqual(pub.toTufKey().toJSON(), {
      keytype: 'ed25519',
      scheme: 'ed25519',
      keyval: { public: pub.publicHex },
    });
  }
});

test('plain key files and .pub files are written back byte-identical to securesystemslib', async () => {
  await withTempDir(async (dir) => {
    for (const name of await fixtureKeyNames()) {
      const key = await loadPrivateKeyFile(join(FIXTURE_KEYSTORE, name), { passphrase });
      await writeKeyPair(dir, name, key);
      const pub = await readFile(join(dir, `${name}.pub`));
      assert.deepEqual(pub, await readFile(join(FIXTURE_KEYSTORE, `${name}.pub`)), `${name}.pub`);
      const priv = await readFile(join(dir, name), 'utf8');
      if (name === 'root') {
        // The fixture's root is encrypted: compare with its content, decrypted here by MANIFEST.md's recipe.
        assert.equal(priv, decryptByManifestRecipe(await readFile(join(FIXTURE_KEYSTORE, name), 'utf8')));
      } else {
        assert.equal(priv, await readFile(join(FIXTURE_KEYSTORE, name), 'utf8'), name);
      }
      if (process.platform !== 'win32') assert.equal((await stat(join(dir, name))).mode & 0o777, 0o600);
    }
  });
});

test('an encrypted key round-trips with its passphrase and is 0600', async () => {
  await withTempDir(async (dir) => {
    const key = generateEd25519Key();
    await writeKeyPair(dir, 'release', key, { passphrase: 'pässwörd' });
    const text = await readFile(join(dir, 'release'), 'utf8');
    const fields = text.split('@@@@');
    assert.equal(fields.length, 5);
    assert.equal(fields[1], '100000');
    assert.ok(!text.includes(key.publicHex));
    if (process.platform !== 'win32') assert.equal((await stat(join(dir, 'release'))).mode & 0o777, 0o600);
    const names: string[] = [];
    const loaded = await loadPrivateKeyFile(join(dir, 'release'), {
      passphrase: async (n) => {
        names.push(n);
        return 'pässwörd';
      },
    });
    assert.deepEqual(names, ['release']);
    assert.equal(loaded.keyid, key.keyid);
    const data = Buffer.from('payload');
    assert.equal(loaded.sign(data), key.sign(data));
    assert.equal((await loadPublicKeyFile(join(dir, 'release.pub'))).keyid, key.keyid);
  });
});

test('the fixture root key re-encrypted by us still decrypts with the same passphrase', async () => {
  await withTempDir(async (dir) => {
    const key = await loadPrivateKeyFile(join(FIXTURE_KEYSTORE, 'root'), { passphrase });
    await writeKeyPair(dir, 'root', key, { passphrase: FIXTURE_PASSPHRASE });
    const again = await loadPrivateKeyFile(join(dir, 'root'), { passphrase });
    assert.equal(again.keyid, 'b60e9635b981cc25c99e3775ac265d02932dd9b35297026730e24940a633a831');
  });
});

test('a wrong passphrase is KEY_DECRYPTION_FAILED and a missing callback PASSPHRASE_REQUIRED', async () => {
  const path = join(FIXTURE_KEYSTORE, 'root');
  await assertCode(
    () => loadPrivateKeyFile(path, { passphrase: async () => 'correct horse battery' }),
    'KEY_DECRYPTION_FAILED',
  );
  await assertCode(() => loadPrivateKeyFile(path, { passphrase: async () => '' }), 'KEY_DECRYPTION_FAILED');
  await assertCode(() => loadPrivateKeyFile(path), 'PASSPHRASE_REQUIRED');
});

test('tampered encrypted key files fail the HMAC check before decryption', async () => {
  const original = await readFile(join(FIXTURE_KEYSTORE, 'root'), 'utf8');
  const [salt, iterations, mac, iv, ciphertext] = original.split('@@@@') as [
    string,
    string,
    string,
    string,
    string,
  ];
  const flip = (hex: string, at: number) =>
    hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);
  await withTempDir(async (dir) => {
    const cases: Array<[string, string[]]> = [
      ['ciphertext byte', [salt, iterations, mac, iv, flip(ciphertext, 10)]],
      ['last ciphertext byte', [salt, iterations, mac, iv, flip(ciphertext, ciphertext.length - 1)]],
      ['hmac', [salt, iterations, flip(mac, 0), iv, ciphertext]],
      ['salt', [flip(salt, 5), iterations, mac, iv, ciphertext]],
      ['iterations', [salt, '99999', mac, iv, ciphertext]],
      ['ciphertext truncated by one byte', [salt, iterations, mac, iv, ciphertext.slice(0, -2)]],
    ];
    for (const [what, fields] of cases) {
      const p = join(dir, 'root');
      await writeFile(p, fields.join('@@@@'));
      const err = await assertCode(() => loadPrivateKeyFile(p, { passphrase }), 'KEY_DECRYPTION_FAILED');
      assert.match(err.message, /wrong passphrase, or the file was modified/, what);
    }
    // A modified IV passes the HMAC (securesystemslib does not MAC the IV) but decrypts to garbage.
    await writeFile(join(dir, 'iv'), [salt, iterations, mac, flip(iv, 0), ciphertext].join('@@@@'));
    await assertCode(() => loadPrivateKeyFile(join(dir, 'iv'), { passphrase }), 'INVALID_KEY');
  });
});

test('truncated or malformed key files are INVALID_KEY, never a crash or a hang', async () => {
  const encrypted = await readFile(join(FIXTURE_KEYSTORE, 'root'), 'utf8');
  const plain = await readFile(join(FIXTURE_KEYSTORE, 'targets'), 'utf8');
  const [salt, , mac, iv, ciphertext] = encrypted.split('@@@@') as [string, string, string, string, string];
  await withTempDir(async (dir) => {
    const cases: Record<string, string> = {
      'plain truncated': plain.slice(0, plain.length / 2),
      'plain truncated by one char': plain.slice(0, -1),
      'encrypted truncated to 3 fields': encrypted.split('@@@@').slice(0, 3).join('@@@@'),
      'encrypted truncated mid-hex': encrypted.slice(0, -1),
      'empty file': '',
      'binary junk': '\u0000\u0001\u0002',
      'huge iteration count': [salt, '99999999999', mac, iv, ciphertext].join('@@@@'),
      'zero iterations': [salt, '0', mac, iv, ciphertext].join('@@@@'),
      'short salt': [salt.slice(0, 16), '100000', mac, iv, ciphertext].join('@@@@'),
      'json array': '[]',
      'no keyval': '{"keytype": "ed25519", "scheme": "ed25519"}',
      'short private': plain.replace(/"private": "[0-9a-f]+"/, '"private": "abcd"'),
    };
    for (const [what, text] of Object.entries(cases)) {
      const p = join(dir, what.replace(/ /g, '_'));
      await writeFile(p, text);
      const err = await assertCode(() => loadPrivateKeyFile(p, { passphrase }), 'INVALID_KEY');
      assert.ok(err.message.length > 0, what);
    }
    await writeFile(join(dir, 'big'), 'x'.repeat(100_000));
    await assertCode(() => loadPrivateKeyFile(join(dir, 'big'), { passphrase }), 'INVALID_KEY', /too large/);
    await assertCode(() => loadPublicKeyFile(join(dir, 'empty_file')), 'INVALID_KEY');
    await assertCode(() => loadPrivateKeyFile(join(dir, 'missing')), 'FILE_NOT_FOUND');
  });
});

test('a plain key file whose public key, private key or keyid was changed is KEY_MISMATCH', async () => {
  const plain = await readFile(join(FIXTURE_KEYSTORE, 'targets'), 'utf8');
  const other = JSON.parse(await readFile(join(FIXTURE_KEYSTORE, 'snapshot'), 'utf8')) as {
    keyid: string;
    keyval: { public: string; private: string };
  };
  const original = JSON.parse(plain) as typeof other;
  await withTempDir(async (dir) => {
    const cases = {
      public: plain.replace(original.keyval.public, other.keyval.public),
      private: plain.replace(original.keyval.private, other.keyval.private),
      keyid: plain.replace(original.keyid, other.keyid),
    };
    for (const [what, text] of Object.entries(cases)) {
      assert.notEqual(text, plain, what);
      await writeFile(join(dir, what), text);
      await assertCode(() => loadPrivateKeyFile(join(dir, what)), 'KEY_MISMATCH');
    }
  });
});

test('generated ed25519 keys sign verifiably and keep the seed out of inspect and JSON output', () => {
  const key = generateEd25519Key();
  assert.match(key.publicHex, /^[0-9a-f]{64}$/);
  assert.equal(key.keyid, computeKeyId(key.toPublicKeyJson()));
  const data = Buffer.from('canonical bytes');
  const sig = key.sign(data);
  assert.match(sig, /^[0-9a-f]{128}$/);
  const spki = Buffer.concat([
    Buffer.from('302a300506032b6570032100', 'hex'),
    Buffer.from(key.publicHex, 'hex'),
  ]);
  const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  assert.ok(cryptoVerify(null, data, pub, Buffer.from(sig, 'hex')));
  assert.ok(!cryptoVerify(null, Buffer.from('other bytes'), pub, Buffer.from(sig, 'hex')));
  const seed = (JSON.parse(key.toPrivateKeyFileText()) as { keyval: { private: string } }).keyval.private;
  assert.ok(!inspect(key, { depth: 5, showHidden: true }).includes(seed));
  assert.ok(!JSON.stringify(key).includes(seed));
  assert.equal(PrivateKey.fromSeed(Buffer.from(seed, 'hex')).keyid, key.keyid);
  assert.equal(PrivateKey.fromKeyObject(generateKeyPairSync('ed25519').privateKey).keytype, 'ed25519');
  assert.notEqual(generateEd25519Key().keyid, key.keyid);
});

test('public keys of every type tuf-js verifies (ed25519, ecdsa, rsassa-pss) load with securesystemslib keyids', async () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  await withTempDir(async (dir) => {
    for (const [name, keytype, scheme, value] of [
      ['ec', 'ecdsa', 'ecdsa-sha2-nistp256', ec],
      ['rsa', 'rsa', 'rsassa-pss-sha256', rsa],
    ] as const) {
      const json = {
        keytype,
        scheme,
        keyid_hash_algorithms: ['sha256', 'sha512'],
        keyval: { public: value },
      };
      await writeFile(join(dir, `${name}.pub`), JSON.stringify(json));
      const pub = await loadPublicKeyFile(join(dir, `${name}.pub`));
      assert.equal(pub.keytype, keytype);
      assert.equal(pub.keyid, computeKeyId(json));
      assert.equal(pub.toTufKey().keyVal.public, value);
    }
    await writeFile(
      join(dir, 'dsa.pub'),
      JSON.stringify({ keytype: 'dsa', scheme: 'dsa', keyval: { public: 'ab' } }),
    );
    await assertCode(() => loadPublicKeyFile(join(dir, 'dsa.pub')), 'UNSUPPORTED_KEY_TYPE');
    await writeFile(
      join(dir, 'bad-ec.pub'),
      JSON.stringify({
        keytype: 'ecdsa',
        scheme: 'ecdsa-sha2-nistp256',
        keyval: { public: '-----BEGIN PUBLIC KEY-----\nxx' },
      }),
    );
    await assertCode(() => loadPublicKeyFile(join(dir, 'bad-ec.pub')), 'INVALID_KEY');
  });
  // The keyid covers keyid_hash_algorithms: dropping it (as root.json entries do) changes the hash.
  const pub = PublicKey.fromJson({
    keytype: 'ed25519',
    scheme: 'ed25519',
    keyval: { public: 'ab'.repeat(32) },
  });
  assert.notEqual(pub.keyid, computeKeyId({ ...pub.toPublicKeyJson(), keyid_hash_algorithms: [] }));
});

test('only ed25519 private keys are accepted for signing', async () => {
  await assertCode(
    () => PrivateKey.fromKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
    'UNSUPPORTED_KEY_TYPE',
  );
  await assertCode(
    () => PrivateKey.fromKeyObject(generateKeyPairSync('ed25519').publicKey),
    'UNSUPPORTED_KEY_TYPE',
  );
  await assertCode(() => PrivateKey.fromSeed(new Uint8Array(31)), 'INVALID_KEY');
  await withTempDir(async (dir) => {
    const p = join(dir, 'ecdsa');
    await writeFile(
      p,
      JSON.stringify({
        keytype: 'ecdsa',
        scheme: 'ecdsa-sha2-nistp256',
        keyval: { public: 'ab', private: 'cd' },
      }),
    );
    await assertCode(() => loadPrivateKeyFile(p), 'UNSUPPORTED_KEY_TYPE');
  });
});

test('writeKeyPair refuses to overwrite, bad names and empty passphrases', async () => {
  await withTempDir(async (dir) => {
    const key = generateEd25519Key();
    await writeKeyPair(dir, 'k', key);
    await assertCode(() => writeKeyPair(dir, 'k', generateEd25519Key()), 'KEY_FILE_EXISTS');
    assert.equal((await loadPublicKeyFile(join(dir, 'k.pub'))).keyid, key.keyid);
    const replacement = generateEd25519Key();
    await writeKeyPair(dir, 'k', replacement, { overwrite: true });
    assert.equal((await loadPrivateKeyFile(join(dir, 'k'))).keyid, replacement.keyid);
    for (const name of ['', '..', 'a/b', 'a\\b', 'x.pub', 'nul\0']) {
      await assertCode(() => writeKeyPair(dir, name, key), 'INVALID_KEY_NAME');
    }
    await assertCode(() => writeKeyPair(dir, 'e', key, { passphrase: '' }), 'INVALID_PASSPHRASE');
    assert.deepEqual((await readdir(dir)).sort(), ['k', 'k.pub']);
  });
});

test('findPrivateKeyFile searches key dirs recursively like tufup', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'online', 'deep'), { recursive: true });
    await mkdir(join(dir, 'offline'), { recursive: true });
    await writeFile(join(dir, 'online', 'deep', 'timestamp'), '{}');
    await writeFile(join(dir, 'offline', 'root'), '{}');
    assert.equal(
      await findPrivateKeyFile('timestamp', [join(dir, 'offline'), join(dir, 'online')]),
      join(dir, 'online', 'deep', 'timestamp'),
    );
    assert.equal(await findPrivateKeyFile('root', [dir]), join(dir, 'offline', 'root'));
    assert.equal(await findPrivateKeyFile('targets', [dir, join(dir, 'nope')]), undefined);
    await assertCode(() => findPrivateKeyFile('../root', [dir]), 'INVALID_KEY_NAME');
  });
});
