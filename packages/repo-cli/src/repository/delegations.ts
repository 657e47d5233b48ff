// Delegated signing: letting a targets role of its own (keys, threshold, path patterns) sign some releases, listing
// and removing such roles. Every target is then signed by the ONE role whose paths match it (see runChange).
import { resolve } from 'node:path';
import { type PublicKey, historyAfter, isHistoryRoleName } from '@tufup/metadata';
import { assertKeyName } from '../config.js';
import { RepoError } from '../errors.js';
import type { DelegationEntry } from '../reports.js';
import { runChange } from './change.js';
import { createKeyPair, deleteKeyPair } from './keys.js';
import { checkKeyDirs, publicKeyByName } from './signers.js';
import type { RepoState } from './state.js';
import type { AddDelegationOptions, PublishResult, RemoveDelegationOptions } from './types.js';

/**
 * Delegate the targets matching `paths` to role `role`, signed by the keys `keyNames` (`threshold` of them). The
 * top-level targets key signs the delegation; the new role's own keys sign its first (empty, or holding the
 * releases its paths already match) version, so they must be at hand: in the key dirs, in `keyDir`, or created
 * there with `createKeys`. Keys created for a change that fails are removed again.
 */
export async function addDelegation(
  state: RepoState,
  opts: AddDelegationOptions,
): Promise<PublishResult & { role: string; keyids: string[]; created: string[] }> {
  const names = opts.keyNames.map(assertKeyName);
  if (names.length === 0) {
    throw new RepoError({ code: 'USAGE', message: 'give the role at least one key (--key NAME)' });
  }
  const cwd = state.ctx.cwd ?? process.cwd();
  const keyDir = opts.keyDir !== undefined ? resolve(cwd, opts.keyDir) : undefined;
  const keyDirs = [...opts.keyDirs, ...(keyDir ? [keyDir] : [])];
  await checkKeyDirs(state, opts.keyDirs);
  const created: string[] = [];
  try {
    const keys: PublicKey[] = [];
    for (const name of names) {
      if (opts.createKeys) {
        await createKeyPair(state, name, {
          encrypted: Boolean(opts.encrypted),
          ...(keyDir ? { dir: keyDir } : {}),
        });
        created.push(name);
      }
      keys.push(await publicKeyByName(state, name, keyDirs));
    }
    const result = await runChange(state, {
      command: `delegate add ${opts.role}`,
      summary: `delegate ${opts.paths.join(' ')} to ${opts.role}`,
      keyDirs,
      partial: false,
      roles: ['targets'],
      extraKeyNames: names,
      apply: async (store) =>
        store.addDelegation({
          name: opts.role,
          keys,
          paths: opts.paths,
          ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
          ...(opts.historyAfter !== undefined ? { historyAfter: opts.historyAfter } : {}),
          ...(opts.terminating ? { terminating: true } : {}),
          now: state.now(),
        }),
    });
    return { ...result, role: opts.role, keyids: keys.map((k) => k.keyid), created };
  } catch (err) {
    for (const name of created) await deleteKeyPair(state, name, keyDir).catch(() => {});
    throw err;
  }
}

/** Stop delegating `role` (and its history role); its releases go back to the role that matches them now. */
export async function removeDelegation(
  state: RepoState,
  opts: RemoveDelegationOptions,
): Promise<PublishResult & { removed: string[] }> {
  let removed: string[] = [];
  const result = await runChange(state, {
    command: `delegate remove ${opts.role}`,
    summary: `stop delegating to ${opts.role}`,
    keyDirs: opts.keyDirs,
    partial: false,
    roles: ['targets'],
    apply: async (store) => {
      removed = store.removeDelegation(opts.role);
    },
  });
  return { ...result, removed };
}

/** The delegated roles in the order clients visit them, with what each may sign. */
export async function listDelegations(state: RepoState): Promise<DelegationEntry[]> {
  const store = await state.loadStore();
  return store.delegatedRoleNames().map((role) => {
    const d = store.delegationOf(role);
    const md = store.targetsRole(role);
    const k = d ? historyAfter(d.entry) : undefined;
    return {
      role,
      delegatedBy: d?.parent ?? 'targets',
      paths: [...(d?.entry.paths ?? [])],
      keyids: [...(d?.entry.keyIDs ?? [])],
      threshold: d?.entry.threshold ?? 1,
      terminating: d?.entry.terminating ?? false,
      history: isHistoryRoleName(role),
      ...(k !== undefined ? { historyAfter: k } : {}),
      version: md.signed.version,
      expires: md.signed.expires,
      targets: Object.keys(md.signed.targets).length,
    };
  });
}
