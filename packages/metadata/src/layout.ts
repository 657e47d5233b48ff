// Where a repository state's files live: the one rule for metadata and target file names, with and without
// TUF consistent snapshots (`consistent_snapshot` in root). Writers, publishers and clients all use these.
import type { RoleName } from './roles.js';

/**
 * The metadata file names a role version is served under, the one clients read first. Root is always
 * `N.root.json` (the chain clients walk) plus `root.json`; timestamp always `timestamp.json`; with consistent
 * snapshots the others are `N.<role>.json` (what clients read) plus the plain name (what python tufup's tools
 * and older readers look for); without, only `<role>.json`.
 */
export function metadataFileNames(role: RoleName | string, version: number, consistent: boolean): string[] {
  if (role === 'root') return [`${version}.root.json`, 'root.json'];
  if (role === 'timestamp') return ['timestamp.json'];
  return consistent ? [`${version}.${role}.json`, `${role}.json`] : [`${role}.json`];
}

/**
 * The path a target is served under, relative to the targets base: with consistent snapshots the file name gets
 * its sha256 as a prefix (`dir/<sha256>.<name>`, as python-tuf and tuf-js download it), else the path itself.
 */
export function targetFilePath(path: string, sha256: string, consistent: boolean): string {
  if (!consistent) return path;
  const slash = path.lastIndexOf('/');
  return `${path.slice(0, slash + 1)}${sha256}.${path.slice(slash + 1)}`;
}
