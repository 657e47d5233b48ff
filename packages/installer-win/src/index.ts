// @tufup/installer-win: a crash-safe Windows installer behind the tufup Installer contract, run as a detached script.
export { InstallerWinError, type InstallerWinErrorCode } from './errors.js';
export {
  createWindowsInstaller,
  startInstallScript,
  type WindowsInstallerOptions,
  type StartedScript,
} from './launcher.js';
export { recover, type RecoverOptions, type RecoverResult, type RecoverOutcome } from './recover.js';
export type { InstallRequest, Installer } from '@tufup/common';
