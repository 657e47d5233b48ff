// The detached worker: waits for the app to exit, swaps (itself or through an admin-rights step), relaunches.
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { describeErrorChain, isNotFound, type Logger, nearestExisting, pathExists } from '@tufup/common';
import { InstallerMacError } from './errors.js';
import { journalPath } from './journal.js';
import { LineLog, q } from './log.js';
import { type MacCommands, openArgs, osascriptArgs } from './macos.js';
import { isWritableDir } from './paths.js';
import { runCommand, waitForExit } from './process.js';
import { readRequestFile, type RelaunchPlan, validateSwapPlan, type WorkerRequest } from './request.js';
import { performSwap, type SwapPlan } from './swap.js';
import { removeTree } from './tree.js';

/** Exit codes of the worker, for whoever reads them (tests, a supervising launcher). */
export const WORKER_EXIT = { installed: 0, failed: 1, badRequest: 2, timeout: 3, aborted: 4 } as const;

/** The elevated step reports its outcome on its last stdout line, prefixed with this. */
const RESULT_PREFIX = 'TUFUP-SWAP-RESULT ';

/**
 * Entry point of the worker process. argv:
 *   run <request.json> [--handshake-fd N]   the detached worker started by the app
 *   elevated-swap <swap plan JSON>          the swap alone, run as root through osascript
 * Apps built as single executables call this themselves (see the README) instead of shipping worker.js.
 */
export async function runWorker(argv: string[]): Promise<number> {
  const [mode, arg, ...rest] = argv;
  if (mode === 'elevated-swap' && arg !== undefined) return runElevatedSwap(arg);
  if (mode === 'run' && arg !== undefined) {
    const i = rest.indexOf('--handshake-fd');
    const fd = i >= 0 ? Number(rest[i + 1]) : undefined;
    return runDetached(arg, fd !== undefined && Number.isInteger(fd) && fd > 2 ? fd : undefined);
  }
  process.stderr.write('usage: worker run <request.json> [--handshake-fd N] | worker elevated-swap <json>\n');
  return WORKER_EXIT.badRequest;
}

/** Tells the launching app (over an inherited pipe) that we run and have loaded all our code, or why not. */
function handshake(
  fd: number | undefined,
  payload: { ok: true } | { ok: false; code: string; message: string },
) {
  if (fd === undefined) return;
  try {
    writeSync(fd, `${JSON.stringify(payload)}\n`);
    closeSync(fd);
  } catch {
    // The app gave up waiting (and killed us or went away); there is nobody left to tell.
  }
}

async function runDetached(requestFile: string, handshakeFd: number | undefined): Promise<number> {
  let request: WorkerRequest;
  let log: LineLog;
  try {
    request = await readRequestFile(requestFile);
    log = LineLog.open(request.logFile);
  } catch (err) {
    const code = err instanceof InstallerMacError ? err.code : 'WORKER_START_FAILED';
    handshake(handshakeFd, { ok: false, code, message: (err as Error).message });
    return WORKER_EXIT.badRequest;
  }
  handshake(handshakeFd, { ok: true });

  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    log.warn(`received ${sig}: stopping before the swap if it has not begun, finishing it otherwise`);
    stop.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    return await installAfterExit(request, log, stop.signal);
  } catch (err) {
    log.error(`worker failed: ${describeErrorChain(err)}`);
    return WORKER_EXIT.failed;
  } finally {
    for (const s of signals) process.off(s, onSignal);
    await removeRequestFile(requestFile, log);
    log.close();
  }
}

async function installAfterExit(request: WorkerRequest, log: LineLog, signal: AbortSignal): Promise<number> {
  const plan = request.swap;
  log.info(
    `worker ${process.pid}: install ${plan.appName} ${plan.version} from ${q(plan.srcDir)} into ${q(plan.dstDir)} ` +
      `once process ${request.pid} exits (timeout ${request.waitTimeoutMs} ms)`,
  );
  let exited: boolean;
  try {
    exited = await waitForExit(request.pid, request.waitTimeoutMs, signal);
  } catch (err) {
    if (!signal.aborted) throw err;
    log.warn(`stopped while waiting for process ${request.pid}; the installed version is untouched`);
    await discardStaged(plan, log);
    log.info('result: not installed (stopped)');
    return WORKER_EXIT.aborted;
  }
  if (!exited) {
    log.error(
      `gave up: process ${request.pid} was still running after ${request.waitTimeoutMs} ms (WAIT_TIMEOUT); ` +
        `the installed version is untouched`,
    );
    await discardStaged(plan, log);
    log.info('result: not installed (timed out)');
    return WORKER_EXIT.timeout;
  }
  log.info(`process ${request.pid} has exited`);

  let installed = false;
  let aborted = false;
  if (await canSwapUnprivileged(plan)) {
    try {
      await performSwap(plan, log, signal);
      installed = true;
    } catch (err) {
      aborted = err instanceof InstallerMacError && err.code === 'ABORTED';
      log.error(`install failed: ${describeErrorChain(err)}`);
      if (!(err instanceof InstallerMacError && err.code === 'SWAP_FAILED'))
        await discardStagedUnlessJournal(plan, log);
    }
  } else if (plan.platform === 'darwin') {
    installed = await swapWithAdminRights(request, log);
    if (!installed) await discardStagedUnlessJournal(plan, log);
  } else {
    log.error(
      `install failed (NOT_WRITABLE): ${q(dirname(plan.dstDir))} is not writable and this platform has no ` +
        `admin-rights prompt; the installed version is untouched`,
    );
    await discardStaged(plan, log);
  }

  if (request.relaunch !== false && !aborted) await relaunch(request.relaunch, plan.dstDir, request, log);
  log.info(`result: ${installed ? `installed ${plan.version}` : 'not installed'}`);
  return installed ? WORKER_EXIT.installed : aborted ? WORKER_EXIT.aborted : WORKER_EXIT.failed;
}

/** Rename needs write access to dstDir's parent, srcDir's parent and the state dir. */
async function canSwapUnprivileged(plan: SwapPlan): Promise<boolean> {
  const dirs = [dirname(plan.dstDir), dirname(plan.srcDir), await nearestExisting(plan.stateDir)];
  for (const d of dirs) if (!(await isWritableDir(d))) return false;
  return true;
}

/**
 * A failed or abandoned update's staged tree is deleted, not kept for a retry: it may be half-modified by
 * `preserve`, stale staging dirs are how python tufup leaked old files into later installs (#56), and the
 * client keeps the verified archive in its cache, so a retry costs an extraction, not a download.
 */
async function discardStaged(plan: SwapPlan, log: Logger): Promise<void> {
  try {
    await removeTree(plan.srcDir);
    log.info(`deleted the staged version ${q(plan.srcDir)}`);
  } catch (err) {
    log.warn(`could not delete the staged version ${q(plan.srcDir)}: ${(err as Error).message}`);
  }
}

/** After a failure whose journal survived, the staged tree may still be needed by recover(): keep it. */
async function discardStagedUnlessJournal(plan: SwapPlan, log: Logger): Promise<void> {
  if (await pathExists(journalPath(plan.stateDir)))
    log.warn(`an install journal remains in ${q(plan.stateDir)}; recover() will finish or undo it`);
  else await discardStaged(plan, log);
}

/** Runs the swap as root via osascript (the system password dialog), then reads its result line. */
async function swapWithAdminRights(request: WorkerRequest, log: LineLog): Promise<boolean> {
  const plan = request.swap;
  const { worker, commands } = request;
  const envPrefix = Object.entries(worker.env).map(([k, v]) => `${k}=${v}`);
  const command = [
    ...(envPrefix.length > 0 ? ['/usr/bin/env', ...envPrefix] : []),
    worker.command,
    ...worker.args,
    'elevated-swap',
    JSON.stringify(plan),
  ];
  const prompt = `${plan.appName} needs administrator rights to install version ${plan.version}.`;
  log.info(`${q(dirname(plan.dstDir))} is not writable: asking for administrator rights through osascript`);
  let res: Awaited<ReturnType<typeof runCommand>>;
  try {
    // Ten minutes for the user to answer the password prompt (and for the swap), then we give up.
    res = await runCommand(commands.osascript, osascriptArgs(prompt, command), { timeoutMs: 10 * 60_000 });
  } catch (err) {
    log.error(
      `install failed (ELEVATION_FAILED): cannot run ${q(commands.osascript)}: ${(err as Error).message}`,
    );
    return false;
  }
  const lines = res.stdout.split('\n');
  const resultLine = lines.find((l) => l.startsWith(RESULT_PREFIX));
  log.raw(lines.filter((l) => !l.startsWith(RESULT_PREFIX)).join('\n'));
  if (res.exitCode !== 0 || resultLine === undefined) {
    const why = res.stderr.split('\n').find((l) => l.trim() !== '') ?? `exit code ${res.exitCode}`;
    const cancelled = /\(-128\)/.test(res.stderr);
    log.error(
      `install failed (ELEVATION_FAILED): ${cancelled ? 'the administrator password prompt was cancelled' : why}`,
    );
    return false;
  }
  let result: { ok: boolean; code?: string; message?: string };
  try {
    result = JSON.parse(resultLine.slice(RESULT_PREFIX.length)) as typeof result;
  } catch {
    log.error('install failed (ELEVATION_FAILED): unreadable result from the administrator-rights step');
    return false;
  }
  if (!result.ok)
    log.error(`install failed (${result.code}) in the administrator-rights step: ${result.message}`);
  return result.ok === true;
}

/** The swap alone, as root: logs go to stdout (osascript hands them back), never to a user-chosen file. */
async function runElevatedSwap(planJson: string): Promise<number> {
  const log = LineLog.onFd(1);
  let payload: { ok: true } | { ok: false; code: string; message: string };
  try {
    const plan = validateSwapPlan(JSON.parse(planJson));
    log.info(
      `administrator-rights step ${process.pid} (uid ${process.getuid?.()}) swapping ${q(plan.dstDir)}`,
    );
    await performSwap(plan, log);
    payload = { ok: true };
  } catch (err) {
    log.error(describeErrorChain(err));
    payload = {
      ok: false,
      code: err instanceof InstallerMacError ? err.code : 'SWAP_FAILED',
      message: (err as Error).message,
    };
  }
  writeSync(1, `${RESULT_PREFIX}${JSON.stringify(payload)}\n`);
  return payload.ok ? WORKER_EXIT.installed : WORKER_EXIT.failed;
}

/**
 * Starts the app again, detached, in its own session, with its own stdio (the log or nothing). The arguments
 * are not logged: command lines can carry tokens.
 */
async function relaunch(r: RelaunchPlan, dstDir: string, request: WorkerRequest, log: Logger): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(r.envRestore)) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  const commands: MacCommands = request.commands;
  const command = r.viaOpen ? commands.open : r.command;
  const args = r.viaOpen ? openArgs(dstDir, r.args) : r.args;
  const cwd = await stat(r.cwd).then(
    (s) => (s.isDirectory() ? r.cwd : dirname(dstDir)),
    () => dirname(dstDir),
  );
  const out = r.output === 'log' ? openSync(request.logFile, 'a') : 'ignore';
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], cwd, env });
    await new Promise<void>((resolvePromise, reject) => {
      child.once('spawn', resolvePromise);
      child.once('error', reject);
    });
    child.unref();
    log.info(`relaunched ${q(command)} with ${args.length} argument(s) as process ${child.pid}`);
  } catch (err) {
    log.error(`could not relaunch ${q(command)}: ${(err as Error).message}`);
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
}

/** The request file sits alone in a private temp dir made by the launcher; both go. */
async function removeRequestFile(requestFile: string, log: Logger): Promise<void> {
  try {
    await rm(requestFile, { force: true });
    if (basename(dirname(requestFile)).startsWith('tufup-install-')) await rmdir(dirname(requestFile));
  } catch (err) {
    if (!isNotFound(err)) log.warn(`could not delete the request file: ${(err as Error).message}`);
  }
}
