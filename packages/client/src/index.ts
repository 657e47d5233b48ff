// @tufup/client: the in-app updater (check, download, patch, verify, stage, hand off to an installer).
export {
  Client,
  type ApplyOptions,
  type CheckOptions,
  type ClientOptions,
  type TargetSummary,
  type UpdateInfo,
  type UpdateResult,
} from './client.js';
export { ClientError, TargetDownloadError, type ClientErrorCode } from './errors.js';
export {
  HttpFetcher,
  type DownloadReport,
  type FetcherOptions,
  type TargetDownloadContext,
} from './fetcher.js';
export {
  MAX_PATCH_RATIO,
  isContiguous,
  planUpdate,
  type AppTarget,
  type FullArchiveReason,
  type PlanInput,
  type UpdatePlan,
} from './planner.js';
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
