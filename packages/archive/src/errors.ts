// The coded errors of @tufup/archive: callers (repo-cli, client) switch on `code`.
import { TufupError } from '@tufup/common';

export type ArchiveErrorCode =
  // creating an archive from a bundle directory
  | 'BUNDLE_NOT_DIRECTORY'
  | 'UNSUPPORTED_FILE_TYPE'
  | 'HARDLINK_IN_BUNDLE'
  | 'SYMLINK_OUTSIDE_BUNDLE'
  | 'UNPORTABLE_NAME'
  | 'FILE_CHANGED'
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

/** Run an fs call, turning its error into IO_ERROR that says what we were doing. */
export async function io<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new ArchiveError({ code: 'IO_ERROR', message: `${what}: ${(err as Error).message}`, cause: err });
  }
}

/** Our own errors and aborts pass through; anything else becomes IO_ERROR. */
export function asArchiveError(err: unknown, what: string): unknown {
  if (err instanceof TufupError) return err;
  if (err instanceof Error && err.name === 'AbortError') return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ArchiveError({ code: 'IO_ERROR', message: `${what}: ${message}`, cause: err });
}
