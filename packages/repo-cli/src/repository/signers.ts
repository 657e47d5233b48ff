// Signing keys: finding the private keys a change needs in the key dirs (asking passphrases only when needed),
// signing with them, and telling how far each role is from its threshold.
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isTufupError, pathExists, throwIfAborted } from '@tufup/common';
import {
  type AnyRoleMetadata,
  type MetadataStore,
  type PrivateKey,
  type PublicKey,
  ROLE_NAMES,
  type RoleName,
  countSignatures,
  isRoleName,
  findPrivateKeyFile,
  isEncryptedKeyFile,
  loadPrivateKeyFile,
  loadPublicKeyFile,
} from '@tufup/metadata';
import { RepoError } from '../errors.js';
import { type RepoState, isDirectory } from './state.js';
import type { UnsignedRole } from './types.js';

/** Of `ids`, `threshold` must sign. */
export interface SignerNeed {
  ids: readonly string[];
  threshold: number;
}

export function validCount(store: MetadataStore, role: RoleName | string, md?: AnyRoleMetadata): number {
  if (!isRoleName(role)) return store.signatureCount(role).valid.length;
  return countSignatures(store.root.signed, role, md ?? store.get(role)).valid.length;
}

/** The key dirs given, resolved against the cwd; KEY_DIR_NOT_FOUND for one that is not a directory. */
export async function checkKeyDirs(state: RepoState, keyDirs: string[]): Promise<string[]> {
  if (keyDirs.length === 0)
    throw new RepoError({ code: 'USAGE', message: 'give at least one key directory' });
  const cwd = state.ctx.cwd ?? process.cwd();
  const out: string[] = [];
  for (const d of keyDirs) {
    const abs = resolve(cwd, d);
    if (!(await isDirectory(abs))) {
      throw new RepoError({
        code: 'KEY_DIR_NOT_FOUND',
        message: `key directory ${d} does not exist or is not a directory`,
      });
    }
    out.push(abs);
  }
  return out;
}

/** Load a private key, asking for its passphrase (again, on a terminal, when it was wrong). */
export async function loadPrivateKey(state: RepoState, path: string, name: string): Promise<PrivateKey> {
  for (let attempt = 1; ; attempt++) {
    try {
      const key = await loadPrivateKeyFile(path, {
        passphrase: () => state.passphrases.forKey(name, attempt),
      });
      state.loadedKeys.set(key.keyid, key);
      return key;
    } catch (err) {
      if (!isTufupError(err) || err.code !== 'KEY_DECRYPTION_FAILED') throw err;
      if (attempt < 3 && state.passphrases.canRetry(name)) continue;
      throw new RepoError({
        code: 'WRONG_PASSPHRASE',
        message: `wrong passphrase for key "${name}" (${path})`,
        cause: err,
      });
    }
  }
}

/** The keyid of key `name` without decrypting it: from a .pub beside the private key, or in keys_dir. */
async function keyidOf(state: RepoState, name: string, privatePath: string): Promise<string | undefined> {
  for (const p of [`${privatePath}.pub`, join(state.config.keysDir, `${name}.pub`)]) {
    if (await pathExists(p)) {
      try {
        return (await loadPublicKeyFile(p)).keyid;
      } catch {
        // an unreadable .pub: fall back to the private key
      }
    }
  }
  return undefined;
}

/**
 * Private keys for `needs` (each: a set of keyids of which `threshold` must sign), found by name (python tufup's
 * key_map names, searched recursively in the key dirs). Plain key files are always used; an encrypted one is
 * only decrypted (passphrase asked) when a threshold still needs it, unless `every` asks for all of them (an
 * explicit `tufup sign`). A key's .pub tells its keyid without decrypting it.
 */
export async function findSigners(
  state: RepoState,
  keyDirs: string[],
  needs: SignerNeed[],
  extraNames: string[],
  opts: { every?: boolean } = {},
): Promise<Map<string, PrivateKey>> {
  const wanted = new Set(needs.flatMap((n) => n.ids));
  const found = new Map<string, PrivateKey>();
  for (const id of wanted) {
    const k = state.loadedKeys.get(id);
    if (k) found.set(id, k);
  }
  const helps = (keyid: string | undefined) =>
    needs.some(
      (n) =>
        (keyid === undefined || n.ids.includes(keyid)) &&
        n.ids.filter((id) => found.has(id)).length < n.threshold,
    );
  const candidates: Array<{ name: string; path: string; keyid: string | undefined; encrypted: boolean }> = [];
  const names = [...new Set([...ROLE_NAMES.flatMap((r) => state.config.keyMap[r]), ...extraNames])];
  for (const name of names) {
    const path = await findPrivateKeyFile(name, keyDirs);
    if (!path) continue;
    const keyid = await keyidOf(state, name, path);
    if (keyid !== undefined && (!wanted.has(keyid) || found.has(keyid))) continue;
    candidates.push({ name, path, keyid, encrypted: await isEncryptedKeyFile(path) });
  }
  // Keys not in the config's key map (a delegated role's: its name is the CI's business) are found by keyid.
  const named = new Set(candidates.map((c) => c.keyid));
  const unnamed = [...wanted].filter((id) => !found.has(id) && !named.has(id));
  if (unnamed.length) {
    for (const c of await keysByKeyid(keyDirs, new Set(unnamed))) {
      candidates.push({ ...c, encrypted: await isEncryptedKeyFile(c.path) });
    }
  }
  for (const c of [...candidates.filter((x) => !x.encrypted), ...candidates.filter((x) => x.encrypted)]) {
    if (c.keyid !== undefined && found.has(c.keyid)) continue;
    if (c.encrypted && !opts.every && !helps(c.keyid)) continue;
    throwIfAborted(state.ctx.signal);
    const key = await loadPrivateKey(state, c.path, c.name);
    if (wanted.has(key.keyid)) found.set(key.keyid, key);
  }
  return found;
}

/**
 * Private keys in `keyDirs` (recursively) whose `<name>.pub` beside them (or, without one, the unencrypted key
 * itself) has one of `keyids`: how a delegated role's key is found without a name in the config. Files that are
 * not key files are skipped.
 */
async function keysByKeyid(
  keyDirs: readonly string[],
  keyids: ReadonlySet<string>,
): Promise<Array<{ name: string; path: string; keyid: string }>> {
  const out: Array<{ name: string; path: string; keyid: string }> = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 8) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const names = new Set(entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name));
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(dir, e.name), depth + 1);
      const pub = e.name.endsWith('.pub');
      const name = pub ? e.name.slice(0, -4) : e.name;
      // A private key is known by its .pub; one without (moved alone to a CI) is read if it is not encrypted.
      if (pub ? !names.has(name) : names.has(`${name}.pub`) || !(e.isFile() || e.isSymbolicLink())) continue;
      try {
        const path = join(dir, name);
        if (!pub && ((await stat(path)).size > 64 * 1024 || (await isEncryptedKeyFile(path)))) continue;
        const keyid = pub
          ? (await loadPublicKeyFile(join(dir, e.name))).keyid
          : (await loadPrivateKeyFile(path)).keyid;
        if (keyids.has(keyid) && !out.some((o) => o.keyid === keyid)) out.push({ name, path, keyid });
      } catch {
        // not a key file of ours
      }
    }
  };
  for (const d of keyDirs) await walk(d, 0);
  return out;
}

/** What signing `roles` of `store` needs: each role's keys and threshold, and for a new root the old root's too. */
function needs(store: MetadataStore, roles: Iterable<RoleName | string>): SignerNeed[] {
  const needs: SignerNeed[] = [];
  for (const role of roles) {
    if (!isRoleName(role)) {
      needs.push({ ids: store.signingKeyIds(role), threshold: store.threshold(role) });
      continue;
    }
    needs.push({
      ids: [...(store.root.signed.roles[role]?.keyIDs ?? [])],
      threshold: store.threshold(role),
    });
    const base = store.previousRoot;
    if (role === 'root' && base && base.signed.version === store.root.signed.version - 1) {
      needs.push({
        ids: [...(base.signed.roles.root?.keyIDs ?? [])],
        threshold: base.signed.roles.root?.threshold ?? 1,
      });
    }
  }
  return needs;
}

export function thresholdError(state: RepoState, short: UnsignedRole[], suggestPartial: boolean): RepoError {
  const first = short[0] as UnsignedRole;
  if (short.every((u) => u.have === 0)) {
    const names = [
      ...new Set(
        short.flatMap((u) =>
          isRoleName(u.role) ? state.config.keyMap[u.role] : [`a key of delegated role ${u.role}`],
        ),
      ),
    ];
    return new RepoError({
      code: 'KEY_NOT_FOUND',
      message: `no private key to sign ${[...new Set(short.map((u) => u.role))].join(', ')} in the key directories given (looked for: ${names.join(', ')})`,
    });
  }
  return new RepoError({
    code: 'THRESHOLD_NOT_MET',
    message:
      `not enough keys: ${short.map((u) => `${u.role} ${u.have} of ${u.need}`).join(', ')} signatures` +
      (suggestPartial
        ? `; add the other key dirs, or pass --partial to stage the change for \`tufup sign ${first.role}\` by the other key holders`
        : ''),
  });
}

/** Roles below threshold; a new root counts against the root it replaces too. */
export function shortfall(store: MetadataStore, roles: Array<RoleName | string>): UnsignedRole[] {
  const out: UnsignedRole[] = [];
  for (const role of roles) {
    if (!isRoleName(role)) {
      const count = store.signatureCount(role);
      if (count.valid.length < count.threshold)
        out.push({ role, have: count.valid.length, need: count.threshold });
      continue;
    }
    const have = validCount(store, role);
    const need = store.threshold(role);
    if (have < need) out.push({ role, have, need });
    const base = store.previousRoot;
    if (role === 'root' && base && base.signed.version === store.root.signed.version - 1 && have >= need) {
      const count = countSignatures(base.signed, 'root', store.root);
      if (count.valid.length < count.threshold)
        out.push({ role, have: count.valid.length, need: count.threshold });
    }
  }
  return out;
}

/** Sign `roles` with every key of theirs found in the key dirs; returns the roles still short of threshold. */
export async function signRoles(
  state: RepoState,
  store: MetadataStore,
  roles: Array<RoleName | string>,
  keyDirs: string[],
  extraNames: string[],
): Promise<UnsignedRole[]> {
  const signers = await findSigners(state, keyDirs, needs(store, roles), extraNames);
  for (const role of roles) {
    const keys = store
      .signingKeyIds(role)
      .map((id) => signers.get(id))
      .filter((k): k is PrivateKey => k !== undefined);
    if (keys.length) store.sign(role, keys);
  }
  return shortfall(store, roles);
}

/** The public key of key `name`: its .pub in keys_dir or beside the private key, else the private key itself. */
export async function publicKeyByName(state: RepoState, name: string, keyDirs: string[]): Promise<PublicKey> {
  const candidates = [join(state.config.keysDir, `${name}.pub`)];
  const priv = await findPrivateKeyFile(name, keyDirs);
  if (priv) candidates.push(`${priv}.pub`);
  for (const p of candidates) if (await pathExists(p)) return loadPublicKeyFile(p);
  if (priv) return (await loadPrivateKey(state, priv, name)).publicKey();
  throw new RepoError({
    code: 'KEY_NOT_FOUND',
    message: `no key named ${name}: neither ${candidates[0]} nor a key file in the key directories (create it with -c)`,
  });
}
