// @tufup/installer-mac: a crash-safe installer for macOS (and any POSIX system) behind the tufup Installer contract.
export { InstallerMacError, type InstallerMacErrorCode } from './errors.js';
export {
  createMacInstaller,
  startInstallWorker,
  type MacInstallerOptions,
  type StartedWorker,
} from './launcher.js';
export { recover, type RecoverOptions, type RecoverResult, type RecoverOutcome } from './swap.js';
export type { MacCommands } from './macos.js';
export { runWorker } from './worker-main.js';
export type { InstallRequest, Installer } from '@tufup/common';
