// Signing published metadata: re-signing a role with a new expiry, and multi-party co-signing (of the published
// role, or of a change parked until its thresholds are met).
import { copyFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  Publication,
  ROLE_NAMES,
  type RoleName,
  isRoleName,
  countSignatures,
  expiresIn,
  recoverInterrupted,
} from '@tufup/metadata';
import { RepoError } from '../errors.js';
import { lockRepository } from '../lock.js';
import { assertWritable, runChange, stageStore } from './change.js';
import { checkKeyDirs, findSigners, shortfall, validCount } from './signers.js';
import type { RepoState } from './state.js';
import type { PublishResult, SignOptions } from './types.js';

/**
 * With `expirationDays`: new expiry, version bump, re-sign, cascade. Without: add the given keys' signatures to
 * the role as it is (or to the change waiting for co-signers), publishing once every threshold is met.
 */
export async function sign(
  state: RepoState,
  opts: SignOptions,
): Promise<PublishResult & { added?: number; expires?: string }> {
  const role = opts.role;
  if (!isRoleName(role) && opts.expirationDays === undefined) {
    throw new RepoError({
      code: 'USAGE',
      message: `co-signing is for the top-level roles: re-sign delegated role ${role} with -e (its threshold met by the key dirs given)`,
    });
  }
  if (opts.expirationDays === undefined) return cosign(state, role as RoleName, opts.keyDirs);
  const days =
    opts.expirationDays !== 'default'
      ? opts.expirationDays
      : state.config.expirationDays[isRoleName(role) ? role : 'targets'];
  const now = state.now();
  const result = await runChange(state, {
    command: `sign ${opts.role} -e ${days}`,
    summary: `re-sign ${opts.role} for ${days} days`,
    keyDirs: opts.keyDirs,
    partial: Boolean(opts.partial),
    roles: [opts.role],
    force: [opts.role],
    expirationDays: { [opts.role]: days },
    apply: async () => {},
  });
  return { ...result, expires: expiresIn(days, now) };
}

/** Add signatures to the change waiting for co-signers, or else to the published role. */
async function cosign(
  state: RepoState,
  role: RoleName,
  keyDirsIn: string[],
): Promise<PublishResult & { added: number }> {
  const keyDirs = await checkKeyDirs(state, keyDirsIn);
  await assertWritable(state);
  const lock = await lockRepository(state.repoDir, `sign ${role}`);
  try {
    await recoverInterrupted(state.repoDir, state.logger);
    const parked = await Publication.loadParked(state.repoDir);
    if (parked)
      return await cosignParked(state, role, keyDirs, parked.publication, parked.plan.summary ?? '');
    // Nothing waiting: add signatures to the published role (python tufup's threshold_sign).
    const store = await state.loadStore();
    const md = store.get(role);
    const before = new Set(countSignatures(store.root.signed, role, md).valid);
    const signers = await findSigners(
      state,
      keyDirs,
      [{ ids: store.signingKeyIds(role), threshold: Number.POSITIVE_INFINITY }],
      [],
      { every: true },
    );
    if (signers.size === 0) {
      throw new RepoError({
        code: 'KEY_NOT_FOUND',
        message: `no key of ${role} (${state.config.keyMap[role].join(', ')}) is in the key directories given`,
      });
    }
    store.sign(
      role,
      [...signers.values()].filter((k) => !before.has(k.keyid)),
    );
    const added = validCount(store, role) - before.size;
    if (added <= 0) {
      // Exiting 0 here would let a cron job that forgot -e "succeed" while the role runs out.
      throw new RepoError({
        code: 'NOTHING_TO_SIGN',
        message: `${role} is already signed by every key of it given: nothing changed (to refresh its expiry, add -e: tufup sign ${role} -e <key_dirs...>)`,
      });
    }
    const publication = await Publication.begin(state.repoDir, `sign ${role}`);
    try {
      await stageStore(state, store, publication);
      await publication.commit();
    } catch (err) {
      await publication.discard();
      throw err;
    }
    return { published: [{ role, version: md.signed.version }], added };
  } finally {
    await lock.release();
  }
}

/** Sign `role` of the parked change; commit it once every staged role meets its threshold. */
async function cosignParked(
  state: RepoState,
  role: RoleName,
  keyDirs: string[],
  publication: Publication,
  summary: string,
): Promise<PublishResult & { added: number }> {
  const viewDir = join(publication.dir, 'view');
  const store = await state.loadStore(viewDir);
  const staged = ROLE_NAMES.filter((r) =>
    publication.has(`metadata/${r === 'root' ? `${store.root.signed.version}.root` : r}.json`),
  );
  if (!staged.includes(role)) {
    throw new RepoError({
      code: 'NOTHING_TO_SIGN',
      message: `the pending change (${summary}) does not change ${role}; it changes ${staged.join(', ')}`,
    });
  }
  const signers = await findSigners(
    state,
    keyDirs,
    [{ ids: store.signingKeyIds(role), threshold: Number.POSITIVE_INFINITY }],
    [],
    { every: true },
  );
  if (signers.size === 0)
    throw new RepoError({
      code: 'KEY_NOT_FOUND',
      message: `no key of ${role} is in the key directories given`,
    });
  const md = store.get(role);
  const had = new Set(Object.keys(md.signatures));
  const fresh = [...signers.values()].filter((k) => !had.has(k.keyid));
  if (fresh.length === 0) {
    throw new RepoError({
      code: 'NOTHING_TO_SIGN',
      message: `${role} in the pending change is already signed by these keys`,
    });
  }
  store.sign(role, fresh);
  for (const file of await stageStore(state, store, publication)) {
    await copyFile(publication.stagedPath(file), join(viewDir, basename(file)));
  }
  const short = shortfall(store, staged);
  if (short.length) {
    await publication.park(short, summary);
    return { published: [], parked: { unsignedRoles: short }, added: fresh.length };
  }
  await publication.commit();
  return {
    published: staged.map((r) => ({ role: r, version: store.get(r).signed.version })),
    added: fresh.length,
  };
}
