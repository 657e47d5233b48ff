// The one place where a failed tuf-js refresh becomes a coded ClientError.
import { causeChain, isNoSpace } from '@tufup/common';
import { ClientError, type ClientErrorCode } from '../errors.js';

/**
 * Classify what `Updater.refresh()` threw. `lastRequestFailure` is what our transport threw for the last
 * metadata request of this refresh, if it failed: tuf-js passes it on as it is from the root and timestamp
 * steps, but rethrows snapshot and targets failures as `RuntimeError("… ${error}")`, keeping only the text,
 * so the request's own error is the reliable source.
 *
 * tuf-js 5/6 exports none of its error classes (nor does @tufjs/models, but for ValueError), so the few kinds
 * that need a code of their own are recognised here, and only here, by class name; `RuntimeError`'s wrapped
 * text is matched for the one kind it hides (expiry).
 */
export function refreshFailure(err: unknown, lastRequestFailure: unknown): ClientError {
  const request = lastRequestFailure instanceof ClientError ? lastRequestFailure : undefined;
  const source = err instanceof ClientError ? err : request;
  if (source) return failure(source.code, source.message, err);
  const message = err instanceof Error ? err.message : String(err);
  return failure(codeOf(err, message), message, err);
}

/**
 * Whether a refresh failed because the server held two states at once: a timestamp naming another snapshot
 * version than `snapshot.json` has, or a snapshot naming another targets version. With python tufup's fixed
 * file names every upload of a new state passes through such a moment (`tufup publish` keeps it to the upload of
 * three small files); a second refresh a moment later reads one state. A metadata file cut short (a server that
 * writes objects in place while serving them) is the same moment. Everything is still verified: a
 * real rollback or a tampered file fails the second refresh the same way. tuf-js wraps these (`BadVersionError`,
 * a JSON SyntaxError) in a RuntimeError's text, hence the match on it.
 */
export function isMixedState(err: unknown): boolean {
  return causeChain(err).some(
    (e) =>
      // timestamp.json cut short: tuf-js passes JSON.parse's own error on.
      e instanceof SyntaxError ||
      (e instanceof Error &&
        /Snapshot version doesn't match timestamp|Version \d+ of \S+ does not match snapshot version \d+|^Unable to load (snapshot metadata|targets) error SyntaxError: /.test(
          e.message,
        )),
  );
}

function codeOf(err: unknown, message: string): ClientErrorCode {
  if (isNoSpace(err)) return 'NO_SPACE';
  const kind = err instanceof Error ? err.constructor.name : '';
  if (kind === 'ExpiredMetadataError') return 'METADATA_EXPIRED';
  // loadSnapshot / loadTargets: `Unable to load … error Error: snapshot.json is expired`.
  if (kind === 'RuntimeError' && /\bis expired$/.test(message)) return 'METADATA_EXPIRED';
  // persistMetadata: `Failed to persist metadata <role> error: Error: ENOSPC: …` (the cause is dropped).
  if (kind === 'PersistError') return /\b(ENOSPC|EDQUOT)\b/.test(message) ? 'NO_SPACE' : 'CACHE_IO_FAILED';
  return 'METADATA_INVALID';
}

function failure(code: ClientErrorCode, message: string, cause: unknown): ClientError {
  return new ClientError({ code, message: `metadata refresh failed: ${message}`, cause });
}
