// The writer lock of a repository (common's lock file): one `tufup` process changes a repository at a time.
import { join } from 'node:path';
import { type LockFile, describeLockHolder, tryLockFile } from '@tufup/common';
import { RepoError } from './errors.js';

export const LOCK_FILENAME = '.tufup.lock';

/**
 * Takes the lock in `repoDir`, or fails with REPO_LOCKED naming the holder. A lock left by a dead process on this
 * host is taken over; one from another host can't be checked, so it is reported with how to remove it.
 */
export async function lockRepository(repoDir: string, command: string): Promise<LockFile> {
  const path = join(repoDir, LOCK_FILENAME);
  let attempt: Awaited<ReturnType<typeof tryLockFile>>;
  try {
    attempt = await tryLockFile(path, { command });
  } catch (cause) {
    throw new RepoError({ code: 'REPO_NOT_FOUND', message: `cannot lock ${repoDir}`, cause });
  }
  if (!attempt.held) return attempt.lock;
  throw new RepoError({
    code: 'REPO_LOCKED',
    message: `another tufup is changing this repository: ${describeLockHolder(attempt.holder)}; if it is gone, remove ${path}`,
  });
}
