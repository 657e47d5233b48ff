// The coded errors of @tufup/installer-win: callers switch on `code`, humans read `message`.
import { TufupError } from '@tufup/common';

export type InstallerWinErrorCode =
  /** A request or option is malformed (relative path, empty name, bad timeout, non-ASCII template, ...). */
  | 'INVALID_REQUEST'
  /** The staged new version (srcDir) is missing or not a directory. */
  | 'SOURCE_MISSING'
  /** The install dir (dstDir) is missing, not a directory, or a link. */
  | 'DESTINATION_MISSING'
  /** srcDir, dstDir and the state dir are not on one volume, so a rename cannot move them. */
  | 'CROSS_DEVICE'
  /** Two of srcDir, dstDir, state dir and log file overlap, or a path would leave its tree. */
  | 'UNSAFE_PATH'
  /** The relaunch command cannot be started safely (relative path, `%` in its file name). */
  | 'RELAUNCH_UNSUPPORTED'
  /** dstDir's parent is not writable and elevation was turned off (`elevate: 'never'`). */
  | 'NOT_WRITABLE'
  /** The detached script did not start or did not confirm that it runs (e.g. Windows Script Host disabled). */
  | 'SCRIPT_START_FAILED'
  /** An install script is working on this dstDir right now. */
  | 'INSTALL_BUSY'
  /** The journal is unreadable or describes paths it must not. */
  | 'JOURNAL_INVALID'
  /** The journal in the state dir belongs to another install dir. */
  | 'JOURNAL_MISMATCH'
  /** An interrupted swap could not be finished or rolled back; nothing more was changed. */
  | 'RECOVERY_FAILED';

export class InstallerWinError extends TufupError<InstallerWinErrorCode> {}

export function invalid(message: string): InstallerWinError {
  return new InstallerWinError({ code: 'INVALID_REQUEST', message });
}
