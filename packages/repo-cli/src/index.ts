// @tufup/repo-cli: the Repository API (create, release, sign, verify a tufup repository) and the `tufup` command.
export { Repository } from './repository.js';
export type * from './repository/types.js';
export type { ReleaseStateResult } from './repository/fleet.js';
export { CONFIG_FILENAME, type PerRole, type RepoConfig } from './config.js';
export { EXIT, RepoError, exitCodeFor, type RepoErrorCode } from './errors.js';
export {
  exportRelease,
  type ExportOptions,
  type ExportResult,
  type ExportSource,
} from './repository/export.js';
export {
  DEFAULT_CACHE_CONTROL,
  DEFAULT_CONCURRENCY,
  DEFAULT_PRUNE_GRACE_MS,
  PUBLISH_STATE_KEY,
  type PublishOptions,
  type PublishReport,
  type PublishedObject,
} from './publish/engine.js';
export { passphraseEnvVar, passphraseSource, type PassphraseSource } from './passphrase.js';
export { main, type CliIo } from './cli.js';
export type * from './reports.js';
