// Where the installer keeps its state and log, and the path checks every entry point runs before it touches anything.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rmdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { isInsideOrSame, nearestExisting } from '@tufup/common';
import { InstallerWinError, invalid } from './errors.js';

/** The per-user log, used when dstDir's parent needs administrator rights (e.g. under Program Files). */
export function userLogFile(dstDir: string): string {
  const local = process.env.LOCALAPPDATA;
  const base = local && isAbsolute(local) ? local : join(homedir(), 'AppData', 'Local');
  return join(base, 'tufup', 'logs', `${basename(resolve(dstDir))}.tufup.log`);
}

// Names Windows maps to devices whatever the extension, and characters no Windows file name may contain.
const RESERVED_NAME = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
const BAD_NAME_CHAR = /[<>:"|?*\\\u0000-\u001f]/;

/**
 * Checks a `preserve` entry: relative, `/`-separated (as in installer-mac), no `.`/`..`/empty segments, and
 * every segment a valid Windows file name. Returns it with `\` separators, as the script uses it.
 */
export function preserveToWindows(entry: string): string {
  if (typeof entry !== 'string' || entry.length === 0) {
    throw invalid(`invalid preserve path ${JSON.stringify(entry)}`);
  }
  if (entry.startsWith('/') || entry.includes('\\') || /^[a-zA-Z]:/.test(entry)) {
    throw new InstallerWinError({
      code: 'UNSAFE_PATH',
      message: `preserve path must be relative with / separators: ${JSON.stringify(entry)}`,
    });
  }
  const segments = entry.split('/');
  for (const s of segments) {
    // Windows silently drops trailing dots and spaces, so "a." would name "a": refuse the ambiguity.
    if (
      s === '' ||
      s === '.' ||
      s === '..' ||
      BAD_NAME_CHAR.test(s) ||
      RESERVED_NAME.test(s) ||
      /[. ]$/.test(s)
    ) {
      throw new InstallerWinError({
        code: 'UNSAFE_PATH',
        message: `preserve path ${JSON.stringify(entry)} has an unusable segment ${JSON.stringify(s)}`,
      });
    }
  }
  return segments.join('\\');
}

/** Validates all `preserve` entries and refuses one inside another (the copy order would decide the result). */
export function checkPreserveList(entries: readonly string[]): string[] {
  if (!Array.isArray(entries)) throw invalid('preserve must be an array of relative paths');
  const win = entries.map(preserveToWindows);
  const lower = win.map((p) => p.toLowerCase());
  for (let i = 0; i < lower.length; i++) {
    for (let j = 0; j < lower.length; j++) {
      const a = lower[i] as string;
      const b = lower[j] as string;
      if (i !== j && (a === b || b.startsWith(`${a}\\`))) {
        throw new InstallerWinError({
          code: 'UNSAFE_PATH',
          message: `preserve paths ${JSON.stringify(entries[i])} and ${JSON.stringify(entries[j])} overlap`,
        });
      }
    }
  }
  return win;
}

export interface SwapPaths {
  srcDir: string;
  dstDir: string;
  stateDir: string;
  logFile: string;
}

function unsafe(message: string): InstallerWinError {
  return new InstallerWinError({ code: 'UNSAFE_PATH', message });
}

/** Lexical layout rules: absolute paths, no overlaps, nothing of ours inside dstDir or srcDir. */
export function checkPathLayout(p: SwapPaths): void {
  for (const [k, v] of Object.entries(p)) {
    if (!isAbsolute(v)) throw invalid(`${k} must be an absolute path: ${JSON.stringify(v)}`);
    // FileSystemObject, which the script uses, cannot open \\?\ paths.
    if (v.startsWith('\\\\?\\') || v.startsWith('\\\\.\\')) throw unsafe(`${k} must not be a \\\\?\\ path`);
  }
  const { srcDir, dstDir, stateDir, logFile } = p;
  if (isInsideOrSame(srcDir, dstDir) || isInsideOrSame(dstDir, srcDir)) {
    throw unsafe(`srcDir and dstDir overlap: ${JSON.stringify(srcDir)}, ${JSON.stringify(dstDir)}`);
  }
  if (dirname(dstDir) === dstDir) throw unsafe('dstDir must not be a volume root');
  for (const [k, v] of [
    ['stateDir', stateDir],
    ['logFile', logFile],
  ] as const) {
    if (isInsideOrSame(v, dstDir) || isInsideOrSame(v, srcDir) || isInsideOrSame(dstDir, v)) {
      throw unsafe(`${k} must lie outside dstDir and srcDir: ${JSON.stringify(v)}`);
    }
  }
  if (isInsideOrSame(logFile, stateDir)) throw unsafe('logFile must lie outside the state dir');
}

/** Checks on disk: both dirs are real directories (not links) on one volume with the state dir's parent. */
export async function checkSwapDirs(p: SwapPaths): Promise<void> {
  const kind = async (path: string, code: 'SOURCE_MISSING' | 'DESTINATION_MISSING') => {
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(path);
    } catch (err) {
      throw new InstallerWinError({ code, message: `${JSON.stringify(path)} does not exist`, cause: err });
    }
    if (!st.isDirectory() || st.isSymbolicLink()) {
      throw new InstallerWinError({ code, message: `${JSON.stringify(path)} is not a plain directory` });
    }
    return st;
  };
  const src = await kind(p.srcDir, 'SOURCE_MISSING');
  const dst = await kind(p.dstDir, 'DESTINATION_MISSING');
  // common's nearestExisting stops at anything that is there, a dangling link too; following that fails here,
  // with a coded error, instead of checking some ancestor the script could not create the state dir in.
  const stateParent = await stat(await nearestExisting(dirname(p.stateDir))).catch((err: unknown) => {
    throw new InstallerWinError({
      code: 'UNSAFE_PATH',
      message: `the state dir's parent ${JSON.stringify(dirname(p.stateDir))} cannot be reached (a dangling link?)`,
      cause: err,
    });
  });
  if (src.dev !== dst.dev || stateParent.dev !== dst.dev) {
    throw new InstallerWinError({
      code: 'CROSS_DEVICE',
      message: 'srcDir, dstDir and the state dir must be on one volume (a rename cannot cross volumes)',
    });
  }
}

/**
 * Whether this user can create entries in `dir`. On Windows `access(W_OK)` only reads the read-only
 * attribute and says nothing about ACLs, so this really creates (and removes) a directory.
 */
export async function isWritableDir(dir: string): Promise<boolean> {
  const probe = join(dir, `.tufup-probe-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(probe);
  } catch {
    return false;
  }
  await rmdir(probe).catch(() => {});
  return true;
}
