// Signatures on role metadata: the signed bytes, adding signatures, and counting the valid ones a role's keys made.
import { canonicalize } from '@tufjs/canonical-json';
import { type Key, type Root, Signature } from '@tufjs/models';
import { MetadataError } from './errors.js';
import type { Signer } from './keys.js';
import type { AnyRoleMetadata, RoleName } from './roles.js';

/** The bytes that get signed: OLPC canonical JSON of `signed` (what python-tuf and tuf-js sign). */
export function canonical(md: AnyRoleMetadata): Buffer {
  return Buffer.from(canonicalText(md), 'utf8');
}

/**
 * `canonical(md)` as a string: @tufjs/canonical-json's `canonicalize` of `md.signed.toJSON()`, character for
 * character (keys in UTF-16 order, only `"` and `\` escaped, integers only), written as one growing string: that
 * library joins an array per container and runs two regex replaces per string, which made computing it for the
 * metadata of 1,000 releases per platform a large part of a `targets add` (it is computed to tell what changed).
 */
export function canonicalText(md: AnyRoleMetadata): string {
  const out = { text: '' };
  writeCanonical(md.signed.toJSON(), out);
  return out.text;
}

function writeCanonical(value: unknown, out: { text: string }): void {
  if (typeof value === 'string') {
    out.text += quoteCanonical(value);
  } else if (typeof value === 'boolean' || value === null || Number.isInteger(value)) {
    out.text += JSON.stringify(value);
  } else if (Array.isArray(value)) {
    out.text += '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.text += ',';
      writeCanonical(value[i], out);
    }
    out.text += ']';
  } else if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    out.text += '{';
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      out.text += `${i > 0 ? ',' : ''}${quoteCanonical(key)}:`;
      writeCanonical(record[key], out);
    }
    out.text += '}';
  } else {
    // canonicalize throws a TypeError for these too (floats, undefined, functions...).
    throw new TypeError(`cannot encode ${String(value)}`);
  }
}

const CANONICAL_ESCAPE = /["\\]/;

function quoteCanonical(s: string): string {
  return CANONICAL_ESCAPE.test(s) ? canonicalize(s) : `"${s}"`;
}

/**
 * Adds a signature by each signer, keeping every other signature (multi-party threshold signing:
 * a second signer adds to the first). A signer's earlier signature is replaced.
 */
export function addSignatures(md: AnyRoleMetadata, signers: readonly Signer[]): void {
  const bytes = canonical(md);
  for (const signer of signers) {
    const sig = signer.sign(bytes);
    if (typeof sig !== 'string' || !/^[0-9a-f]+$/i.test(sig)) {
      throw new MetadataError({
        code: 'BAD_SIGNATURE',
        message: `signer ${signer.keyid} returned no hex signature`,
      });
    }
    md.signatures[signer.keyid] = new Signature({ keyID: signer.keyid, sig });
  }
}

/**
 * Verdicts already reached per metadata instance, by key and signature: a role's `signed` is never changed in place
 * (every edit rebuilds it), so checking a big delegated role again on each save is only canonical JSON and ed25519
 * once more. Keyed by the instance, so a rebuilt role is checked afresh.
 */
const verdicts = new WeakMap<AnyRoleMetadata, Map<string, boolean>>();

/** Whether `key` made a valid signature over `md` (any key type tuf-js verifies). */
export function hasValidSignature(md: AnyRoleMetadata, key: Key): boolean {
  const sig = md.signatures[key.keyID];
  if (!sig) return false;
  const memo = verdicts.get(md) ?? new Map<string, boolean>();
  verdicts.set(md, memo);
  const id = `${key.keyID}:${key.keyType}:${key.scheme}:${JSON.stringify(key.keyVal)}:${sig.sig}`;
  const known = memo.get(id);
  if (known !== undefined) return known;
  let valid: boolean;
  try {
    key.verifySignature(md);
    valid = true;
  } catch {
    // @tufjs/models reports a bad signature (or an unusable key) by throwing; both mean "not valid".
    valid = false;
  }
  memo.set(id, valid);
  return valid;
}

export interface SignatureCount {
  /** keyids of the role's keys with a valid signature. */
  valid: string[];
  /** keyids of the role's keys whose signature is present but does not verify. */
  invalid: string[];
  threshold: number;
}

/**
 * Who may sign which role: a root (top-level roles) or a delegating targets role's `delegations` (delegated
 * roles); both list keys by keyid and, per role, keyids and a threshold.
 */
export interface KeyHolder {
  keys: Record<string, Key>;
  roles?: Record<string, { keyIDs: string[]; threshold: number }> | undefined;
}

/** Counts the valid signatures on `md` by keys that `root` (or a delegating role's delegations) authorizes for `role`. */
export function countSignatures(
  root: Root | KeyHolder,
  role: RoleName | string,
  md: AnyRoleMetadata,
): SignatureCount {
  const r = root.roles?.[role];
  if (!r) throw new MetadataError({ code: 'UNKNOWN_ROLE', message: `no ${role} role is delegated` });
  const valid: string[] = [];
  const invalid: string[] = [];
  for (const keyid of new Set(r.keyIDs)) {
    const key = root.keys[keyid];
    if (!key || !md.signatures[keyid]) continue;
    (hasValidSignature(md, key) ? valid : invalid).push(keyid);
  }
  return { valid, invalid, threshold: r.threshold };
}
