// Copying and removing directory trees without following symlinks: links stay links, modes and mtimes are kept.
import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readlink,
  rm,
  rmdir,
  symlink,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, isNotFound, type Logger } from '@tufup/common';
import { q } from './log.js';

/**
 * Copies `from` to `to` (which must not exist). Symlinks are recreated verbatim (never dereferenced, so a link
 * to a framework version stays a link); regular files keep mode and mtime (and share blocks where the file
 * system can clone, e.g. APFS); directories get their mode after their children are written, so read-only
 * directories copy too. Sockets, FIFOs and devices are skipped with a warning: they are not app files.
 */
export async function copyEntry(from: string, to: string, log: Logger): Promise<void> {
  const st = await lstat(from);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(from), to);
    await lutimes(to, st.atime, st.mtime).catch(() => {
      // Not every platform can set a link's own times; the link target string is what matters.
    });
  } else if (st.isFile()) {
    await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    await chmod(to, st.mode & 0o7777);
    await utimes(to, st.atime, st.mtime);
  } else if (st.isDirectory()) {
    await mkdir(to, { mode: 0o700 });
    for (const name of await readdir(from)) await copyEntry(join(from, name), join(to, name), log);
    await chmod(to, st.mode & 0o7777);
    await utimes(to, st.atime, st.mtime);
  } else {
    log.warn(`skipped ${q(from)}: not a file, directory or symlink`);
  }
}

/**
 * fsyncs every regular file and directory from `path` down (symlinks are not followed), a few at a time, so
 * the staged tree is on disk before the swap makes it the installed app: without it a power cut soon after
 * the swap could leave empty files in the new version with the old one already deleted. Returns how many
 * entries were flushed. One that cannot be opened is logged and skipped: durability is best effort, and
 * refusing the update over it would help nobody.
 */
export async function flushTree(path: string, log: Logger, concurrency = 16): Promise<number> {
  const dirs: string[] = [path];
  const files: string[] = [];
  for (let i = 0; i < dirs.length; i++) {
    const dir = dirs[i] as string;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) dirs.push(join(dir, entry.name));
      else if (entry.isFile()) files.push(join(dir, entry.name));
    }
  }
  // Files before the directories that name them, deepest directories first.
  const queue = [...files, ...dirs.reverse()];
  let next = 0;
  let flushed = 0;
  const flushSome = async () => {
    while (next < queue.length) {
      const p = queue[next++] as string;
      try {
        const fh = await open(p, constants.O_RDONLY);
        try {
          await fh.sync();
          flushed++;
        } finally {
          await fh.close();
        }
      } catch (err) {
        log.warn(`could not flush ${q(p)} to disk (${errnoCode(err) ?? String(err)}); continuing`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, flushSome));
  return flushed;
}

/** Gives the owner rwx on every directory below `path` (not following links), so its entries can be unlinked. */
async function makeDirsWritable(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await chmod(path, (st.mode & 0o7777) | 0o700);
  for (const name of await readdir(path)) await makeDirsWritable(join(path, name));
}

/** Removes `path` and everything below it without following symlinks; read-only directories do not stop it. */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    await makeDirsWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

/**
 * Removes directory `path` one top-level entry at a time, calling `between` after each, so a crash test can
 * land inside a long deletion (and recovery has to continue a half-removed backup).
 */
export async function removeTreeStepwise(path: string, between: () => Promise<void>): Promise<void> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (err) {
    if (isNotFound(err)) return;
    if (errnoCode(err) !== 'EACCES') throw err;
    await makeDirsWritable(path);
    names = await readdir(path);
  }
  const st = await lstat(path);
  if ((st.mode & 0o700) !== 0o700) await chmod(path, (st.mode & 0o7777) | 0o700);
  for (const name of names) {
    await removeTree(join(path, name));
    await between();
  }
  try {
    await rmdir(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
