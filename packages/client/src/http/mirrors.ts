// Mirrors: the same repository at other base URLs, asked in order after the primary when a server is down.
// This is the one place that decides when the next base URL is tried; it wraps any Transport.
import type { Logger } from '@tufup/common';
import { ClientError, HttpError } from '../errors.js';
import type { DownloadReport, MetadataRequest, TargetRequest, Transport } from '../transport.js';
import { isRetryableStatus } from './request.js';

/** Where one copy of the repository is served: its `metadata/` and `targets/` base URLs. */
export interface Mirror {
  metadataBaseUrl: string;
  targetBaseUrl: string;
}

/**
 * Each request goes to the primary first, then to each mirror in order, and moves on only when a server is
 * unavailable: a network error or timeout, or a 5xx / 408 / 429 status, each after the wrapped transport's own
 * retries. A target file that is missing (404, 403, 410) is also looked for on the next mirror (one still syncing
 * may lack a new release); a missing metadata file is an answer (the root walk ends on it) and is final.
 *
 * Nothing else moves on: whatever a server sends is checked against the signed metadata by the caller, and a
 * file that fails that check (bad signature, wrong hash or length, rollback, too large) fails the update. Trying
 * the next mirror then would let one bad server make every client probe for a copy it likes, and would hide an
 * attack (or a broken publish) from the logs and the user; TUF keeps it a hard failure, and so does this.
 */
export class MirrorTransport implements Transport {
  readonly #inner: Transport;
  readonly #bases: Mirror[];
  readonly #logger: Logger;

  /** `bases[0]` is the primary (the client's own base URLs); the rest are tried after it, in order. */
  constructor(inner: Transport, bases: readonly Mirror[], logger: Logger) {
    this.#inner = inner;
    this.#bases = bases.map((b) => ({
      metadataBaseUrl: withSlash(b.metadataBaseUrl),
      targetBaseUrl: withSlash(b.targetBaseUrl),
    }));
    this.#logger = logger;
  }

  fetchMetadata(url: string, request: MetadataRequest): Promise<Uint8Array> {
    return this.#inOrder(url, 'metadataBaseUrl', (u) => this.#inner.fetchMetadata(u, request), false);
  }

  downloadTarget(url: string, request: TargetRequest): Promise<DownloadReport> {
    return this.#inOrder(url, 'targetBaseUrl', (u) => this.#inner.downloadTarget(u, request), true);
  }

  async #inOrder<T>(
    url: string,
    kind: keyof Mirror,
    attempt: (url: string) => Promise<T>,
    missingMovesOn: boolean,
  ): Promise<T> {
    const primary = this.#bases[0]?.[kind];
    // A URL outside the primary base (none should be) has no mirror copy: asked as it is.
    if (primary === undefined || !url.startsWith(primary)) return attempt(url);
    const path = url.slice(primary.length);
    for (let i = 0; ; i++) {
      const current = i === 0 ? url : new URL(`${this.#bases[i]![kind]}${path}`).toString();
      try {
        return await attempt(current);
      } catch (err) {
        const next = this.#bases[i + 1];
        if (!next || !isUnavailable(err, missingMovesOn)) throw err;
        this.#logger.warn(`${(err as Error).message}; trying mirror ${next[kind]}`);
      }
    }
  }
}

/** A failure of the server rather than of the bytes: worth asking the next mirror. */
function isUnavailable(err: unknown, missingMovesOn: boolean): boolean {
  if (err instanceof HttpError) {
    return isRetryableStatus(err.status) || (missingMovesOn && [403, 404, 410].includes(err.status));
  }
  return err instanceof ClientError && err.code === 'NETWORK_ERROR';
}

function withSlash(base: string): string {
  return new URL(base.endsWith('/') ? base : `${base}/`).toString();
}
