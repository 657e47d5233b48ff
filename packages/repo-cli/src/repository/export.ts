// `tufup export`: the verified bundle of a published version, as a first install (your own installer) ships it.
import { createReadStream } from 'node:fs';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '@tufup/archive';
import {
  type OnProgress,
  isTufupError,
  makeTempDir,
  pathExists,
  readdirOrEmpty,
  writeStreamAtomic,
} from '@tufup/common';
import {
  MetadataStore,
  buildTargetName,
  compareVersions,
  isValidVersion,
  readArchiveCustom,
  readPatchCustom,
  tryParseTargetName,
} from '@tufup/metadata';
import { RepoError } from '../errors.js';
import { findTargetFile } from './target-files.js';

/** What an export reads of a repository (a `Repository` is one). */
export interface ExportSource {
  readonly metadataDir: string;
  readonly targetsDir: string;
  readonly config: { readonly appName: string };
}

export interface ExportOptions {
  /** The app whose release is exported (default: the config's app_name). */
  appName?: string;
  /** That platform's build (`<app>-<platform>-<version>.tar.gz`; default: the platform-less release). */
  platform?: string;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

export interface ExportResult {
  appName: string;
  /** The version as published (an export of `1.0.0` finds the published `1.0`). */
  version: string;
  archive: string;
  outDir: string;
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
  /**
   * `bundled`: the archive carries `root.json` at its top (the recommended way: the install dir then equals
   * the archive, so the client's first update is a patch). `added`: the archive has none, so the
   * repository's current root.json was written to `outDir/root.json`; the install dir then differs from the
   * archive and the first update after this install downloads the full archive.
   */
  rootJson: 'bundled' | 'added';
}

/**
 * Writes the bundle of a published release into `outDir` (missing or empty): the repository's metadata is
 * checked as a client shipped with `1.root.json` would check it (root chain, every role's signatures and
 * versions; expiry aside, since a release machine may export from metadata that waits for its daily
 * re-signing), the archive is copied out and checked against its signed length and hashes, and only then is
 * the copy extracted, with the same safe extraction as the client, bounded by the signed tar size.
 */
export async function exportRelease(
  repo: ExportSource,
  version: string,
  outDir: string,
  opts: ExportOptions = {},
): Promise<ExportResult> {
  const appName = opts.appName ?? repo.config.appName;
  const buildName = buildTargetName(appName, opts.platform);
  if (!isValidVersion(version)) {
    throw new RepoError({
      code: 'INVALID_VERSION',
      message: `${JSON.stringify(version)} is not a PEP 440 version`,
    });
  }
  if ((await readdirOrEmpty(outDir)).length > 0) {
    throw new RepoError({
      code: 'OUTPUT_NOT_EMPTY',
      message: `${outDir} is not empty: export into a new directory`,
    });
  }
  const store = await verifiedMetadata(repo.metadataDir);
  const release = store
    .targetPaths()
    .map((path) => ({ path, name: tryParseTargetName(path) }))
    .filter(({ name }) => name?.name === buildName && compareVersions(name.version, version) === 0);
  const archive = release.find(
    ({ path, name }) =>
      name?.kind === 'archive' &&
      readArchiveCustom(store.getTarget(path)?.unrecognizedFields.custom).platform === opts.platform,
  );
  if (!archive) {
    throw new RepoError({
      code: 'RELEASE_NOT_FOUND',
      message: `${appName}${opts.platform ? ` (${opts.platform})` : ''} ${version} is not published in ${repo.metadataDir}/targets.json`,
    });
  }
  const patch = release.find(({ name }) => name?.kind === 'patch');
  const tarSize = patch
    ? readPatchCustom(store.getTarget(patch.path)?.unrecognizedFields.custom).tarSize
    : undefined;
  const signed = store.getTarget(archive.path)!;
  const source = await findTargetFile(
    repo.targetsDir,
    archive.path,
    signed.hashes.sha256 ?? '',
    store.root.signed.consistentSnapshot,
  );
  if (source === undefined) {
    throw new RepoError({
      code: 'TARGET_FILE_MISSING',
      message: `${archive.path} is in targets.json but not in ${repo.targetsDir}`,
    });
  }

  const scratch = await makeTempDir('tufup-export-');
  try {
    // The bytes extracted are the bytes verified: a private copy, checked, then read again from there.
    const copy = join(scratch, archive.path);
    await writeStreamAtomic(copy, createReadStream(source), opts.signal ? { signal: opts.signal } : {});
    try {
      await signed.verify(createReadStream(copy));
    } catch (cause) {
      throw new RepoError({
        code: 'METADATA_CORRUPT',
        message: `${archive.path} does not match its signed length and hashes in targets.json`,
        cause,
      });
    }
    const extracted = await extractArchive(copy, outDir, {
      ...(tarSize !== undefined ? { maxBytes: tarSize } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let rootJson: ExportResult['rootJson'] = 'bundled';
    if (!(await pathExists(join(outDir, 'root.json')))) {
      await copyFile(join(repo.metadataDir, 'root.json'), join(outDir, 'root.json'));
      rootJson = 'added';
    }
    return {
      appName,
      version: archive.name!.version,
      archive: archive.path,
      outDir,
      ...extracted,
      rootJson,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The repository's metadata, verified as a client would (1.root.json → the latest root → every role). */
async function verifiedMetadata(metadataDir: string): Promise<MetadataStore> {
  try {
    const store = await MetadataStore.load(metadataDir);
    await store.verify({ ignoreExpiry: true });
    return store;
  } catch (cause) {
    if (isTufupError(cause) && cause.name !== 'MetadataError') throw cause;
    throw new RepoError({
      code: 'METADATA_CORRUPT',
      message: `${metadataDir} does not verify: ${(cause as Error).message}`,
      cause,
    });
  }
}
