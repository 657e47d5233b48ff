// The app side: check the request, write the script and its data into a private dir, start it detached, wait for "started".
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import {
  currentCommandLine,
  type InstallRequest,
  type Installer,
  installRequestProblem,
  defaultLogFile,
  defaultStateDir,
  isNotFound,
  type Logger,
  makeTempDir,
  nearestExisting,
  pathExists,
  silentLogger,
  writeFileAtomic,
} from '@tufup/common';
import { joinWindowsArgs } from './cmdline.js';
import { InstallerWinError, invalid } from './errors.js';
import { checkPathLayout, checkPreserveList, checkSwapDirs, isWritableDir, userLogFile } from './paths.js';
import { recover } from './recover.js';
import { encodeRequestFile } from './request-file.js';
import { renderScript } from './script.js';

export interface WindowsInstallerOptions {
  /**
   * Paths (relative to dstDir, `/`-separated) carried from the old version into the new one before the swap,
   * e.g. `['settings.json', 'update_cache']`. The old copy replaces the new version's copy; everything else
   * in dstDir is replaced by the new version (python tufup's `purge_dst_dir=True` with `exclude_from_purge`).
   */
  preserve?: string[];
  /** How long the script waits for the app (request.pid) to exit before giving up. Default 60 000 ms. */
  waitTimeoutMs?: number;
  /** How long each rename retries while files are locked (antivirus, indexers, a slow exit). Default 30 000 ms. */
  lockRetryTimeoutMs?: number;
  /** How long putting the old version back retries after a failed swap. Default 300 000 ms. */
  rollbackTimeoutMs?: number;
  /** Journal, guard and backup dir; must be on dstDir's volume. Default: `.<dstDir name>.tufup` beside dstDir. */
  stateDir?: string;
  /**
   * The install log (UTF-16LE, outside dstDir). Default `.<dstDir name>.tufup.log` beside dstDir, or
   * `%LOCALAPPDATA%\tufup\logs\<name>.tufup.log` when dstDir's parent needs administrator rights.
   */
  logFile?: string;
  /**
   * 'auto' (default): ask for administrator rights (a UAC prompt) only when dstDir's parent is not writable.
   * 'always': always ask (python tufup's `as_admin=True`). 'never': fail with NOT_WRITABLE instead.
   */
  elevate?: 'auto' | 'always' | 'never';
  /** How long to wait for the UAC prompt to be answered. Default 300 000 ms. */
  elevationTimeoutMs?: number;
  /** A custom script (python tufup's `batch_template`): JScript containing `/*@tufup-library@*\/`. See the README. */
  scriptTemplate?: string;
  /** Extra values for a custom script, readable there as `tufup.extra.<key>` (python's `batch_template_extra_kwargs`). */
  scriptData?: Record<string, string>;
  /** Where the private script dir is made. Default: the OS temp dir. */
  scriptDir?: string;
  /** Path of wscript.exe. Default `%SystemRoot%\System32\wscript.exe`. */
  wscript?: string;
  /** App-side messages (the script writes to the log file). */
  logger?: Logger;
  /** How long to wait for the script to confirm it is running. Default 15 000 ms. */
  startTimeoutMs?: number;
  /** Crash tests only: pause this long after every swap step so kills land at every point. Default 0. */
  stepDelayMs?: number;
}

export interface StartedScript {
  /** The wscript.exe process running the script. */
  pid: number;
  /** The private dir holding the script, its data and the app's exit lock (the script deletes it when done). */
  scriptDir: string;
  logFile: string;
  stateDir: string;
  /** Whether the script will ask for administrator rights. */
  elevate: boolean;
}

/** An `Installer` for Windows. Call it, then exit the app: the detached script does the rest. */
export function createWindowsInstaller(options: WindowsInstallerOptions = {}): Installer {
  return async (request) => {
    await startInstallScript(request, options);
  };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw invalid(`${name} must be > 0`);
  return Math.round(v);
}

export interface RelaunchSpec {
  dir: string;
  file: string;
  params: string;
}

/** Splits a relaunch command into what the script passes to ShellExecute: folder, `.\file`, parameter string. */
export function planRelaunch(relaunch: { command: string; args: string[] }): RelaunchSpec {
  const { command, args } = relaunch;
  if (typeof command !== 'string' || !isAbsolute(command) || command.includes('\0')) {
    throw new InstallerWinError({
      code: 'RELAUNCH_UNSUPPORTED',
      message: `the relaunch command must be an absolute path: ${JSON.stringify(command)}`,
    });
  }
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string' && !a.includes('\0'))) {
    throw invalid('relaunch.args must be strings without NUL');
  }
  const file = basename(command);
  // ShellExecute may expand %NAME% in the file it is given; the folder is entered as the current dir instead.
  if (file.includes('%')) {
    throw new InstallerWinError({
      code: 'RELAUNCH_UNSUPPORTED',
      message: `the relaunch command's file name must not contain %: ${JSON.stringify(file)}`,
    });
  }
  return { dir: dirname(command), file, params: joinWindowsArgs(args) };
}

function wscriptPath(options: WindowsInstallerOptions): string {
  if (options.wscript) return options.wscript;
  const root = process.env.SystemRoot ?? process.env.SYSTEMROOT ?? 'C:\\Windows';
  return join(root, 'System32', 'wscript.exe');
}

/** Everything the script reads from request.txt, resolved and checked. */
export interface ScriptPlan {
  request: Pick<InstallRequest, 'appName' | 'version'>;
  srcDir: string;
  dstDir: string;
  stateDir: string;
  logFile: string;
  /** Names this install's backup dir (`old-<id>` in the state dir). */
  id: string;
  pid: number;
  /** The app's exit lock, or '' to watch `pid` through WMI. */
  lockFile: string;
  waitTimeoutMs: number;
  lockRetryTimeoutMs: number;
  rollbackTimeoutMs: number;
  elevate: boolean;
  elevationTimeoutMs: number;
  stepDelayMs: number;
  /** `\`-separated relative paths. */
  preserve: string[];
  relaunch: RelaunchSpec | undefined;
  extra: Array<[string, string]>;
}

/** The lines of request.txt, in the order the script reads them. */
export function requestEntries(p: ScriptPlan): Array<[string, string]> {
  return [
    ['format', '1'],
    ['appName', p.request.appName],
    ['version', p.request.version],
    ['srcDir', p.srcDir],
    ['dstDir', p.dstDir],
    ['stateDir', p.stateDir],
    ['backupDir', join(p.stateDir, `old-${p.id}`)],
    ['journal', join(p.stateDir, 'journal.txt')],
    ['guardDir', join(p.stateDir, 'running')],
    ['logFile', p.logFile],
    ['pid', String(p.pid)],
    ['lockFile', p.lockFile],
    ['waitTimeoutMs', String(p.waitTimeoutMs)],
    ['lockRetryTimeoutMs', String(p.lockRetryTimeoutMs)],
    ['rollbackTimeoutMs', String(p.rollbackTimeoutMs)],
    ['elevate', p.elevate ? '1' : '0'],
    ['elevationTimeoutMs', String(p.elevationTimeoutMs)],
    ['stepDelayMs', String(p.stepDelayMs)],
    ...p.preserve.map((x): [string, string] => ['preserve', x]),
    ['relaunch', p.relaunch ? '1' : '0'],
    ['relaunchDir', p.relaunch?.dir ?? ''],
    ['relaunchFile', p.relaunch?.file ?? ''],
    ['relaunchParams', p.relaunch?.params ?? ''],
    ...p.extra.map(([k, v]): [string, string] => [`extra.${k}`, v]),
  ];
}

// libuv's UV_FS_O_EXLOCK (not exported by node:fs): open with share mode 0, so nobody else can open the file
// while this process lives. Windows closes it when the process ends, whatever the way.
const UV_FS_O_EXLOCK = 0x10000000;
/** Exit locks held for the lifetime of this process, on purpose: their release is the signal. */
const heldLocks: number[] = [];
/** Install dirs (lower-cased) this process already started a script for: one per dir until it exits. */
const pendingDirs = new Set<string>();
/** Past this size the log is rotated to `<file>.1` before a new install, like installer-mac's. */
const ROTATE_LOG_BYTES = 1 << 20;

/** Validates everything, writes the script and its data, starts it and waits until it confirms it runs. */
export async function startInstallScript(
  request: InstallRequest,
  options: WindowsInstallerOptions = {},
): Promise<StartedScript> {
  const log = options.logger ?? silentLogger;
  const problem = installRequestProblem(request);
  if (problem !== undefined) throw invalid(problem);
  const waitTimeoutMs = positive('waitTimeoutMs', options.waitTimeoutMs, 60_000);
  const lockRetryTimeoutMs = positive('lockRetryTimeoutMs', options.lockRetryTimeoutMs, 30_000);
  const rollbackTimeoutMs = positive('rollbackTimeoutMs', options.rollbackTimeoutMs, 300_000);
  const elevationTimeoutMs = positive('elevationTimeoutMs', options.elevationTimeoutMs, 300_000);
  const startTimeoutMs = positive('startTimeoutMs', options.startTimeoutMs, 15_000);
  const stepDelayMs = options.stepDelayMs ?? 0;
  if (!(stepDelayMs >= 0 && stepDelayMs <= 10_000)) throw invalid('stepDelayMs must be within 0..10000');
  const elevateOption = options.elevate ?? 'auto';
  if (!['auto', 'always', 'never'].includes(elevateOption))
    throw invalid("elevate must be 'auto', 'always' or 'never'");
  const extra = Object.entries(options.scriptData ?? {});
  for (const [k, v] of extra) {
    if (!/^[A-Za-z0-9_]+$/.test(k) || typeof v !== 'string')
      throw invalid(`scriptData.${k}: keys are [A-Za-z0-9_], values strings`);
  }
  const script = renderScript(options.scriptTemplate);
  const preserve = checkPreserveList(options.preserve ?? []);

  const dstDir = resolve(request.dstDir);
  const srcDir = resolve(request.srcDir);
  const stateDir = resolve(options.stateDir ?? defaultStateDir(dstDir));
  const pid = request.pid ?? process.pid;
  const relaunchSpec = request.relaunch === undefined ? await currentCommandLine() : request.relaunch;
  const relaunch = relaunchSpec === false ? undefined : planRelaunch(relaunchSpec);

  if (pendingDirs.has(dstDir.toLowerCase())) {
    throw new InstallerWinError({
      code: 'INSTALL_BUSY',
      message: `an install script for ${JSON.stringify(dstDir)} already waits for this process to exit`,
    });
  }
  // Settle what an earlier, interrupted install left, so this one starts from exactly one version.
  const previous = await recover(dstDir, { stateDir, logger: log });
  if (previous.outcome === 'busy') {
    throw new InstallerWinError({
      code: 'INSTALL_BUSY',
      message: `an install script is working on ${JSON.stringify(dstDir)}`,
    });
  }
  const parentWritable =
    (await isWritableDir(dirname(dstDir))) && (await isWritableDir(await nearestExisting(dirname(stateDir))));
  if (!parentWritable && elevateOption === 'never') {
    throw new InstallerWinError({
      code: 'NOT_WRITABLE',
      message: `${JSON.stringify(dirname(dstDir))} is not writable by this user and elevate is 'never'`,
    });
  }
  const elevate = elevateOption === 'always' || !parentWritable;
  const logFile = resolve(options.logFile ?? (parentWritable ? defaultLogFile(dstDir) : userLogFile(dstDir)));
  checkPathLayout({ srcDir, dstDir, stateDir, logFile });
  await checkSwapDirs({ srcDir, dstDir, stateDir, logFile });
  await mkdir(dirname(logFile), { recursive: true });
  await rotateLog(logFile, log);
  if (parentWritable) await mkdir(stateDir, { recursive: true });

  const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const workDir = await makeTempDir('tufup-win-', options.scriptDir ?? tmpdir());
  let lockFd: number | undefined;
  let child: ChildProcess | undefined;
  try {
    const lockFile = pid === process.pid ? join(workDir, 'app.lock') : '';
    if (lockFile) lockFd = openSync(lockFile, constants.O_RDWR | constants.O_CREAT | UV_FS_O_EXLOCK);
    const entries = requestEntries({
      request,
      srcDir,
      dstDir,
      stateDir,
      logFile,
      id,
      pid,
      lockFile,
      waitTimeoutMs,
      lockRetryTimeoutMs,
      rollbackTimeoutMs,
      elevate,
      elevationTimeoutMs,
      stepDelayMs,
      preserve,
      relaunch,
      extra,
    });
    await writeFileAtomic(join(workDir, 'request.txt'), encodeRequestFile(entries));
    const scriptPath = join(workDir, 'install.js');
    await writeFile(scriptPath, script, 'ascii');

    const wscript = wscriptPath(options);
    log.info(`starting the install script ${scriptPath} (log: ${logFile})`);
    // wscript.exe is a GUI program: no console window at all (python tufup's #81). Detached, so it is not
    // in the job object that would end it together with this process.
    child = spawn(wscript, ['//B', '//NoLogo', scriptPath, 'outer'], {
      detached: true,
      stdio: 'ignore',
      windowsHide: true,
      cwd: workDir,
    });
    await waitForStart(child, join(workDir, 'started'), startTimeoutMs);
    child.unref();
    if (lockFd !== undefined) heldLocks.push(lockFd);
    pendingDirs.add(dstDir.toLowerCase());
    return { pid: child.pid ?? 0, scriptDir: workDir, logFile, stateDir, elevate };
  } catch (err) {
    if (child && child.exitCode === null) child.kill();
    if (lockFd !== undefined) closeSync(lockFd);
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
    if (err instanceof InstallerWinError) throw err;
    throw new InstallerWinError({
      code: 'SCRIPT_START_FAILED',
      message: `could not start the install script: ${(err as Error).message}`,
      cause: err,
    });
  }
}

async function rotateLog(logFile: string, log: Logger): Promise<void> {
  try {
    if ((await stat(logFile)).size > ROTATE_LOG_BYTES) await rename(logFile, `${logFile}.1`);
  } catch (err) {
    if (!isNotFound(err)) log.warn(`cannot rotate the install log ${logFile}: ${(err as Error).message}`);
  }
}

/** Resolves once the script wrote its `started` marker; rejects if it exits first or takes too long. */
async function waitForStart(child: ChildProcess, marker: string, timeoutMs: number): Promise<void> {
  let exited: string | undefined;
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  child.once('exit', (code, signal) => {
    exited = signal ?? String(code);
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pathExists(marker)) return;
    if (spawnError) throw spawnError;
    if (exited !== undefined) {
      throw new InstallerWinError({
        code: 'SCRIPT_START_FAILED',
        message: `the install script exited (${exited}) before it started; is Windows Script Host disabled?`,
      });
    }
    if (Date.now() > deadline) {
      throw new InstallerWinError({
        code: 'SCRIPT_START_FAILED',
        message: `the install script did not start within ${timeoutMs} ms`,
      });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
