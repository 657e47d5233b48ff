// The swap journal and the state dir lock: what an interrupted install left behind, and who may act on it.
import { randomBytes } from 'node:crypto';
import { link, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fsyncDir, writeFileAtomic } from '@tufup/common';
import { errnoCode, InstallerMacError } from './errors.js';
import { isInsideOrSame } from './paths.js';
import { isProcessAlive } from './process.js';

/**
 * - `preparing`: dstDir is untouched; preserved paths are being copied into srcDir. Recovery rolls back.
 * - `swapping`: srcDir is complete. dstDir may already be the backup and srcDir may already be dstDir; recovery
 *   looks at which of them exist to tell how far the two renames got.
 * - `swapped`: dstDir is the new version; only the backup (maybe half-deleted) remains to be removed.
 */
export type JournalPhase = 'preparing' | 'swapping' | 'swapped';

export interface Journal {
  kind: 'tufup-installer-mac-journal';
  formatVersion: 1;
  id: string;
  phase: JournalPhase;
  appName: string;
  version: string;
  dstDir: string;
  srcDir: string;
  backupDir: string;
  startedAt: string;
}

export function journalPath(stateDir: string): string {
  return join(stateDir, 'journal.json');
}

function lockPath(stateDir: string): string {
  return join(stateDir, 'lock');
}

export function newJournal(
  stateDir: string,
  fields: Pick<Journal, 'appName' | 'version' | 'dstDir' | 'srcDir'>,
): Journal {
  const id = randomBytes(6).toString('hex');
  return {
    kind: 'tufup-installer-mac-journal',
    formatVersion: 1,
    id,
    phase: 'preparing',
    ...fields,
    backupDir: join(stateDir, `backup-${id}`),
    startedAt: new Date().toISOString(),
  };
}

/** Writes the journal atomically and durably (temp file, fsync, rename, fsync of the state dir). */
export async function writeJournal(stateDir: string, journal: Journal): Promise<void> {
  await writeFileAtomic(journalPath(stateDir), `${JSON.stringify(journal, null, 1)}\n`, { mode: 0o644 });
}

/**
 * Removes what a killed writer can leave in the state dir: temp files of an unfinished atomic journal write and
 * stale locks moved aside. Only the caller holding the lock may call this.
 */
export async function removeStateLeftovers(stateDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    if (
      /^\.journal\.json\.[0-9a-f]+\.tmp$/.test(name) ||
      /^lock\.stale-[0-9a-f]+$/.test(name) ||
      /^lock\.[0-9a-f]+\.tmp$/.test(name)
    ) {
      await rm(join(stateDir, name), { force: true });
    }
  }
}

/** Whether the state dir holds anything recovery must look at (a journal, or leftovers of a killed writer). */
export async function stateNeedsAttention(stateDir: string): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  return names.some(
    (n) => n === 'journal.json' || n === 'lock' || n.endsWith('.tmp') || n.startsWith('lock.stale-'),
  );
}

export async function removeJournal(stateDir: string): Promise<void> {
  await rm(journalPath(stateDir), { force: true });
  await fsyncDir(stateDir);
}

const PHASES: readonly string[] = ['preparing', 'swapping', 'swapped'];

/**
 * Reads and checks the journal, or undefined when there is none. It is data from disk, so before recovery acts
 * on it: the backup must be a `backup-*` entry directly in the state dir (the only thing recovery deletes
 * wholesale besides srcDir), and srcDir must not overlap dstDir or the state dir.
 */
export async function readJournal(stateDir: string): Promise<Journal | undefined> {
  let text: string;
  try {
    text = await readFile(journalPath(stateDir), 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new InstallerMacError({
      code: 'JOURNAL_INVALID',
      message: 'cannot read the install journal',
      cause: err,
    });
  }
  let j: Partial<Journal>;
  try {
    j = JSON.parse(text) as Partial<Journal>;
  } catch (err) {
    throw new InstallerMacError({
      code: 'JOURNAL_INVALID',
      message: 'the install journal is not JSON',
      cause: err,
    });
  }
  const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && !v.includes('\0');
  const ok =
    j !== null &&
    typeof j === 'object' &&
    j.kind === 'tufup-installer-mac-journal' &&
    j.formatVersion === 1 &&
    str(j.id) &&
    /^[0-9a-f]{12}$/.test(j.id) &&
    str(j.phase) &&
    PHASES.includes(j.phase) &&
    str(j.appName) &&
    typeof j.version === 'string' &&
    str(j.dstDir) &&
    str(j.srcDir) &&
    str(j.backupDir) &&
    resolve(j.backupDir) === join(resolve(stateDir), `backup-${j.id}`) &&
    resolve(j.dstDir) === j.dstDir &&
    resolve(j.srcDir) === j.srcDir &&
    !isInsideOrSame(j.srcDir, j.dstDir) &&
    !isInsideOrSame(j.dstDir, j.srcDir) &&
    !isInsideOrSame(j.srcDir, stateDir) &&
    !isInsideOrSame(stateDir, j.srcDir) &&
    dirname(j.dstDir) !== j.dstDir &&
    basename(j.srcDir) !== '';
  if (!ok) {
    throw new InstallerMacError({
      code: 'JOURNAL_INVALID',
      message: `the install journal in ${stateDir} is malformed or names paths it must not; refusing to act on it`,
    });
  }
  return j as Journal;
}

export interface StateLock {
  release(): Promise<void>;
}

interface LockContent {
  pid: number;
  token: string;
  at: number;
}

/** A lock older than this is stale even if its pid is alive again (pid reuse); no swap step takes this long. */
const STALE_LOCK_MS = 30 * 60_000;

/**
 * Takes the state dir's lock (an O_EXCL file holding our pid). A lock whose process is gone is taken over.
 * Returns undefined when a live process holds it.
 */
export async function acquireLock(stateDir: string): Promise<StateLock | undefined> {
  const path = lockPath(stateDir);
  const mine: LockContent = { pid: process.pid, token: randomBytes(8).toString('hex'), at: Date.now() };
  // The content is written to a private temp file first and hard-linked into place: link() creates the lock
  // atomically with its full content, so a writer killed half-way never leaves a torn lock behind.
  const tmp = `${path}.${mine.token}.tmp`;
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(JSON.stringify(mine));
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await createFrom(tmp, path, JSON.stringify(mine));
        return {
          release: async () => {
            const held = await readLock(path);
            if (held !== 'missing' && held?.token === mine.token) await rm(path, { force: true });
          },
        };
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      if (!(await takeOverIfStale(path, mine.token))) return undefined;
    }
    return undefined;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Removes the lock at `path` if its holder is gone; false when a live process holds it. */
async function takeOverIfStale(path: string, token: string): Promise<boolean> {
  const held = await readLock(path);
  if (held === 'missing') return true;
  if (held === undefined) {
    // Torn content only comes from the no-hard-link fallback, whose writer may be writing right now.
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age < 2_000) return false;
  } else if (isProcessAlive(held.pid) && Date.now() - held.at < STALE_LOCK_MS) {
    return false;
  }
  // Move the stale lock aside (atomic: of two takers only one succeeds) and try again.
  await rename(path, `${path}.stale-${token}`).then(
    () => rm(`${path}.stale-${token}`, { force: true }),
    (err) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    },
  );
  return true;
}

/** Creates `path` with the content of `tmp`, failing with EEXIST if it exists. */
async function createFrom(tmp: string, path: string, content: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw err;
    // File systems without hard links (FAT, exFAT): exclusive create, then write.
    const fh = await open(path, 'wx', 0o644);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

async function readLock(path: string): Promise<LockContent | undefined | 'missing'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'missing';
    throw err;
  }
  try {
    const v = JSON.parse(text) as LockContent;
    return Number.isInteger(v.pid) && typeof v.token === 'string' && typeof v.at === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}
