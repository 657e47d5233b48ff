// Lock files: one process at a time holds a named lock; a lock left by a dead process is taken over.
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { errnoCode } from './errors.js';
import { isNotFound } from './paths.js';

/** What a lock file says about the process holding it. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  /** What the holder is doing, for messages (e.g. `targets add`). */
  command: string;
  token: string;
}

/** A held lock. `release()` removes the file only while it is still ours; calling it twice is fine. */
export interface LockFile {
  readonly path: string;
  /** True when a lock left by a dead process was taken over (its work may need recovery). */
  readonly tookOverStale: boolean;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Shown to whoever finds the lock held. */
  command?: string;
  /**
   * A lock older than this is stale even if its pid is alive (pid reuse), and also when it names another host
   * (whose pids cannot be checked). Default: never by age.
   */
  staleAfterMs?: number;
}

export type LockAttempt = { held: false; lock: LockFile } | { held: true; holder: LockHolder | undefined };

// A torn lock (only possible on file systems without hard links) may be a writer mid-write; give it this long.
const TORN_GRACE_MS = 2_000;

/**
 * Tries to take the lock file at `path`. The holder's record is written to a private temp file and hard-linked
 * into place, so the lock appears atomically with its whole content and a writer killed half-way leaves no torn
 * lock (file systems without hard links fall back to an exclusive create, then a write). A lock whose holder
 * is gone (same host and its pid dead, older than `staleAfterMs` on any host, or torn and older than 2 s) is
 * taken over; without `staleAfterMs`, a lock from another host can't be checked and stays held.
 */
export async function tryLockFile(path: string, opts: LockOptions = {}): Promise<LockAttempt> {
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: opts.command ?? '',
    token: randomBytes(8).toString('hex'),
  };
  const content = JSON.stringify(me);
  const tmp = `${path}.${me.token}.tmp`;
  await writeDurably(tmp, content);
  let tookOverStale = false;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await createFrom(tmp, path, content);
        return { held: false, lock: heldLock(path, me.token, tookOverStale) };
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      const found = await readLock(path);
      if (found === undefined) continue; // released meanwhile
      if (!(await isStale(path, found.holder, me, opts))) return { held: true, holder: found.holder };
      if (await moveAsideIfUnchanged(path, found.text, me.token)) tookOverStale = true;
    }
    const found = await readLock(path);
    return { held: true, holder: found?.holder };
  } finally {
    await rm(tmp, { force: true });
  }
}

/** One line naming a holder, for "locked by ..." messages. */
export function describeLockHolder(holder: LockHolder | undefined): string {
  if (holder === undefined) return 'a process that is still writing the lock';
  const what = holder.command ? `${holder.command} ` : '';
  return `${what}(pid ${holder.pid} on ${holder.host}, since ${holder.started})`;
}

function heldLock(path: string, token: string, tookOverStale: boolean): LockFile {
  let released = false;
  return {
    path,
    tookOverStale,
    async release() {
      if (released) return;
      released = true;
      const found = await readLock(path);
      if (found?.holder?.token === token) await rm(path, { force: true });
    },
  };
}

async function writeDurably(path: string, content: string): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates `path` with `tmp`'s content, failing with EEXIST when it exists. */
async function createFrom(tmp: string, path: string, content: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw err;
    await writeDurably(path, content); // FAT/exFAT: no hard links
  }
}

async function readLock(path: string): Promise<{ text: string; holder: LockHolder | undefined } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  return { text, holder: parseHolder(text) };
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    const ok =
      Number.isInteger(v.pid) &&
      typeof v.host === 'string' &&
      typeof v.started === 'string' &&
      typeof v.command === 'string' &&
      typeof v.token === 'string';
    return ok ? (v as LockHolder) : undefined;
  } catch {
    return undefined;
  }
}

async function isStale(
  path: string,
  holder: LockHolder | undefined,
  me: LockHolder,
  opts: LockOptions,
): Promise<boolean> {
  if (holder === undefined) {
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    return age >= TORN_GRACE_MS;
  }
  // Another host's pid cannot be checked (and a machine's own name can change: a recreated container, a Mac
  // on another network), so only the age says whether its lock is stale.
  if (holder.host === me.host && !isProcessAlive(holder.pid)) return true;
  const started = Date.parse(holder.started);
  return (
    opts.staleAfterMs !== undefined && Number.isFinite(started) && Date.now() - started > opts.staleAfterMs
  );
}

/** Whether a process with this pid exists (EPERM: it does, but belongs to another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * Moves the stale lock aside (rename is atomic: of two takers only one succeeds), then checks that what moved is
 * the lock judged stale and not a fresh one taken meanwhile; a fresh one is put back.
 */
async function moveAsideIfUnchanged(path: string, judged: string, token: string): Promise<boolean> {
  const aside = `${path}.${token}.stale`;
  try {
    await rename(path, aside);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== judged) await link(aside, path).catch(() => {});
  await rm(aside, { force: true });
  return moved === judged;
}
