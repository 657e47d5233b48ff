// The in-app updater: check → plan → fetch → patch → verify → stage → hand off, one small step each, in order.
import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { basename, join } from 'node:path';
import { type InstallRequest, type Logger, isAbortError, silentLogger, throwIfAborted } from '@tufup/common';
import { type Channel, CHANNELS } from '@tufup/metadata';
import { UpdateCache, signedOf } from './cache.js';
import { cleanUpdateCache } from './cleanup.js';
import { type TargetFetcher, fetchTarget } from './downloads.js';
import { ClientError, TargetDownloadError, asClientError } from './errors.js';
import { DEFAULT_ARCHIVE_MTIME } from './first-install.js';
import { MirrorTransport } from './http/mirrors.js';
import { HttpTransport } from './http/transport.js';
import { loadInstallId } from './install-id.js';
import {
  type ApplyOptions,
  type CheckOptions,
  type ClientOptions,
  type UpdateInfo,
  type UpdateResult,
  hostPlatform,
  infoOf,
  validateOptions,
} from './options.js';
import { PatchChainError, type PatchStep, applyPatchChain } from './patching.js';
import { type UpdatePlan, needsInstallId, planUpdate } from './planner.js';
import { DownloadTracker, ProgressReporter } from './progress.js';
import { StagingArea } from './staging.js';
import { type SignedTarget, needsOlderReleases, readAppTargets } from './targets.js';
import type { Transport } from './transport.js';
import { isMixedState } from './tuf/errors.js';
import { type TrustedMetadata, refreshTrustedMetadata } from './tuf/refresh.js';
import { RefreshMemo } from './tuf/refresh-memo.js';

/** How long to wait before reading a repository again that was caught mid-publish (see isMixedState). */
const MIXED_STATE_RETRY_MS = 1000;

/** What checkForUpdates() found, for downloadAndApplyUpdate(). */
interface CheckedUpdate {
  plan: UpdatePlan;
  targets: SignedTarget[];
  metadata: TrustedMetadata;
  archive: SignedTarget;
  patches: SignedTarget[];
}

/** The new version's archive (a patched .tar or the downloaded .tar.gz) and the bound on what it unpacks to. */
interface NewArchive {
  path: string;
  maxBytes: number | undefined;
}

/** One update's downloads: where they go, how they are reported. */
interface UpdateRun {
  checked: CheckedUpdate;
  progress: ProgressReporter;
  fetcher: TargetFetcher;
  signal: AbortSignal | undefined;
}

/**
 * Checks a TUF repository made by tufup (ours or python's) for a newer release of the app and installs it:
 * `checkForUpdates()` refreshes the metadata and plans; `downloadAndApplyUpdate()` downloads the patch chain
 * (or the full archive), verifies every byte, stages the new version beside the install dir and calls the
 * installer. One operation at a time per Client.
 */
export class Client {
  readonly appName: string;
  readonly installDir: string;
  readonly currentVersion: string;
  /** The platform whose builds this client takes (when the repository has any for the app). */
  readonly platform: string;
  /** The release channel: releases of `stable` and of this channel are offered. */
  readonly channel: string;
  /** Why the last checkForUpdates() returned undefined without refreshing (refreshRequired false). */
  lastRefreshError: ClientError | undefined;
  readonly #opts: ClientOptions;
  readonly #logger: Logger;
  readonly #transport: Transport;
  /** The cache of the build the last check chose (the app's platform builds or its platform-less releases). */
  #cache: UpdateCache;
  readonly #staging: StagingArea;
  /** What the last refresh verified: a check that finds nothing new on the server skips re-verifying it. */
  readonly #refreshMemo = new RefreshMemo();
  #targetsRead: { metadata: TrustedMetadata; targets: SignedTarget[] } | undefined;
  #checked: CheckedUpdate | undefined;
  #busy = false;

  constructor(options: ClientOptions) {
    validateOptions(options);
    this.#opts = options;
    this.appName = options.appName;
    this.installDir = options.installDir;
    this.currentVersion = options.currentVersion;
    this.platform = options.platform ?? hostPlatform();
    this.channel = options.channel ?? 'stable';
    this.#logger = options.logger ?? silentLogger;
    const transport =
      options.transport ??
      new HttpTransport({
        ...options.fetcherOptions,
        ...(options.headers ? { headers: options.headers } : {}),
        ...(options.userAgent ? { userAgent: options.userAgent } : {}),
        logger: this.#logger,
      });
    this.#transport = options.mirrors?.length
      ? new MirrorTransport(transport, [options, ...options.mirrors], this.#logger)
      : transport;
    this.#cache = this.#cacheFor(options.appName);
    this.#staging = new StagingArea(options.installDir, this.#logger, options.stagingParentDir);
    if (!existsSync(join(options.metadataDir, 'root.json'))) {
      throw new ClientError({
        code: 'TRUSTED_ROOT_MISSING',
        message: `no trusted root.json in ${options.metadataDir}: ship the repository's root.json with the app`,
      });
    }
  }

  /**
   * Refresh the TUF metadata and plan the update. Undefined when up to date, and also when the refresh
   * fails with `refreshRequired` false: then `lastRefreshError` says why (and the logger got a warning).
   * APP_NOT_FOUND when the verified metadata has no release of `appName`.
   */
  async checkForUpdates(opts: CheckOptions = {}): Promise<UpdateInfo | undefined> {
    return this.#exclusive(async () => {
      throwIfAborted(opts.signal);
      this.#checked = undefined;
      this.lastRefreshError = undefined;
      const metadata = await this.#refresh(opts.signal);
      if (!metadata) return undefined;
      throwIfAborted(opts.signal);
      this.#checked = await this.#plan(metadata, opts);
      throwIfAborted(opts.signal);
      return this.#checked ? infoOf(this.#checked.plan) : undefined;
    });
  }

  /**
   * Download, verify and stage the update found by the last checkForUpdates(), then hand it to `install`.
   * Patches that fail (download mismatch, apply error, result not matching the signed tar hash) are marked
   * and the full archive is used in the same call. Afterwards the cache keeps only the new version's tar or
   * archive (what its next update patches), and the staging dir belongs to the installer.
   */
  async downloadAndApplyUpdate(opts: ApplyOptions): Promise<UpdateResult> {
    return this.#exclusive(async () => {
      const checked = this.#requireChecked();
      const run = this.#startRun(checked, opts);
      await this.#cache.ensureDir();
      await this.#pruneBefore(checked);
      const { archive, patchFailure } = await this.#obtain(run);
      const stagingDir = await this.#stage(archive, checked.plan.version, run);
      const result: UpdateResult = {
        version: checked.plan.version,
        mode: patchFailure || checked.patches.length === 0 ? 'full' : 'patch',
        downloaded: run.fetcher.downloaded,
        installed: false,
        ...(patchFailure ? { patchFailure } : {}),
      };
      if (opts.confirm && !(await opts.confirm(infoOf(checked.plan)))) {
        await rm(stagingDir, { recursive: true, force: true });
        this.#logger.info(`update to ${checked.plan.version} declined`);
        return result;
      }
      await this.#handOff(opts, checked.plan.version, stagingDir);
      await this.#pruneAfter(archive.path);
      this.#checked = undefined;
      return { ...result, installed: true, stagingDir };
    });
  }

  /**
   * Delete from the cache everything the next update from the running version can't use (other versions'
   * archives, tars and patches, partial downloads, temp files), and staging dirs of versions up to the
   * running one. Returns the names removed.
   */
  async cleanCache(): Promise<string[]> {
    return this.#exclusive(() =>
      cleanUpdateCache({
        appName: this.appName,
        currentVersion: this.currentVersion,
        targetDir: this.#opts.targetDir,
        installDir: this.installDir,
        platform: this.platform,
        ...(this.#opts.stagingParentDir ? { stagingParentDir: this.#opts.stagingParentDir } : {}),
        logger: this.#logger,
      }),
    );
  }

  // ---- check ------------------------------------------------------------------------------------------

  /** The verified metadata, or undefined when the refresh failed and that is allowed (refreshRequired false). */
  async #refresh(signal: AbortSignal | undefined): Promise<TrustedMetadata | undefined> {
    try {
      return await this.#refreshOnce(signal).catch(async (err: unknown) => {
        // A server caught mid-publish (old timestamp, new snapshot.json): one more refresh a moment later.
        if (!isMixedState(err)) throw err;
        this.#logger.info(
          `the repository changed while it was read; reading it again: ${(err as Error).message}`,
        );
        await delay(MIXED_STATE_RETRY_MS, undefined, { signal });
        return this.#refreshOnce(signal);
      });
    } catch (err) {
      throwIfAborted(signal);
      if (isAbortError(err)) throw err;
      const error = asClientError(err, 'METADATA_INVALID', 'metadata refresh failed') as ClientError;
      this.lastRefreshError = error;
      this.#logger.warn(`cannot refresh the update metadata: ${error.message}`);
      if (this.#opts.refreshRequired || error.code === 'TRUSTED_ROOT_MISSING') throw error;
      return undefined;
    }
  }

  #refreshOnce(signal: AbortSignal | undefined): Promise<TrustedMetadata> {
    return refreshTrustedMetadata({
      metadataDir: this.#opts.metadataDir,
      metadataBaseUrl: this.#opts.metadataBaseUrl,
      transport: this.#transport,
      config: this.#opts.tufConfig,
      signal,
      logger: this.#logger,
      memo: this.#refreshMemo,
      appName: this.appName,
      needsOlder: (targets) => needsOlderReleases(targets, this.appName, this.currentVersion, this.platform),
    });
  }

  // ---- plan -------------------------------------------------------------------------------------------

  /** The target cache for one build name (`<app>` or `<app>-<platform>`): its files are named by it. */
  #cacheFor(name: string): UpdateCache {
    return new UpdateCache(this.#opts.targetDir, name, this.#logger, {
      dir: this.#opts.installDir,
      mtime: this.#opts.archiveMtime ?? DEFAULT_ARCHIVE_MTIME,
    });
  }

  async #plan(metadata: TrustedMetadata, opts: CheckOptions): Promise<CheckedUpdate | undefined> {
    const targets = this.#appTargets(metadata);
    const buildName = targets[0]!.name;
    if (this.#cache.appName !== buildName) this.#cache = this.#cacheFor(buildName);
    // The install id is read (or created) only when a partial rollout needs it.
    const rollout = needsInstallId(targets)
      ? { installId: await loadInstallId(this.#opts.metadataDir, this.#logger), appName: this.appName }
      : undefined;
    const plan = planUpdate({
      currentVersion: this.currentVersion,
      targets,
      pre: this.#channel(opts.pre),
      patch: opts.patch ?? true,
      ignoreRequired: opts.ignoreRequired ?? false,
      currentArchiveCached: await this.#cache.hasCurrentBase(this.currentVersion, targets),
      failedPatches: await this.#cache.failedPatches(),
      ...(this.#opts.maxPatchRatio !== undefined ? { maxPatchRatio: this.#opts.maxPatchRatio } : {}),
      channel: this.channel,
      ...(rollout ? { rollout } : {}),
      allowDowngrade: this.#opts.allowDowngrade ?? true,
    });
    if (!plan) return undefined;
    const signed = (t: { filename: string }) => targets.find((s) => s.filename === t.filename)!;
    if (plan.downgrade) {
      this.#logger.warn(
        `${this.currentVersion} was yanked${plan.downgrade.yankReason ? ` (${plan.downgrade.yankReason})` : ''}: going back to ${plan.version}`,
      );
    }
    this.#logger.info(
      `update ${this.currentVersion} → ${plan.version} by ${plan.patches.length ? `${plan.patches.length} patch(es)` : `the full archive (${plan.fullArchiveReason})`}`,
    );
    return { plan, targets, metadata, archive: signed(plan.archive), patches: plan.patches.map(signed) };
  }

  /** The app's targets in `metadata`, read once per verified metadata (a check that finds nothing new reuses them). */
  #appTargets(metadata: TrustedMetadata): SignedTarget[] {
    if (this.#targetsRead?.metadata !== metadata) {
      this.#targetsRead = {
        metadata,
        targets: readAppTargets(metadata, this.appName, this.#logger, this.platform),
      };
    }
    return this.#targetsRead.targets;
  }

  /** Invalid channels are ignored with a warning, as python tufup does (#120). */
  #channel(pre: string | undefined): Channel | undefined {
    if (pre === undefined || pre === null || pre === '') return undefined;
    if ((CHANNELS as readonly string[]).includes(pre)) return pre as Channel;
    this.#logger.warn(`ignoring unknown channel ${JSON.stringify(pre)}: final releases only`);
    return undefined;
  }

  #requireChecked(): CheckedUpdate {
    if (this.#checked) return this.#checked;
    throw new ClientError({
      code: 'NO_UPDATE_PLANNED',
      message:
        'no update to apply: call checkForUpdates() first (it found none, or the last one was applied)',
    });
  }

  // ---- fetch → patch → verify -------------------------------------------------------------------------

  #startRun(checked: CheckedUpdate, opts: ApplyOptions): UpdateRun {
    const progress = new ProgressReporter(opts.onProgress);
    return {
      checked,
      progress,
      signal: opts.signal,
      fetcher: {
        transport: this.#transport,
        cache: this.#cache,
        metadata: checked.metadata,
        targetBaseUrl: this.#opts.targetBaseUrl,
        tracker: new DownloadTracker(progress, checked.plan.downloadSize),
        logger: this.#logger,
        signal: opts.signal,
        downloaded: [],
      },
    };
  }

  /** The new version's archive: by the patch chain when planned, else (or when it fails) the full archive. */
  async #obtain(run: UpdateRun): Promise<{ archive: NewArchive; patchFailure?: ClientError }> {
    const { checked } = run;
    let patchFailure: ClientError | undefined;
    if (checked.patches.length > 0) {
      try {
        return { archive: await this.#updateByPatches(run) };
      } catch (err) {
        patchFailure = await this.#patchFallback(err);
        run.fetcher.tracker.fallBackTo(checked.archive.length);
      }
    }
    const path = await fetchTarget(checked.archive, run.fetcher);
    // The signed tar size of the new version (its patch's custom metadata) bounds extraction.
    const maxBytes = signedOf(checked.plan.version, checked.targets).patch?.tarSize;
    return { archive: { path, maxBytes }, ...(patchFailure ? { patchFailure } : {}) };
  }

  /**
   * Verifying (and maybe unpacking) the cached current version is disk and CPU work, downloading the patches
   * is network work: both run at once, then the chain is applied, each step checked against signed data.
   */
  async #updateByPatches(run: UpdateRun): Promise<NewArchive> {
    const { checked, progress, signal } = run;
    const [baseResult, stepsResult] = await Promise.allSettled([
      this.#cache.currentTar(this.currentVersion, checked.targets, {
        ...(signal ? { signal } : {}),
        onVerify: (done, total, file) => progress.emit({ phase: 'verify', file, done, total, unit: 'bytes' }),
      }),
      this.#fetchPatches(run),
    ]);
    const base = baseResult.status === 'fulfilled' ? baseResult.value : undefined;
    try {
      if (stepsResult.status === 'rejected') {
        // Offline, out of space or aborted says more than a cache problem found meanwhile.
        const reason = stepsResult.reason as unknown;
        if (baseResult.status === 'rejected' && !isAbortError(reason) && !isHardFailure(reason)) {
          throw baseResult.reason;
        }
        throw reason;
      }
      if (!base) throw (baseResult as PromiseRejectedResult).reason;
      const steps = stepsResult.value;
      const out = this.#cache.tarPath(checked.plan.version);
      await applyPatchChain({ path: base.path, verified: base.verified }, steps, out, {
        ...(signal ? { signal } : {}),
        onProgress: (p) => progress.emit({ phase: 'patch', unit: 'bytes', ...p }),
      });
      return { path: out, maxBytes: steps[steps.length - 1]!.tarSize };
    } finally {
      if (base?.temporary) await rm(base.path, { force: true });
    }
  }

  async #fetchPatches(run: UpdateRun): Promise<PatchStep[]> {
    const steps: PatchStep[] = [];
    for (const patch of run.checked.patches) {
      const path = await fetchTarget(patch, run.fetcher);
      steps.push({ filename: patch.filename, path, tarSize: patch.tarSize!, tarHash: patch.tarHash! });
    }
    return steps;
  }

  /** Decide whether a patch failure may fall back to the full archive, and remember the culprits. */
  async #patchFallback(err: unknown): Promise<ClientError> {
    if (isAbortError(err)) throw err;
    const error = asClientError(err, 'PATCH_FAILED', 'patch update failed') as ClientError;
    // Offline or a full disk: the archive would fail the same way, and partial downloads stay for a resume.
    if (isHardFailure(error)) throw error;
    if (error instanceof PatchChainError) {
      await this.#cache.markFailed([error.failedPatch]);
    } else if (error instanceof TargetDownloadError) {
      await this.#cache.markFailed([error.target]);
    }
    this.#logger.warn(`${error.message}; downloading the full archive instead`);
    return error;
  }

  // ---- stage → hand off -------------------------------------------------------------------------------

  async #stage(archive: NewArchive, version: string, run: UpdateRun): Promise<string> {
    const fileSize = (await stat(archive.path)).size;
    return this.#staging.stage(archive.path, version, {
      ...(archive.maxBytes !== undefined ? { maxBytes: archive.maxBytes } : {}),
      ...(run.signal ? { signal: run.signal } : {}),
      onProgress: (e) =>
        run.progress.emit({ phase: 'stage', done: e.done, total: e.total ?? fileSize, unit: 'bytes' }),
    });
  }

  async #handOff(opts: ApplyOptions, version: string, stagingDir: string): Promise<void> {
    const request: InstallRequest = {
      appName: this.appName,
      version,
      srcDir: stagingDir,
      dstDir: this.installDir,
      ...(opts.pid !== undefined ? { pid: opts.pid } : {}),
      ...(opts.relaunch !== undefined ? { relaunch: opts.relaunch } : {}),
    };
    try {
      await opts.install(request);
    } catch (err) {
      await rm(stagingDir, { recursive: true, force: true });
      throw asClientError(err, 'INSTALL_FAILED', `installing ${version} failed`);
    }
  }

  // ---- cache housekeeping -----------------------------------------------------------------------------

  /** Before downloading: keep the current version's base and this update's targets (and their partials). */
  async #pruneBefore(checked: CheckedUpdate): Promise<void> {
    const { fileVersion } = signedOf(this.currentVersion, checked.targets);
    const gz = basename(this.#cache.archivePath(fileVersion));
    const keep = new Set<string>([gz, gz.slice(0, -'.gz'.length)]);
    for (const t of [checked.archive, ...checked.patches]) {
      for (const name of this.#cache.namesOf(t)) keep.add(name);
      keep.add(`${t.filename}.failed`);
    }
    const removed = await this.#cache.prune(keep);
    if (removed.length) this.#logger.debug(`removed from the cache: ${removed.join(', ')}`);
  }

  /** After the hand-off: the new version's tar (or archive) is all the next update needs. */
  async #pruneAfter(newArchivePath: string): Promise<void> {
    const removed = await this.#cache.prune(new Set([basename(newArchivePath)]));
    if (removed.length) this.#logger.debug(`removed from the cache: ${removed.join(', ')}`);
  }

  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy) {
      throw new ClientError({ code: 'BUSY', message: 'another update operation is running on this Client' });
    }
    this.#busy = true;
    try {
      return await fn();
    } finally {
      this.#busy = false;
    }
  }
}

/** Failures the full archive would run into just the same: no point falling back. */
function isHardFailure(err: unknown): boolean {
  return (
    err instanceof ClientError &&
    (err.code === 'NETWORK_ERROR' || err.code === 'NO_SPACE' || err.code === 'CACHE_IO_FAILED')
  );
}
