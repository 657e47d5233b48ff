// Keys: ed25519 generation and signing, securesystemslib keyids, and tufup's key files (plain and encrypted).
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  pbkdf2,
  randomBytes,
  sign as cryptoSign,
  timingSafeEqual,
} from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { canonicalize } from '@tufjs/canonical-json';
import { Key } from '@tufjs/models';
import { isNotFound, pathExists, writeFileAtomic } from '@tufup/common';
import { MetadataError } from './errors.js';
import { pythonJsonDumps } from './python-json.js';

const pbkdf2Async = promisify(pbkdf2);

/** securesystemslib puts these in every key dict it hashes for the keyid (and in `.pub` files). */
export const KEYID_HASH_ALGORITHMS: readonly string[] = ['sha256', 'sha512'];

/** Key types whose signatures tuf-js (and so @tufjs/models' Key.verifySignature) can verify. */
const VERIFIABLE_KEY_TYPES: Record<string, readonly string[]> = {
  ed25519: ['ed25519'],
  ecdsa: ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  rsa: ['rsassa-pss-sha256'],
};

/** The securesystemslib public key dict: what `<name>.pub` holds and what the keyid is computed over. */
export interface PublicKeyJson {
  keytype: string;
  scheme: string;
  keyid_hash_algorithms: string[];
  keyval: { public: string };
}

/** Anything that can add a signature to metadata: our PrivateKey, or a caller's HSM/KMS wrapper. */
export interface Signer {
  readonly keyid: string;
  /** Signs the bytes (canonical JSON of a role's `signed`) and returns the signature as hex. */
  sign(data: Uint8Array): string;
}

/**
 * keyid as securesystemslib (and so python tufup) computes it: sha256 of the canonical JSON of
 * `{keytype, scheme, keyid_hash_algorithms, keyval: {public}}`. root.json's key entries omit
 * `keyid_hash_algorithms`, so a keyid cannot be recomputed from root.json alone.
 */
export function computeKeyId(pub: {
  keytype: string;
  scheme: string;
  keyval: { public: string };
  keyid_hash_algorithms?: readonly string[];
}): string {
  const dict = {
    keytype: pub.keytype,
    scheme: pub.scheme,
    keyid_hash_algorithms: [...(pub.keyid_hash_algorithms ?? KEYID_HASH_ALGORITHMS)],
    keyval: { public: pub.keyval.public },
  };
  return createHash('sha256').update(canonicalize(dict), 'utf8').digest('hex');
}

/** A public key with its keyid: what root metadata lists and `.pub` files hold. */
export class PublicKey {
  readonly keyid: string;
  readonly keytype: string;
  readonly scheme: string;
  readonly keyval: { readonly public: string };
  readonly keyidHashAlgorithms: readonly string[];

  constructor(opts: {
    keytype: string;
    scheme: string;
    public: string;
    keyidHashAlgorithms?: readonly string[];
    /** Defaults to the securesystemslib keyid; pass root.json's keyid for keys read from metadata. */
    keyid?: string;
  }) {
    checkPublicKey(opts.keytype, opts.scheme, opts.public);
    this.keytype = opts.keytype;
    this.scheme = opts.scheme;
    this.keyval = Object.freeze({ public: opts.public });
    this.keyidHashAlgorithms = Object.freeze([...(opts.keyidHashAlgorithms ?? KEYID_HASH_ALGORITHMS)]);
    this.keyid =
      opts.keyid ??
      computeKeyId({
        keytype: this.keytype,
        scheme: this.scheme,
        keyval: this.keyval,
        keyid_hash_algorithms: this.keyidHashAlgorithms,
      });
  }

  /** The public key value: 64 hex digits for ed25519 (a PEM for ecdsa/rsa keys). */
  get publicHex(): string {
    return this.keyval.public;
  }

  /** The key as root metadata holds it (python-tuf leaves out keyid_hash_algorithms). */
  toTufKey(): Key {
    return new Key({
      keyID: this.keyid,
      keyType: this.keytype,
      scheme: this.scheme,
      keyVal: { ...this.keyval },
    });
  }

  /** The securesystemslib `.pub` dict, fields in the order securesystemslib writes them. */
  toPublicKeyJson(): PublicKeyJson {
    return {
      keytype: this.keytype,
      scheme: this.scheme,
      keyid_hash_algorithms: [...this.keyidHashAlgorithms],
      keyval: { public: this.keyval.public },
    };
  }

  toJSON(): PublicKeyJson {
    return this.toPublicKeyJson();
  }

  /** A key parsed from a `.pub` dict; throws INVALID_KEY / UNSUPPORTED_KEY_TYPE. */
  static fromJson(data: unknown): PublicKey {
    const d = asRecord(data, 'public key');
    const keyval = asRecord(d.keyval, 'keyval');
    const algorithms = d.keyid_hash_algorithms;
    if (
      algorithms !== undefined &&
      !(Array.isArray(algorithms) && algorithms.every((a) => typeof a === 'string'))
    ) {
      throw invalidKey('keyid_hash_algorithms must be a list of strings');
    }
    return new PublicKey({
      keytype: asString(d.keytype, 'keytype'),
      scheme: asString(d.scheme, 'scheme'),
      public: asString(keyval.public, 'keyval.public'),
      ...(algorithms ? { keyidHashAlgorithms: algorithms as string[] } : {}),
    });
  }

  /** A key as root metadata lists it, keeping root's keyid (which may not be recomputable). */
  static fromTufKey(key: Key): PublicKey {
    const pub = key.keyVal.public;
    if (typeof pub !== 'string') throw invalidKey(`key ${key.keyID} has no public value`);
    return new PublicKey({ keytype: key.keyType, scheme: key.scheme, public: pub, keyid: key.keyID });
  }
}

// An ed25519 PKCS#8 DER is this fixed prefix followed by the 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An ed25519 private key. The seed never appears in inspect/JSON output: it lives in a private field. */
export class PrivateKey extends PublicKey implements Signer {
  readonly #key: KeyObject;

  private constructor(key: KeyObject, publicHex: string, keyidHashAlgorithms?: readonly string[]) {
    super({
      keytype: 'ed25519',
      scheme: 'ed25519',
      public: publicHex,
      ...(keyidHashAlgorithms ? { keyidHashAlgorithms } : {}),
    });
    this.#key = key;
  }

  /** A key from a 32-byte ed25519 seed (what securesystemslib stores as keyval.private). */
  static fromSeed(seed: Uint8Array, keyidHashAlgorithms?: readonly string[]): PrivateKey {
    if (seed.length !== 32) throw invalidKey(`an ed25519 seed is 32 bytes, got ${seed.length}`);
    const key = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
    return new PrivateKey(key, publicHexOf(key), keyidHashAlgorithms);
  }

  /** A key from a node:crypto ed25519 private KeyObject. */
  static fromKeyObject(key: KeyObject): PrivateKey {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
      throw new MetadataError({
        code: 'UNSUPPORTED_KEY_TYPE',
        message: `only ed25519 private keys can sign here (got ${key.type} ${key.asymmetricKeyType ?? ''})`,
      });
    }
    return new PrivateKey(key, publicHexOf(key));
  }

  /** ed25519 signature (hex) over `data`. */
  sign(data: Uint8Array): string {
    return cryptoSign(null, data, this.#key).toString('hex');
  }

  /** Just the public half (drops the private key). */
  publicKey(): PublicKey {
    return new PublicKey({
      keytype: this.keytype,
      scheme: this.scheme,
      public: this.publicHex,
      keyidHashAlgorithms: this.keyidHashAlgorithms,
    });
  }

  /** The private key file's JSON, as securesystemslib writes it (contains the secret seed). */
  toPrivateKeyFileText(): string {
    const seed = Buffer.from(this.#key.export({ format: 'jwk' }).d as string, 'base64url').toString('hex');
    return pythonJsonDumps({
      keytype: this.keytype,
      scheme: this.scheme,
      keyid: this.keyid,
      keyid_hash_algorithms: [...this.keyidHashAlgorithms],
      keyval: { public: this.publicHex, private: seed },
    });
  }
}

function publicHexOf(key: KeyObject): string {
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x as string, 'base64url').toString('hex');
}

/** A fresh ed25519 key pair (node:crypto's CSPRNG). */
export function generateEd25519Key(): PrivateKey {
  return PrivateKey.fromKeyObject(generateKeyPairSync('ed25519').privateKey);
}

// ---- key files ----------------------------------------------------------------------------------

/** securesystemslib's encrypted key format: these iterations, and 16-byte salt and IV. */
const PBKDF2_ITERATIONS = 100_000;
/** A tampered iteration count must not turn loading a key into a hang. */
const MAX_PBKDF2_ITERATIONS = 10_000_000;
const MAX_KEY_FILE_BYTES = 64 * 1024;
const FIELD_SEPARATOR = '@@@@';

export interface LoadPrivateKeyOptions {
  /** Asked for the passphrase of an encrypted key, with the key's name (its file name). */
  passphrase?: (keyName: string) => Promise<string>;
}

export interface WriteKeyPairOptions {
  /** Encrypt the private key file with this passphrase (securesystemslib format). */
  passphrase?: string;
  /** Replace existing key files (default: refuse with KEY_FILE_EXISTS). */
  overwrite?: boolean;
}

/** Reads `<name>.pub` (securesystemslib JSON); any key type tuf-js verifies. */
export async function loadPublicKeyFile(path: string): Promise<PublicKey> {
  const text = await readKeyFile(path);
  return PublicKey.fromJson(parseJson(text, path));
}

/**
 * Reads a private key file: plain securesystemslib JSON, or the encrypted
 * `salt@@@@iterations@@@@hmac@@@@iv@@@@ciphertext` form, for which `passphrase` is asked. The HMAC is
 * checked (constant time) before anything is decrypted; a mismatch is KEY_DECRYPTION_FAILED.
 */
export async function loadPrivateKeyFile(
  path: string,
  opts: LoadPrivateKeyOptions = {},
): Promise<PrivateKey> {
  const text = await readKeyFile(path);
  if (!isEncryptedKeyText(text)) return privateKeyFromJson(parseJson(text, path), path);
  const plain = await decryptKeyFile(text, path, opts);
  return privateKeyFromJson(parseJson(plain, path), path);
}

/**
 * Whether a private key file is in the encrypted form (loading it asks for a passphrase), told without
 * decrypting anything: plain securesystemslib key files are JSON objects.
 */
export async function isEncryptedKeyFile(path: string): Promise<boolean> {
  return isEncryptedKeyText(await readKeyFile(path));
}

function isEncryptedKeyText(text: string): boolean {
  return !text.trimStart().startsWith('{');
}

async function decryptKeyFile(text: string, path: string, opts: LoadPrivateKeyOptions): Promise<string> {
  const fields = text.trim().split(FIELD_SEPARATOR);
  if (fields.length !== 5) {
    throw invalidKey(
      `${path} is neither a JSON key nor an encrypted key (expected 5 fields, got ${fields.length})`,
    );
  }
  const [saltHex, iterationsText, hmacHex, ivHex, ciphertextHex] = fields as [
    string,
    string,
    string,
    string,
    string,
  ];
  const salt = hexField(saltHex, 'salt', path, 16);
  const mac = hexField(hmacHex, 'hmac', path, 32);
  const iv = hexField(ivHex, 'iv', path, 16);
  const ciphertext = hexField(ciphertextHex, 'ciphertext', path);
  if (ciphertext.length === 0) throw invalidKey(`${path}: empty ciphertext`);
  if (
    !/^[0-9]{1,8}$/.test(iterationsText) ||
    Number(iterationsText) < 1 ||
    Number(iterationsText) > MAX_PBKDF2_ITERATIONS
  ) {
    throw invalidKey(`${path}: bad PBKDF2 iteration count ${JSON.stringify(iterationsText.slice(0, 20))}`);
  }
  if (!opts.passphrase) {
    throw new MetadataError({
      code: 'PASSPHRASE_REQUIRED',
      message: `${path} is encrypted and no passphrase callback was given`,
    });
  }
  const passphrase = await opts.passphrase(basename(path));
  const key = await pbkdf2Async(passphrase, salt, Number(iterationsText), 32, 'sha256');
  const expected = createHmac('sha256', key).update(ciphertext).digest();
  if (!timingSafeEqual(expected, mac)) {
    throw new MetadataError({
      code: 'KEY_DECRYPTION_FAILED',
      message: `cannot decrypt ${path}: wrong passphrase, or the file was modified`,
    });
  }
  const decipher = createDecipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
}

function privateKeyFromJson(data: unknown, path: string): PrivateKey {
  const d = asRecord(data, `private key ${path}`);
  const keyval = asRecord(d.keyval, 'keyval');
  const keytype = asString(d.keytype, 'keytype');
  const scheme = asString(d.scheme, 'scheme');
  if (keytype !== 'ed25519' || scheme !== 'ed25519') {
    throw new MetadataError({
      code: 'UNSUPPORTED_KEY_TYPE',
      message: `${path}: only ed25519 private keys can sign here (got ${keytype}/${scheme})`,
    });
  }
  const privateHex = asString(keyval.private, 'keyval.private');
  if (!/^[0-9a-f]{64}$/i.test(privateHex)) throw invalidKey(`${path}: keyval.private must be 64 hex digits`);
  const algorithms = d.keyid_hash_algorithms;
  if (
    algorithms !== undefined &&
    !(Array.isArray(algorithms) && algorithms.every((a) => typeof a === 'string'))
  ) {
    throw invalidKey(`${path}: keyid_hash_algorithms must be a list of strings`);
  }
  const key = PrivateKey.fromSeed(Buffer.from(privateHex, 'hex'), algorithms as string[] | undefined);
  const publicHex = asString(keyval.public, 'keyval.public');
  if (publicHex.toLowerCase() !== key.publicHex) {
    throw new MetadataError({
      code: 'KEY_MISMATCH',
      message: `${path}: the public key does not belong to the private key`,
    });
  }
  if (d.keyid !== undefined && d.keyid !== key.keyid) {
    throw new MetadataError({
      code: 'KEY_MISMATCH',
      message: `${path}: keyid ${String(d.keyid)} does not match the key (${key.keyid})`,
    });
  }
  return key;
}

/**
 * Writes `<dir>/<name>` (private, mode 0600, encrypted when a passphrase is given) and `<dir>/<name>.pub`,
 * in the formats python tufup reads. Existing files are only replaced with `overwrite`.
 */
export async function writeKeyPair(
  dir: string,
  name: string,
  key: PrivateKey,
  opts: WriteKeyPairOptions = {},
): Promise<{ privatePath: string; publicPath: string }> {
  checkKeyName(name);
  const privatePath = join(dir, name);
  const publicPath = `${privatePath}.pub`;
  if (!opts.overwrite) {
    for (const p of [privatePath, publicPath]) {
      if (await pathExists(p)) {
        throw new MetadataError({
          code: 'KEY_FILE_EXISTS',
          message: `${p} exists (pass overwrite to replace it)`,
        });
      }
    }
  }
  let privateText = key.toPrivateKeyFileText();
  if (opts.passphrase !== undefined) privateText = await encryptKeyText(privateText, opts.passphrase);
  await writeFileAtomic(privatePath, privateText, { mode: 0o600 });
  await writeFileAtomic(publicPath, pythonJsonDumps(key.toPublicKeyJson()), { mode: 0o644 });
  return { privatePath, publicPath };
}

async function encryptKeyText(plain: string, passphrase: string): Promise<string> {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new MetadataError({
      code: 'INVALID_PASSPHRASE',
      message: 'an encrypted key needs a non-empty passphrase',
    });
  }
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = await pbkdf2Async(passphrase, salt, PBKDF2_ITERATIONS, 32, 'sha256');
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const mac = createHmac('sha256', key).update(ciphertext).digest();
  return [salt, String(PBKDF2_ITERATIONS), mac, iv, ciphertext]
    .map((f) => (typeof f === 'string' ? f : f.toString('hex')))
    .join(FIELD_SEPARATOR);
}

/**
 * The path of private key file `name` in the first of `dirs` that has it, searching subdirectories too
 * (python tufup's `find_private_key`); undefined when none does. Symlinked directories are not followed.
 */
export async function findPrivateKeyFile(name: string, dirs: readonly string[]): Promise<string | undefined> {
  checkKeyName(name);
  for (const dir of dirs) {
    const found = await findIn(dir, name, 0);
    if (found) return found;
  }
  return undefined;
}

async function findIn(dir: string, name: string, depth: number): Promise<string | undefined> {
  if (depth > 32) return undefined;
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hit = entries.find((e) => e.name === name && (e.isFile() || e.isSymbolicLink()));
  if (hit) return join(dir, hit.name);
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const found = await findIn(join(dir, e.name), name, depth + 1);
    if (found) return found;
  }
  return undefined;
}

// ---- helpers ------------------------------------------------------------------------------------

function checkKeyName(name: string): void {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > 200 ||
    name === '.' ||
    name === '..' ||
    /[/\\\0]/.test(name) ||
    name.endsWith('.pub')
  ) {
    throw new MetadataError({
      code: 'INVALID_KEY_NAME',
      message: `not a usable key name: ${JSON.stringify(name)}`,
    });
  }
}

function checkPublicKey(keytype: string, scheme: string, value: string): void {
  const schemes = VERIFIABLE_KEY_TYPES[keytype];
  if (!schemes?.includes(scheme)) {
    throw new MetadataError({
      code: 'UNSUPPORTED_KEY_TYPE',
      message: `unsupported key type/scheme ${keytype}/${scheme}`,
    });
  }
  if (keytype === 'ed25519') {
    if (!/^[0-9a-f]{64}$/i.test(value) && !value.startsWith('-----BEGIN PUBLIC KEY-----')) {
      throw invalidKey('an ed25519 public key is 64 hex digits (or a PEM)');
    }
    return;
  }
  // ecdsa / rsa: PEM, or (ecdsa) uncompressed hex point as tuf-js accepts; let node:crypto judge.
  try {
    if (value.startsWith('-----BEGIN PUBLIC KEY-----')) createPublicKey(value);
    else if (keytype === 'rsa' || !/^[0-9a-f]+$/i.test(value)) throw new Error('not PEM or hex');
  } catch (err) {
    throw new MetadataError({ code: 'INVALID_KEY', message: `invalid ${keytype} public key`, cause: err });
  }
}

async function readKeyFile(path: string): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if (isNotFound(err)) {
      throw new MetadataError({ code: 'FILE_NOT_FOUND', message: `no key file ${path}`, cause: err });
    }
    throw err;
  }
  if (size > MAX_KEY_FILE_BYTES) throw invalidKey(`${path} is too large for a key file (${size} bytes)`);
  return readFile(path, 'utf8');
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MetadataError({ code: 'INVALID_KEY', message: `${path} is not valid key JSON`, cause: err });
  }
}

function hexField(value: string, field: string, path: string, bytes?: number): Buffer {
  if (!/^(?:[0-9a-f]{2})*$/i.test(value) || (bytes !== undefined && value.length !== bytes * 2)) {
    throw invalidKey(`${path}: bad ${field} field`);
  }
  return Buffer.from(value, 'hex');
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalidKey(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function asString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidKey(`${what} must be a non-empty string`);
  return value;
}

function invalidKey(message: string): MetadataError {
  return new MetadataError({ code: 'INVALID_KEY', message });
}
