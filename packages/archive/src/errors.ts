// The coded errors of @tufup/archive: callers (repo-cli, client) switch on `code`.
import { TufupError, wrapError } from '@tufup/common';

export type ArchiveErrorCode =
  // creating an archive from a bundle directory
  | 'BUNDLE_NOT_DIRECTORY'
  | 'UNSUPPORTED_FILE_TYPE'
  | 'HARDLINK_IN_BUNDLE'
  | 'SYMLINK_OUTSIDE_BUNDLE'
  | 'UNPORTABLE_NAME'
  | 'FILE_CHANGED'
  | 'TAR_SIZE_MISMATCH'
  | 'INVALID_OPTION'
  // reading and extracting
  | 'DEST_NOT_EMPTY'
  | 'CORRUPT_ARCHIVE'
  | 'SIZE_LIMIT_EXCEEDED'
  | 'UNSAFE_PATH'
  | 'UNSAFE_SYMLINK_TARGET'
  | 'ENTRY_THROUGH_SYMLINK'
  | 'PARENT_NOT_DIRECTORY'
  | 'REPLACES_DIRECTORY'
  | 'DUPLICATE_ENTRY'
  | 'HARDLINK_ENTRY'
  | 'SPECIAL_FILE_ENTRY'
  | 'UNSUPPORTED_ENTRY'
  | 'SYMLINK_NOT_PERMITTED'
  // either
  | 'IO_ERROR';

export class ArchiveError extends TufupError<ArchiveErrorCode> {}

/** Run an fs call, turning its error into IO_ERROR that says what we were doing (common's `wrapError`). */
export async function io<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw wrapError(err, ArchiveError, 'IO_ERROR', what);
  }
}

/** `io` for a synchronous fs call. */
export function ioSync<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw wrapError(err, ArchiveError, 'IO_ERROR', what);
  }
}
