// The swap journal and the state dir lock: what an interrupted install left behind, and who may act on it.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  fsyncDir,
  isInsideOrSame,
  type LockFile,
  readdirOrEmpty,
  readFileOrUndefined,
  tryLockFile,
  writeFileAtomic,
} from '@tufup/common';
import { InstallerMacError } from './errors.js';

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
  for (const name of await readdirOrEmpty(stateDir)) {
    if (
      /^\.journal\.json\.[0-9a-f]+\.tmp$/.test(name) ||
      /^lock\.[0-9a-f]+\.(tmp|stale)$/.test(name) ||
      /^lock\.stale-[0-9a-f]+$/.test(name) // left by versions before the common lock
    ) {
      await rm(join(stateDir, name), { force: true });
    }
  }
}

/** Whether the state dir holds anything recovery must look at (a journal, or leftovers of a killed writer). */
export async function stateNeedsAttention(stateDir: string): Promise<boolean> {
  return (await readdirOrEmpty(stateDir)).some(
    (n) =>
      n === 'journal.json' ||
      n === 'lock' ||
      n.endsWith('.tmp') ||
      n.endsWith('.stale') ||
      n.startsWith('lock.stale-'),
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
  let text: string | undefined;
  try {
    text = await readFileOrUndefined(journalPath(stateDir), 'utf8');
  } catch (err) {
    throw new InstallerMacError({
      code: 'JOURNAL_INVALID',
      message: 'cannot read the install journal',
      cause: err,
    });
  }
  if (text === undefined) return undefined;
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

/** A lock older than this is stale even if its pid is alive again (pid reuse); no swap step takes this long. */
const STALE_LOCK_MS = 30 * 60_000;

/**
 * Takes the state dir's lock (common's `tryLockFile`: the holder's record is linked into place, a lock whose
 * process is gone or that is older than 30 minutes is taken over). Undefined when a live process holds it.
 */
export async function acquireLock(stateDir: string): Promise<LockFile | undefined> {
  const attempt = await tryLockFile(lockPath(stateDir), {
    command: 'installer-mac swap',
    staleAfterMs: STALE_LOCK_MS,
  });
  return attempt.held ? undefined : attempt.lock;
}
