// Test fixtures: an old and a new app tree (modes, symlinks, read-only dirs) and exact listings to compare trees.
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_SOURCE } from './app.js';

/** One line per entry: path, type, mode (not for links), sha256 of content or the link target. '.' is the root. */
export async function listTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(rel: string): Promise<void> {
    const abs = rel === '.' ? root : join(root, rel);
    const st = await lstat(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) {
      out.set(rel, `link -> ${await readlink(abs)}`);
    } else if (st.isFile()) {
      const sha = createHash('sha256')
        .update(await readFile(abs))
        .digest('hex');
      out.set(rel, `file ${mode} ${sha}`);
    } else if (st.isDirectory()) {
      out.set(rel, `dir ${mode}`);
      for (const name of (await readdir(abs)).sort()) await walk(rel === '.' ? name : `${rel}/${name}`);
    } else {
      out.set(rel, `other ${mode}`);
    }
  }
  await walk('.');
  return out;
}

/**
 * What dstDir must look like after installing `newList` with `preserve` over `oldList`: the new tree, with the
 * preserved paths of the old one, in a root dir that keeps the old root's mode.
 */
export function expectedAfterPreserve(
  oldList: Map<string, string>,
  newList: Map<string, string>,
  preserve: string[],
): Map<string, string> {
  const out = new Map(newList);
  out.set('.', oldList.get('.') as string);
  for (const p of preserve) {
    if (!oldList.has(p)) continue;
    for (const k of [...out.keys()]) if (k === p || k.startsWith(`${p}/`)) out.delete(k);
    for (const [k, v] of oldList) if (k === p || k.startsWith(`${p}/`)) out.set(k, v);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function sortedEntries(m: Map<string, string>): [string, string][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function file(path: string, content: string, mode: number): Promise<void> {
  await writeFile(path, content);
  await chmod(path, mode);
}

/** The preserve list that goes with the fixtures: a file, a dir with a link inside, a file only the old tree has. */
export const PRESERVE = ['data/settings.json', 'data/user.db', 'cache', 'not-in-either.txt'];

/** Version 1.0 of the app. `appDir` is where app.mjs and VERSION go (e.g. Contents/MacOS in a .app). */
export async function makeOldTree(root: string, appDir = '.'): Promise<void> {
  await mkdir(root, { recursive: true });
  const app = join(root, appDir);
  await mkdir(app, { recursive: true });
  await file(join(app, 'app.mjs'), APP_SOURCE, 0o644);
  await file(join(app, 'VERSION'), '1.0\n', 0o644);
  await mkdir(join(root, 'bin'));
  await file(join(root, 'bin', 'tool'), '#!/bin/sh\necho old\n', 0o755);
  await mkdir(join(root, 'lib'));
  await file(join(root, 'lib', 'a.txt'), 'old a\n', 0o644);
  await file(join(root, 'lib', 'only-old.txt'), 'stale\n', 0o644);
  await symlink('a.txt', join(root, 'lib', 'link'));
  await mkdir(join(root, 'data'));
  await file(join(root, 'data', 'settings.json'), '{"theme":"dark"}\n', 0o600);
  await file(join(root, 'data', 'user.db'), 'user rows\n', 0o640);
  await mkdir(join(root, 'cache'), { mode: 0o700 });
  await file(join(root, 'cache', 'x.bin'), 'cached bytes\n', 0o600);
  await symlink('x.bin', join(root, 'cache', 'ln'));
  await mkdir(join(root, 'ro'));
  await file(join(root, 'ro', 'f'), 'read only\n', 0o444);
  await chmod(join(root, 'ro'), 0o555);
  await chmod(root, 0o755);
}

/** Version 2.0: changed modes and links, a dir symlink, a dangling absolute link, odd names, a read-only dir. */
export async function makeNewTree(root: string, appDir = '.'): Promise<void> {
  await mkdir(root, { recursive: true });
  const app = join(root, appDir);
  await mkdir(app, { recursive: true });
  await file(join(app, 'app.mjs'), APP_SOURCE, 0o644);
  await file(join(app, 'VERSION'), '2.0\n', 0o644);
  await mkdir(join(root, 'bin'));
  await file(join(root, 'bin', 'tool'), '#!/bin/sh\necho new\n', 0o700);
  await mkdir(join(root, 'lib'));
  await file(join(root, 'lib', 'a.txt'), 'new a\n', 0o644);
  await file(join(root, 'lib', 'b.txt'), 'new b\n', 0o664);
  await symlink('b.txt', join(root, 'lib', 'link'));
  await symlink('../bin', join(root, 'lib', 'dirlink'));
  await mkdir(join(root, 'data'));
  await file(join(root, 'data', 'settings.json'), '{"theme":"light"}\n', 0o644);
  await mkdir(join(root, 'empty'), { mode: 0o750 });
  await chmod(join(root, 'empty'), 0o750);
  await file(join(root, 'file with spaces $x.txt'), 'odd name\n', 0o640);
  await symlink('/nonexistent/target', join(root, 'abs-link'));
  await mkdir(join(root, 'ro'));
  await file(join(root, 'ro', 'g'), 'read only too\n', 0o444);
  await chmod(join(root, 'ro'), 0o555);
  await chmod(root, 0o750);
}
