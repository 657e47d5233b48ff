// An "installed app" for client tests: install dir, shipped root, target cache, and a rename installer.
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { InstallRequest, Installer } from '@tufup/common';
import { Client, type ClientOptions } from '../../src/index.js';

export interface AppDirs {
  root: string;
  installDir: string;
  metadataDir: string;
  targetDir: string;
}

/** Fresh dirs under `root`: `<root>/apps/<name>` (install), `<root>/cache/{metadata,targets}`. */
export async function appDirs(root: string, name = 'app'): Promise<AppDirs> {
  const dirs = {
    root,
    installDir: join(root, 'apps', name),
    metadataDir: join(root, 'cache', 'metadata'),
    targetDir: join(root, 'cache', 'targets'),
  };
  await mkdir(join(root, 'apps'), { recursive: true });
  await mkdir(dirs.metadataDir, { recursive: true });
  await mkdir(dirs.targetDir, { recursive: true });
  return dirs;
}

/** Put the current version's archive in the target cache, as an installer of the app would. */
export async function cacheArchive(dirs: AppDirs, archivePath: string, filename: string): Promise<void> {
  // read + write, not copyFile: the fixture's files are read-only and the copy must not inherit that.
  await writeFile(join(dirs.targetDir, filename), await readFile(archivePath));
}

/** Ship `rootPath` as the app's trusted root.json (writable: tuf-js replaces it on rotation). */
export async function shipRoot(dirs: AppDirs, rootPath: string): Promise<void> {
  await writeFile(join(dirs.metadataDir, 'root.json'), await readFile(rootPath));
}

export function makeClient(
  dirs: AppDirs,
  serverUrl: string,
  appName: string,
  currentVersion: string,
  extra: Partial<ClientOptions> = {},
): Client {
  return new Client({
    appName,
    currentVersion,
    installDir: dirs.installDir,
    metadataDir: dirs.metadataDir,
    targetDir: dirs.targetDir,
    metadataBaseUrl: `${serverUrl}/metadata/`,
    targetBaseUrl: `${serverUrl}/targets/`,
    ...extra,
    fetcherOptions: { retryDelayMs: 5, maxRetryDelayMs: 20, timeoutMs: 5000, ...extra.fetcherOptions },
  });
}

/** The installer tests use: replace the install dir by the staged dir (same volume, so a rename). */
export function renameInstaller(calls: InstallRequest[] = []): Installer {
  return async (request) => {
    calls.push(request);
    await rm(request.dstDir, { recursive: true, force: true });
    await rename(request.srcDir, request.dstDir);
  };
}

export interface TreeEntry {
  type: 'file' | 'symlink';
  size?: number;
  sha256?: string;
  mode?: string;
  link?: string;
}

/** Files and symlinks under `dir` (posix relative paths), with size, sha256 and permission bits. */
export async function treeOf(dir: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = join(d, name);
      const rel = relative(dir, p).split(sep).join('/');
      const st = await lstat(p);
      if (st.isSymbolicLink()) out[rel] = { type: 'symlink', link: await readlink(p) };
      else if (st.isDirectory()) await walk(p);
      else {
        const bytes = await readFile(p);
        out[rel] = {
          type: 'file',
          size: st.size,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          mode: `0o${(st.mode & 0o777).toString(8)}`,
        };
      }
    }
  };
  await walk(dir);
  return out;
}

/** Entries of `dir` starting with `prefix` (e.g. staging dirs next to the install dir). */
export async function entriesStartingWith(dir: string, prefix: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith(prefix));
}
