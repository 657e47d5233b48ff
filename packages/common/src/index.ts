// Shared foundations of the @tufup packages.
export {
  TufupError,
  CommonError,
  type CommonErrorCode,
  isTufupError,
  describeErrorChain,
  errnoCode,
  throwIfAborted,
  isAbortError,
  isNoSpace,
  causeChain,
  wrapError,
  type TufupErrorOptions,
} from './errors.js';
export {
  writeFileAtomic,
  writeStreamAtomic,
  siblingTempPath,
  fsyncDir,
  makeTempDir,
  withTempDir,
  type AtomicWriteOptions,
} from './fs.js';
export {
  HashingStream,
  type HashOpenFileOptions,
  hashFile,
  hashOpenFile,
  sameDigest,
  type SizeAndHash,
} from './hash.js';
export {
  throttleProgress,
  silentLogger,
  stderrLogger,
  type ProgressEvent,
  type OnProgress,
  type Logger,
} from './progress.js';
export {
  isInsideOrSame,
  isNotFound,
  lstatOrUndefined,
  pathExists,
  readFileOrUndefined,
  readdirOrEmpty,
  nearestExisting,
} from './paths.js';
export {
  tryLockFile,
  describeLockHolder,
  isProcessAlive,
  type LockAttempt,
  type LockFile,
  type LockHolder,
  type LockOptions,
} from './lock.js';
export {
  defaultStateDir,
  defaultLogFile,
  installRequestProblem,
  currentCommandLine,
  type InstallRequest,
  type Installer,
} from './installer.js';
