// The one error class of @tufup/patch and the stable codes callers switch on.
import { TufupError } from '@tufup/common';

export type PatchErrorCode =
  /** The patch does not start with a magic this package knows (or a known format's reader is missing). */
  | 'UNSUPPORTED_FORMAT'
  /** A known magic with a format version or compression id this build cannot read. */
  | 'UNSUPPORTED_VERSION'
  /** The old file is not the one the patch was made from (size or sha256 differ). */
  | 'BASE_MISMATCH'
  /** A field of the patch is out of its documented bounds, or the streams disagree with each other. */
  | 'CORRUPT_PATCH'
  /** The patch ends before the data it declares. */
  | 'TRUNCATED_PATCH'
  /** A compressed stream inflates beyond the size its header declares (a decompression bomb). */
  | 'DECOMPRESSION_LIMIT'
  /** The rebuilt file is not what the patch (or the caller's `expect`) says it must be. */
  | 'OUTPUT_MISMATCH'
  /** An input is larger than this implementation supports; the message names the limit. */
  | 'FILE_TOO_LARGE'
  /** A caller-supplied option is invalid. */
  | 'INVALID_ARGUMENT'
  /** Reading or writing a file failed (the cause holds the system error). */
  | 'IO_ERROR';

export class PatchError extends TufupError<PatchErrorCode> {}
