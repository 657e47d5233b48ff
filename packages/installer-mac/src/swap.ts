// The journaled swap (old aside, new in, old deleted) and the recovery that finishes or undoes an interrupted one.
import { chmod, lstat, mkdir, realpath, rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fsyncDir, type Logger, lstatOrUndefined, pathExists, silentLogger, wrapError } from '@tufup/common';
import { InstallerMacError } from './errors.js';
import {
  acquireLock,
  type Journal,
  journalPath,
  newJournal,
  readJournal,
  removeJournal,
  removeStateLeftovers,
  stateNeedsAttention,
  writeJournal,
} from './journal.js';
import { LineLog, q, teeLogger } from './log.js';
import { clearQuarantine } from './macos.js';
import {
  checkPathLayout,
  checkSwapPaths,
  defaultLogFile,
  defaultStateDir,
  preserveSegments,
} from './paths.js';
import { copyEntry, flushTree, removeTree, removeTreeStepwise } from './tree.js';

/** Everything the swap itself needs (also what the elevated step receives). */
export interface SwapPlan {
  appName: string;
  version: string;
  srcDir: string;
  dstDir: string;
  stateDir: string;
  preserve: string[];
  platform: NodeJS.Platform;
  xattrCommand: string;
  /** Pause after every step: gives crash tests a wide window to kill the worker at each point. 0 in real use. */
  stepDelayMs: number;
}

export type RecoverOutcome = 'clean' | 'completed' | 'rolled-back' | 'busy';

export interface RecoverResult {
  /**
   * clean: nothing was interrupted. completed: the new version was (or already was) in place; leftovers removed.
   * rolled-back: the old version is in place and the staged one was deleted. busy: another installer is running.
   */
  outcome: RecoverOutcome;
  /** The version the interrupted install was installing. */
  version?: string;
}

/** `path` with its parent resolved through symlinks (e.g. /var → /private/var), the final name kept as is. */
export async function canonicalPath(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return join(await realpath(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

type Step = (name: string, signal?: AbortSignal) => Promise<void>;

function stepper(delayMs: number, log: Logger): Step {
  return async (name, signal) => {
    if (delayMs > 0) {
      log.debug(`step: ${name}`);
      await sleep(delayMs);
    }
    if (signal?.aborted) {
      throw new InstallerMacError({
        code: 'ABORTED',
        message: `stopped by a signal before the swap (${name})`,
      });
    }
  };
}

/** Makes the rename durable: the parent dirs of both ends are fsynced. */
async function syncParents(...paths: string[]): Promise<void> {
  for (const dir of new Set(paths.map((p) => dirname(p)))) await fsyncDir(dir);
}

/** Undo before the first rename: dstDir was never touched, so delete the (maybe half-preserved) staged tree. */
async function rollbackPrepared(stateDir: string, j: Journal, log: Logger): Promise<void> {
  try {
    await removeTree(j.srcDir);
    log.info(`deleted the staged version ${q(j.srcDir)}`);
  } catch (err) {
    log.warn(`could not delete the staged version ${q(j.srcDir)}: ${(err as Error).message}`);
  }
  await removeJournal(stateDir);
}

/** Final phase: delete the backup (one entry at a time), then the journal. A failure keeps the journal for later. */
async function removeBackup(stateDir: string, j: Journal, log: Logger, step: Step): Promise<boolean> {
  try {
    await removeTreeStepwise(j.backupDir, () => step('removed part of the backup'));
  } catch (err) {
    log.warn(
      `the new version is installed, but the old one at ${q(j.backupDir)} could not be deleted yet: ${(err as Error).message}`,
    );
    return false;
  }
  await fsyncDir(stateDir);
  await removeJournal(stateDir);
  log.info(`deleted the old version's backup`);
  return true;
}

/**
 * Copies one `preserve` entry from the old tree over the new one. The old copy wins; an entry the old version
 * lacks leaves the new bundle's copy alone. Missing parents are created with the old tree's modes.
 */
async function preserveEntry(plan: SwapPlan, entry: string, log: Logger): Promise<void> {
  const segments = preserveSegments(entry);
  const from = join(plan.dstDir, ...segments);
  if (!(await pathExists(from))) {
    log.info(`preserve ${q(entry)}: not in the old version, the new version's copy (if any) stays`);
    return;
  }
  let oldDir = plan.dstDir;
  let newDir = plan.srcDir;
  for (const seg of segments.slice(0, -1)) {
    oldDir = join(oldDir, seg);
    newDir = join(newDir, seg);
    const oldSt = await lstat(oldDir);
    const newSt = await lstatOrUndefined(newDir);
    // Checked again here, not only before: the trees could have changed since the app's checks.
    if (!oldSt.isDirectory() || (newSt !== undefined && !newSt.isDirectory())) {
      throw new InstallerMacError({
        code: 'PRESERVE_UNSAFE',
        message: `preserve path ${q(entry)} crosses a symlink or non-directory at ${q(seg)}`,
      });
    }
    if (newSt === undefined) await mkdir(newDir, { mode: oldSt.mode & 0o7777 });
  }
  const to = join(plan.srcDir, ...segments);
  await removeTree(to);
  await copyEntry(from, to, log);
  log.info(`preserved ${q(entry)}`);
}

/**
 * The swapped-in dir keeps the install dir's own mode (755 stays 755, a 750 install under /opt stays 750).
 * The staged dir has whatever mode its maker gave it (a mkdtemp-style staging dir is 700; an archive's root
 * carries the build machine's), but who may enter the install dir is the local administrator's decision,
 * not the release's.
 */
async function keepInstallDirMode(plan: SwapPlan, log: Logger): Promise<void> {
  const want = (await lstat(plan.dstDir)).mode & 0o7777;
  const had = (await lstat(plan.srcDir)).mode & 0o7777;
  if (want === had) return;
  await chmod(plan.srcDir, want);
  log.info(`gave the new version the install dir's mode ${want.toString(8)} (staged as ${had.toString(8)})`);
}

/**
 * Swaps plan.srcDir in as plan.dstDir, crash-safely:
 *   journal(preparing) → copy preserved paths into srcDir, clear quarantine, give srcDir dstDir's mode,
 *   fsync the staged tree → journal(swapping)
 *   → rename dstDir → backup → rename srcDir → dstDir → journal(swapped) → delete backup → delete journal.
 * Each rename is atomic and fsynced; after a crash at any point `recover()` restores exactly the old tree or
 * completes exactly the new one. Throws (having restored the old version) when the swap fails.
 */
export async function performSwap(plan: SwapPlan, log: Logger, signal?: AbortSignal): Promise<void> {
  checkPathLayout(plan);
  const step = stepper(plan.stepDelayMs, log);
  await mkdir(plan.stateDir, { recursive: true, mode: 0o755 });
  const lock = await acquireLock(plan.stateDir);
  if (!lock) {
    throw new InstallerMacError({
      code: 'INSTALL_BUSY',
      message: `another installer holds the lock in ${plan.stateDir}`,
    });
  }
  try {
    const previous = await settleJournal(plan.stateDir, plan.dstDir, log, step);
    if (previous.outcome !== 'clean') {
      log.info(`an earlier interrupted install of ${previous.version} was ${previous.outcome}`);
    }
    await checkSwapPaths(plan);
    await step('checked paths', signal);

    const journal = newJournal(plan.stateDir, {
      appName: plan.appName,
      version: plan.version,
      dstDir: plan.dstDir,
      srcDir: plan.srcDir,
    });
    await writeJournal(plan.stateDir, journal);
    log.info(`installing ${plan.appName} ${plan.version}: journal ${journal.id} written`);
    try {
      await step('journal written', signal);
      for (const entry of plan.preserve) {
        await preserveEntry(plan, entry, log);
        await step(`preserved ${entry}`, signal);
      }
      if (plan.platform === 'darwin') await clearQuarantine(plan.xattrCommand, plan.srcDir, log);
      await keepInstallDirMode(plan, log);
      const started = performance.now();
      const flushed = await flushTree(plan.srcDir, log);
      log.info(`${flushed} staged entries flushed to disk in ${Math.round(performance.now() - started)} ms`);
      await step('prepared', signal);
    } catch (err) {
      await rollbackPrepared(plan.stateDir, journal, log);
      throw wrapError(
        err,
        InstallerMacError,
        'SWAP_FAILED',
        'preparing the new version failed; the old version is untouched',
      );
    }

    journal.phase = 'swapping';
    await writeJournal(plan.stateDir, journal);
    await step('ready to swap');
    try {
      await rename(plan.dstDir, journal.backupDir);
    } catch (err) {
      await rollbackPrepared(plan.stateDir, journal, log);
      throw wrapError(err, InstallerMacError, 'SWAP_FAILED', `could not move the old version aside`);
    }
    await syncParents(plan.dstDir, journal.backupDir);
    log.info(`moved the old version aside`);
    await step('old version moved aside');
    try {
      await rename(plan.srcDir, plan.dstDir);
    } catch (err) {
      log.error(`could not move the new version into place: ${(err as Error).message}`);
      try {
        await rename(journal.backupDir, plan.dstDir);
        await syncParents(plan.dstDir, journal.backupDir);
      } catch (err2) {
        throw wrapError(
          err2,
          InstallerMacError,
          'RECOVERY_FAILED',
          'could not put the old version back; recover() will retry',
        );
      }
      log.info('put the old version back');
      await rollbackPrepared(plan.stateDir, journal, log);
      throw wrapError(
        err,
        InstallerMacError,
        'SWAP_FAILED',
        'could not move the new version into place; the old one is back',
      );
    }
    await syncParents(plan.dstDir, plan.srcDir);
    journal.phase = 'swapped';
    await writeJournal(plan.stateDir, journal);
    log.info(`${plan.appName} ${plan.version} is in place at ${q(plan.dstDir)}`);
    await step('new version in place');
    await removeBackup(plan.stateDir, journal, log, step);
  } finally {
    await lock.release();
  }
}

/**
 * Finishes or undoes what the journal in `stateDir` describes (the caller holds the lock). It decides by what
 * exists, because a crash can land between a rename and the next journal update:
 *   dstDir + backup            → both renames happened: delete the backup            (completed)
 *   dstDir, no backup          → first rename not done (or backup already deleted):   (rolled-back | completed)
 *   backup, no dstDir          → between the renames: move srcDir in, or the backup back
 *   neither, srcDir complete   → move srcDir in
 * It never moves an existing dstDir, so the app may call it at start-up while running from dstDir.
 */
export async function settleJournal(
  stateDir: string,
  dstDir: string,
  log: Logger,
  step: Step = stepper(0, log),
): Promise<RecoverResult> {
  await removeStateLeftovers(stateDir);
  const j = await readJournal(stateDir);
  if (!j) return { outcome: 'clean' };
  if (j.dstDir !== dstDir) {
    throw new InstallerMacError({
      code: 'JOURNAL_MISMATCH',
      message: `the journal in ${stateDir} belongs to ${q(j.dstDir)}, not ${q(dstDir)}`,
    });
  }
  const [dst, backup, src] = await Promise.all([
    pathExists(j.dstDir),
    pathExists(j.backupDir),
    pathExists(j.srcDir),
  ]);
  log.info(
    `recovering the interrupted install of ${j.appName} ${j.version} (journal ${j.id}, phase ${j.phase}; ` +
      `install dir ${dst ? 'present' : 'missing'}, backup ${backup ? 'present' : 'missing'}, staged dir ${src ? 'present' : 'missing'})`,
  );
  const failed = (why: string) =>
    new InstallerMacError({
      code: 'RECOVERY_FAILED',
      message: `cannot recover the install of ${j.appName} ${j.version} in ${q(j.dstDir)}: ${why}; nothing was changed`,
    });
  const completeByRename = async (): Promise<RecoverResult> => {
    await rename(j.srcDir, j.dstDir);
    await syncParents(j.dstDir, j.srcDir);
    j.phase = 'swapped';
    await writeJournal(stateDir, j);
    log.info(`moved the new version into place`);
    await removeBackup(stateDir, j, log, step);
    return { outcome: 'completed', version: j.version };
  };

  if (dst && backup) {
    if (src) log.warn(`the staged dir ${q(j.srcDir)} exists again; leaving it alone`);
    if (!(await removeBackup(stateDir, j, log, step))) throw failed('the old backup cannot be deleted');
    return { outcome: 'completed', version: j.version };
  }
  if (dst) {
    if (j.phase === 'swapped') {
      await removeJournal(stateDir);
      return { outcome: 'completed', version: j.version };
    }
    await rollbackPrepared(stateDir, j, log);
    log.info('rolled back: the old version was never moved');
    return { outcome: 'rolled-back', version: j.version };
  }
  if (backup) {
    if (j.phase === 'swapped') throw failed('the new version is gone and the old backup is partly deleted');
    if (j.phase === 'swapping' && src) {
      try {
        return await completeByRename();
      } catch (err) {
        log.error(`could not move the new version into place: ${(err as Error).message}`);
        if (await pathExists(j.dstDir))
          throw wrapError(err, InstallerMacError, 'RECOVERY_FAILED', 'recovery stopped half-way');
      }
    }
    await rename(j.backupDir, j.dstDir);
    await syncParents(j.dstDir, j.backupDir);
    log.info('put the old version back');
    await rollbackPrepared(stateDir, j, log);
    return { outcome: 'rolled-back', version: j.version };
  }
  if (j.phase === 'swapping' && src) return completeByRename();
  throw failed('neither the old nor the new version exists');
}

export interface RecoverOptions {
  /** The state dir given to the installer, if not the default (`.<name>.tufup` beside dstDir). */
  stateDir?: string;
  /** Where to log what recovery did (default: the installer's default log); false: don't write a log file. */
  logFile?: string | false;
  logger?: Logger;
}

/**
 * Call at app start-up (cheap when there is nothing to do: one readdir). If an install was interrupted (killed,
 * power cut), finishes it when the new version is complete, or restores the old one, so dstDir is exactly one
 * of the two trees. Never moves an existing dstDir. Returns `busy` while another installer works on it.
 */
export async function recover(dstDir: string, opts: RecoverOptions = {}): Promise<RecoverResult> {
  const dst = await canonicalPath(dstDir);
  const stateDir = await canonicalPath(opts.stateDir ?? defaultStateDir(dst));
  if (!(await stateNeedsAttention(stateDir))) return { outcome: 'clean' };
  const quiet = !(await pathExists(journalPath(stateDir)));
  let fileLog: LineLog | undefined;
  if (opts.logFile !== false && !quiet) {
    try {
      fileLog = LineLog.open(opts.logFile ?? defaultLogFile(dst));
    } catch (err) {
      opts.logger?.warn(`cannot open the install log: ${(err as Error).message}`);
    }
  }
  const log = teeLogger(opts.logger ?? silentLogger, ...(fileLog ? [fileLog] : []));
  try {
    const lock = await acquireLock(stateDir);
    if (!lock) return { outcome: 'busy' };
    try {
      const result = await settleJournal(stateDir, dst, log);
      if (!quiet) log.info(`recover(): ${result.outcome}`);
      return result;
    } finally {
      await lock.release();
    }
  } finally {
    fileLog?.close();
  }
}
