// The repo-cli's error codes and how every coded error (ours or a dependency's) maps to a process exit code.
import type { ArchiveErrorCode } from '@tufup/archive';
import { type CommonErrorCode, TufupError, errnoCode, isAbortError, isTufupError } from '@tufup/common';
import type { MetadataErrorCode } from '@tufup/metadata';
import type { PatchErrorCode } from '@tufup/patch';

export type RepoErrorCode =
  | 'USAGE'
  | 'INVALID_ARGUMENT'
  | 'UNKNOWN_ROLE'
  | 'CONFIG_NOT_FOUND'
  | 'CONFIG_INVALID'
  | 'CONFIG_EXISTS'
  | 'REPO_NOT_FOUND'
  | 'REPO_EXISTS'
  | 'REPO_LOCKED'
  | 'REPO_READ_ONLY'
  | 'REPO_PENDING'
  | 'ALREADY_MIGRATED'
  | 'METADATA_CORRUPT'
  | 'KEY_DIR_NOT_FOUND'
  | 'KEY_NOT_FOUND'
  | 'KEY_EXISTS'
  | 'KEY_NOT_IN_ROLE'
  | 'KEY_IN_USE'
  | 'PASSPHRASE_REQUIRED'
  | 'WRONG_PASSPHRASE'
  | 'THRESHOLD_NOT_MET'
  | 'NOTHING_TO_SIGN'
  | 'INVALID_VERSION'
  | 'VERSION_NOT_NEWER'
  | 'INVALID_META_JSON'
  | 'BUNDLE_NOT_FOUND'
  | 'BUNDLE_NOT_DIRECTORY'
  | 'BUNDLE_EMPTY'
  | 'NO_TARGETS'
  | 'TARGET_FILE_MISSING'
  | 'RELEASE_NOT_FOUND'
  | 'INVALID_ROLLOUT'
  | 'ONLY_RELEASE'
  | 'NO_CHANGE'
  | 'OUTPUT_NOT_EMPTY'
  | 'VERIFY_FAILED'
  | 'INTERRUPTED'
  // tufup publish: the destination (object storage or a directory)
  | 'DEST_INVALID'
  | 'REMOTE_NOT_FOUND'
  | 'REMOTE_ACCESS_DENIED'
  | 'REMOTE_UNREACHABLE'
  | 'REMOTE_ERROR'
  | 'REMOTE_CONFLICT'
  | 'REMOTE_NEWER';

/** Every failure the repo-cli throws on purpose. */
export class RepoError extends TufupError<RepoErrorCode> {}

/**
 * Exit codes, by family. Scripts can switch on these; the one-line message carries the exact code.
 * 0 success · 1 unexpected (a bug) · 2 usage · 3 repository/config state · 4 keys and signing ·
 * 5 release input (version, bundle, meta) · 6 verification found problems · 7 busy (locked) · 8 publish
 * destination (unreachable, denied, missing, conflicting) · 130 interrupted.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  REPOSITORY: 3,
  KEYS: 4,
  INPUT: 5,
  VERIFY: 6,
  BUSY: 7,
  REMOTE: 8,
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Every code an error reaching the CLI can carry: ours and those of the packages we call. */
export type KnownErrorCode =
  | RepoErrorCode
  | MetadataErrorCode
  | ArchiveErrorCode
  | PatchErrorCode
  | CommonErrorCode;

/**
 * The one table from error code to exit code. It is keyed by every code of every package the CLI runs, so a
 * new code anywhere fails the build until it is given its exit code here (and in the README's table). A code
 * that two packages share (INVALID_VERSION, IO_ERROR...) means the same family in both.
 */
export const EXIT_BY_CODE: Readonly<Record<KnownErrorCode, ExitCode>> = {
  // usage: the command line itself is wrong
  USAGE: EXIT.USAGE,
  INVALID_ARGUMENT: EXIT.USAGE, // repo-cli and patch
  UNKNOWN_ROLE: EXIT.USAGE, // repo-cli and metadata
  INVALID_KEY_NAME: EXIT.USAGE,
  INVALID_THRESHOLD: EXIT.USAGE,
  INVALID_ROLE_NAME: EXIT.USAGE,
  INVALID_PATH_PATTERN: EXIT.USAGE,
  INVALID_EXPIRES: EXIT.USAGE, // e.g. sign -e 3000000: a date past year 9999
  // repository and config state
  CONFIG_NOT_FOUND: EXIT.REPOSITORY,
  CONFIG_INVALID: EXIT.REPOSITORY,
  CONFIG_EXISTS: EXIT.REPOSITORY,
  REPO_NOT_FOUND: EXIT.REPOSITORY,
  REPO_EXISTS: EXIT.REPOSITORY,
  REPO_PENDING: EXIT.REPOSITORY,
  ALREADY_MIGRATED: EXIT.REPOSITORY, // migrate: the repository has that layout already
  REPO_READ_ONLY: EXIT.REPOSITORY,
  METADATA_CORRUPT: EXIT.REPOSITORY,
  METADATA_EXISTS: EXIT.REPOSITORY,
  TARGET_FILE_MISSING: EXIT.REPOSITORY,
  NO_TARGETS: EXIT.REPOSITORY,
  FILE_NOT_FOUND: EXIT.REPOSITORY,
  INVALID_METADATA: EXIT.REPOSITORY,
  INVALID_CUSTOM_METADATA: EXIT.REPOSITORY,
  INVALID_TARGET_PATH: EXIT.REPOSITORY,
  TARGET_NOT_FOUND: EXIT.REPOSITORY,
  ROLE_EXISTS: EXIT.REPOSITORY,
  TARGET_OUTSIDE_PATHS: EXIT.REPOSITORY,
  BAD_SIGNATURE: EXIT.REPOSITORY,
  EXPIRED_METADATA: EXIT.REPOSITORY,
  BAD_VERSION: EXIT.REPOSITORY,
  ROOT_CHAIN_BROKEN: EXIT.REPOSITORY,
  ROOT_MISMATCH: EXIT.REPOSITORY,
  LENGTH_MISMATCH: EXIT.REPOSITORY, // a file in the repository that is not what its metadata says
  HASH_MISMATCH: EXIT.REPOSITORY,
  IO_ERROR: EXIT.REPOSITORY, // archive and patch: a read or write failed (disk, permissions)
  // a release in the repository that does not read back (previous archive, patches for verify --deep)
  CORRUPT_ARCHIVE: EXIT.REPOSITORY,
  SIZE_LIMIT_EXCEEDED: EXIT.REPOSITORY,
  UNSAFE_PATH: EXIT.REPOSITORY,
  UNSAFE_SYMLINK_TARGET: EXIT.REPOSITORY,
  ENTRY_THROUGH_SYMLINK: EXIT.REPOSITORY,
  PARENT_NOT_DIRECTORY: EXIT.REPOSITORY,
  REPLACES_DIRECTORY: EXIT.REPOSITORY,
  DUPLICATE_ENTRY: EXIT.REPOSITORY,
  HARDLINK_ENTRY: EXIT.REPOSITORY,
  SPECIAL_FILE_ENTRY: EXIT.REPOSITORY,
  UNSUPPORTED_ENTRY: EXIT.REPOSITORY,
  SYMLINK_NOT_PERMITTED: EXIT.REPOSITORY,
  DEST_NOT_EMPTY: EXIT.REPOSITORY,
  UNSUPPORTED_FORMAT: EXIT.REPOSITORY,
  UNSUPPORTED_VERSION: EXIT.REPOSITORY,
  BASE_MISMATCH: EXIT.REPOSITORY,
  CORRUPT_PATCH: EXIT.REPOSITORY,
  TRUNCATED_PATCH: EXIT.REPOSITORY,
  DECOMPRESSION_LIMIT: EXIT.REPOSITORY,
  OUTPUT_MISMATCH: EXIT.REPOSITORY,
  // keys and signing
  KEY_DIR_NOT_FOUND: EXIT.KEYS,
  KEY_NOT_FOUND: EXIT.KEYS,
  KEY_EXISTS: EXIT.KEYS,
  KEY_FILE_EXISTS: EXIT.KEYS,
  KEY_NOT_IN_ROLE: EXIT.KEYS,
  KEY_IN_USE: EXIT.KEYS,
  KEY_MISMATCH: EXIT.KEYS,
  KEY_NOT_AUTHORIZED: EXIT.KEYS,
  INVALID_KEY: EXIT.KEYS,
  UNKNOWN_KEY: EXIT.KEYS,
  UNSUPPORTED_KEY_TYPE: EXIT.KEYS,
  PASSPHRASE_REQUIRED: EXIT.KEYS, // repo-cli and metadata
  INVALID_PASSPHRASE: EXIT.KEYS,
  WRONG_PASSPHRASE: EXIT.KEYS,
  KEY_DECRYPTION_FAILED: EXIT.KEYS,
  THRESHOLD_NOT_MET: EXIT.KEYS, // repo-cli and metadata
  NOTHING_TO_SIGN: EXIT.KEYS,
  // release input: version, bundle, --meta
  INVALID_VERSION: EXIT.INPUT, // repo-cli and metadata
  INVALID_CHANNEL: EXIT.INPUT, // metadata: a pre-release channel or a release channel name
  INVALID_PLATFORM: EXIT.INPUT, // --platform not an os-arch token
  INVALID_ROLLOUT: EXIT.INPUT, // --percent not an integer 0..100
  ONLY_RELEASE: EXIT.INPUT, // yank would leave no installable release
  NO_CHANGE: EXIT.INPUT, // promote/rollout/yank/unyank that would change nothing
  INVALID_TARGET_NAME: EXIT.INPUT,
  VERSION_NOT_NEWER: EXIT.INPUT,
  INVALID_META_JSON: EXIT.INPUT,
  BUNDLE_NOT_FOUND: EXIT.INPUT,
  BUNDLE_NOT_DIRECTORY: EXIT.INPUT,
  BUNDLE_EMPTY: EXIT.INPUT,
  UNSUPPORTED_FILE_TYPE: EXIT.INPUT, // a FIFO, socket or device in the bundle
  HARDLINK_IN_BUNDLE: EXIT.INPUT,
  SYMLINK_OUTSIDE_BUNDLE: EXIT.INPUT,
  UNPORTABLE_NAME: EXIT.INPUT,
  FILE_CHANGED: EXIT.INPUT, // archive: the bundle changed while it was archived; common: a file shrank while hashed
  TAR_SIZE_MISMATCH: EXIT.INPUT, // a bundle whose tar is not the expected size (createTar's expectSize)
  INVALID_OPTION: EXIT.INPUT, // e.g. a bundle dir that contains the repository, a bad SOURCE_DATE_EPOCH
  FILE_TOO_LARGE: EXIT.INPUT,
  RELEASE_NOT_FOUND: EXIT.INPUT,
  OUTPUT_NOT_EMPTY: EXIT.INPUT,
  // publish destination
  DEST_INVALID: EXIT.USAGE, // an unknown scheme, no bucket name
  REMOTE_NOT_FOUND: EXIT.REMOTE, // no such bucket or directory
  REMOTE_ACCESS_DENIED: EXIT.REMOTE, // wrong or missing credentials, no permission
  REMOTE_UNREACHABLE: EXIT.REMOTE, // endpoint down, DNS, timeouts
  REMOTE_ERROR: EXIT.REMOTE,
  REMOTE_CONFLICT: EXIT.REMOTE, // an immutable remote object with other bytes: another repository's history
  REMOTE_NEWER: EXIT.REMOTE, // the remote serves a newer timestamp than the local repository
  // the rest
  VERIFY_FAILED: EXIT.VERIFY,
  REPO_LOCKED: EXIT.BUSY,
  INTERRUPTED: EXIT.INTERRUPTED,
};

/** A Node system error (ENOENT, EACCES...) that escaped wrapping: it has an errno and names its syscall. */
function isSystemError(err: unknown): boolean {
  const e = err as { errno?: unknown; syscall?: unknown } | null;
  return err instanceof Error && typeof e?.errno === 'number' && typeof e.syscall === 'string';
}

/**
 * The exit code for an error: an abort is INTERRUPTED; a coded error of ours exits by its code in EXIT_BY_CODE;
 * a system error that escaped wrapping is a repository/environment failure; anything else (a bug) is INTERNAL.
 */
export function exitCodeFor(err: unknown): ExitCode {
  if (isAbortError(err)) return EXIT.INTERRUPTED;
  if (isTufupError(err) && Object.hasOwn(EXIT_BY_CODE, err.code)) {
    return EXIT_BY_CODE[err.code as KnownErrorCode];
  }
  if (isSystemError(err)) return EXIT.REPOSITORY;
  return EXIT.INTERNAL;
}

/** The stable code shown in `error [CODE]: message`; errors without one are internal. */
export function errorCodeOf(err: unknown): string {
  if (isAbortError(err)) return 'INTERRUPTED';
  if (isTufupError(err)) return err.code;
  if (isSystemError(err)) return errnoCode(err) ?? 'INTERNAL';
  return 'INTERNAL';
}
