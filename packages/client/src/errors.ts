// The coded errors every @tufup/client failure is thrown as.
import { TufupError, isAbortError, isNoSpace } from '@tufup/common';

/** Stable codes callers switch on; the message is for humans and may change. */
export type ClientErrorCode =
  /** `metadataDir/root.json` (the trusted root shipped with the app) does not exist or cannot be read. */
  | 'TRUSTED_ROOT_MISSING'
  /** A constructor or call option that cannot work (bad version, bad URL, relative path...). */
  | 'INVALID_OPTIONS'
  /** Signed metadata (root, timestamp, snapshot or targets) has expired: a freeze attack or a repo not re-signed. */
  | 'METADATA_EXPIRED'
  /** Signed metadata failed TUF verification: bad signatures, rollback, wrong version, malformed, too large. */
  | 'METADATA_INVALID'
  /** The verified targets metadata has no release of `appName`: a wrong app name or repository URL. */
  | 'APP_NOT_FOUND'
  /** The server could not be reached, timed out, cut the connection or sent too slowly (slow retrieval), also after retries. */
  | 'NETWORK_ERROR'
  /** The server answered with an error status (404, 403, 5xx after retries...). */
  | 'HTTP_ERROR'
  /** A downloaded target's length or hashes differ from the signed targets metadata. */
  | 'TARGET_MISMATCH'
  /** The cached current version does not match its signed hashes (or is missing), so patches can't be applied. */
  | 'CACHE_INVALID'
  /** Applying a patch failed, or its result differed from the signed tar size / sha256. */
  | 'PATCH_FAILED'
  /** Extracting the new version into the staging dir failed (unsafe entry, size limit, corrupt archive). */
  | 'EXTRACT_FAILED'
  /** The installer function rejected. */
  | 'INSTALL_FAILED'
  /** The disk is full (ENOSPC / EDQUOT) while refreshing, downloading, patching or staging. */
  | 'NO_SPACE'
  /** A cache, metadata or staging file could not be read, written or removed. */
  | 'CACHE_IO_FAILED'
  /** downloadAndApplyUpdate() without a preceding checkForUpdates() that found an update. */
  | 'NO_UPDATE_PLANNED'
  /** Another check or update is already running on this Client. */
  | 'BUSY';

export class ClientError extends TufupError<ClientErrorCode> {}

/**
 * The server answered `url` with an error `status` (after retries where they apply). A `Transport` throws it
 * for a missing file (404 or 403): that is how the root walk learns that no newer root exists.
 */
export class HttpError extends ClientError {
  readonly status: number;
  readonly url: string;

  constructor(url: string, status: number, message = `${url}: HTTP ${status}`) {
    super({ code: 'HTTP_ERROR', message });
    this.status = status;
    this.url = url;
  }
}

/** A target that could not be downloaded or did not verify; `target` is its file name. */
export class TargetDownloadError extends ClientError {
  readonly target: string;

  constructor(code: 'TARGET_MISMATCH' | 'HTTP_ERROR', target: string, message: string, cause: unknown) {
    super({ code, message, cause });
    this.target = target;
  }
}

/**
 * `err` as a ClientError with `code` (a full disk anywhere in its causes: NO_SPACE). Ours and aborts pass
 * unchanged. Unlike common's `wrapError`, other packages' coded errors (archive, patch, an installer's) are
 * wrapped too: callers of the client switch on ClientError codes only.
 */
export function asClientError(err: unknown, code: ClientErrorCode, message: string): Error {
  if (err instanceof ClientError || isAbortError(err)) return err as Error;
  const detail = err instanceof Error ? err.message : String(err);
  return new ClientError({
    code: isNoSpace(err) ? 'NO_SPACE' : code,
    message: `${message}: ${detail}`,
    cause: err,
  });
}
