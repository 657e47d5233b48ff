// The writer lock of a repository: one `tufup` process changes a repository at a time.
import { hostname } from 'node:os';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RepoError } from './errors.js';

export const LOCK_FILENAME = '.tufup.lock';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
  token: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(path: string): Promise<{ text: string; info: LockInfo | undefined } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return { text, info: typeof info.pid === 'number' ? info : undefined };
  } catch {
    // A lock file cut short by a crash between create and write: treat its owner as unknown.
    return { text, info: undefined };
  }
}

/** A held lock. `release()` removes the file if it is still ours; safe to call twice. */
export class RepositoryLock {
  #released = false;
  constructor(
    readonly path: string,
    private readonly token: string,
    /** True when a crashed writer's lock was taken over (its leftovers may need recovery). */
    readonly tookOverStale: boolean,
  ) {}

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const current = await readLock(this.path);
    if (current?.info?.token === this.token) await unlink(this.path).catch(() => {});
  }
}

/**
 * Take the lock in `repoDir`, or fail with REPO_LOCKED naming the holder. A lock left by a dead process on this
 * host is taken over; one from another host can't be checked, so it is reported with how to remove it.
 */
export async function acquireLock(repoDir: string, command: string): Promise<RepositoryLock> {
  const path = join(repoDir, LOCK_FILENAME);
  const token = randomBytes(8).toString('hex');
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command,
    token,
  };
  let tookOverStale = false;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      try {
        await fh.writeFile(JSON.stringify(info));
        await fh.sync();
      } finally {
        await fh.close();
      }
      return new RepositoryLock(path, token, tookOverStale);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RepoError({ code: 'REPO_NOT_FOUND', message: `cannot lock ${repoDir}`, cause: err });
      }
    }
    const held = await readLock(path);
    if (!held) continue; // released meanwhile
    const owner = held.info;
    const stale = owner === undefined || (owner.host === info.host && !isAlive(owner.pid));
    if (!stale) {
      const who = `${owner.command} (pid ${owner.pid} on ${owner.host}, since ${owner.started})`;
      throw new RepoError({
        code: 'REPO_LOCKED',
        message: `another tufup is changing this repository: ${who}; if it is gone, remove ${path}`,
      });
    }
    // Move the stale lock aside, then check that what we moved is the one we judged stale (not a fresh lock
    // another process made meanwhile); if it isn't, put it back.
    const aside = `${path}.${token}.stale`;
    try {
      await rename(path, aside);
    } catch {
      continue;
    }
    const moved = await readFile(aside, 'utf8').catch(() => '');
    if (moved === held.text) {
      await unlink(aside).catch(() => {});
      tookOverStale = true;
    } else {
      await link(aside, path).catch(() => {});
      await unlink(aside).catch(() => {});
    }
  }
  throw new RepoError({ code: 'REPO_LOCKED', message: `could not take the lock ${path}` });
}
