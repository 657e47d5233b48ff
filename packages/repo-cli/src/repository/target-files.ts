// Where a target's file lives in `targets/`: `<name>`, or `<sha256>.<name>` with consistent snapshots (the
// @tufup/metadata layout rule), so every reader and writer of target files agrees with what clients request.
import { join } from 'node:path';
import { pathExists } from '@tufup/common';
import { type MetadataStore, targetFilePath } from '@tufup/metadata';

/** The target's file name under `targets/` in the store's layout (root's `consistent_snapshot`). */
export function targetFileName(store: MetadataStore, name: string, sha256: string): string {
  return targetFilePath(name, sha256, store.root.signed.consistentSnapshot);
}

/** Both names a target's file can have (plain, hash-prefixed): what removing a target deletes. */
export function targetFileNames(name: string, sha256: string): string[] {
  return [targetFilePath(name, sha256, false), targetFilePath(name, sha256, true)];
}

/**
 * The existing file of a target: the layout's name first, then the other layout's (a copy made before a
 * migration, or by another tool). Undefined when neither exists. Callers check the bytes against the signed hash.
 */
export async function findTargetFile(
  targetsDir: string,
  name: string,
  sha256: string,
  consistent: boolean,
): Promise<string | undefined> {
  for (const c of [consistent, !consistent]) {
    const path = join(targetsDir, targetFilePath(name, sha256, c));
    if (await pathExists(path)) return path;
  }
  return undefined;
}
