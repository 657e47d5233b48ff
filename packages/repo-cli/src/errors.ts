// The repo-cli's error codes and how every coded error (ours or a dependency's) maps to a process exit code.
import { TufupError, errnoCode, isTufupError } from '@tufup/common';

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
  | 'BUNDLE_EMPTY'
  | 'NO_TARGETS'
  | 'TARGET_FILE_MISSING'
  | 'RELEASE_NOT_FOUND'
  | 'OUTPUT_NOT_EMPTY'
  | 'VERIFY_FAILED'
  | 'INTERRUPTED';

/** Every failure the repo-cli throws on purpose. */
export class RepoError extends TufupError<RepoErrorCode> {}

/**
 * Exit codes, by family. Scripts can switch on these; the one-line message carries the exact code.
 * 0 success · 1 unexpected (a bug) · 2 usage · 3 repository/config state · 4 keys and signing ·
 * 5 release input (version, bundle, meta) · 6 verification found problems · 7 busy (locked) · 130 interrupted.
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
  INTERRUPTED: 130,
} as const;

const exitByCode: Record<string, number> = {
  USAGE: EXIT.USAGE,
  INVALID_ARGUMENT: EXIT.USAGE,
  UNKNOWN_ROLE: EXIT.USAGE,
  CONFIG_NOT_FOUND: EXIT.REPOSITORY,
  CONFIG_INVALID: EXIT.REPOSITORY,
  CONFIG_EXISTS: EXIT.REPOSITORY,
  REPO_NOT_FOUND: EXIT.REPOSITORY,
  REPO_EXISTS: EXIT.REPOSITORY,
  REPO_PENDING: EXIT.REPOSITORY,
  REPO_READ_ONLY: EXIT.REPOSITORY,
  IO_ERROR: EXIT.REPOSITORY,
  METADATA_CORRUPT: EXIT.REPOSITORY,
  TARGET_FILE_MISSING: EXIT.REPOSITORY,
  NO_TARGETS: EXIT.REPOSITORY,
  REPO_LOCKED: EXIT.BUSY,
  KEY_DIR_NOT_FOUND: EXIT.KEYS,
  KEY_NOT_FOUND: EXIT.KEYS,
  KEY_EXISTS: EXIT.KEYS,
  KEY_NOT_IN_ROLE: EXIT.KEYS,
  KEY_IN_USE: EXIT.KEYS,
  PASSPHRASE_REQUIRED: EXIT.KEYS,
  WRONG_PASSPHRASE: EXIT.KEYS,
  THRESHOLD_NOT_MET: EXIT.KEYS,
  NOTHING_TO_SIGN: EXIT.KEYS,
  INVALID_VERSION: EXIT.INPUT,
  VERSION_NOT_NEWER: EXIT.INPUT,
  INVALID_META_JSON: EXIT.INPUT,
  BUNDLE_NOT_FOUND: EXIT.INPUT,
  BUNDLE_EMPTY: EXIT.INPUT,
  INVALID_TARGET_NAME: EXIT.INPUT,
  RELEASE_NOT_FOUND: EXIT.INPUT,
  OUTPUT_NOT_EMPTY: EXIT.INPUT,
  VERIFY_FAILED: EXIT.VERIFY,
  INTERRUPTED: EXIT.INTERRUPTED,
  ABORT_ERR: EXIT.INTERRUPTED,
};

/** Families for codes that other @tufup packages define, recognised by their wording. */
const exitByPattern: Array<[RegExp, number]> = [
  [/PASSPHRASE|DECRYPT|KEY|SIGNATURE|THRESHOLD/, EXIT.KEYS],
  [/VERSION|BUNDLE|ARCHIVE|SYMLINK|PATH|NAME/, EXIT.INPUT],
  [/METADATA|EXPIRED|ROLE|JSON|HASH|LENGTH|PATCH|CORRUPT/, EXIT.REPOSITORY],
];

/** The exit code for an error: by its code when it has one (ours or another package's), else INTERNAL. */
export function exitCodeFor(err: unknown): number {
  if (isTufupError(err) || (err instanceof Error && err.name === 'AbortError')) {
    const code = err.name === 'AbortError' ? 'ABORT_ERR' : (err as TufupError).code;
    const direct = exitByCode[code];
    if (direct !== undefined) return direct;
    for (const [pattern, exit] of exitByPattern) if (pattern.test(code)) return exit;
  }
  if (/^E[A-Z]+$/.test(errnoCode(err) ?? '')) return EXIT.REPOSITORY; // a raw fs error (ENOENT, EACCES...) that escaped wrapping
  return EXIT.INTERNAL;
}

/** The stable code shown in `error [CODE]: message`; errors without one are internal. */
export function errorCodeOf(err: unknown): string {
  if (err instanceof Error && err.name === 'AbortError') return 'INTERRUPTED';
  if (isTufupError(err)) return err.code;
  const errno = errnoCode(err);
  return errno && /^E[A-Z]+$/.test(errno) ? errno : 'INTERNAL';
}
