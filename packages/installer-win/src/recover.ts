// recover(): run at app start-up; finishes or rolls back a swap the script could not complete, from the journal.
import { appendFileSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { readFile, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  defaultLogFile,
  defaultStateDir,
  errnoCode,
  isInsideOrSame,
  isNotFound,
  type Logger,
  pathExists,
  readdirOrEmpty,
  silentLogger,
} from '@tufup/common';
import { InstallerWinError } from './errors.js';
import { parseRequestFile } from './request-file.js';

export interface RecoverOptions {
  /** The state dir given to the installer, if not the default (`.<name>.tufup` beside dstDir). */
  stateDir?: string;
  /** Where to log what recovery did (default: the log named in the journal); false: no log file. */
  logFile?: string | false;
  logger?: Logger;
}

export type RecoverOutcome = 'clean' | 'completed' | 'rolled-back' | 'busy';

export interface RecoverResult {
  /**
   * clean: nothing was interrupted. completed: the new version was (or already was) in place; leftovers removed.
   * rolled-back: the old version is in place and the staged one was deleted. busy: an install script is running.
   */
  outcome: RecoverOutcome;
  /** The version the interrupted install was installing. */
  version?: string;
  /** Old versions that could not be deleted yet (files still locked); a later recover() tries again. */
  leftovers?: string[];
}

/** Appends one line to the (UTF-16LE, like the script's) install log; a log that cannot be written is not fatal. */
function fileLogger(path: string | undefined, inner: Logger): Logger {
  const write = (level: string, message: string) => {
    if (!path) return;
    try {
      mkdirSync(dirname(path), { recursive: true });
      let size = 0;
      try {
        size = statSync(path).size;
      } catch {
        size = 0;
      }
      const line = `${new Date().toISOString()} [recover] ${level === 'info' ? '' : `${level}: `}${message}\r\n`;
      appendFileSync(path, Buffer.from(size === 0 ? `\ufeff${line}` : line, 'utf16le'));
    } catch (err) {
      inner.warn(`cannot write the install log ${path}: ${(err as Error).message}`);
    }
  };
  return {
    debug: (m) => inner.debug(m),
    info: (m) => {
      inner.info(m);
      write('info', m);
    },
    warn: (m) => {
      inner.warn(m);
      write('warning', m);
    },
    error: (m) => {
      inner.error(m);
      write('error', m);
    },
  };
}

async function removeLeftovers(stateDir: string, log: Logger): Promise<string[]> {
  const left: string[] = [];
  for (const name of await readdirOrEmpty(stateDir)) {
    if (!name.startsWith('old-') && name !== 'journal.txt.tmp') continue;
    const p = join(stateDir, name);
    try {
      await rm(p, { recursive: true, force: true, maxRetries: 2 });
      log.info(`removed the leftover ${JSON.stringify(p)}`);
    } catch (err) {
      left.push(p);
      log.warn(`cannot remove ${JSON.stringify(p)} yet: ${(err as Error).message}`);
    }
  }
  return left;
}

// libuv's UV_FS_O_EXLOCK: share mode 0 on Windows (ignored elsewhere, where recover() only runs in tests).
const UV_FS_O_EXLOCK = 0x10000000;

/** An exclusive lock on `stateDir/recover.lock` so two app instances never recover at once; undefined: taken. */
function lockRecovery(stateDir: string): number | undefined {
  try {
    const exlock = process.platform === 'win32' ? UV_FS_O_EXLOCK : 0;
    return openSync(join(stateDir, 'recover.lock'), constants.O_RDWR | constants.O_CREAT | exlock);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EBUSY' || code === 'EPERM' || code === 'EACCES') return undefined;
    throw err;
  }
}

/**
 * Call at app start-up (cheap when there is nothing to do: one stat). If an install was interrupted (killed,
 * power cut), finishes it when the new version is complete, or restores the old one, so dstDir is exactly one
 * of the two trees. Returns `busy` while an install script works on it.
 */
export async function recover(dstDir: string, opts: RecoverOptions = {}): Promise<RecoverResult> {
  const dst = resolve(dstDir);
  const stateDir = resolve(opts.stateDir ?? defaultStateDir(dst));
  const base = opts.logger ?? silentLogger;
  if (!(await pathExists(stateDir))) return { outcome: 'clean' };
  const lock = lockRecovery(stateDir);
  if (lock === undefined) return { outcome: 'busy' };
  try {
    return await recoverLocked(dst, stateDir, opts, base);
  } finally {
    closeSync(lock);
  }
}

async function recoverLocked(
  dst: string,
  stateDir: string,
  opts: RecoverOptions,
  base: Logger,
): Promise<RecoverResult> {
  const journalFile = join(stateDir, 'journal.txt');
  const hasJournal = await pathExists(journalFile);

  // A live script keeps the guard dir as its current directory, and Windows will not delete such a dir.
  const guard = join(stateDir, 'running');
  try {
    await rmdir(guard);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EBUSY') return { outcome: 'busy' };
    if (code === 'ENOTEMPTY') await rm(guard, { recursive: true, force: true });
    else if (!isNotFound(err)) {
      if (!hasJournal) return { outcome: 'clean' };
      throw new InstallerWinError({
        code: 'RECOVERY_FAILED',
        message: `cannot take over ${JSON.stringify(stateDir)} (${code}); an administrator must start the app once`,
        cause: err,
      });
    }
  }

  if (!hasJournal) {
    const leftovers = await removeLeftovers(stateDir, base);
    return leftovers.length ? { outcome: 'clean', leftovers } : { outcome: 'clean' };
  }

  let text: string;
  try {
    text = await readFile(journalFile, 'ascii');
  } catch (err) {
    throw new InstallerWinError({
      code: 'JOURNAL_INVALID',
      message: `cannot read ${journalFile}`,
      cause: err,
    });
  }
  const j = parseRequestFile(text);
  const jDst = j.get('dstDir');
  const src = j.get('srcDir');
  const backup = j.get('backupDir');
  const version = j.get('version');
  if (j.get('format') !== '1' || !jDst || !src || !backup) {
    throw new InstallerWinError({ code: 'JOURNAL_INVALID', message: `${journalFile} is incomplete` });
  }
  if (!isInsideOrSame(jDst, dst) || !isInsideOrSame(dst, jDst)) {
    throw new InstallerWinError({
      code: 'JOURNAL_MISMATCH',
      message: `${journalFile} belongs to ${JSON.stringify(jDst)}, not ${JSON.stringify(dst)}`,
    });
  }
  // Never act on paths the journal should not name: the backup is ours, the staged dir is outside dstDir.
  if (dirname(resolve(backup)) !== stateDir || !basename(backup).startsWith('old-')) {
    throw new InstallerWinError({
      code: 'JOURNAL_INVALID',
      message: `unexpected backup path ${JSON.stringify(backup)}`,
    });
  }
  if (isInsideOrSame(src, dst) || isInsideOrSame(dst, src) || isInsideOrSame(stateDir, src)) {
    throw new InstallerWinError({
      code: 'JOURNAL_INVALID',
      message: `unexpected staged path ${JSON.stringify(src)}`,
    });
  }
  const logPath =
    opts.logFile === false ? undefined : (opts.logFile ?? j.get('logFile') ?? defaultLogFile(dst));
  const log = fileLogger(logPath, base);
  const phase = j.phases.at(-1) ?? 'none';
  const [hasDst, hasBackup, hasSrc] = await Promise.all([
    pathExists(dst),
    pathExists(backup),
    pathExists(src),
  ]);
  log.info(
    `recovering an interrupted install of ${version} (last phase ${phase}; install dir ${hasDst ? 'present' : 'missing'}, ` +
      `backup ${hasBackup ? 'present' : 'missing'}, staged ${hasSrc ? 'present' : 'missing'})`,
  );

  const finish = async (outcome: 'completed' | 'rolled-back'): Promise<RecoverResult> => {
    if (outcome === 'rolled-back' && (await pathExists(src))) {
      await rm(src, { recursive: true, force: true, maxRetries: 2 }).catch((err) =>
        log.warn(`cannot remove the staged version ${JSON.stringify(src)}: ${(err as Error).message}`),
      );
    }
    await rm(journalFile, { force: true });
    const leftovers = await removeLeftovers(stateDir, log);
    log.info(outcome === 'completed' ? `version ${version} is installed` : 'the old version is in place');
    return { outcome, ...(version ? { version } : {}), ...(leftovers.length ? { leftovers } : {}) };
  };
  const move = async (from: string, to: string, what: string) => {
    try {
      await rename(from, to);
      log.info(`${what}: ${JSON.stringify(from)} -> ${JSON.stringify(to)}`);
    } catch (err) {
      throw new InstallerWinError({
        code: 'RECOVERY_FAILED',
        message: `${what} failed (${JSON.stringify(from)} -> ${JSON.stringify(to)}); nothing else was changed`,
        cause: err,
      });
    }
  };

  // The new tree is complete once the journal says "swapping" (preserved paths were copied into it before).
  if (phase === 'swapped' || phase === 'done') return finish('completed');
  if (phase === 'rolled-back') {
    if (!hasDst && hasBackup) await move(backup, dst, 'put the old version back');
    return finish('rolled-back');
  }
  if (hasDst && !hasBackup) return finish('rolled-back'); // Killed before the first rename: untouched.
  if (hasDst && hasBackup) return finish('completed'); // Killed after the second rename.
  if (!hasDst && phase === 'swapping' && hasSrc) {
    await move(src, dst, 'move the new version in');
    return finish('completed');
  }
  if (!hasDst && hasBackup) {
    await move(backup, dst, 'put the old version back');
    return finish('rolled-back');
  }
  throw new InstallerWinError({
    code: 'RECOVERY_FAILED',
    message: `neither the install dir nor its backup exists (${JSON.stringify(dst)}); nothing was changed`,
  });
}
