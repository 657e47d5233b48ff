// Path containment and "may not exist" file reads: the one copy every @tufup package uses.
import type { Stats } from 'node:fs';
import { lstat, readFile, readdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { errnoCode } from './errors.js';

/** True when `child` is `parent` itself or lies below it. Purely lexical: both are resolved, links are not followed. */
export function isInsideOrSame(child: string, parent: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** True for "there is nothing at that path": ENOENT, or ENOTDIR (a file where a directory was expected). */
export function isNotFound(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The entry's own stats (a symlink is not followed), or undefined when nothing is there. Other errors throw. */
export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Whether anything (a file, a directory, a symlink even when dangling) is at `path`. Other errors throw. */
export async function pathExists(path: string): Promise<boolean> {
  return (await lstatOrUndefined(path)) !== undefined;
}

/** The file's contents, or undefined when it does not exist. Other errors (EACCES, EISDIR...) throw. */
export async function readFileOrUndefined(path: string): Promise<Buffer | undefined>;
export async function readFileOrUndefined(
  path: string,
  encoding: BufferEncoding,
): Promise<string | undefined>;
export async function readFileOrUndefined(
  path: string,
  encoding?: BufferEncoding,
): Promise<Buffer | string | undefined> {
  try {
    return encoding ? await readFile(path, encoding) : await readFile(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The names in a directory, or [] when it does not exist. Other errors throw. */
export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** `path` itself when something is there, else its closest ancestor that exists (resolved; links not followed). */
export async function nearestExisting(path: string): Promise<string> {
  let cur = resolve(path);
  while ((await lstatOrUndefined(cur)) === undefined) {
    const parent = dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  return cur;
}
