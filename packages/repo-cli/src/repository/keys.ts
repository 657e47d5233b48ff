// Keys of the repository: creating key pairs, letting a key sign for a role, replacing a key everywhere it is used.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathExists } from '@tufup/common';
import { ROLE_NAMES, type RoleName, generateEd25519Key, writeKeyPair } from '@tufup/metadata';
import { assertKeyName } from '../config.js';
import { RepoError } from '../errors.js';
import { runChange } from './change.js';
import { checkKeyDirs, publicKeyByName } from './signers.js';
import type { RepoState } from './state.js';
import type { AddKeyOptions, PublishResult, ReplaceKeyOptions } from './types.js';

/**
 * Create key pair `name` in keys_dir, or in `dir` (a delegated role's key, kept apart from the repository's keys);
 * encrypted with a passphrase from the environment or a prompt.
 */
export async function createKeyPair(
  state: RepoState,
  name: string,
  opts: { encrypted?: boolean; dir?: string } = {},
): Promise<{ privatePath: string; publicPath: string; keyid: string }> {
  assertKeyName(name);
  const dir = opts.dir ?? state.config.keysDir;
  const privatePath = join(dir, name);
  if ((await pathExists(privatePath)) || (await pathExists(`${privatePath}.pub`))) {
    throw new RepoError({ code: 'KEY_EXISTS', message: `key ${name} exists in ${dir}` });
  }
  const passphrase = opts.encrypted ? await state.passphrases.forNewKey(name) : undefined;
  const key = generateEd25519Key();
  await mkdir(dir, { recursive: true });
  const paths = await writeKeyPair(dir, name, key, passphrase !== undefined ? { passphrase } : {});
  state.loadedKeys.set(key.keyid, key);
  return { ...paths, keyid: key.keyid };
}

/** Remove a key pair this process just created (when the step that was to use it failed). */
export async function deleteKeyPair(
  state: RepoState,
  name: string,
  dir = state.config.keysDir,
): Promise<void> {
  await rm(join(dir, name), { force: true });
  await rm(join(dir, `${name}.pub`), { force: true });
}

/** Let key `keyName` sign for `role` (python: `keys <name> add <role>`). */
export async function addKey(state: RepoState, opts: AddKeyOptions): Promise<PublishResult> {
  const name = assertKeyName(opts.keyName);
  const pub = await publicKeyByName(state, name, await checkKeyDirs(state, opts.keyDirs));
  return runChange(state, {
    command: `keys ${name} add ${opts.role}`,
    summary: `add key ${name} to ${opts.role}`,
    keyDirs: opts.keyDirs,
    partial: Boolean(opts.partial),
    roles: ['root'],
    extraKeyNames: [name],
    prepare: (store) => {
      if (store.root.signed.roles[opts.role]?.keyIDs.includes(pub.keyid)) {
        throw new RepoError({ code: 'KEY_EXISTS', message: `key ${name} already signs for ${opts.role}` });
      }
    },
    apply: async (store) => store.addKey(opts.role, pub),
    config: (c) => ({
      ...c,
      keyMap: { ...c.keyMap, [opts.role]: [...new Set([...c.keyMap[opts.role], name])] },
      encryptedKeys:
        opts.encrypted && !c.encryptedKeys.includes(name) ? [...c.encryptedKeys, name] : c.encryptedKeys,
    }),
  });
}

/**
 * Replace key `oldKeyName` by `newKeyName` in every role that uses it. The new root is signed by the old and the
 * new keys (so clients trusting the old root accept it), and the old key leaves root's `keys` once no role uses
 * it (python tufup leaves it there: its issue #181).
 */
export async function replaceKey(
  state: RepoState,
  opts: ReplaceKeyOptions,
): Promise<PublishResult & { roles: RoleName[]; removedFromRoot: boolean }> {
  const oldName = assertKeyName(opts.oldKeyName);
  const newName = assertKeyName(opts.newKeyName);
  const keyDirs = await checkKeyDirs(state, opts.keyDirs);
  const oldPub = await publicKeyByName(state, oldName, keyDirs);
  const newPub = await publicKeyByName(state, newName, keyDirs);
  if (oldPub.keyid === newPub.keyid) {
    throw new RepoError({
      code: 'INVALID_ARGUMENT',
      message: `${oldName} and ${newName} are the same key`,
    });
  }
  let roles: RoleName[] = [];
  let removedFromRoot = false;
  const result = await runChange(state, {
    command: `keys ${newName} replace ${oldName}`,
    summary: `replace key ${oldName} by ${newName}`,
    keyDirs: opts.keyDirs,
    partial: Boolean(opts.partial),
    roles: ['root'],
    extraKeyNames: [oldName, newName],
    prepare: (store) => {
      roles = ROLE_NAMES.filter((r) => store.root.signed.roles[r]?.keyIDs.includes(oldPub.keyid));
      if (roles.length === 0)
        throw new RepoError({ code: 'KEY_NOT_IN_ROLE', message: `key ${oldName} is not used by any role` });
    },
    apply: async (store) => {
      store.replaceKey(oldPub.keyid, newPub);
      removedFromRoot = !(oldPub.keyid in store.root.signed.keys);
    },
    config: (c) => {
      const keyMap = { ...c.keyMap };
      for (const role of roles) {
        keyMap[role] = [...new Set([...c.keyMap[role].map((n) => (n === oldName ? newName : n)), newName])];
      }
      return {
        ...c,
        keyMap,
        encryptedKeys:
          opts.encrypted && !c.encryptedKeys.includes(newName)
            ? [...c.encryptedKeys, newName]
            : c.encryptedKeys,
      };
    },
  });
  return { ...result, roles, removedFromRoot };
}
