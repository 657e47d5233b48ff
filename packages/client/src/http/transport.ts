// The built-in Transport on node:http/https and file://: timeouts, retries with backoff, headers, resumable targets.
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, isAbortError, silentLogger, throwIfAborted } from '@tufup/common';
import { ClientError, HttpError } from '../errors.js';
import type { DownloadReport, MetadataRequest, TargetRequest, Transport } from '../transport.js';
import { TransferGuard } from './guard.js';
import {
  type Deadline,
  DeadlineError,
  LocalWriteError,
  type OpenResponse,
  type RequestSettings,
  RetryableError,
  checkComplete,
  contentRangeStart,
  discard,
  isRetryableStatus,
  openUrl,
  strongValidator,
} from './request.js';

const packageVersion: string = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;

/** How requests are made. Every field has a default that suits a desktop app on a flaky network. */
export interface FetcherOptions {
  /** Prepended to `tufup-ts/<version>` in the User-Agent header, e.g. `my-app/1.2.3`. */
  userAgent?: string;
  /**
   * Extra request headers (e.g. Authorization). A record is sent only to the origin of the URL being
   * fetched first, never across a redirect to another origin; a function decides per URL.
   */
  headers?: Record<string, string> | ((url: URL) => Record<string, string> | undefined);
  /** Connect and idle timeout per request, in ms (default 30 000). */
  timeoutMs?: number;
  /**
   * Deadline for one metadata file, in ms, over all its attempts and retries (default 60 000): a server that
   * keeps a metadata request alive by sending a byte now and then (slow retrieval) fails with NETWORK_ERROR.
   */
  metadataTimeoutMs?: number;
  /**
   * Slowest accepted transfer, in bytes per second (default 1024; 0 turns the check off): every response
   * body (metadata and targets) must bring at least `minBytesPerSecond × rateWindowMs / 1000` bytes in each
   * consecutive window of `rateWindowMs` from its first byte, or the attempt fails as a network error (and is
   * retried, then NETWORK_ERROR). The first window is the grace period.
   */
  minBytesPerSecond?: number;
  /** Length of the windows of the `minBytesPerSecond` check, in ms (default: `timeoutMs`). */
  rateWindowMs?: number;
  /** Retries after a network error, a timeout, 408, 429 or 5xx (default 3). */
  retries?: number;
  /** First retry delay in ms, doubled each time up to `maxRetryDelayMs` (default 250). */
  retryDelayMs?: number;
  /** Upper bound of the retry delay in ms (default 5000). */
  maxRetryDelayMs?: number;
  /** Redirects followed per request (default 5). */
  maxRedirects?: number;
  logger?: Logger;
}

/**
 * Metadata into memory and targets into a partial file, both retried on network errors, 408, 429 and 5xx
 * with exponential backoff. An interrupted target resumes with `Range`/`If-Range` (this attempt's bytes or
 * an earlier run's); a server that ignores Range means a restart from 0.
 */
export class HttpTransport implements Transport {
  readonly #settings: RequestSettings;
  readonly #retries: { retries: number; retryDelayMs: number; maxRetryDelayMs: number };
  readonly #slow: { minBytesPerSecond: number; windowMs: number; metadataTimeoutMs: number };
  readonly #logger: Logger;

  constructor(options: FetcherOptions = {}) {
    const timeoutMs = options.timeoutMs ?? 30_000;
    this.#settings = {
      userAgent: options.userAgent
        ? `${options.userAgent} tufup-ts/${packageVersion}`
        : `tufup-ts/${packageVersion}`,
      headers: options.headers,
      timeoutMs,
      maxRedirects: options.maxRedirects ?? 5,
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 4 }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 4 }),
    };
    this.#retries = {
      retries: options.retries ?? 3,
      retryDelayMs: options.retryDelayMs ?? 250,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 5000,
    };
    this.#slow = {
      minBytesPerSecond: options.minBytesPerSecond ?? 1024,
      windowMs: options.rateWindowMs ?? timeoutMs,
      metadataTimeoutMs: options.metadataTimeoutMs ?? 60_000,
    };
    this.#logger = options.logger ?? silentLogger;
  }

  /** Close idle keep-alive connections (the app may exit without it; sockets don't hold the event loop). */
  close(): void {
    this.#settings.httpAgent.destroy();
    this.#settings.httpsAgent.destroy();
  }

  /** A whole new attempt after any failure, all of them within `metadataTimeoutMs`. */
  async fetchMetadata(url: string, { maxLength, signal }: MetadataRequest): Promise<Uint8Array> {
    const ms = this.#slow.metadataTimeoutMs;
    const deadline: Deadline = { at: Date.now() + ms, ms };
    return this.#withRetries(
      url,
      signal,
      async () => {
        const res = await openUrl(new URL(url), { offset: 0, signal, deadline }, this.#settings);
        if (res.status !== 200) {
          discard(res);
          throw new HttpError(url, res.status);
        }
        const chunks: Buffer[] = [];
        let received = 0;
        await this.#readBody(res, deadline, (chunk) => {
          received += chunk.length;
          if (received > maxLength) {
            throw new ClientError({
              code: 'METADATA_INVALID',
              message: `${url} is larger than its maximum of ${maxLength} bytes`,
            });
          }
          chunks.push(chunk);
        });
        checkComplete(res, received);
        return Buffer.concat(chunks, received);
      },
      deadline,
    );
  }

  /** Into (or on from) `partialPath`; a body longer than `maxLength` deletes the partial (no prefix of anything). */
  async downloadTarget(url: string, request: TargetRequest): Promise<DownloadReport> {
    const report: DownloadReport = { url, resumedFrom: 0, attempts: 0, restarted: false };
    // The strong validator of the bytes in the partial file, once a response named one (for If-Range).
    const source: { validator?: string | undefined } = {};
    try {
      await this.#withRetries(url, request.signal, () => this.#attemptTarget(url, request, report, source));
    } catch (err) {
      if (err instanceof ClientError && err.code === 'TARGET_MISMATCH') {
        await rm(request.partialPath, { force: true });
      }
      throw err;
    }
    return report;
  }

  async #attemptTarget(
    url: string,
    request: TargetRequest,
    report: DownloadReport,
    source: { validator?: string | undefined },
  ): Promise<void> {
    const { partialPath: dest, maxLength, signal } = request;
    for (let restarts = 0; ; ) {
      report.attempts++;
      let offset = await fileSize(dest);
      if (offset > maxLength) offset = 0;
      if (offset === maxLength && maxLength > 0) {
        // Complete from an earlier run; the caller's verification decides whether it is right.
        report.resumedFrom = offset;
        return;
      }
      const res = await openUrl(
        new URL(url),
        { offset, validator: offset > 0 ? source.validator : undefined, signal },
        this.#settings,
      );
      const resumable = offset > 0 && res.status === 206;
      if (
        (resumable && contentRangeStart(res.headers['content-range']) !== offset) ||
        (offset > 0 && res.status === 416)
      ) {
        // Not the range asked for, or the partial is not a prefix of what the server has: start over.
        res.body.destroy();
        await truncateTo(dest, 0);
        if (++restarts > 2) throw new RetryableError('server keeps refusing the range');
        continue;
      }
      if (resumable) {
        report.resumedFrom = offset;
      } else if (res.status === 200) {
        if (offset > 0) {
          report.restarted = true;
          this.#logger.info(`${url}: server ignored the Range request; downloading from the start`);
        }
        report.resumedFrom = 0;
      } else {
        discard(res);
        throw new HttpError(url, res.status);
      }
      source.validator = strongValidator(res.headers) ?? source.validator;
      await this.#writeBody(url, res, resumable ? offset : 0, request);
      return;
    }
  }

  async #writeBody(url: string, res: OpenResponse, offset: number, request: TargetRequest): Promise<void> {
    const { partialPath: dest, maxLength, onBytes } = request;
    let fh: FileHandle;
    try {
      fh = await open(dest, offset > 0 ? 'r+' : 'w');
      if (offset > 0) await fh.truncate(offset);
    } catch (err) {
      res.body.destroy();
      throw new LocalWriteError(`cannot write ${dest}`, { cause: err });
    }
    let size = offset;
    onBytes?.(size);
    try {
      await this.#readBody(res, undefined, async (chunk) => {
        if (size + chunk.length > maxLength) {
          throw new ClientError({
            code: 'TARGET_MISMATCH',
            message: `${url} is larger than its signed length of ${maxLength} bytes`,
          });
        }
        try {
          await fh.write(chunk, 0, chunk.length, size);
        } catch (err) {
          throw new LocalWriteError(`cannot write ${dest}`, { cause: err });
        }
        size += chunk.length;
        onBytes?.(size);
      });
    } finally {
      await fh.close().catch(() => {});
    }
    checkComplete(res, size - offset);
  }

  /** Read a body chunk by chunk under the slow-retrieval guard; a connection failure becomes retryable. */
  async #readBody(
    res: OpenResponse,
    deadline: Deadline | undefined,
    onChunk: (chunk: Buffer) => void | Promise<void>,
  ): Promise<void> {
    const guard = new TransferGuard(res.body, { ...this.#slow, deadline });
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        guard.count(chunk.length);
        await onChunk(chunk);
      }
    } catch (err) {
      res.body.destroy();
      throw bodyError(err);
    } finally {
      guard.dispose();
    }
  }

  /**
   * Retry `attempt` on network errors, timeouts, 408/429/5xx, with exponential backoff and jitter; never
   * past `deadline`.
   */
  async #withRetries<T>(
    url: string,
    signal: AbortSignal | undefined,
    attempt: () => Promise<T>,
    deadline?: Deadline,
  ): Promise<T> {
    const { retries, retryDelayMs, maxRetryDelayMs } = this.#retries;
    for (let n = 0; ; n++) {
      throwIfAborted(signal);
      try {
        return await attempt();
      } catch (err) {
        // An abort can surface as a socket error ("aborted"): report it as the abort it is.
        throwIfAborted(signal);
        const retryable =
          err instanceof RetryableError || (err instanceof HttpError && isRetryableStatus(err.status));
        const delay = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** n);
        const jittered = Math.round(delay * (0.5 + Math.random() * 0.5));
        if (!retryable || n >= retries) throw finalError(url, err, n + 1);
        if (deadline && Date.now() + jittered >= deadline.at) {
          throw finalError(
            url,
            new DeadlineError(`not done within ${deadline.ms} ms`, { cause: err }),
            n + 1,
          );
        }
        this.#logger.debug(`${url}: ${(err as Error).message}; retry ${n + 1} in ${jittered} ms`);
        await sleep(jittered, undefined, signal ? { signal } : {});
      }
    }
  }
}

/** What callers get: our coded errors and aborts as they are; the rest becomes NETWORK_ERROR naming the URL once. */
function finalError(url: string, err: unknown, attempts: number): unknown {
  if (err instanceof ClientError || isAbortError(err)) return err;
  if (err instanceof LocalWriteError) return err.cause;
  const tries = `${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}`;
  if (err instanceof DeadlineError) {
    return new ClientError({
      code: 'NETWORK_ERROR',
      message: `${url}: ${err.message} (slow retrieval; ${tries})`,
      cause: err,
    });
  }
  if (err instanceof RetryableError) {
    return new ClientError({
      code: 'NETWORK_ERROR',
      message: `${url}: ${err.message} (${tries})`,
      cause: err.cause ?? err,
    });
  }
  return err;
}

/** Errors while reading a body: the connection's are retryable; ours, local, deadline and abort errors are not. */
function bodyError(err: unknown): unknown {
  if (
    err instanceof ClientError ||
    err instanceof LocalWriteError ||
    err instanceof RetryableError ||
    err instanceof DeadlineError ||
    isAbortError(err)
  )
    return err;
  return new RetryableError(`connection lost mid-download (${(err as Error).message})`, { cause: err });
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function truncateTo(path: string, size: number): Promise<void> {
  try {
    const fh = await open(path, 'r+');
    await fh.truncate(size);
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new LocalWriteError(`cannot truncate ${path}`, { cause: err });
  }
}
