// @tufup/installer-win: a crash-safe Windows installer behind the tufup Installer contract, run as a detached script.
export { InstallerWinError, type InstallerWinErrorCode } from './errors.js';
export {
  createWindowsInstaller,
  startInstallScript,
  currentCommandLine,
  planRelaunch,
  type WindowsInstallerOptions,
  type StartedScript,
  type RelaunchSpec,
  type ScriptPlan,
  requestEntries,
} from './launcher.js';
export { recover, type RecoverOptions, type RecoverResult, type RecoverOutcome } from './recover.js';
export { defaultStateDir, defaultLogFile, userLogFile } from './paths.js';
export { quoteWindowsArg, joinWindowsArgs, splitWindowsArgs } from './cmdline.js';
export { encodeRequestFile, parseRequestFile, type RequestRecord } from './request-file.js';
export { renderScript, SCRIPT_LIBRARY, DEFAULT_TEMPLATE, LIBRARY_PLACEHOLDER } from './script.js';
export type { InstallRequest, Installer } from '@tufup/common';
