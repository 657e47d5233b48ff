// The four top-level TUF role documents as the repository edits them: parse, check, bump, sign, verify, serialize.
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { type PrivateKey, pythonJsonDumps } from '@tufup/metadata';
import type { RoleName } from './config.js';
import { RepoError } from './errors.js';

/** python-tuf 4.0 writes this spec version; clients accept any 1.x. */
export const SPEC_VERSION = '1.0.31';

export interface SignatureJson {
  keyid: string;
  sig: string;
}

export interface KeyJson {
  keytype: string;
  scheme: string;
  keyval: { public: string };
  [extra: string]: unknown;
}

export interface RoleKeysJson {
  keyids: string[];
  threshold: number;
  [extra: string]: unknown;
}

export interface SignedCommon {
  _type: RoleName;
  spec_version: string;
  version: number;
  expires: string;
  [extra: string]: unknown;
}

export interface RootSigned extends SignedCommon {
  _type: 'root';
  consistent_snapshot: boolean;
  keys: Record<string, KeyJson>;
  roles: Record<RoleName, RoleKeysJson>;
}

export interface TargetFileJson {
  length: number;
  hashes: Record<string, string>;
  custom?: unknown;
  [extra: string]: unknown;
}

export interface TargetsSigned extends SignedCommon {
  _type: 'targets';
  targets: Record<string, TargetFileJson>;
}

export interface MetaFileJson {
  version: number;
  length?: number;
  hashes?: Record<string, string>;
  [extra: string]: unknown;
}

export interface SnapshotSigned extends SignedCommon {
  _type: 'snapshot';
  meta: Record<string, MetaFileJson>;
}

export interface TimestampSigned extends SignedCommon {
  _type: 'timestamp';
  meta: { 'snapshot.json': MetaFileJson } & Record<string, MetaFileJson>;
}

export interface RoleDoc<S extends SignedCommon = SignedCommon> {
  signatures: SignatureJson[];
  signed: S;
  [extra: string]: unknown;
}

export type RootDoc = RoleDoc<RootSigned>;
export type TargetsDoc = RoleDoc<TargetsSigned>;
export type SnapshotDoc = RoleDoc<SnapshotSigned>;
export type TimestampDoc = RoleDoc<TimestampSigned>;

export interface RoleDocs {
  root: RootDoc;
  targets: TargetsDoc;
  snapshot: SnapshotDoc;
  timestamp: TimestampDoc;
}

/** `YYYY-MM-DDTHH:MM:SSZ`: python-tuf rejects fractional seconds. */
export function formatExpires(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** python tufup's `in_(days)`: now without sub-seconds, plus `days`. */
export function expiresIn(days: number, now: Date): string {
  const base = Math.floor(now.getTime() / 1000) * 1000;
  return formatExpires(new Date(base + days * 86_400_000));
}

export function parseExpires(expires: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(expires)) return undefined;
  const d = new Date(expires);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function corrupt(file: string, what: string, cause?: unknown): RepoError {
  return new RepoError({
    code: 'METADATA_CORRUPT',
    message: `${file}: ${what}`,
    ...(cause ? { cause } : {}),
  });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isPositiveInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;

function checkMetaFile(file: string, where: string, v: unknown): void {
  if (!isObject(v) || !isPositiveInt(v.version)) throw corrupt(file, `${where} has no valid version`);
}

/**
 * Parse and check the structure of a role file (not its signatures: see `validSignatures`). Anything a later
 * step would trip over is METADATA_CORRUPT here, naming the file.
 */
export function parseRoleDoc<R extends RoleName>(text: string, role: R, file: string): RoleDocs[R] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw corrupt(file, 'not valid JSON', cause);
  }
  if (!isObject(raw) || !Array.isArray(raw.signatures) || !isObject(raw.signed)) {
    throw corrupt(file, 'not TUF metadata (needs "signatures" and "signed")');
  }
  for (const s of raw.signatures) {
    if (!isObject(s) || typeof s.keyid !== 'string' || typeof s.sig !== 'string') {
      throw corrupt(file, 'a signature is malformed');
    }
  }
  const signed = raw.signed;
  if (signed._type !== role) throw corrupt(file, `is a "${String(signed._type)}" role, expected "${role}"`);
  if (!isPositiveInt(signed.version)) throw corrupt(file, 'version must be a positive integer');
  if (typeof signed.expires !== 'string' || !parseExpires(signed.expires)) {
    throw corrupt(file, `expires must be YYYY-MM-DDTHH:MM:SSZ, got ${JSON.stringify(signed.expires)}`);
  }
  if (typeof signed.spec_version !== 'string' || !/^1\.\d+(\.\d+)?$/.test(signed.spec_version)) {
    throw corrupt(file, `unsupported spec_version ${JSON.stringify(signed.spec_version)}`);
  }
  if (role === 'root') {
    if (!isObject(signed.keys) || !isObject(signed.roles))
      throw corrupt(file, 'root needs "keys" and "roles"');
    for (const [id, k] of Object.entries(signed.keys)) {
      if (
        !isObject(k) ||
        typeof k.keytype !== 'string' ||
        typeof k.scheme !== 'string' ||
        !isObject(k.keyval)
      ) {
        throw corrupt(file, `key ${id} is malformed`);
      }
    }
    for (const r of ['root', 'targets', 'snapshot', 'timestamp']) {
      const rk = (signed.roles as Record<string, unknown>)[r];
      if (!isObject(rk) || !Array.isArray(rk.keyids) || !isPositiveInt(rk.threshold)) {
        throw corrupt(file, `role "${r}" is missing or malformed in root`);
      }
    }
  } else if (role === 'targets') {
    if (!isObject(signed.targets)) throw corrupt(file, 'targets needs a "targets" object');
    for (const [name, t] of Object.entries(signed.targets)) {
      if (
        !isObject(t) ||
        !Number.isSafeInteger(t.length) ||
        (t.length as number) < 0 ||
        !isObject(t.hashes)
      ) {
        throw corrupt(file, `target ${name} is malformed`);
      }
    }
  } else if (role === 'snapshot') {
    if (!isObject(signed.meta)) throw corrupt(file, 'snapshot needs "meta"');
    checkMetaFile(file, 'meta["targets.json"]', signed.meta['targets.json']);
  } else {
    if (!isObject(signed.meta)) throw corrupt(file, 'timestamp needs "meta"');
    checkMetaFile(file, 'meta["snapshot.json"]', signed.meta['snapshot.json']);
  }
  return raw as unknown as RoleDocs[R];
}

/** The on-disk form: python-tuf's JSONSerializer(compact=False) (indent 1, sorted keys, ASCII, no newline). */
export function serializeRoleDoc(doc: RoleDoc): string {
  return pythonJsonDumps(doc, { indent: 1, sortKeys: true });
}

/** What is signed: the canonical JSON of `signed`. */
export function signedBytes(doc: RoleDoc): Buffer {
  return Buffer.from(canonicalize(doc.signed as unknown as Parameters<typeof canonicalize>[0]), 'utf8');
}

/** Add (or replace) `key`'s signature. */
export function signDoc(doc: RoleDoc, key: PrivateKey): void {
  const sig = key.sign(signedBytes(doc));
  doc.signatures = doc.signatures.filter((s) => s.keyid !== key.keyid);
  doc.signatures.push({ keyid: key.keyid, sig });
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Whether `sig` is `key`'s valid signature over `data`. Key types we cannot check count as invalid. */
export function verifySignature(key: KeyJson, data: Buffer, sigHex: string): boolean {
  if (key.keytype !== 'ed25519' || key.scheme !== 'ed25519') return false;
  const pub = key.keyval.public;
  if (typeof pub !== 'string' || !/^[0-9a-fA-F]{64}$/.test(pub) || !/^[0-9a-fA-F]{128}$/.test(sigHex))
    return false;
  try {
    const keyObject = createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(pub, 'hex')]),
      format: 'der',
      type: 'spki',
    });
    return cryptoVerify(null, data, keyObject, Buffer.from(sigHex, 'hex'));
  } catch {
    return false;
  }
}

/** The keyids of `role`'s keys (per `root`) with a valid signature on `doc`. */
export function validSignatures(doc: RoleDoc, root: RootSigned, role: RoleName): Set<string> {
  const allowed = new Set(root.roles[role].keyids);
  const data = signedBytes(doc);
  const ok = new Set<string>();
  for (const s of doc.signatures) {
    if (!allowed.has(s.keyid) || ok.has(s.keyid)) continue;
    const key = root.keys[s.keyid];
    if (key && verifySignature(key, data, s.sig)) ok.add(s.keyid);
  }
  return ok;
}

/** Signatures that don't verify (or by keys the role doesn't list), for reports. */
export function invalidSignatures(doc: RoleDoc, root: RootSigned, role: RoleName): string[] {
  const valid = validSignatures(doc, root, role);
  return doc.signatures.filter((s) => !valid.has(s.keyid)).map((s) => s.keyid);
}

/** A deep copy (documents are edited in place while staging a change). */
export function cloneDoc<D extends RoleDoc>(doc: D): D {
  return structuredClone(doc);
}

/** A new version of `doc`: version + 1, new expiry, no signatures. */
export function bumpDoc<D extends RoleDoc>(doc: D, expires: string): D {
  const next = cloneDoc(doc);
  next.signed.version = doc.signed.version + 1;
  next.signed.expires = expires;
  next.signatures = [];
  return next;
}

export function sameSigned(a: RoleDoc, b: RoleDoc): boolean {
  return signedBytes(a).equals(signedBytes(b));
}
