// The in-app updater: check → plan → fetch → patch → verify → stage → hand off, one small step each, in order.
import { existsSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import {
  type InstallRequest,
  type Installer,
  type Logger,
  silentLogger,
  siblingTempPath,
  throwIfAborted,
} from '@tufup/common';
import { type Channel, CHANNELS, isValidAppName, isValidVersion } from '@tufup/metadata';
import { type Config, type Fetcher, Updater } from 'tuf-js';
import { UpdateCache, signedOf } from './cache.js';
import { cleanUpdateCache } from './cleanup.js';
import { ClientError, TargetDownloadError, isAbort, isNoSpace, tufErrorKind, wrapError } from './errors.js';
import { type FetcherOptions, HttpFetcher } from './fetcher.js';
import { PatchChainError, type PatchStep, applyPatchChain } from './patching.js';
import { type FullArchiveReason, type UpdatePlan, planUpdate } from './planner.js';
import { type OnUpdateProgress, ProgressReporter } from './progress.js';
import { StagingArea } from './staging.js';
import { type SignedTarget, readAppTargets } from './targets.js';

export interface ClientOptions {
  /** The app's name as in its target file names (`<appName>-<version>.tar.gz`). */
  appName: string;
  /** Where the app is installed; the client never writes inside it (the installer does). */
  installDir: string;
  /** The running version (PEP 440). */
  currentVersion: string;
  /** Holds the trusted root.json shipped with the app; tuf-js keeps the refreshed metadata here. */
  metadataDir: string;
  metadataBaseUrl: string;
  /** The target cache: downloads, the current version's archive, partial downloads. */
  targetDir: string;
  targetBaseUrl: string;
  /** Throw when the metadata refresh fails, instead of reporting "no update" (default false, as tufup). */
  refreshRequired?: boolean;
  /** Extra request headers, e.g. `{ authorization: 'Bearer ...' }` (see FetcherOptions.headers). */
  headers?: FetcherOptions['headers'];
  /** Prepended to the User-Agent, e.g. `my-app/1.2.3`. */
  userAgent?: string;
  /** Timeouts, retries and backoff of the built-in fetcher. */
  fetcherOptions?: Omit<FetcherOptions, 'headers' | 'userAgent' | 'logger'>;
  /** A tuf-js Fetcher to use instead of ours (then downloads are neither resumed nor reported per chunk). */
  fetcher?: Fetcher;
  /** Parent of the staging dirs (default: the install dir's parent). Must be on the install dir's volume. */
  stagingParentDir?: string;
  /** Patches are used while their total is at most this fraction of the archive (default 0.8, as tufup). */
  maxPatchRatio?: number;
  /** tuf-js Updater settings (max metadata lengths, root rotations...). */
  tufConfig?: Partial<Config>;
  logger?: Logger;
}

export interface CheckOptions {
  /** Channel: also accept pre-releases ('a' → a, b, rc; 'b' → b, rc; 'rc' → rc). Default: finals only. */
  pre?: Channel;
  /** Allow patches (default true). */
  patch?: boolean;
  /** Go past required releases straight to the newest (default false). */
  ignoreRequired?: boolean;
  /**
   * Ends the check early (e.g. `AbortSignal.timeout(ms)` to bound it as a whole): rejects with the signal's
   * reason, also with `refreshRequired` false. With a custom `fetcher` a request in flight runs to its end.
   */
  signal?: AbortSignal;
}

/** A target as the caller sees it. */
export interface TargetSummary {
  filename: string;
  version: string;
  length: number;
}

export interface UpdateInfo {
  version: string;
  /** The release's archive (downloaded only when patches are not used). */
  archive: TargetSummary;
  /** The patch chain in application order; empty when the full archive is downloaded. */
  patches: TargetSummary[];
  /** Why the full archive, when `patches` is empty. */
  fullArchiveReason?: FullArchiveReason;
  downloadSize: number;
  required: boolean;
  /** The release's user metadata (release notes...), null when none. */
  custom: unknown;
}

export interface ApplyOptions {
  install: Installer;
  /** Asked after the new version is staged and before `install`; false means: not now. */
  confirm?: (info: UpdateInfo) => boolean | Promise<boolean>;
  onProgress?: OnUpdateProgress;
  signal?: AbortSignal;
  /** Passed on in the InstallRequest. */
  pid?: number;
  relaunch?: InstallRequest['relaunch'];
}

export interface UpdateResult {
  version: string;
  /** How the new version was obtained. */
  mode: 'patch' | 'full';
  /** Targets fetched from the server (cached ones are not listed), in download order. */
  downloaded: string[];
  /** False when `confirm` declined. */
  installed: boolean;
  /** Set when patches were planned but failed, and the full archive was used instead in the same call. */
  patchFailure?: ClientError;
  /** The staging dir handed to the installer. */
  stagingDir?: string;
}

interface CheckedUpdate {
  plan: UpdatePlan;
  targets: SignedTarget[];
  updater: Updater;
  archive: SignedTarget;
  patches: SignedTarget[];
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
  /** Why the last checkForUpdates() returned undefined without refreshing (refreshRequired false). */
  lastRefreshError: ClientError | undefined;
  readonly #opts: ClientOptions;
  readonly #logger: Logger;
  readonly #fetcher: Fetcher;
  readonly #cache: UpdateCache;
  readonly #staging: StagingArea;
  #checked: CheckedUpdate | undefined;
  #busy = false;

  constructor(options: ClientOptions) {
    validateOptions(options);
    this.#opts = options;
    this.appName = options.appName;
    this.installDir = options.installDir;
    this.currentVersion = options.currentVersion;
    this.#logger = options.logger ?? silentLogger;
    this.#fetcher =
      options.fetcher ??
      new HttpFetcher({
        ...options.fetcherOptions,
        ...(options.headers ? { headers: options.headers } : {}),
        ...(options.userAgent ? { userAgent: options.userAgent } : {}),
        logger: this.#logger,
      });
    this.#cache = new UpdateCache(options.targetDir, options.appName, this.#logger);
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
   * fails with `refreshRequired` false: then `lastRefreshError` says why.
   */
  async checkForUpdates(opts: CheckOptions = {}): Promise<UpdateInfo | undefined> {
    return this.#exclusive(async () => {
      const { signal } = opts;
      throwIfAborted(signal);
      this.#checked = undefined;
      this.lastRefreshError = undefined;
      const updater = await this.#refresh(signal);
      if (!updater) return undefined;
      throwIfAborted(signal);
      const targets = await readAppTargets(updater, this.#opts.metadataDir, this.appName, this.#logger);
      const plan = planUpdate({
        currentVersion: this.currentVersion,
        targets,
        pre: this.#channel(opts.pre),
        patch: opts.patch ?? true,
        ignoreRequired: opts.ignoreRequired ?? false,
        currentArchiveCached: await this.#cache.hasCurrentBase(this.currentVersion, targets),
        failedPatches: await this.#cache.failedPatches(),
        ...(this.#opts.maxPatchRatio !== undefined ? { maxPatchRatio: this.#opts.maxPatchRatio } : {}),
      });
      throwIfAborted(signal);
      if (!plan) return undefined;
      const bySame = (t: { filename: string }) => targets.find((s) => s.filename === t.filename)!;
      this.#checked = {
        plan,
        targets,
        updater,
        archive: bySame(plan.archive),
        patches: plan.patches.map(bySame),
      };
      this.#logger.info(
        `update ${this.currentVersion} → ${plan.version} by ${plan.patches.length ? `${plan.patches.length} patch(es)` : `the full archive (${plan.fullArchiveReason})`}`,
      );
      return infoOf(plan);
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
      const checked = this.#checked;
      if (!checked) {
        throw new ClientError({
          code: 'NO_UPDATE_PLANNED',
          message:
            'no update to apply: call checkForUpdates() first (it found none, or the last one was applied)',
        });
      }
      const { plan } = checked;
      const progress = new ProgressReporter(opts.onProgress);
      const downloads = new DownloadTracker(progress, plan.downloadSize);
      const downloaded: string[] = [];
      await this.#cache.ensureDir();
      await this.#pruneBefore(checked);

      let newArchive: { path: string; maxBytes: number | undefined } | undefined;
      let patchFailure: ClientError | undefined;
      if (checked.patches.length > 0) {
        try {
          newArchive = await this.#updateByPatches(checked, downloads, downloaded, progress, opts.signal);
        } catch (err) {
          patchFailure = await this.#patchFallback(err);
          downloads.fallBackTo(checked.archive.length);
        }
      }
      if (!newArchive) {
        const path = await this.#download(
          checked.archive,
          checked.updater,
          downloads,
          downloaded,
          opts.signal,
        );
        newArchive = { path, maxBytes: signedTarSize(checked) };
      }

      const stagingDir = await this.#stage(newArchive, plan.version, progress, opts.signal);
      const info = infoOf(plan);
      const result: UpdateResult = {
        version: plan.version,
        mode: patchFailure || checked.patches.length === 0 ? 'full' : 'patch',
        downloaded,
        installed: false,
        ...(patchFailure ? { patchFailure } : {}),
      };
      if (opts.confirm && !(await opts.confirm(info))) {
        await rm(stagingDir, { recursive: true, force: true });
        this.#logger.info(`update to ${plan.version} declined`);
        return result;
      }
      await this.#handOff(opts, plan.version, stagingDir);
      await this.#pruneAfter(newArchive.path);
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
        ...(this.#opts.stagingParentDir ? { stagingParentDir: this.#opts.stagingParentDir } : {}),
        logger: this.#logger,
      }),
    );
  }

  // ---- check ------------------------------------------------------------------------------------------

  async #refresh(signal: AbortSignal | undefined): Promise<Updater | undefined> {
    try {
      const updater = new Updater({
        metadataDir: this.#opts.metadataDir,
        metadataBaseUrl: this.#opts.metadataBaseUrl,
        targetDir: this.#opts.targetDir,
        targetBaseUrl: this.#opts.targetBaseUrl,
        fetcher: this.#fetcher,
        ...(this.#opts.tufConfig ? { config: this.#opts.tufConfig } : {}),
      });
      if (this.#fetcher instanceof HttpFetcher) {
        await this.#fetcher.withSignal(signal, () => updater.refresh());
      } else {
        await updater.refresh();
      }
      return updater;
    } catch (err) {
      // tuf-js may report an aborted request as something else: the abort is what happened.
      throwIfAborted(signal);
      if (isAbort(err)) throw err;
      const error = this.#refreshError(err);
      this.lastRefreshError = error;
      if (this.#opts.refreshRequired || error.code === 'TRUSTED_ROOT_MISSING') throw error;
      this.#logger.warn(`cannot refresh the update metadata: ${error.message}`);
      return undefined;
    }
  }

  /** tuf-js wraps some failures in plain errors with the cause in the message; our fetcher knows better. */
  #refreshError(err: unknown): ClientError {
    if (err instanceof ClientError) return err;
    const kind = tufErrorKind(err);
    const message = err instanceof Error ? err.message : String(err);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && /root\.json/.test(message)) {
      return new ClientError({
        code: 'TRUSTED_ROOT_MISSING',
        message: `no trusted root.json: ${message}`,
        cause: err,
      });
    }
    if (isNoSpace(err)) return wrapError(err, 'NO_SPACE', 'metadata refresh failed') as ClientError;
    const failure = this.#fetcher instanceof HttpFetcher ? this.#fetcher.lastFailure : undefined;
    if (failure instanceof ClientError) {
      return new ClientError({
        code: failure.code,
        message: `metadata refresh failed: ${failure.message}`,
        cause: err,
      });
    }
    if (kind === 'DownloadHTTPError' || tufErrorKind(failure) === 'DownloadHTTPError') {
      return new ClientError({
        code: 'HTTP_ERROR',
        message: `metadata refresh failed: ${message}`,
        cause: err,
      });
    }
    if (kind === 'ExpiredMetadataError' || /\bexpired\b/i.test(message)) {
      return new ClientError({
        code: 'METADATA_EXPIRED',
        message: `metadata refresh failed: ${message}`,
        cause: err,
      });
    }
    return new ClientError({
      code: 'METADATA_INVALID',
      message: `metadata refresh failed: ${message}`,
      cause: err,
    });
  }

  /** Invalid channels are ignored with a warning, as python tufup does (#120). */
  #channel(pre: string | undefined): Channel | undefined {
    if (pre === undefined || pre === null || pre === '') return undefined;
    if ((CHANNELS as readonly string[]).includes(pre)) return pre as Channel;
    this.#logger.warn(`ignoring unknown channel ${JSON.stringify(pre)}: final releases only`);
    return undefined;
  }

  // ---- fetch + patch + verify -------------------------------------------------------------------------

  async #updateByPatches(
    checked: CheckedUpdate,
    downloads: DownloadTracker,
    downloaded: string[],
    progress: ProgressReporter,
    signal: AbortSignal | undefined,
  ): Promise<{ path: string; maxBytes: number }> {
    // Verifying (and maybe unpacking) the cached current version is disk and CPU work, downloading the
    // patches is network work: both run at once.
    const [baseResult, stepsResult] = await Promise.allSettled([
      this.#cache.currentTar(this.currentVersion, checked.targets, {
        ...(signal ? { signal } : {}),
        onVerify: (done, total, file) => progress.emit({ phase: 'verify', file, done, total, unit: 'bytes' }),
      }),
      (async () => {
        const steps: PatchStep[] = [];
        for (const patch of checked.patches) {
          const path = await this.#download(patch, checked.updater, downloads, downloaded, signal);
          steps.push({ filename: patch.filename, path, tarSize: patch.tarSize!, tarHash: patch.tarHash! });
        }
        return steps;
      })(),
    ]);
    const base = baseResult.status === 'fulfilled' ? baseResult.value : undefined;
    try {
      if (stepsResult.status === 'rejected') {
        // Offline, out of space or aborted says more than a cache problem found meanwhile.
        const reason = stepsResult.reason as unknown;
        if (baseResult.status === 'rejected' && !isAbort(reason) && !isHardFailure(reason)) {
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

  /** Decide whether a patch failure may fall back to the full archive, and remember the culprits. */
  async #patchFallback(err: unknown): Promise<ClientError> {
    if (isAbort(err)) throw err;
    const error =
      err instanceof ClientError
        ? err
        : (wrapError(err, 'PATCH_FAILED', 'patch update failed') as ClientError);
    // Offline or a full disk: the archive would fail the same way, and partial downloads stay for a resume.
    if (error.code === 'NETWORK_ERROR' || error.code === 'NO_SPACE' || error.code === 'CACHE_IO_FAILED')
      throw error;
    if (error instanceof PatchChainError) {
      await this.#cache.markFailed([error.failedPatch]);
    } else if (error instanceof TargetDownloadError) {
      await this.#cache.markFailed([error.target]);
    }
    this.#logger.warn(`${error.message}; downloading the full archive instead`);
    return error;
  }

  /**
   * One target into the cache: a verified cached copy is reused; otherwise tuf-js downloads it (through our
   * fetcher: resumable, with progress) and checks length + hashes before it is moved into place. A resumed
   * download that fails verification is retried once from byte 0 (the old bytes may be the bad ones).
   */
  async #download(
    target: SignedTarget,
    updater: Updater,
    downloads: DownloadTracker,
    downloaded: string[],
    signal: AbortSignal | undefined,
  ): Promise<string> {
    throwIfAborted(signal);
    const finalPath = this.#cache.targetPath(target.filename);
    if (await updater.findCachedTarget(target.info, finalPath)) {
      downloads.finished(target);
      return finalPath;
    }
    const fetcher = this.#fetcher instanceof HttpFetcher ? this.#fetcher : undefined;
    for (let attempt = 0; ; attempt++) {
      const tmp = siblingTempPath(finalPath);
      try {
        if (fetcher) {
          await fetcher.withTarget(
            {
              partialPath: this.#cache.partialPath(target),
              onBytes: (bytes) => downloads.bytes(target, bytes),
              ...(signal ? { signal } : {}),
            },
            () => updater.downloadTarget(target.info, tmp),
          );
        } else {
          await updater.downloadTarget(target.info, tmp);
        }
        await rename(tmp, finalPath);
        downloads.finished(target);
        downloaded.push(target.filename);
        return finalPath;
      } catch (err) {
        await rm(tmp, { force: true });
        if (isAbort(err)) throw err;
        const kind = tufErrorKind(err);
        if (kind === 'LengthOrHashMismatchError' || kind === 'DownloadLengthMismatchError') {
          if (attempt === 0 && (fetcher?.lastDownload?.resumedFrom ?? 0) > 0) {
            this.#logger.warn(
              `${target.filename}: resumed download failed verification; downloading it again`,
            );
            continue;
          }
          throw new TargetDownloadError(
            'TARGET_MISMATCH',
            target.filename,
            `${target.filename} does not match the signed targets metadata: ${(err as Error).message}`,
            err,
          );
        }
        if (kind === 'DownloadHTTPError') {
          throw new TargetDownloadError(
            'HTTP_ERROR',
            target.filename,
            `cannot download ${target.filename}: ${(err as Error).message}`,
            err,
          );
        }
        throw wrapError(err, 'NETWORK_ERROR', `cannot download ${target.filename}`);
      }
    }
  }

  // ---- stage + hand off -------------------------------------------------------------------------------

  async #stage(
    archive: { path: string; maxBytes: number | undefined },
    version: string,
    progress: ProgressReporter,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const fileSize = (await stat(archive.path)).size;
    return this.#staging.stage(archive.path, version, {
      ...(archive.maxBytes !== undefined ? { maxBytes: archive.maxBytes } : {}),
      ...(signal ? { signal } : {}),
      onProgress: (e) =>
        progress.emit({ phase: 'stage', done: e.done, total: e.total ?? fileSize, unit: 'bytes' }),
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
      throw wrapError(err, 'INSTALL_FAILED', `installing ${version} failed`);
    }
  }

  // ---- cache housekeeping -----------------------------------------------------------------------------

  /** Before downloading: keep the current version's base and this update's targets (and their partials). */
  async #pruneBefore(checked: CheckedUpdate): Promise<void> {
    const { fileVersion } = signedOf(this.currentVersion, checked.targets);
    const gz = baseName(this.#cache.archivePath(fileVersion));
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
    const removed = await this.#cache.prune(new Set([baseName(newArchivePath)]));
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

/** Download progress per file and overall; after a patch failure the archive is added to the total. */
class DownloadTracker {
  readonly #progress: ProgressReporter;
  #total: number;
  /** Bytes of files finished (or given up on), counted into the overall figure. */
  #base = 0;
  #shown = 0;

  constructor(progress: ProgressReporter, total: number) {
    this.#progress = progress;
    this.#total = total;
  }

  bytes(target: SignedTarget, bytes: number): void {
    this.#progress.emit({
      phase: 'download',
      file: target.filename,
      done: bytes,
      total: target.length,
      unit: 'bytes',
    });
    this.#overall(this.#base + bytes);
  }

  finished(target: SignedTarget): void {
    this.bytes(target, target.length);
    this.#base += target.length;
  }

  /** What was fetched for the failed patches stays done; the archive comes on top. */
  fallBackTo(archiveLength: number): void {
    this.#base = this.#shown;
    this.#total = this.#shown + archiveLength;
  }

  #overall(done: number): void {
    if (done > this.#shown) this.#shown = done;
    this.#progress.emit({ phase: 'download-total', done, total: this.#total, unit: 'bytes' });
  }
}

/** Failures the full archive would run into just the same: no point falling back. */
function isHardFailure(err: unknown): boolean {
  return (
    err instanceof ClientError &&
    (err.code === 'NETWORK_ERROR' || err.code === 'NO_SPACE' || err.code === 'CACHE_IO_FAILED')
  );
}

function infoOf(plan: UpdatePlan): UpdateInfo {
  const summary = (t: { filename: string; version: string; length: number }): TargetSummary => ({
    filename: t.filename,
    version: t.version,
    length: t.length,
  });
  return {
    version: plan.version,
    archive: summary(plan.archive),
    patches: plan.patches.map(summary),
    ...(plan.fullArchiveReason ? { fullArchiveReason: plan.fullArchiveReason } : {}),
    downloadSize: plan.downloadSize,
    required: plan.required,
    custom: plan.custom,
  };
}

/** The signed tar size of the target version (its patch's custom metadata), the bomb limit for extraction. */
function signedTarSize(checked: CheckedUpdate): number | undefined {
  return signedOf(checked.plan.version, checked.targets).patch?.tarSize;
}

function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

function validateOptions(o: ClientOptions): void {
  const fail = (message: string): never => {
    throw new ClientError({ code: 'INVALID_OPTIONS', message });
  };
  if (!o || typeof o !== 'object') fail('options are required');
  if (!isValidAppName(o.appName)) fail(`appName must match [A-Za-z0-9_-]+: ${JSON.stringify(o.appName)}`);
  if (!isValidVersion(o.currentVersion))
    fail(`currentVersion is not a PEP 440 version: ${JSON.stringify(o.currentVersion)}`);
  for (const key of ['installDir', 'metadataDir', 'targetDir'] as const) {
    if (typeof o[key] !== 'string' || !isAbsolute(o[key])) fail(`${key} must be an absolute path`);
  }
  if (o.stagingParentDir !== undefined && !isAbsolute(o.stagingParentDir))
    fail('stagingParentDir must be an absolute path');
  for (const key of ['metadataBaseUrl', 'targetBaseUrl'] as const) {
    let url: URL | undefined;
    try {
      url = new URL(o[key]);
    } catch {
      fail(`${key} is not a URL: ${JSON.stringify(o[key])}`);
    }
    if (url && !['http:', 'https:', 'file:'].includes(url.protocol))
      fail(`${key} must be http(s) or file: ${o[key]}`);
  }
  if (o.maxPatchRatio !== undefined && !(o.maxPatchRatio >= 0))
    fail('maxPatchRatio must be a non-negative number');
}
