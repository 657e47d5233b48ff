// Releases: adding a bundle (archive and patch), withdrawing the latest release, pruning old ones, and reading the
// targets as releases per app.
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { hashFile, pathExists, sameDigest } from '@tufup/common';
import {
  type MetadataStore,
  assertChannelName,
  assertPlatform,
  assertRolloutPercent,
  buildTargetName,
  DEFAULT_CHANNEL,
  compareVersions,
  formatTargetName,
  isPrerelease,
  makeArchiveCustom,
  makePatchCustom,
  parseVersion,
  readArchiveCustom,
  readPatchCustom,
  tryParseTargetName,
} from '@tufup/metadata';
import { assertAppName } from '../config.js';
import { RepoError } from '../errors.js';
import type { Publication } from '@tufup/metadata';
import type { AppReleases, ReleaseEntry, TargetEntry } from '../reports.js';
import { runChange } from './change.js';
import { findTargetFile, targetFileName, targetFileNames } from './target-files.js';
import { type RepoState, isDirectory } from './state.js';
import type { AddBundleOptions, PruneOptions, PublishResult, RemoveLatestOptions } from './types.js';

/** The tufup targets of the store with their custom metadata (what `targets list` shows). */
export function targetEntries(store: MetadataStore): TargetEntry[] {
  const out: TargetEntry[] = [];
  for (const { path: filename, target: t, role } of store.listTargets()) {
    const parsed = tryParseTargetName(filename);
    if (!parsed) continue;
    const entry: TargetEntry = {
      filename,
      app: parsed.name,
      version: parsed.version,
      kind: parsed.kind,
      length: t.length,
      sha256: t.hashes.sha256 ?? '',
      ...(role !== 'targets' ? { role } : {}),
    };
    const custom = t.unrecognizedFields.custom;
    let platform: string | undefined;
    try {
      if (parsed.kind === 'archive') {
        const c = readArchiveCustom(custom);
        entry.required = c.required;
        entry.user = c.user ?? null;
        platform = c.platform;
        entry.channel = c.channel;
        entry.rolloutPercent = c.rolloutPercent;
        entry.yanked = c.yanked;
        if (c.yankReason !== undefined) entry.yankReason = c.yankReason;
      } else {
        const c = readPatchCustom(custom);
        entry.tarSize = c.tarSize;
        entry.tarHash = c.tarHash;
        platform = c.platform;
      }
    } catch {
      // Reported by verify; listing still shows the file.
    }
    // A platform build `<app>-<platform>-<v>` is listed under its app, with its platform.
    if (platform !== undefined && parsed.name.endsWith(`-${platform}`)) {
      entry.app = parsed.name.slice(0, -platform.length - 1);
      entry.platform = platform;
    }
    out.push(entry);
  }
  return out;
}

/**
 * The targets grouped into releases per app and platform build (platform-less first), in version order, with
 * where the patch chain breaks. `platformFilter`: undefined → every build; null → the platform-less releases
 * only; a token → that platform's builds only.
 */
export function appReleases(
  entries: TargetEntry[],
  appFilter?: string,
  platformFilter?: string | null,
): AppReleases[] {
  const byBuild = new Map<string, { app: string; platform?: string; versions: Map<string, ReleaseEntry> }>();
  for (const e of entries) {
    if (appFilter !== undefined && e.app !== appFilter) continue;
    if (platformFilter !== undefined && (e.platform ?? null) !== platformFilter) continue;
    const key = `${e.app}\u0000${e.platform ?? ''}`;
    const build = byBuild.get(key) ?? {
      app: e.app,
      ...(e.platform !== undefined ? { platform: e.platform } : {}),
      versions: new Map<string, ReleaseEntry>(),
    };
    byBuild.set(key, build);
    const { versions } = build;
    let release = versions.get(e.version);
    if (!release) {
      release = { version: e.version, prerelease: isPrerelease(e.version), required: false };
      versions.set(e.version, release);
    }
    if (e.kind === 'archive') {
      release.archive = e;
      release.required = e.required ?? false;
      if (e.channel !== undefined) release.channel = e.channel;
      if (e.rolloutPercent !== undefined) release.rolloutPercent = e.rolloutPercent;
      if (e.yanked) release.yanked = true;
    } else release.patch = e;
  }
  return [...byBuild.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { app, platform, versions }]) => {
      const releases = [...versions.values()].sort((a, b) => compareVersions(a.version, b.version));
      const latest = releases.filter((r) => r.archive).at(-1)?.version;
      return {
        app,
        ...(platform !== undefined ? { platform } : {}),
        releases,
        ...(latest !== undefined ? { latest } : {}),
        patchChainBreaks: releases
          .slice(1)
          .filter((r) => !r.patch)
          .map((r) => r.version),
      };
    });
}

/** The target file names of releases (archive and patch). */
function filesOf(releases: readonly ReleaseEntry[]): string[] {
  return releases.flatMap((r) => [r.archive?.filename, r.patch?.filename]).filter((f): f is string => !!f);
}

/** Releases per app (all apps, or one). */
export async function listApps(state: RepoState, appName?: string): Promise<AppReleases[]> {
  return appReleases(targetEntries(await state.loadStore()), appName);
}

/** Archive a bundle as a new release, with a patch from the app's previous release, and publish it. */
export async function addBundle(
  state: RepoState,
  opts: AddBundleOptions,
): Promise<PublishResult & { archive: TargetEntry; patch?: TargetEntry }> {
  const appName = assertAppName(opts.appName ?? state.config.appName);
  const version = parseVersion(opts.version);
  const platform = opts.platform === undefined ? undefined : assertPlatform(opts.platform);
  const channel = opts.channel === undefined ? undefined : assertChannelName(opts.channel);
  const rolloutPercent =
    opts.rolloutPercent === undefined ? undefined : assertRolloutPercent(opts.rolloutPercent);
  const buildName = buildTargetName(appName, platform);
  const build = platform === undefined ? appName : `${appName} (${platform})`;
  const archiveName = formatTargetName(buildName, version, 'archive');
  const patchName = formatTargetName(buildName, version, 'patch');
  const bundleDir = resolve(state.ctx.cwd ?? process.cwd(), opts.bundleDir);
  if (!(await isDirectory(bundleDir))) {
    throw (await pathExists(bundleDir))
      ? new RepoError({
          code: 'BUNDLE_NOT_DIRECTORY',
          message: `bundle path ${opts.bundleDir} is not a directory (give the directory that holds the app)`,
        })
      : new RepoError({
          code: 'BUNDLE_NOT_FOUND',
          message: `bundle directory ${opts.bundleDir} does not exist`,
        });
  }
  if ((await readdir(bundleDir)).length === 0) {
    throw new RepoError({ code: 'BUNDLE_EMPTY', message: `bundle directory ${opts.bundleDir} is empty` });
  }
  let previous: TargetEntry | undefined;
  let archive: TargetEntry | undefined;
  let patch: TargetEntry | undefined;
  const result = await runChange(state, {
    command: `targets add ${version}`,
    summary: `targets add ${build} ${version}`,
    keyDirs: opts.keyDirs,
    partial: Boolean(opts.partial),
    roles: ['targets'],
    targetPaths: () => (previous && !opts.skipPatch ? [archiveName, patchName] : [archiveName]),
    prepare: (store) => {
      // Each platform build has its own history: its patch goes from that build's previous release, the newest
      // archive (the last of equal versions, as a stable sort would leave it), found in one pass.
      for (const e of targetEntries(store)) {
        if (e.app !== appName || e.platform !== platform || e.kind !== 'archive') continue;
        if (!previous || compareVersions(e.version, previous.version) >= 0) previous = e;
      }
      if (previous && compareVersions(version, previous.version) <= 0) {
        throw new RepoError({
          code: 'VERSION_NOT_NEWER',
          message: `${build} ${version} is not newer than the latest release ${previous.version}`,
        });
      }
      if (store.getTarget(archiveName) || store.getTarget(patchName)) {
        throw new RepoError({
          code: 'VERSION_NOT_NEWER',
          message: `${archiveName} is already in the repository`,
        });
      }
    },
    apply: async (store, publication) => {
      const scratch = await publication.scratchDir();
      const newTar = join(scratch, 'new.tar');
      const archivePath = publication.stagedPath(`targets/${archiveName}`);
      await mkdir(dirname(archivePath), { recursive: true });
      state.logger.debug(`archiving ${bundleDir}`);
      const { createArchive } = await import('@tufup/archive');
      const made = await createArchive(bundleDir, archivePath, {
        tarPath: newTar,
        ...state.progressOpts(),
      });
      await placeTargetFile(publication, archiveName, targetFileName(store, archiveName, made.gzip.sha256));
      const user = opts.userMeta ?? null;
      store.addTarget(archiveName, {
        length: made.gzip.size,
        sha256: made.gzip.sha256,
        custom: makeArchiveCustom({
          required: Boolean(opts.required),
          user,
          ...(platform !== undefined ? { platform } : {}),
          ...(channel !== undefined ? { channel } : {}),
          ...(rolloutPercent !== undefined ? { rolloutPercent } : {}),
        }),
      });
      archive = {
        filename: archiveName,
        app: appName,
        version,
        kind: 'archive',
        length: made.gzip.size,
        sha256: made.gzip.sha256,
        required: Boolean(opts.required),
        user,
        ...(platform !== undefined ? { platform } : {}),
        channel: channel ?? DEFAULT_CHANNEL,
        rolloutPercent: rolloutPercent ?? 100,
        yanked: false,
      };
      if (previous && !opts.skipPatch) {
        patch = await makePatch(state, store, previous, newTar, made.tar, patchName, publication, scratch);
        if (platform !== undefined) {
          patch.app = appName;
          patch.platform = platform;
        }
        store.addTarget(patchName, {
          length: patch.length,
          sha256: patch.sha256,
          custom: makePatchCustom({
            tarSize: made.tar.size,
            tarHash: made.tar.sha256,
            ...(platform !== undefined ? { platform } : {}),
          }),
        });
      }
      await rm(newTar, { force: true });
    },
  });
  return { ...result, archive: archive as TargetEntry, ...(patch ? { patch } : {}) };
}

/** Diff the previous release's tar (from its archive, checked against its signed hash) to the new tar. */
async function makePatch(
  state: RepoState,
  store: MetadataStore,
  previous: TargetEntry,
  newTar: string,
  newTarInfo: { size: number; sha256: string },
  patchName: string,
  publication: Publication,
  scratch: string,
): Promise<TargetEntry> {
  const consistent = store.root.signed.consistentSnapshot;
  const prevPath = await findTargetFile(state.targetsDir, previous.filename, previous.sha256, consistent);
  if (prevPath === undefined) {
    throw new RepoError({
      code: 'TARGET_FILE_MISSING',
      message: `${previous.filename} is in targets.json but not in ${state.targetsDir}: cannot make the patch (pass --skip-patch to publish without one)`,
    });
  }
  const onDisk = await hashFile(prevPath, state.signalOpts());
  if (onDisk.size !== previous.length || !sameDigest(onDisk.sha256, previous.sha256)) {
    throw new RepoError({
      code: 'METADATA_CORRUPT',
      message: `${previous.filename} on disk does not match its length/sha256 in targets.json: refusing to diff against it`,
    });
  }
  // Patches are made between uncompressed tars (python tufup 0.6+); the previous tar comes from its archive.
  const { gunzipToTar } = await import('@tufup/archive');
  const oldTar = join(scratch, 'old.tar');
  await gunzipToTar(prevPath, oldTar, state.progressOpts());
  const patchPath = publication.stagedPath(`targets/${patchName}`);
  state.logger.debug(`diffing ${previous.version} → ${patchName} (${state.config.patchFormat})`);
  const { diffOffThread } = await import('../diff-thread.js');
  const made = await diffOffThread(oldTar, newTar, patchPath, {
    format: state.config.patchFormat,
    ...state.progressOpts(),
  });
  await placeTargetFile(publication, patchName, targetFileName(store, patchName, made.sha256));
  await rm(oldTar, { force: true });
  const parsed = tryParseTargetName(patchName);
  return {
    filename: patchName,
    app: parsed?.name ?? '',
    version: parsed?.version ?? '',
    kind: 'patch',
    length: made.size,
    sha256: made.sha256,
    tarSize: newTarInfo.size,
    tarHash: newTarInfo.sha256,
  };
}

/**
 * A target file written at its plain staged name goes in under `file` (its hash-prefixed name with consistent
 * snapshots: the hash is known only once it is written).
 */
async function placeTargetFile(publication: Publication, name: string, file: string): Promise<void> {
  if (file !== name)
    await rename(publication.stagedPath(`targets/${name}`), publication.stagedPath(`targets/${file}`));
  publication.add(`targets/${file}`);
}

/** Withdraw the app's latest release (archive and its patch). */
export async function removeLatest(
  state: RepoState,
  opts: RemoveLatestOptions,
): Promise<PublishResult & { removed: string[]; version: string }> {
  const appName = assertAppName(opts.appName ?? state.config.appName);
  const platform = opts.platform === undefined ? null : assertPlatform(opts.platform);
  const removed: string[] = [];
  let latest: ReleaseEntry | undefined;
  const result = await runChange(state, {
    command: 'targets remove-latest',
    summary: `targets remove-latest ${appName}`,
    keyDirs: opts.keyDirs,
    partial: Boolean(opts.partial),
    roles: ['targets'],
    targetPaths: () => filesOf(latest ? [latest] : []),
    prepare: (store) => {
      const [app] = appReleases(targetEntries(store), appName, platform);
      latest = app?.releases.filter((r) => r.archive).at(-1);
      if (!latest)
        throw new RepoError({ code: 'NO_TARGETS', message: `${appName} has no releases to remove` });
    },
    apply: async (store, publication) => {
      for (const e of [latest?.archive, latest?.patch]) {
        if (!e) continue;
        store.removeTarget(e.filename);
        for (const file of targetFileNames(e.filename, e.sha256)) publication.delete(`targets/${file}`);
        removed.push(e.filename);
      }
    },
  });
  return { ...result, removed, version: latest?.version ?? '' };
}

/** Delete all but the newest `keep` versions of the app (each kept version keeps its archive and patch). */
export async function prune(
  state: RepoState,
  opts: PruneOptions,
): Promise<PublishResult & { removed: string[] }> {
  const appName = assertAppName(opts.appName ?? state.config.appName);
  if (!Number.isSafeInteger(opts.keep) || opts.keep < 1) {
    throw new RepoError({ code: 'INVALID_ARGUMENT', message: '--keep must be at least 1' });
  }
  const platform = opts.platform === undefined ? null : assertPlatform(opts.platform);
  const removed: string[] = [];
  let doomed: ReleaseEntry[] = [];
  const result = await runChange(state, {
    command: 'targets prune',
    summary: `targets prune ${appName} --keep ${opts.keep}`,
    keyDirs: opts.keyDirs,
    partial: Boolean(opts.partial),
    roles: ['targets'],
    targetPaths: () => filesOf(doomed),
    prepare: (store) => {
      const [app] = appReleases(targetEntries(store), appName, platform);
      const releases = app?.releases ?? [];
      doomed = releases.slice(0, Math.max(0, releases.length - opts.keep));
      if (doomed.length === 0) {
        throw new RepoError({
          code: 'NO_TARGETS',
          message: `${appName} has ${releases.length} version(s): nothing older than the newest ${opts.keep} to prune`,
        });
      }
      for (const r of doomed) {
        if (r.required)
          state.logger.warn(`pruning required release ${r.version}: older clients no longer stop at it`);
      }
    },
    apply: async (store, publication) => {
      for (const r of doomed) {
        for (const e of [r.archive, r.patch]) {
          if (!e) continue;
          store.removeTarget(e.filename);
          for (const file of targetFileNames(e.filename, e.sha256)) publication.delete(`targets/${file}`);
          removed.push(e.filename);
        }
      }
    },
  });
  return { ...result, removed };
}
