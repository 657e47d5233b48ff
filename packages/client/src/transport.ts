// The client's one network seam: every metadata file and every target goes through these two typed calls.

/** A metadata file (root, timestamp, snapshot, targets): into memory, bounded. */
export interface MetadataRequest {
  /** Fail (METADATA_INVALID) rather than read more than this many bytes. */
  maxLength: number;
  signal?: AbortSignal | undefined;
}

/** A target file: into `partialPath`, resuming what an interrupted attempt or run left there. */
export interface TargetRequest {
  /** The partial file: kept when a download is interrupted, appended to on the next attempt or run. */
  partialPath: string;
  /** The signed length: a longer body fails with TARGET_MISMATCH and the partial file is deleted. */
  maxLength: number;
  /** Called after every chunk with the number of bytes now in the partial file. */
  onBytes?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** What one target download did. */
export interface DownloadReport {
  url: string;
  /** Bytes already present when the last attempt started (0 unless it resumed). */
  resumedFrom: number;
  attempts: number;
  /** True when a server ignored a Range request and the download restarted from byte 0. */
  restarted: boolean;
}

/**
 * How the client talks to the repository's server. `HttpTransport` is the built-in one; an app may pass its
 * own (a proxy, an offline mirror, a test double). The contract:
 * - failures are `ClientError`s: `HttpError` (code HTTP_ERROR, with `status`) for an error status, where a
 *   missing file must be 404 or 403 (the root walk stops there); NETWORK_ERROR for an unreachable or too slow
 *   server; METADATA_INVALID / TARGET_MISMATCH for a body longer than `maxLength`;
 * - an aborted `signal` rejects with the signal's reason;
 * - `downloadTarget` leaves the complete body in `partialPath` and verifies nothing: the client checks length
 *   and hashes against the signed metadata before it uses a byte.
 */
export interface Transport {
  fetchMetadata(url: string, request: MetadataRequest): Promise<Uint8Array>;
  downloadTarget(url: string, request: TargetRequest): Promise<DownloadReport>;
}
