// The change engine: every change to a repository as one locked, all-or-nothing step (lock, recover, load and
// check, apply, bump, sign, then commit, or park for co-signers).
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isNotFound, readFileOrUndefined, throwIfAborted, writeFileAtomic } from '@tufup/common';
import { type MetadataStore, type RoleName, isRoleName } from '@tufup/metadata';
import { type PerRole, type RepoConfig, saveConfig } from '../config.js';
import { RepoError } from '../errors.js';
import { lockRepository } from '../lock.js';
import { Publication, recoverInterrupted } from '@tufup/metadata';
import {
  type SignerNeed,
  checkKeyDirs,
  findSigners,
  signRoles,
  thresholdError,
  validCount,
} from './signers.js';
import type { RepoState } from './state.js';
import type { PublishResult, UnsignedRole } from './types.js';

/** One change to a repository: what it edits and how, in the steps runChange drives. */
export interface ChangeSpec {
  command: string;
  summary: string;
  keyDirs: string[];
  partial: boolean;
  /**
   * Roles the change edits; the cascade (root → targets → snapshot → timestamp, a delegated role → snapshot) is
   * added. With `targetPaths`, `targets` here stands for the targets roles those paths route to.
   */
  roles: Array<RoleName | string>;
  /**
   * The target paths the change adds, replaces or removes (known after `prepare`): each is signed by the ONE
   * targets role that lists it or whose delegation's paths match it (MetadataStore.roleForTarget), so a CI runner
   * holding only a delegated role's key (and the online snapshot and timestamp keys) can publish its releases.
   */
  targetPaths?: (store: MetadataStore) => string[];
  /** Roles to bump even when their content is unchanged (re-signing with a new expiry). */
  force?: Array<RoleName | string>;
  expirationDays?: Partial<PerRole<number>> & Record<string, number | undefined>;
  /** More key names to look for (old keys being replaced, keys being added). */
  extraKeyNames?: string[];
  /** Checks that need the current metadata; run before keys are loaded or anything is written. */
  prepare?: (store: MetadataStore) => Promise<void> | void;
  apply: (store: MetadataStore, publication: Publication) => Promise<void>;
  config?: (config: RepoConfig) => RepoConfig;
}

/** The roles a change to `roles` makes stale (python tufup's cascade). */
function cascade(roles: Iterable<RoleName | string>): Set<RoleName | string> {
  const out = new Set(roles);
  if (out.has('root')) out.add('targets');
  if (out.has('targets') || [...out].some((r) => !isRoleName(r))) out.add('snapshot');
  if (out.has('snapshot')) out.add('timestamp');
  return out;
}

/** Refuse to sign on top of metadata that isn't validly signed now (a tampered file must not get blessed). */
function assertTrusted(store: MetadataStore, roles: Iterable<RoleName | string>): void {
  for (const role of roles) {
    const valid = validCount(store, role);
    const need = store.threshold(role);
    if (valid < need) {
      throw new RepoError({
        code: 'METADATA_CORRUPT',
        message:
          `${role}.json has ${valid} valid signature${valid === 1 ? '' : 's'} of ${need} needed: refusing to build on it` +
          ` (if it waits for co-signers, run \`tufup sign ${role} <key_dirs...>\`; else restore it from a backup)`,
      });
    }
  }
  if (store.root.signed.consistentSnapshot) {
    throw new RepoError({
      code: 'METADATA_CORRUPT',
      message:
        'root.json sets consistent_snapshot: repositories with versioned metadata file names are not supported',
    });
  }
}

/**
 * Stage the store's changed roles into the publication (metadata's one writer). Thresholds are this module's
 * business (it parks a change short of signatures) and expiry is what the change sets, so neither stops staging.
 */
export async function stageStore(
  state: RepoState,
  store: MetadataStore,
  publication: Publication,
): Promise<string[]> {
  return store.stage(publication, { allowBelowThreshold: true, ignoreExpiry: true, now: state.now() });
}

/**
 * A parked change keeps a full metadata view beside its staged files, so co-signers can load it as a store
 * (with the root it replaces, for the rotation check).
 */
async function writeParkedView(state: RepoState, publication: Publication): Promise<void> {
  const view = join(publication.dir, 'view');
  await mkdir(view, { recursive: true });
  for (const name of await readdir(state.metadataDir)) {
    if (name.endsWith('.json')) await copyFile(join(state.metadataDir, name), join(view, name));
  }
  for (const file of publication.files) {
    if (file.startsWith('metadata/'))
      await copyFile(publication.stagedPath(file), join(view, file.slice('metadata/'.length)));
  }
}

/**
 * Refuse to change a repository whose directories were made read-only (no owner write bit). Root ignores
 * permissions, so a write-protected copy (a published mirror, a reference fixture) is only safe if we look.
 */
export async function assertWritable(state: RepoState): Promise<void> {
  for (const dir of [state.repoDir, state.metadataDir, state.targetsDir]) {
    const st = await stat(dir).catch((err: unknown) => {
      if (isNotFound(err)) return undefined; // created by the change
      throw err;
    });
    if (st && (st.mode & 0o200) === 0) {
      throw new RepoError({
        code: 'REPO_READ_ONLY',
        message: `${dir} is read-only: refusing to change the repository (make it writable, or work on a copy)`,
      });
    }
  }
}

/**
 * Run one change: lock, recover, load and check, prepare, check the keys at hand, apply (staging files), bump,
 * sign, then commit (or park, with --partial, when short of signatures). A failure leaves the repository as it was.
 */
export async function runChange(state: RepoState, spec: ChangeSpec): Promise<PublishResult> {
  const keyDirs = await checkKeyDirs(state, spec.keyDirs);
  await assertWritable(state);
  const lock = await lockRepository(state.repoDir, spec.command);
  let publication: Publication | undefined;
  const oldConfigText = await readFileOrUndefined(state.configPath);
  let configWritten = false;
  try {
    await recoverInterrupted(state.repoDir, state.logger);
    const parked = await Publication.loadParked(state.repoDir);
    if (parked) {
      throw new RepoError({
        code: 'REPO_PENDING',
        message: `a change waits for co-signers (${parked.plan.summary ?? parked.plan.command}): complete it with \`tufup sign <role> <key_dirs...>\`, or delete ${parked.publication.dir} to drop it`,
      });
    }
    const store = await state.loadStore();
    assertTrusted(store, cascade(spec.roles));
    await spec.prepare?.(store);
    let edited = spec.roles;
    if (spec.targetPaths && edited.includes('targets')) {
      const routed = new Set(spec.targetPaths(store).map((p) => store.roleForTarget(p)));
      edited = [...edited.filter((r) => r !== 'targets'), ...routed];
    }
    const roles = cascade(edited);
    assertTrusted(store, roles);

    // Fail before the expensive part (archiving) when the keys at hand cannot reach a threshold. The current
    // root's keys must sign a new root too, so root is checked against them here.
    const idsOf = (r: string) =>
      isRoleName(r) ? [...(store.root.signed.roles[r]?.keyIDs ?? [])] : store.signingKeyIds(r);
    const needsNow: SignerNeed[] = [...roles].map((r) => ({ ids: idsOf(r), threshold: store.threshold(r) }));
    const available = await findSigners(state, keyDirs, needsNow, spec.extraKeyNames ?? []);
    const early: UnsignedRole[] = [];
    for (const r of roles) {
      const have = idsOf(r).filter((id) => available.has(id)).length;
      const need = store.threshold(r);
      if (have < need) early.push({ role: r, have, need });
    }
    if (early.length && (!spec.partial || available.size === 0))
      throw thresholdError(state, early, !spec.partial);

    publication = await Publication.begin(state.repoDir, spec.command);
    await spec.apply(store, publication);
    throwIfAborted(state.ctx.signal);
    const bumped = store.bumpAll({
      now: state.now(),
      ...(spec.force ? { force: spec.force } : {}),
      ...(spec.expirationDays ? { expirationDays: spec.expirationDays } : {}),
    });
    const short = await signRoles(state, store, bumped, keyDirs, spec.extraKeyNames ?? []);
    if (short.length && !spec.partial) throw thresholdError(state, short, true);
    // Co-signing (`tufup sign ROLE`) is for top-level roles: a delegated role's threshold is met in one run.
    const delegatedShort = short.filter((u) => !isRoleName(u.role));
    if (delegatedShort.length) throw thresholdError(state, delegatedShort, false);
    await stageStore(state, store, publication);
    if (spec.config) {
      state.config = spec.config(state.config);
      await saveConfig(state.configPath, state.config);
      configWritten = true;
    }
    throwIfAborted(state.ctx.signal);
    if (short.length) {
      await writeParkedView(state, publication);
      await publication.park(short, spec.summary);
      publication = undefined;
      return { published: [], parked: { unsignedRoles: short } };
    }
    await publication.commit();
    publication = undefined;
    return {
      published: bumped.map((role) => ({
        role,
        version: (isRoleName(role) ? store.get(role) : store.targetsRole(role)).signed.version,
      })),
    };
  } catch (err) {
    if (configWritten && oldConfigText) await writeFileAtomic(state.configPath, oldConfigText);
    throw err;
  } finally {
    await publication?.discard();
    await lock.release();
  }
}
