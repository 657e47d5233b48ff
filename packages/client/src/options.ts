// What a Client is built with and what its calls take and return, and the checks on the constructor's options.
import { isAbsolute } from 'node:path';
import type { InstallRequest, Installer, Logger } from '@tufup/common';
import {
  type Channel,
  isValidAppName,
  isValidChannelName,
  isValidPlatform,
  isValidVersion,
} from '@tufup/metadata';
import { ClientError, type ClientErrorCode } from './errors.js';
import type { Mirror } from './http/mirrors.js';
import type { FetcherOptions } from './http/transport.js';
import type { Downgrade, FullArchiveReason, UpdatePlan } from './planner.js';
import type { OnUpdateProgress } from './progress.js';
import type { Transport } from './transport.js';

export interface ClientOptions {
  /** The app's name as in its target file names (`<appName>-<version>.tar.gz`). */
  appName: string;
  /** Where the app is installed; the client never writes inside it (the installer does). */
  installDir: string;
  /** The running version (PEP 440). */
  currentVersion: string;
  /** Holds the trusted root.json shipped with the app; the refreshed metadata is kept here (crash-safe). */
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
  /** Timeouts, retries and backoff of the built-in transport. */
  fetcherOptions?: Omit<FetcherOptions, 'headers' | 'userAgent' | 'logger'>;
  /** A Transport to use instead of the built-in HttpTransport (then `headers`, `userAgent`, `fetcherOptions` are unused). */
  transport?: Transport;
  /** Parent of the staging dirs (default: the install dir's parent). Must be on the install dir's volume. */
  stagingParentDir?: string;
  /** Patches are used while their total is at most this fraction of the archive (default 0.8, as tufup). */
  maxPatchRatio?: number;
  /**
   * The mtime (seconds) the repository gave archive members: the default of `tufup targets add` unless it
   * ran with SOURCE_DATE_EPOCH. With nothing cached (a fresh install) the client archives `installDir`
   * again with it and patches that when it equals the signed tar (see first-install.ts).
   */
  archiveMtime?: number;
  /** TUF refresh limits (max metadata lengths, root rotations...). */
  tufConfig?: TufConfig;

  // ---- mirrors ----
  /**
   * Other copies of the repository, asked in order after `metadataBaseUrl` / `targetBaseUrl` for a file the
   * server before could not serve (network error, timeout, 5xx, 408, 429; for a target file also 404/403/410).
   * Never after a verification failure: a file that fails its signature or hash check fails the update.
   * See MirrorTransport. Wraps `transport` too.
   */
  mirrors?: Mirror[];
  /**
   * This install's platform, `os-arch` (default from process.platform/arch: `linux-x64`, `win-x64`,
   * `darwin-arm64`). The client takes the app's builds for it when the repository has any, else the
   * platform-less releases.
   */
  platform?: string;
  /** Release channel (default `stable`): releases of `stable` and of this channel are offered. */
  channel?: string;
  /**
   * When the running release was yanked and nothing newer is offered, go down to the newest offered release
   * (default true; the only case the version goes down).
   */
  allowDowngrade?: boolean;
  logger?: Logger;
}

/** This machine's platform token: `win32` is `win`, the rest as Node names them (`linux-x64`, `darwin-arm64`). */
export function hostPlatform(platform: string = process.platform, arch: string = process.arch): string {
  return `${platform === 'win32' ? 'win' : platform}-${arch}`;
}

/** tuf-js Updater settings the client passes on (the fetching ones belong to the transport). */
export interface TufConfig {
  /** Most new root versions walked in one refresh (default 256). */
  maxRootRotations?: number;
  maxDelegations?: number;
  /** Largest metadata files accepted, in bytes (defaults 512 000, 16 384, 2 000 000, 5 000 000). */
  rootMaxLength?: number;
  timestampMaxLength?: number;
  snapshotMaxLength?: number;
  targetsMaxLength?: number;
  /** With consistent snapshots, download targets as `<hash>.<name>` (default true). */
  prefixTargetsWithHash?: boolean;
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
   * reason, also with `refreshRequired` false.
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
  /** Set when this goes to a LOWER version: the running release was yanked (with the signed reason). */
  downgrade?: Downgrade;
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

export function infoOf(plan: UpdatePlan): UpdateInfo {
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
    ...(plan.downgrade ? { downgrade: plan.downgrade } : {}),
  };
}

export function validateOptions(o: ClientOptions): void {
  const fail = (message: string, code: ClientErrorCode = 'INVALID_OPTIONS'): never => {
    throw new ClientError({ code, message });
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
  if (o.mirrors !== undefined && !Array.isArray(o.mirrors)) fail('mirrors must be an array');
  const bases = [o, ...(o.mirrors ?? [])];
  bases.forEach((base, i) => {
    for (const key of ['metadataBaseUrl', 'targetBaseUrl'] as const) {
      const name = i === 0 ? key : `mirrors[${i - 1}].${key}`;
      let url: URL | undefined;
      try {
        url = new URL(base?.[key]);
      } catch {
        fail(`${name} is not a URL: ${JSON.stringify(base?.[key])}`);
      }
      if (url && !['http:', 'https:', 'file:'].includes(url.protocol))
        fail(`${name} must be http(s) or file: ${base[key]}`);
    }
  });
  if (o.maxPatchRatio !== undefined && !(o.maxPatchRatio >= 0))
    fail('maxPatchRatio must be a non-negative number');
  if (o.platform !== undefined && !isValidPlatform(o.platform))
    fail(`platform must be an os-arch token like linux-x64: ${JSON.stringify(o.platform)}`);
  if (o.channel !== undefined && !isValidChannelName(o.channel))
    fail(`channel must match [a-z][a-z0-9-]{0,31}: ${JSON.stringify(o.channel)}`);
  if (o.allowDowngrade !== undefined && typeof o.allowDowngrade !== 'boolean')
    fail('allowDowngrade must be a boolean');
  if (o.archiveMtime !== undefined && !(Number.isSafeInteger(o.archiveMtime) && o.archiveMtime >= 0))
    fail('archiveMtime must be whole seconds since the epoch');
}
