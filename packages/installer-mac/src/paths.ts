// Where the installer keeps its state and log, and the path checks every entry point runs before it touches anything.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { isInsideOrSame, lstatOrUndefined, nearestExisting } from '@tufup/common';
import { InstallerMacError } from './errors.js';

export { defaultLogFile, defaultStateDir } from '@tufup/common';

/**
 * Per-user log location, used when the install dir's parent is not writable by the user (the admin-rights
 * case). Never a predictable name in a shared temp dir: a privileged writer there invites symlink attacks.
 */
export function userLogFile(dstDir: string, platform: NodeJS.Platform): string {
  const name = `${basename(resolve(dstDir))}.tufup.log`;
  if (platform === 'darwin') return join(homedir(), 'Library', 'Logs', 'tufup', name);
  const stateHome = process.env.XDG_STATE_HOME;
  const base = stateHome && isAbsolute(stateHome) ? stateHome : join(homedir(), '.local', 'state');
  return join(base, 'tufup', name);
}

/**
 * macOS App Translocation runs a quarantined app that was not moved by the user from a randomized read-only
 * mount such as /private/var/folders/xx/yyyy/T/AppTranslocation/<UUID>/d/My.app. Nothing there can be
 * replaced, and a swap would only update the throw-away copy.
 */
const TRANSLOCATED = /^(?:\/private)?\/var\/folders\/.+\/AppTranslocation\//;

export function isTranslocatedPath(path: string): boolean {
  return TRANSLOCATED.test(path);
}

/** Checks a `preserve` entry's syntax: relative, POSIX separators, no `.`/`..`/empty segments. Returns its segments. */
export function preserveSegments(entry: string): string[] {
  if (typeof entry !== 'string' || entry.length === 0 || entry.includes('\0')) {
    throw new InstallerMacError({
      code: 'INVALID_REQUEST',
      message: `invalid preserve path ${JSON.stringify(entry)}`,
    });
  }
  if (entry.startsWith('/') || entry.includes('\\')) {
    throw new InstallerMacError({
      code: 'UNSAFE_PATH',
      message: `preserve path must be relative with / separators: ${JSON.stringify(entry)}`,
    });
  }
  const segments = entry.split('/').filter((s, i, all) => !(s === '' && i === all.length - 1));
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') {
      throw new InstallerMacError({
        code: 'UNSAFE_PATH',
        message: `preserve path must not contain empty, . or .. segments: ${JSON.stringify(entry)}`,
      });
    }
  }
  return segments;
}

export interface SwapPaths {
  srcDir: string;
  dstDir: string;
  stateDir: string;
  /** Only checked for overlap (it must live outside both trees). */
  logFile?: string;
  preserve: string[];
}

/** Lexical checks: absolute paths, nothing nested in anything else. No file system access. */
export function checkPathLayout(p: SwapPaths): void {
  for (const [name, value] of Object.entries({ srcDir: p.srcDir, dstDir: p.dstDir, stateDir: p.stateDir })) {
    if (typeof value !== 'string' || !isAbsolute(value) || value.includes('\0')) {
      throw new InstallerMacError({ code: 'INVALID_REQUEST', message: `${name} must be an absolute path` });
    }
  }
  if (dirname(p.dstDir) === p.dstDir) {
    throw new InstallerMacError({ code: 'UNSAFE_PATH', message: 'dstDir must not be a file system root' });
  }
  const overlap = (a: string, b: string) => isInsideOrSame(a, b) || isInsideOrSame(b, a);
  if (overlap(p.srcDir, p.dstDir)) {
    throw new InstallerMacError({
      code: 'UNSAFE_PATH',
      message: `srcDir and dstDir overlap: ${p.srcDir} / ${p.dstDir}`,
    });
  }
  if (overlap(p.stateDir, p.dstDir) || overlap(p.stateDir, p.srcDir)) {
    throw new InstallerMacError({
      code: 'UNSAFE_PATH',
      message: `the state dir ${p.stateDir} must lie outside srcDir and dstDir`,
    });
  }
  if (
    p.logFile !== undefined &&
    (isInsideOrSame(p.logFile, p.dstDir) || isInsideOrSame(p.logFile, p.srcDir))
  ) {
    throw new InstallerMacError({
      code: 'UNSAFE_PATH',
      message: `the log file ${p.logFile} must lie outside srcDir and dstDir`,
    });
  }
  if (!Array.isArray(p.preserve)) {
    throw new InstallerMacError({ code: 'INVALID_REQUEST', message: 'preserve must be an array of paths' });
  }
  for (const entry of p.preserve) preserveSegments(entry);
}

/**
 * Device of `path`, or of its nearest existing ancestor when it does not exist yet. That ancestor is whatever is
 * there, a dangling link too (common's lstat-based nearestExisting); one that cannot be followed is refused.
 */
async function deviceOf(path: string): Promise<number> {
  const found = await nearestExisting(path);
  try {
    return (await stat(found)).dev;
  } catch (err) {
    throw new InstallerMacError({
      code: 'UNSAFE_PATH',
      message: `${path} cannot be reached: ${found} is a dangling link or cannot be read`,
      cause: err,
    });
  }
}

/**
 * Every `preserve` entry must reach its target through real directories in both trees: a symlinked parent in
 * the old tree would copy files from elsewhere, one in the new tree would write them elsewhere.
 */
export async function checkPreserveParents(p: SwapPaths): Promise<void> {
  for (const entry of p.preserve) {
    const segments = preserveSegments(entry);
    for (const root of [p.dstDir, p.srcDir]) {
      let cur = root;
      for (const seg of segments.slice(0, -1)) {
        cur = join(cur, seg);
        const st = await lstatOrUndefined(cur);
        if (st === undefined) break;
        if (!st.isDirectory()) {
          throw new InstallerMacError({
            code: 'PRESERVE_UNSAFE',
            message: `preserve path ${JSON.stringify(entry)} crosses ${st.isSymbolicLink() ? 'a symlink' : 'a non-directory'} at ${cur}`,
          });
        }
      }
    }
  }
}

/**
 * The file system checks before a swap: both trees exist as real directories, they and the state dir are on one
 * volume (rename is only atomic there) and dstDir is not a mount point.
 */
export async function checkSwapPaths(p: SwapPaths): Promise<void> {
  checkPathLayout(p);
  const dst = await lstatOrUndefined(p.dstDir);
  if (!dst?.isDirectory()) {
    throw new InstallerMacError({
      code: 'DESTINATION_MISSING',
      message: `dstDir ${p.dstDir} ${dst === undefined ? 'does not exist' : dst.isSymbolicLink() ? 'is a symlink' : 'is not a directory'}`,
    });
  }
  const src = await lstatOrUndefined(p.srcDir);
  if (!src?.isDirectory()) {
    throw new InstallerMacError({
      code: 'SOURCE_MISSING',
      message: `srcDir ${p.srcDir} ${src === undefined ? 'does not exist' : 'is not a directory'}`,
    });
  }
  const parentDev = (await stat(dirname(p.dstDir))).dev;
  if (dst.dev !== parentDev) {
    throw new InstallerMacError({
      code: 'CROSS_DEVICE',
      message: `dstDir ${p.dstDir} is a mount point; it cannot be renamed`,
    });
  }
  if (src.dev !== dst.dev) {
    throw new InstallerMacError({
      code: 'CROSS_DEVICE',
      message: `srcDir ${p.srcDir} is on another volume than dstDir ${p.dstDir}; stage the update beside the app`,
    });
  }
  if ((await deviceOf(p.stateDir)) !== dst.dev) {
    throw new InstallerMacError({
      code: 'CROSS_DEVICE',
      message: `the state dir ${p.stateDir} is on another volume than dstDir ${p.dstDir}`,
    });
  }
  await checkPreserveParents(p);
}

/** Whether this process may create entries in `dir` (rename needs write access to the parent dirs). */
export async function isWritableDir(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
