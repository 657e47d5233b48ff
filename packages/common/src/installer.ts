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
