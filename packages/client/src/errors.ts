// The coded error every @tufup/client failure is thrown as, and the mapping of lower-level errors onto it.
import { TufupError } from '@tufup/common';

/** Stable codes callers switch on; the message is for humans and may change. */
export type ClientErrorCode =
  /** `metadataDir/root.json` (the trusted root shipped with the app) does not exist or cannot be read. */
  | 'TRUSTED_ROOT_MISSING'
  /** A constructor or call option that cannot work (bad version, bad URL, relative path...). */
  | 'INVALID_OPTIONS'
  /** Signed metadata (root, timestamp, snapshot or targets) has expired: a freeze attack or a repo not re-signed. */
  | 'METADATA_EXPIRED'
  /** Signed metadata failed TUF verification: bad signatures, rollback, wrong version, malformed. */
  | 'METADATA_INVALID'
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
  /** The disk is full (ENOSPC / EDQUOT) while downloading, patching or staging. */
  | 'NO_SPACE'
  /** A cache or staging file could not be read, written or removed. */
  | 'CACHE_IO_FAILED'
  /** downloadAndApplyUpdate() without a preceding checkForUpdates() that found an update. */
  | 'NO_UPDATE_PLANNED'
  /** Another check or update is already running on this Client. */
  | 'BUSY';

export class ClientError extends TufupError<ClientErrorCode> {}

/** A target that could not be downloaded or did not verify; `target` is its file name. */
export class TargetDownloadError extends ClientError {
  readonly target: string;

  constructor(code: 'TARGET_MISMATCH' | 'HTTP_ERROR', target: string, message: string, cause: unknown) {
    super({ code, message, cause });
    this.target = target;
  }
}

/** The error objects in `err`'s cause chain, outermost first. */
export function causeChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && !seen.has(cur)) {
    out.push(cur);
    seen.add(cur);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return out;
}

/** True when the disk (or the user's quota) is full somewhere in `err`'s cause chain. */
export function isNoSpace(err: unknown): boolean {
  return causeChain(err).some((e) => {
    const code = (e as { code?: unknown }).code;
    return code === 'ENOSPC' || code === 'EDQUOT';
  });
}

/** True for an AbortSignal's reason (AbortError), which callers expect unwrapped. */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/**
 * tuf-js and @tufjs/models don't set `name` on their error classes (and @tufjs/models' errors are not
 * exported from its index), so they are recognised by constructor name.
 */
export function tufErrorKind(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  return err.constructor?.name;
}

/** Wrap `err` as a ClientError with `code`, unless it already is one, is an abort, or is a full disk. */
export function wrapError(err: unknown, code: ClientErrorCode, message: string): Error {
  if (err instanceof ClientError || isAbort(err)) return err as Error;
  if (isNoSpace(err)) {
    return new ClientError({ code: 'NO_SPACE', message: `${message}: the disk is full`, cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new ClientError({ code, message: `${message}: ${detail}`, cause: err });
}
