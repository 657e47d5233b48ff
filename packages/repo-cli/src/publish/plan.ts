// What a publish must make the destination serve: every object the local repository's current state references
// (from timestamp down to each target file), with its bytes' source, sha256, headers and upload rank.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isNotFound, readFileOrUndefined } from '@tufup/common';
import { metadataFileNames, targetFilePath } from '@tufup/metadata';
import { createHash } from 'node:crypto';
import { RepoError } from '../errors.js';
import type { RepoState } from '../repository/state.js';

/**
 * Upload ranks: an object is written only once every object of a lower rank is. A client reads timestamp →
 * snapshot → targets (→ delegated targets) → target files, so each file exists before anything that names it.
 * Versioned roots come before root.json, and all roots before the timestamp that may be signed by a new key.
 */
export const RANK = {
  target: 0,
  delegated: 1,
  targets: 2,
  snapshot: 3,
  versionedRoot: 4,
  rootJson: 5,
  timestamp: 6,
} as const;

export interface PlannedObject {
  key: string;
  rank: number;
  /** Never served with other bytes under this name: cached for a year by CDNs and browsers. */
  immutable: boolean;
  /** A versioned metadata name (`N.root.json`, `N.snapshot.json`...): other remote bytes mean another history. */
  versionedMetadata: boolean;
  contentType: string;
  size: number;
  sha256: string;
  /** Metadata is held in memory; target files are read (and hashed) when uploaded. */
  body: Buffer | { path: string };
}

export interface LocalPlan {
  consistent: boolean;
  timestampVersion: number;
  objects: PlannedObject[];
}

export function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.gz') || key.endsWith('.tgz')) return 'application/gzip';
  return 'application/octet-stream';
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Role and target names become object keys: refuse anything that could leave metadata/ or targets/. */
function safeRelative(path: string, what: string): string {
  if (
    path.split('/').some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || p.includes('\0'))
  ) {
    throw new RepoError({
      code: 'METADATA_CORRUPT',
      message: `${what} "${path}" is not a safe relative path`,
    });
  }
  return path;
}

/**
 * The objects of the repository's current state. The local metadata must verify (signatures, thresholds, links,
 * expiry: an expired timestamp is refused, publish after `tufup sign timestamp -e`); a file the state needs that is
 * missing locally is TARGET_FILE_MISSING / METADATA_CORRUPT.
 */
export async function planLocal(state: RepoState): Promise<LocalPlan> {
  const store = await state.loadStore();
  await store.verify();
  const consistent = store.root.signed.consistentSnapshot;
  const objects: PlannedObject[] = [];
  const meta = async (name: string, rank: number, version: number | undefined, immutable: boolean) => {
    const bytes = await readFileOrUndefined(join(state.metadataDir, name));
    if (!bytes) throw new RepoError({ code: 'METADATA_CORRUPT', message: `metadata/${name} is missing` });
    if (version !== undefined) {
      let parsed: { signed?: { version?: unknown } } | undefined;
      try {
        parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
      } catch {}
      if (parsed?.signed?.version !== version) {
        throw new RepoError({
          code: 'METADATA_CORRUPT',
          message: `metadata/${name} is not version ${version} (the version the repository's state names)`,
        });
      }
    }
    objects.push({
      key: `metadata/${name}`,
      rank,
      immutable,
      versionedMetadata: immutable,
      contentType: 'application/json',
      size: bytes.length,
      sha256: sha256(bytes),
      body: bytes,
    });
    return bytes;
  };
  /** `N.<role>.json` (consistent snapshots) is immutable; the plain name is replaced by each publish. */
  const roleFiles = async (role: string, version: number, rank: number) => {
    let text: Buffer | undefined;
    for (const name of metadataFileNames(role, version, consistent)) {
      const bytes = await meta(name, rank, version, name !== `${role}.json`);
      text ??= bytes;
    }
    return text as Buffer;
  };

  const targetFiles: Array<{ path: string; length: number; sha256: string }> = [];
  const collectTargets = (json: Buffer, role: string) => {
    const signed = (JSON.parse(json.toString('utf8')) as { signed?: { targets?: unknown } }).signed;
    const targets = (signed?.targets ?? {}) as Record<
      string,
      { length?: unknown; hashes?: { sha256?: unknown } }
    >;
    for (const [path, t] of Object.entries(targets)) {
      if (typeof t.length !== 'number' || typeof t.hashes?.sha256 !== 'string') {
        throw new RepoError({
          code: 'METADATA_CORRUPT',
          message: `target ${path} in ${role} has no length or sha256 (publish needs both)`,
        });
      }
      targetFiles.push({
        path: safeRelative(path, 'target path'),
        length: t.length,
        sha256: t.hashes.sha256,
      });
    }
  };

  const rootVersion = store.root.signed.version;
  for (let v = 1; v <= rootVersion; v++) await meta(`${v}.root.json`, RANK.versionedRoot, v, true);
  await meta('root.json', RANK.rootJson, rootVersion, false);
  const snapshotVersion = store.snapshot.signed.version;
  await roleFiles('snapshot', snapshotVersion, RANK.snapshot);
  collectTargets(await roleFiles('targets', store.targets.signed.version, RANK.targets), 'targets');
  // Delegated targets roles: every other role snapshot lists, at the version it lists.
  for (const [file, info] of Object.entries(store.snapshot.signed.meta)) {
    if (file === 'targets.json') continue;
    const role = safeRelative(file.replace(/\.json$/, ''), 'role name');
    collectTargets(await roleFiles(role, info.version, RANK.delegated), role);
  }
  await meta('timestamp.json', RANK.timestamp, store.timestamp.signed.version, false);

  const seen = new Set<string>();
  for (const t of targetFiles) {
    const served = targetFilePath(t.path, t.sha256, consistent);
    const key = `targets/${served}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // A consistent-snapshot repository may keep its files under the hash-prefixed name or under the plain one.
    const candidates = consistent ? [served, t.path] : [t.path];
    let path: string | undefined;
    for (const c of candidates) {
      const p = join(state.targetsDir, ...c.split('/'));
      const s = await stat(p).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (s?.isFile()) {
        if (s.size !== t.length) {
          throw new RepoError({
            code: 'TARGET_FILE_MISSING',
            message: `targets/${c} is ${s.size} bytes, metadata says ${t.length}`,
          });
        }
        path = p;
        break;
      }
    }
    if (!path) {
      throw new RepoError({ code: 'TARGET_FILE_MISSING', message: `targets/${t.path} is missing` });
    }
    objects.push({
      key,
      rank: RANK.target,
      immutable: true,
      versionedMetadata: false,
      contentType: contentTypeOf(key),
      size: t.length,
      sha256: t.sha256,
      body: { path },
    });
  }
  return { consistent, timestampVersion: store.timestamp.signed.version, objects };
}
