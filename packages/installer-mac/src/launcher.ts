// The app side: check the request, write it to a private file, start the detached worker and wait for its "ready".
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  currentCommandLine,
  type InstallRequest,
  type Installer,
  installRequestProblem,
  type Logger,
  makeTempDir,
  nearestExisting,
  silentLogger,
  writeFileAtomic,
} from '@tufup/common';
import { InstallerMacError } from './errors.js';
import { q } from './log.js';
import { DEFAULT_MAC_COMMANDS, type MacCommands, relaunchesThroughOpen } from './macos.js';
import {
  checkPathLayout,
  checkSwapPaths,
  defaultLogFile,
  defaultStateDir,
  isTranslocatedPath,
  isWritableDir,
  userLogFile,
} from './paths.js';
import type { RelaunchPlan, WorkerCommand, WorkerRequest } from './request.js';
import { canonicalPath } from './swap.js';

export interface MacInstallerOptions {
  /**
   * Paths (relative to dstDir, `/`-separated) carried from the old version into the new one before the swap,
   * e.g. `['settings.json', 'update_cache']`. The old copy replaces the new bundle's copy; everything else in
   * dstDir is replaced by the new version (see "purge" in the README).
   */
  preserve?: string[];
  /** How long the worker waits for the app (request.pid) to exit before giving up. Default 60 000 ms. */
  waitTimeoutMs?: number;
  /** Journal, lock and backup dir; must be on dstDir's volume. Default: `.<dstDir name>.tufup` beside dstDir. */
  stateDir?: string;
  /**
   * The append-only install log (outside dstDir). Default `.<dstDir name>.tufup.log` beside dstDir, or, when
   * that parent is not writable (admin-rights installs), ~/Library/Logs/tufup/ on macOS, $XDG_STATE_HOME/tufup/.
   */
  logFile?: string;
  /** Where the relaunched app's stdout/stderr go. Default 'ignore'. */
  relaunchOutput?: 'ignore' | 'log';
  /**
   * How to start the worker. Default: this Node (process.execPath) running dist/worker.js, with
   * ELECTRON_RUN_AS_NODE=1 under Electron. Single executable apps pass their own binary and a flag that
   * makes it call `runWorker()` (see the README). The worker appends `run <request.json> --handshake-fd 3`.
   */
  worker?: { command: string; args: string[]; env?: Record<string, string> };
  /** Which platform's rules apply (default process.platform). Tests use 'darwin' on Linux with fake commands. */
  platform?: NodeJS.Platform;
  /** Paths of the macOS tools (xattr, osascript, open). */
  commands?: Partial<MacCommands>;
  /** App-side messages (the worker writes to the log file). */
  logger?: Logger;
  /** How long to wait for the worker to confirm it is running. Default 15 000 ms. */
  startTimeoutMs?: number;
  /** Crash tests only: pause this long after every swap step so kills land at every point. Default 0. */
  stepDelayMs?: number;
}

export interface StartedWorker {
  /** The detached worker's pid. */
  pid: number;
  logFile: string;
  stateDir: string;
  /** The private request file (the worker deletes it, and its dir, when done). */
  requestFile: string;
}

/** An `Installer` for macOS and other POSIX systems. Call it, then exit the app: the worker does the rest. */
export function createMacInstaller(options: MacInstallerOptions = {}): Installer {
  return async (request) => {
    await startInstallWorker(request, options);
  };
}

function defaultWorker(): WorkerCommand {
  const script = fileURLToPath(new URL('./worker.js', import.meta.url));
  return {
    command: process.execPath,
    args: [script],
    env: process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {},
  };
}

function invalid(message: string): InstallerMacError {
  return new InstallerMacError({ code: 'INVALID_REQUEST', message });
}

function checkRequestShape(r: InstallRequest): void {
  const problem = installRequestProblem(r);
  if (problem !== undefined) throw invalid(problem);
  const l = r.relaunch;
  if (
    l !== undefined &&
    l !== false &&
    (typeof l !== 'object' ||
      typeof l.command !== 'string' ||
      l.command.length === 0 ||
      !Array.isArray(l.args) ||
      !l.args.every((a) => typeof a === 'string'))
  ) {
    throw invalid('relaunch must be false or { command: string, args: string[] }');
  }
}

/**
 * Checks everything that can be checked before the app exits (so errors reach the app, not only the log),
 * writes the request file and starts the detached worker. Resolves once the worker confirms it runs.
 */
export async function startInstallWorker(
  request: InstallRequest,
  options: MacInstallerOptions = {},
): Promise<StartedWorker> {
  const log = options.logger ?? silentLogger;
  const platform = options.platform ?? process.platform;
  if (platform === 'win32') {
    throw new InstallerMacError({
      code: 'UNSUPPORTED_PLATFORM',
      message: 'use @tufup/installer-win on Windows: a running app there cannot be renamed',
    });
  }
  checkRequestShape(request);
  const waitTimeoutMs = options.waitTimeoutMs ?? 60_000;
  if (!Number.isFinite(waitTimeoutMs) || waitTimeoutMs <= 0) throw invalid('waitTimeoutMs must be > 0');
  const stepDelayMs = options.stepDelayMs ?? 0;
  if (!(stepDelayMs >= 0 && stepDelayMs <= 10_000)) throw invalid('stepDelayMs must be within 0..10000');
  const relaunchSpec = request.relaunch === undefined ? await currentCommandLine() : request.relaunch;

  // App Translocation first, before even resolving paths: the app must be moved by the user, nothing else helps.
  if (platform === 'darwin') {
    const suspects = [request.dstDir, resolve(request.dstDir)];
    if (relaunchSpec) suspects.push(relaunchSpec.command);
    for (const p of suspects) {
      if (isTranslocatedPath(p)) {
        throw new InstallerMacError({
          code: 'APP_TRANSLOCATED',
          message:
            `the app runs from a translocated copy (${q(p)}); macOS does this for apps opened from a download ` +
            'location. Ask the user to move it to /Applications (or any folder) and start it again.',
        });
      }
    }
  }
  const dstDir = await canonicalPath(request.dstDir);
  const srcDir = await canonicalPath(request.srcDir);
  if (platform === 'darwin' && isTranslocatedPath(dstDir)) {
    throw new InstallerMacError({
      code: 'APP_TRANSLOCATED',
      message: `the app runs from a translocated copy (${q(dstDir)})`,
    });
  }
  const stateDir = await canonicalPath(options.stateDir ?? defaultStateDir(dstDir));
  const preserve = options.preserve ?? [];
  await checkSwapPaths({ srcDir, dstDir, stateDir, preserve });

  const writable =
    (await isWritableDir(dirname(dstDir))) &&
    (await isWritableDir(dirname(srcDir))) &&
    (await isWritableDir(await nearestExisting(stateDir)));
  if (!writable && platform !== 'darwin') {
    throw new InstallerMacError({
      code: 'NOT_WRITABLE',
      message: `${q(dirname(dstDir))} (or the state dir) is not writable by this user; install the app where it is`,
    });
  }
  const logFile = resolve(
    options.logFile ?? (writable ? defaultLogFile(dstDir) : userLogFile(dstDir, platform)),
  );
  checkPathLayout({ srcDir, dstDir, stateDir, logFile, preserve });

  const worker: WorkerCommand = options.worker
    ? { command: options.worker.command, args: [...options.worker.args], env: { ...options.worker.env } }
    : defaultWorker();
  if (!options.worker && !existsSync(worker.args[0]!)) {
    throw new InstallerMacError({
      code: 'WORKER_START_FAILED',
      message: `the worker script ${q(worker.args[0]!)} is missing (running from sources? build, or pass options.worker)`,
    });
  }
  const commands: MacCommands = { ...DEFAULT_MAC_COMMANDS, ...options.commands };
  let relaunch: RelaunchPlan | false = false;
  if (relaunchSpec) {
    const envRestore: Record<string, string | null> = {};
    for (const k of Object.keys(worker.env)) envRestore[k] = process.env[k] ?? null;
    relaunch = {
      command: relaunchSpec.command,
      args: [...relaunchSpec.args],
      cwd: process.cwd(),
      viaOpen: relaunchesThroughOpen(platform, dstDir, await canonicalPath(relaunchSpec.command)),
      output: options.relaunchOutput ?? 'ignore',
      envRestore,
    };
  }
  const workerRequest: WorkerRequest = {
    kind: 'tufup-installer-mac-request',
    formatVersion: 1,
    swap: {
      appName: request.appName,
      version: request.version,
      srcDir,
      dstDir,
      stateDir,
      preserve: [...preserve],
      platform,
      xattrCommand: commands.xattr,
      stepDelayMs,
    },
    pid: request.pid ?? process.pid,
    waitTimeoutMs,
    logFile,
    relaunch,
    commands,
    worker,
  };

  // The request (it may hold relaunch arguments with tokens) lives in a private dir, not on a command line.
  const requestDir = await makeTempDir('tufup-install-');
  await chmod(requestDir, 0o700);
  const requestFile = join(requestDir, 'request.json');
  await writeFileAtomic(requestFile, JSON.stringify(workerRequest), { mode: 0o600 });

  let logFd: number;
  try {
    mkdirSync(dirname(logFile), { recursive: true });
    logFd = openSync(logFile, 'a', 0o644);
  } catch (err) {
    await rm(requestDir, { recursive: true, force: true });
    throw new InstallerMacError({
      code: 'WORKER_START_FAILED',
      message: `cannot open the log ${q(logFile)}`,
      cause: err,
    });
  }
  try {
    const pid = await spawnWorker(worker, requestFile, logFd, options.startTimeoutMs ?? 15_000);
    log.info(
      `installer worker ${pid} started; it installs ${request.version} once process ${workerRequest.pid} exits`,
    );
    return { pid, logFile, stateDir, requestFile };
  } catch (err) {
    await rm(requestDir, { recursive: true, force: true });
    throw err;
  } finally {
    closeSync(logFd);
  }
}

/** Spawns the worker detached (own session, survives the app) and waits for its handshake line on fd 3. */
function spawnWorker(
  worker: WorkerCommand,
  requestFile: string,
  logFd: number,
  timeoutMs: number,
): Promise<number> {
  const child = spawn(worker.command, [...worker.args, 'run', requestFile, '--handshake-fd', '3'], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe'],
    env: { ...process.env, ...worker.env },
    cwd: '/',
  });
  const pipe = child.stdio[3] as Readable;
  return new Promise<number>((resolvePromise, reject) => {
    let text = '';
    let settled = false;
    const fail = (message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      pipe.destroy();
      reject(new InstallerMacError({ code: 'WORKER_START_FAILED', message, cause }));
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`the installer worker did not confirm within ${timeoutMs} ms`);
    }, timeoutMs);
    child.once('error', (err) => fail(`cannot start the installer worker ${q(worker.command)}`, err));
    pipe.setEncoding('utf8');
    pipe.on('data', (d: string) => {
      text += d;
    });
    pipe.once('close', () => {
      if (settled) return;
      const line = text.split('\n')[0] ?? '';
      let reply: { ok?: boolean; code?: string; message?: string } = {};
      try {
        reply = JSON.parse(line) as typeof reply;
      } catch {
        // An empty or garbled reply is handled below like a worker that died before answering.
      }
      if (reply.ok === true && child.pid !== undefined) {
        settled = true;
        clearTimeout(timer);
        child.unref();
        resolvePromise(child.pid);
      } else if (reply.ok === false) {
        const code = reply.code === 'INVALID_REQUEST' ? 'INVALID_REQUEST' : 'WORKER_START_FAILED';
        settled = true;
        clearTimeout(timer);
        reject(new InstallerMacError({ code, message: `the installer worker refused: ${reply.message}` }));
      } else {
        fail('the installer worker exited before confirming that it runs (see the install log)');
      }
    });
  });
}
