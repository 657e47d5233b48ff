// @tufup/client: the in-app updater (check, download, patch, verify, stage, hand off to an installer).
export { Client } from './client.js';
export type {
  ApplyOptions,
  CheckOptions,
  ClientOptions,
  TargetSummary,
  TufConfig,
  UpdateInfo,
  UpdateResult,
} from './options.js';
export { ClientError, HttpError, TargetDownloadError, type ClientErrorCode } from './errors.js';
export { HttpTransport, type FetcherOptions } from './http/transport.js';
export { MirrorTransport, type Mirror } from './http/mirrors.js';
export type { DownloadReport, MetadataRequest, TargetRequest, Transport } from './transport.js';
export type { Downgrade, FullArchiveReason } from './planner.js';
export { rolloutBucket } from './planner.js';
export { hostPlatform } from './options.js';
export { INSTALL_ID_FILE } from './install-id.js';
export type {
  DownloadProgressEvent,
  DownloadTotalProgressEvent,
  OnUpdateProgress,
  PatchProgressEvent,
  StageProgressEvent,
  UpdateProgressEvent,
  VerifyProgressEvent,
} from './progress.js';
export { cleanUpdateCache, type CleanCacheOptions } from './cleanup.js';
export {
  AutoUpdater,
  DEFAULT_CHECK_INTERVAL_MS,
  systemClock,
  type AutoUpdaterEvents,
  type AutoUpdaterOptions,
  type DownloadProgress,
  type DownloadedUpdate,
  type UpdaterClock,
} from './auto-updater.js';
export { DEFAULT_ARCHIVE_MTIME } from './first-install.js';
