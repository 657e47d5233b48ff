// `tufup migrate consistent-snapshot`: an existing repository (python tufup's flat layout) to TUF consistent
// snapshots, as one change: root bumped with `consistent_snapshot: true` and signed by the root keys, every target
// file renamed to `<sha256>.<name>` after its bytes are checked, targets/snapshot/timestamp bumped and re-signed.
import { copyFile, link, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode, hashFile, sameDigest } from '@tufup/common';
import { targetFilePath } from '@tufup/metadata';
import { RepoError } from '../errors.js';
import { runChange } from './change.js';
import type { RepoState } from './state.js';
import { findTargetFile } from './target-files.js';
import type { MigrateOptions, PublishResult } from './types.js';

/**
 * Clients that trust the old root walk to the new root first (every refresh starts with the root walk), and from
 * then on read `N.snapshot.json`, `N.targets.json` and `<sha256>.<name>`. The plain-named target files are removed
 * (one copy per target; a remote keeps its old objects for `tufup publish --prune`'s grace period).
 */
export async function migrateToConsistentSnapshot(
  state: RepoState,
  opts: MigrateOptions,
): Promise<PublishResult & { renamed: number }> {
  let renamed = 0;
  const result = await runChange(state, {
    command: 'migrate consistent-snapshot',
    summary: 'migrate consistent-snapshot',
    keyDirs: opts.keyDirs,
    partial: Boolean(opts.partial),
    roles: ['root'],
    prepare: (store) => {
      if (store.root.signed.consistentSnapshot) {
        throw new RepoError({
          code: 'ALREADY_MIGRATED',
          message: `${state.repoDir} uses consistent snapshots already`,
        });
      }
    },
    apply: async (store, publication) => {
      store.setConsistentSnapshot(true);
      for (const name of store.targetPaths()) {
        const signed = store.getTarget(name)!;
        const sha256 = signed.hashes.sha256;
        if (!sha256) {
          throw new RepoError({
            code: 'METADATA_CORRUPT',
            message: `${name} has no sha256 in targets.json: cannot name its file`,
          });
        }
        const source = await findTargetFile(state.targetsDir, name, sha256, false);
        if (source === undefined) {
          throw new RepoError({
            code: 'TARGET_FILE_MISSING',
            message: `${name} is in targets.json but not in ${state.targetsDir}: restore it before migrating`,
          });
        }
        const onDisk = await hashFile(source, state.signalOpts());
        if (onDisk.size !== signed.length || !sameDigest(onDisk.sha256, sha256)) {
          throw new RepoError({
            code: 'METADATA_CORRUPT',
            message: `${source} does not match its length/sha256 in targets.json: refusing to publish it under its hash`,
          });
        }
        const file = `targets/${targetFilePath(name, sha256, true)}`;
        const staged = publication.stagedPath(file);
        await mkdir(dirname(staged), { recursive: true });
        // The staging dir is on the repository's volume: a hard link costs no bytes; copy where links fail.
        await link(source, staged).catch(async (err: unknown) => {
          if (!['EPERM', 'EXDEV', 'ENOTSUP', 'EMLINK'].includes(errnoCode(err) ?? '')) throw err;
          await copyFile(source, staged);
        });
        publication.add(file);
        publication.delete(`targets/${targetFilePath(name, sha256, false)}`);
        renamed++;
      }
    },
  });
  return { ...result, renamed };
}
