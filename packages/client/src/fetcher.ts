// The tuf-js fetcher on node:http/https and file://: timeouts, retries with backoff, headers, resumable targets.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Logger, makeTempDir, silentLogger, throwIfAborted } from '@tufup/common';
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError, DownloadLengthMismatchError } from 'tuf-js/dist/error.js';
import { ClientError, isAbort } from './errors.js';

const packageVersion: string = (createRequire(import.meta.url)('../package.json') as { version: string })
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

/** Where a target download accumulates, so that an interrupted one resumes with a Range request. */
export interface TargetDownloadContext {
  /** The partial file: kept when a download is interrupted, appended to on the next attempt or run. */
  partialPath: string;
  /** Called after every chunk with the number of bytes now in the partial file. */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

/** What one download did, for callers that report on resumes (tests, logs). */
export interface DownloadReport {
  url: string;
  /** Bytes already present when the last attempt started (0 unless it resumed). */
  resumedFrom: number;
  attempts: number;
  /** True when a server ignored a Range request and the download restarted from byte 0. */
  restarted: boolean;
}

interface OpenResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
}

/** An error from writing the local file: never retried (a full disk stays full). */
class LocalWriteError extends Error {}

/** A network-level failure worth another attempt. Its message does not name the URL (the final error does). */
class RetryableError extends Error {}

/** A body arriving slower than `minBytesPerSecond`: a slow-retrieval attack or a hopeless link. */
class SlowTransferError extends RetryableError {}

/** A metadata request past its `metadataTimeoutMs`: final, no time is left for another attempt. */
class DeadlineError extends Error {}

/** When a request must be done by (epoch ms), and the allowance it came from (for messages). */
interface Deadline {
  at: number;
  ms: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * tuf-js calls `downloadFile` (targets, with a max length) and `downloadBytes` (metadata). Both retry network
 * errors and 5xx with exponential backoff; a missing file is tuf-js' `DownloadHTTPError` with its status, so
 * its root walk stops on 404. A target download run inside `withTarget()` goes to a partial file that
 * survives interruption and is resumed with `Range`; a server that ignores Range means a restart from 0.
 */
export class HttpFetcher extends BaseFetcher {
  readonly #opts: Required<Omit<FetcherOptions, 'headers' | 'userAgent'>> &
    Pick<FetcherOptions, 'headers'> & { userAgent: string };
  readonly #httpAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  readonly #httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 4 });
  readonly #target = new AsyncLocalStorage<TargetDownloadContext>();
  readonly #operation = new AsyncLocalStorage<{ signal: AbortSignal | undefined }>();
  /** The last failed request of the current operation, cleared when a new one starts (error classification). */
  lastFailure: unknown;
  /** What the most recent target download did. */
  lastDownload: DownloadReport | undefined;

  constructor(options: FetcherOptions = {}) {
    super();
    this.#opts = {
      userAgent: options.userAgent
        ? `${options.userAgent} tufup-ts/${packageVersion}`
        : `tufup-ts/${packageVersion}`,
      headers: options.headers,
      timeoutMs: options.timeoutMs ?? 30_000,
      metadataTimeoutMs: options.metadataTimeoutMs ?? 60_000,
      minBytesPerSecond: options.minBytesPerSecond ?? 1024,
      rateWindowMs: options.rateWindowMs ?? options.timeoutMs ?? 30_000,
      retries: options.retries ?? 3,
      retryDelayMs: options.retryDelayMs ?? 250,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 5000,
      maxRedirects: options.maxRedirects ?? 5,
      logger: options.logger ?? silentLogger,
    };
  }

  /** Run `fn` (which calls tuf-js' downloadTarget) so that its download goes through `ctx`'s partial file. */
  withTarget<T>(ctx: TargetDownloadContext, fn: () => Promise<T>): Promise<T> {
    return this.#target.run(ctx, fn);
  }

  /** Run `fn` (e.g. tuf-js' refresh) so that the metadata requests it makes are aborted by `signal`. */
  withSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    return this.#operation.run({ signal }, fn);
  }

  /** Close idle keep-alive connections (the app may exit without it; sockets don't hold the event loop). */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  /** One GET as a web stream (BaseFetcher's contract); retries happen before the body starts. */
  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const res = await this.#withRetries(url, undefined, async () => {
      const r = await this.#open(new URL(url), 0, undefined);
      if (r.status !== 200) {
        discard(r);
        throw this.#statusError(url, r.status);
      }
      return r;
    });
    return Readable.toWeb(res.body) as ReadableStream<Uint8Array<ArrayBuffer>>;
  }

  /** Metadata: into memory (tuf-js bounds it by its max lengths), a whole new attempt after any failure. */
  override async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    this.lastFailure = undefined;
    const signal = this.#operation.getStore()?.signal ?? this.#target.getStore()?.signal;
    const deadline: Deadline = {
      at: Date.now() + this.#opts.metadataTimeoutMs,
      ms: this.#opts.metadataTimeoutMs,
    };
    return this.#withRetries(
      url,
      signal,
      async () => {
        const res = await this.#open(new URL(url), 0, undefined, signal, deadline);
        if (res.status !== 200) {
          discard(res);
          throw this.#statusError(url, res.status);
        }
        const chunks: Buffer[] = [];
        let received = 0;
        const guard = this.#guard(res.body, deadline);
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            received += chunk.length;
            guard.count(chunk.length);
            if (received > maxLength) {
              throw new DownloadLengthMismatchError(
                `${url} is larger than its maximum of ${maxLength} bytes`,
              );
            }
            chunks.push(chunk);
          }
        } catch (err) {
          res.body.destroy();
          throw this.#bodyError(err);
        } finally {
          guard.dispose();
        }
        checkComplete(res, received);
        return Buffer.concat(chunks, received);
      },
      deadline,
    );
  }

  /**
   * Targets: downloaded (or resumed) into the context's partial file, then handed to tuf-js' handler, which
   * verifies length + hashes and copies the file out. A partial that fails verification is deleted.
   * Without a context (a caller other than our Client) the partial is a private temp file.
   */
  override async downloadFile<T>(
    url: string,
    maxLength: number,
    handler: (file: string) => Promise<T>,
  ): Promise<T> {
    this.lastFailure = undefined;
    const ctx = this.#target.getStore();
    if (!ctx) {
      const dir = await makeTempDir('tufup-dl-');
      try {
        const file = join(dir, 'download');
        await this.#downloadTo(url, file, maxLength, { partialPath: file });
        return await handler(file);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    try {
      await this.#downloadTo(url, ctx.partialPath, maxLength, ctx);
    } catch (err) {
      // Bytes of a file longer than its signed length are no prefix worth resuming.
      if (err instanceof DownloadLengthMismatchError) await rm(ctx.partialPath, { force: true });
      throw err;
    }
    let result: T;
    try {
      result = await handler(ctx.partialPath);
    } catch (err) {
      // A partial that does not verify can't be resumed from: the next attempt must start over.
      await rm(ctx.partialPath, { force: true });
      throw err;
    }
    await rm(ctx.partialPath, { force: true });
    return result;
  }

  async #downloadTo(url: string, dest: string, maxLength: number, ctx: TargetDownloadContext): Promise<void> {
    const report: DownloadReport = { url, resumedFrom: 0, attempts: 0, restarted: false };
    this.lastDownload = report;
    let validator: string | undefined;
    let restarts = 0;
    await this.#withRetries(url, ctx.signal, async () => {
      for (;;) {
        report.attempts++;
        let offset = await fileSize(dest);
        if (offset > maxLength) offset = 0;
        if (offset === maxLength && maxLength > 0) {
          // Complete from an earlier run; the handler's verification decides whether it is right.
          report.resumedFrom = offset;
          return;
        }
        const res = await this.#open(new URL(url), offset, offset > 0 ? validator : undefined, ctx.signal);
        let append = false;
        if (res.status === 206 && offset > 0) {
          const start = contentRangeStart(res.headers['content-range']);
          if (start !== offset) {
            res.body.destroy();
            await writeFrom(dest, 0);
            if (++restarts > 2) throw new RetryableError('inconsistent Content-Range');
            continue;
          }
          append = true;
          report.resumedFrom = offset;
        } else if (res.status === 416 && offset > 0) {
          // The partial is not a prefix of what the server has: start over.
          res.body.destroy();
          await writeFrom(dest, 0);
          if (++restarts > 2) throw new RetryableError('server keeps refusing the range');
          continue;
        } else if (res.status === 200) {
          if (offset > 0) {
            report.restarted = true;
            this.#opts.logger.info(`${url}: server ignored the Range request; downloading from the start`);
          }
          report.resumedFrom = 0;
        } else {
          discard(res);
          throw this.#statusError(url, res.status);
        }
        validator = strongValidator(res.headers) ?? validator;
        await this.#writeBody(url, res, dest, append ? offset : 0, maxLength, ctx);
        return;
      }
    });
  }

  async #writeBody(
    url: string,
    res: OpenResponse,
    dest: string,
    offset: number,
    maxLength: number,
    ctx: TargetDownloadContext,
  ): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(dest, offset > 0 ? 'r+' : 'w');
      if (offset > 0) await fh.truncate(offset);
    } catch (err) {
      res.body.destroy();
      throw new LocalWriteError(`cannot write ${dest}`, { cause: err });
    }
    let size = offset;
    ctx.onBytes?.(size);
    const guard = this.#guard(res.body, undefined);
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        guard.count(chunk.length);
        if (size + chunk.length > maxLength) {
          throw new DownloadLengthMismatchError(
            `${url} is larger than its signed length of ${maxLength} bytes`,
          );
        }
        try {
          await fh.write(chunk, 0, chunk.length, size);
        } catch (err) {
          throw new LocalWriteError(`cannot write ${dest}`, { cause: err });
        }
        size += chunk.length;
        ctx.onBytes?.(size);
      }
    } catch (err) {
      res.body.destroy();
      throw this.#bodyError(err);
    } finally {
      guard.dispose();
      await fh.close().catch(() => {});
    }
    checkComplete(res, size - offset);
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
    for (let n = 0; ; n++) {
      throwIfAborted(signal);
      try {
        return await attempt();
      } catch (err) {
        // An abort can surface as a socket error ("aborted"): report it as the abort it is.
        throwIfAborted(signal);
        const retryable =
          err instanceof RetryableError ||
          (err instanceof DownloadHTTPError && isRetryableStatus(err.statusCode));
        const delay = Math.min(this.#opts.maxRetryDelayMs, this.#opts.retryDelayMs * 2 ** n);
        const jittered = Math.round(delay * (0.5 + Math.random() * 0.5));
        if (!retryable || n >= this.#opts.retries || signal?.aborted) {
          this.lastFailure = err;
          throw this.#finalError(url, err, n + 1);
        }
        if (deadline && Date.now() + jittered >= deadline.at) {
          const late = new DeadlineError(`not done within ${deadline.ms} ms`, { cause: err });
          this.lastFailure = late;
          throw this.#finalError(url, late, n + 1);
        }
        this.#opts.logger.debug(`${url}: ${(err as Error).message}; retry ${n + 1} in ${jittered} ms`);
        await sleep(jittered, undefined, signal ? { signal } : {});
      }
    }
  }

  /**
   * What tuf-js and our Client get: DownloadHTTPError stays (tuf-js reads its status), the rest is coded.
   * The URL is named here, once.
   */
  #finalError(url: string, err: unknown, attempts: number): unknown {
    if (err instanceof DownloadHTTPError || err instanceof DownloadLengthMismatchError || isAbort(err)) {
      return err;
    }
    if (err instanceof LocalWriteError) return err.cause;
    if (err instanceof DeadlineError) {
      return new ClientError({
        code: 'NETWORK_ERROR',
        message: `${url}: ${err.message} (slow retrieval; ${attempts} ${plural(attempts, 'attempt')})`,
        cause: err,
      });
    }
    if (err instanceof RetryableError) {
      return new ClientError({
        code: 'NETWORK_ERROR',
        message: `${url}: ${err.message} (${attempts} ${plural(attempts, 'attempt')})`,
        cause: err.cause ?? err,
      });
    }
    return err;
  }

  /** The slow-retrieval checks on one response body; the reading loop reports what it consumed. */
  #guard(body: Readable, deadline: Deadline | undefined): TransferGuard {
    return new TransferGuard(body, {
      minBytesPerSecond: this.#opts.minBytesPerSecond,
      windowMs: this.#opts.rateWindowMs,
      deadline,
    });
  }

  #statusError(url: string, status: number): DownloadHTTPError {
    return new DownloadHTTPError(`${url}: HTTP ${status}`, status);
  }

  /** Errors while reading a body: the connection's are retryable, local, length and deadline errors are not. */
  #bodyError(err: unknown): unknown {
    if (
      err instanceof LocalWriteError ||
      err instanceof DownloadLengthMismatchError ||
      err instanceof RetryableError ||
      err instanceof DeadlineError ||
      isAbort(err)
    )
      return err;
    return new RetryableError(`connection lost mid-download (${(err as Error).message})`, { cause: err });
  }

  /** Open `url` from byte `offset` (http(s) with Range + If-Range, or file://), following redirects. */
  async #open(
    url: URL,
    offset: number,
    validator: string | undefined,
    signal?: AbortSignal,
    deadline?: Deadline,
  ): Promise<OpenResponse> {
    if (url.protocol === 'file:') return openFile(url, offset);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ClientError({ code: 'INVALID_OPTIONS', message: `unsupported URL scheme: ${url.protocol}` });
    }
    const origin = url.origin;
    let current = url;
    for (let redirects = 0; ; redirects++) {
      const headers: Record<string, string> = { ...this.#headersFor(current, origin) };
      headers['user-agent'] = this.#opts.userAgent;
      headers['accept-encoding'] = 'identity';
      if (offset > 0) {
        headers.range = `bytes=${offset}-`;
        if (validator) headers['if-range'] = validator;
      }
      const res = await this.#request(current, headers, signal, deadline);
      const location = res.headers.location;
      if (REDIRECTS.has(res.status) && location) {
        res.body.resume();
        if (redirects >= this.#opts.maxRedirects) {
          throw new DownloadHTTPError(`${url}: too many redirects`, res.status);
        }
        const next = new URL(location, current);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new DownloadHTTPError(`${url}: redirect to ${next.protocol} refused`, res.status);
        }
        if (current.protocol === 'https:' && next.protocol === 'http:') {
          throw new DownloadHTTPError(`${url}: redirect from https to http refused`, res.status);
        }
        current = next;
        continue;
      }
      return res;
    }
  }

  #headersFor(url: URL, origin: string): Record<string, string> {
    const h = this.#opts.headers;
    if (!h) return {};
    if (typeof h === 'function') return h(url) ?? {};
    return url.origin === origin ? h : {};
  }

  #request(
    url: URL,
    headers: Record<string, string>,
    signal?: AbortSignal,
    deadline?: Deadline,
  ): Promise<OpenResponse> {
    return new Promise((resolve, reject) => {
      let late: NodeJS.Timeout | undefined;
      let response: http.IncomingMessage | undefined;
      const mod = url.protocol === 'https:' ? https : http;
      const agent = url.protocol === 'https:' ? this.#httpsAgent : this.#httpAgent;
      const req = mod.request(
        url,
        { method: 'GET', headers, agent, ...(signal ? { signal } : {}) },
        (res) => {
          clearTimeout(late);
          response = res;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
        },
      );
      // The idle timeout below restarts with every byte; the deadline does not (slow retrieval).
      if (deadline) {
        late = setTimeout(
          () => req.destroy(new DeadlineError(`no response within ${deadline.ms} ms`)),
          Math.max(0, deadline.at - Date.now()),
        );
      }
      req.setTimeout(this.#opts.timeoutMs, () => {
        // Mid-body, failing the response itself says "stalled" rather than a bare "aborted".
        if (response) response.destroy(new RetryableError(`no data for ${this.#opts.timeoutMs} ms`));
        else req.destroy(new RetryableError(`no response within ${this.#opts.timeoutMs} ms`));
      });
      req.on('error', (err) => {
        clearTimeout(late);
        if (isAbort(err) || err instanceof RetryableError || err instanceof DeadlineError) reject(err);
        else reject(new RetryableError(err.message, { cause: err }));
      });
      req.end();
    });
  }
}

/** Drop a response body: a small one is read to its end so the connection can be reused. */
function discard(res: OpenResponse): void {
  const length = Number(res.headers['content-length']);
  if (Number.isFinite(length) && length <= 64 * 1024) res.body.resume();
  else res.body.destroy();
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status < 600);
}

/** A body shorter than its Content-Length is a cut connection, whatever the socket said. */
function checkComplete(res: OpenResponse, received: number): void {
  const declared = Number(res.headers['content-length']);
  if (res.headers['content-length'] !== undefined && Number.isFinite(declared) && received !== declared) {
    throw new RetryableError(`got ${received} of ${declared} bytes`);
  }
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

/**
 * Slow retrieval, the case an idle timeout misses (a byte now and then): fails a body that brings fewer than
 * `minBytesPerSecond` over a window, or that is still running at the deadline, by destroying it with the
 * reason, which the reading loop then throws.
 */
class TransferGuard {
  readonly #body: Readable;
  #bytes = 0;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(
    body: Readable,
    opts: { minBytesPerSecond: number; windowMs: number; deadline: Deadline | undefined },
  ) {
    this.#body = body;
    const { minBytesPerSecond, windowMs, deadline } = opts;
    if (minBytesPerSecond > 0 && windowMs > 0) {
      const floor = Math.ceil((minBytesPerSecond * windowMs) / 1000);
      this.#timers.push(
        setInterval(() => {
          const got = this.#bytes;
          this.#bytes = 0;
          if (got < floor) {
            this.#fail(
              new SlowTransferError(
                `too slow: ${got} bytes in ${windowMs} ms, below the minimum of ${minBytesPerSecond} bytes/s`,
              ),
            );
          }
        }, windowMs),
      );
    }
    if (deadline) {
      this.#timers.push(
        setTimeout(
          () => this.#fail(new DeadlineError(`not done within ${deadline.ms} ms`)),
          Math.max(0, deadline.at - Date.now()),
        ),
      );
    }
  }

  count(bytes: number): void {
    this.#bytes += bytes;
  }

  dispose(): void {
    for (const t of this.#timers) clearTimeout(t);
  }

  #fail(reason: Error): void {
    this.dispose();
    this.#body.destroy(reason);
  }
}

function contentRangeStart(header: string | undefined): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

/** ETag (strong only: If-Range ignores weak ones) or Last-Modified, to resume only the same file. */
function strongValidator(headers: http.IncomingHttpHeaders): string | undefined {
  const etag = headers.etag;
  if (etag && !etag.startsWith('W/')) return etag;
  return headers['last-modified'];
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function writeFrom(path: string, size: number): Promise<void> {
  try {
    const fh = await open(path, 'r+');
    await fh.truncate(size);
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new LocalWriteError(`cannot truncate ${path}`, { cause: err });
  }
}

/** file:// as a server that always supports Range: a missing file is a 404 so tuf-js' root walk stops. */
async function openFile(url: URL, offset: number): Promise<OpenResponse> {
  const path = fileURLToPath(url);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new DownloadHTTPError(`${url}: not found`, 404);
    if (code === 'EACCES' || code === 'EPERM') throw new DownloadHTTPError(`${url}: permission denied`, 403);
    throw new RetryableError((err as Error).message, { cause: err });
  }
  if (offset > 0) {
    if (offset >= size) return { status: 416, headers: {}, body: Readable.from([]) };
    return {
      status: 206,
      headers: {
        'content-length': String(size - offset),
        'content-range': `bytes ${offset}-${size - 1}/${size}`,
      },
      body: createReadStream(path, { start: offset, highWaterMark: 1 << 20 }),
    };
  }
  return {
    status: 200,
    headers: { 'content-length': String(size) },
    body: createReadStream(path, { highWaterMark: 1 << 20 }),
  };
}
