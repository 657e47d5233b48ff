// The contract between @tufup/client and any installer: one request type, one async function.
import { basename, dirname, join, resolve } from 'node:path';

export interface InstallRequest {
  /** The app's name as in its target names. */
  appName: string;
  /** The version being installed. */
  version: string;
  /** The staged, verified, extracted new version (on the same volume as dstDir). */
  srcDir: string;
  /** The app's install dir (a .app bundle on macOS). */
  dstDir: string;
  /** Process to wait for before swapping (default: the caller). */
  pid?: number;
  /** How to start the app again once swapped; false: don't. Default: the command line the app was started with. */
  relaunch?: { command: string; args: string[] } | false;
}

/** Swaps `srcDir` in as `dstDir` once `pid` has exited. A user can pass their own plain async function. */
export type Installer = (request: InstallRequest) => Promise<void>;

/**
 * The installers' state dir (journal, lock, backup) for `dstDir`: a hidden sibling, so every rename stays on
 * one volume and nothing of the installer's lives inside the app.
 */
export function defaultStateDir(dstDir: string): string {
  const abs = resolve(dstDir);
  return join(dirname(abs), `.${basename(abs)}.tufup`);
}

/** The installers' log file beside the state dir (outside dstDir, so a swap never moves or deletes it). */
export function defaultLogFile(dstDir: string): string {
  const abs = resolve(dstDir);
  return join(dirname(abs), `.${basename(abs)}.tufup.log`);
}

/**
 * What is wrong with the shape of an install request (the fields every installer needs: names, paths, pid),
 * or undefined when nothing is. Each installer throws it as its own `INVALID_REQUEST`; `relaunch` is left to
 * the installer, whose rules for a command differ by platform.
 */
export function installRequestProblem(r: InstallRequest): string | undefined {
  if (r === null || typeof r !== 'object') return 'the install request must be an object';
  if (typeof r.appName !== 'string' || r.appName.length === 0) return 'appName must be a non-empty string';
  if (typeof r.version !== 'string' || r.version.length === 0) return 'version must be a non-empty string';
  for (const k of ['srcDir', 'dstDir'] as const) {
    if (typeof r[k] !== 'string' || r[k].length === 0 || r[k].includes('\0')) return `${k} must be a path`;
  }
  if (r.pid !== undefined && (!Number.isInteger(r.pid) || r.pid <= 0))
    return 'pid must be a positive integer';
  return undefined;
}

/**
 * The command line this process was started with, in the form that starts it again: Node runs its script with
 * the same flags; a single executable app repeats its own path as argv[1]; Electron has no script argument.
 */
export async function currentCommandLine(): Promise<{ command: string; args: string[] }> {
  const sea = await import('node:sea').then(
    (m) => m.isSea(),
    () => false,
  );
  if (sea) return { command: process.execPath, args: process.argv.slice(2) };
  if (process.versions.electron) return { command: process.execPath, args: process.argv.slice(1) };
  return { command: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)] };
}
