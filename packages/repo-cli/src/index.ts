// @tufup/repo-cli: the Repository API (create, release, sign, verify a tufup repository) and the `tufup` command.
export { Repository } from './repository.js';
export type {
  AddBundleOptions,
  InitOptions,
  PublishResult,
  RepositoryContext,
  RoleVersion,
  SignOptions,
  UnsignedRole,
} from './repository.js';
export {
  CONFIG_FILENAME,
  DEFAULT_EXPIRATION_DAYS,
  DEFAULT_THRESHOLDS,
  PATCH_FORMATS,
  ROLE_NAMES,
  loadConfig,
  parseConfig,
  saveConfig,
  serializeConfig,
  type PatchFormat,
  type PerRole,
  type RepoConfig,
  type RoleName,
} from './config.js';
export { EXIT, RepoError, exitCodeFor, type RepoErrorCode } from './errors.js';
export { passphraseEnvVar, passphraseSource, type PassphraseSource } from './passphrase.js';
export { acquireLock, LOCK_FILENAME, RepositoryLock } from './lock.js';
export { STAGING_DIRNAME, recoverInterrupted } from './publication.js';
export { main, type CliIo } from './cli.js';
export type * from './reports.js';
