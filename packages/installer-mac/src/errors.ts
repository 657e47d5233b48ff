// The coded errors of @tufup/installer-mac: callers switch on `code`, humans read `message`.
import { TufupError } from '@tufup/common';

export type InstallerMacErrorCode =
  /** A request or option is malformed (relative path, empty name, bad timeout, ...). */
  | 'INVALID_REQUEST'
  /** Windows: renaming the directory of a running app is not how Windows apps are updated. */
  | 'UNSUPPORTED_PLATFORM'
  /** macOS runs the app from a randomized read-only copy; it must be moved (e.g. to /Applications) first. */
  | 'APP_TRANSLOCATED'
  /** The staged new version (srcDir) is missing or not a directory. */
  | 'SOURCE_MISSING'
  /** The install dir (dstDir) is missing, not a directory, or a symlink. */
  | 'DESTINATION_MISSING'
  /** srcDir, dstDir and the state dir are not on one volume, so a rename cannot move them atomically. */
  | 'CROSS_DEVICE'
  /** Two of srcDir, dstDir, state dir and log file overlap, or a path would leave its tree. */
  | 'UNSAFE_PATH'
  /** A `preserve` path crosses a symlink or a non-directory in the old or the new tree. */
  | 'PRESERVE_UNSAFE'
  /** The install dir's parent is not writable and no elevation is available on this platform. */
  | 'NOT_WRITABLE'
  /** The detached worker did not start or did not confirm that it runs. */
  | 'WORKER_START_FAILED'
  /** Another installer or recovery holds the state dir's lock. */
  | 'INSTALL_BUSY'
  /** The journal is unreadable or describes paths it must not. */
  | 'JOURNAL_INVALID'
  /** The journal in the state dir belongs to another install dir. */
  | 'JOURNAL_MISMATCH'
  /** An interrupted swap could not be finished or rolled back; nothing more was changed. */
  | 'RECOVERY_FAILED'
  /** Preparing or renaming failed; the old version was put back. */
  | 'SWAP_FAILED'
  /** The app did not exit within the timeout; nothing was changed. */
  | 'WAIT_TIMEOUT'
  /** The administrator-rights step was refused, cancelled or failed. */
  | 'ELEVATION_FAILED'
  /** The worker was asked to stop (SIGTERM/SIGINT/SIGHUP) before the swap began. */
  | 'ABORTED';

export class InstallerMacError extends TufupError<InstallerMacErrorCode> {}
