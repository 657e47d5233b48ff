// One GET on node:http/https or file://: redirects, headers per origin, Range, and the failures worth a retry.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { isAbortError } from '@tufup/common';
import { ClientError, HttpError } from '../errors.js';

export interface OpenResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
}

/** A network-level failure worth another attempt. Its message does not name the URL (the final error does). */
export class RetryableError extends Error {}

/** A body arriving slower than `minBytesPerSecond`: a slow-retrieval attack or a hopeless link. */
export class SlowTransferError extends RetryableError {}

/** A metadata request past its `metadataTimeoutMs`: final, no time is left for another attempt. */
export class DeadlineError extends Error {}

/** An error from writing the local file: never retried (a full disk stays full). */
export class LocalWriteError extends Error {}

/** When a request must be done by (epoch ms), and the allowance it came from (for messages). */
export interface Deadline {
  at: number;
  ms: number;
}

export interface RequestSettings {
  userAgent: string;
  headers: Record<string, string> | ((url: URL) => Record<string, string> | undefined) | undefined;
  timeoutMs: number;
  maxRedirects: number;
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

export interface RangeRequest {
  /** First byte wanted (0: the whole file, no Range header). */
  offset: number;
  /** ETag or Last-Modified of the partial's source, sent as If-Range. */
  validator?: string | undefined;
  signal?: AbortSignal | undefined;
  deadline?: Deadline | undefined;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Open `url` from byte `offset` (http(s) with Range + If-Range, or file://), following redirects. */
export async function openUrl(
  url: URL,
  range: RangeRequest,
  settings: RequestSettings,
): Promise<OpenResponse> {
  if (url.protocol === 'file:') return openFile(url, range.offset);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ClientError({ code: 'INVALID_OPTIONS', message: `unsupported URL scheme: ${url.protocol}` });
  }
  let current = url;
  for (let redirects = 0; ; redirects++) {
    const headers: Record<string, string> = { ...headersFor(current, url.origin, settings.headers) };
    headers['user-agent'] = settings.userAgent;
    headers['accept-encoding'] = 'identity';
    if (range.offset > 0) {
      headers.range = `bytes=${range.offset}-`;
      if (range.validator) headers['if-range'] = range.validator;
    }
    const res = await request(current, headers, range, settings);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || !location) return res;
    res.body.resume();
    if (redirects >= settings.maxRedirects)
      throw new HttpError(`${url}`, res.status, `${url}: too many redirects`);
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new HttpError(`${url}`, res.status, `${url}: redirect to ${next.protocol} refused`);
    }
    if (current.protocol === 'https:' && next.protocol === 'http:') {
      throw new HttpError(`${url}`, res.status, `${url}: redirect from https to http refused`);
    }
    current = next;
  }
}

/** A record of headers goes only to the first URL's origin; a function decides per URL. */
function headersFor(url: URL, origin: string, headers: RequestSettings['headers']): Record<string, string> {
  if (!headers) return {};
  if (typeof headers === 'function') return headers(url) ?? {};
  return url.origin === origin ? headers : {};
}

function request(
  url: URL,
  headers: Record<string, string>,
  range: RangeRequest,
  settings: RequestSettings,
): Promise<OpenResponse> {
  const { signal, deadline } = range;
  return new Promise((resolve, reject) => {
    let late: NodeJS.Timeout | undefined;
    let response: http.IncomingMessage | undefined;
    const mod = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? settings.httpsAgent : settings.httpAgent;
    const req = mod.request(url, { method: 'GET', headers, agent, ...(signal ? { signal } : {}) }, (res) => {
      clearTimeout(late);
      response = res;
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    // The idle timeout below restarts with every byte; the deadline does not (slow retrieval).
    if (deadline) {
      late = setTimeout(
        () => req.destroy(new DeadlineError(`no response within ${deadline.ms} ms`)),
        Math.max(0, deadline.at - Date.now()),
      );
    }
    req.setTimeout(settings.timeoutMs, () => {
      // Mid-body, failing the response itself says "stalled" rather than a bare "aborted".
      if (response) response.destroy(new RetryableError(`no data for ${settings.timeoutMs} ms`));
      else req.destroy(new RetryableError(`no response within ${settings.timeoutMs} ms`));
    });
    req.on('error', (err) => {
      clearTimeout(late);
      if (isAbortError(err) || err instanceof RetryableError || err instanceof DeadlineError) reject(err);
      else reject(new RetryableError(err.message, { cause: err }));
    });
    req.end();
  });
}

/** file:// as a server that always supports Range: a missing file is a 404 so the root walk stops. */
async function openFile(url: URL, offset: number): Promise<OpenResponse> {
  const path = fileURLToPath(url);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new HttpError(`${url}`, 404, `${url}: not found`);
    if (code === 'EACCES' || code === 'EPERM')
      throw new HttpError(`${url}`, 403, `${url}: permission denied`);
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

/** Drop a response body: a small one is read to its end so the connection can be reused. */
export function discard(res: OpenResponse): void {
  const length = Number(res.headers['content-length']);
  if (Number.isFinite(length) && length <= 64 * 1024) res.body.resume();
  else res.body.destroy();
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status < 600);
}

/** A body shorter than its Content-Length is a cut connection, whatever the socket said. */
export function checkComplete(res: OpenResponse, received: number): void {
  const declared = Number(res.headers['content-length']);
  if (res.headers['content-length'] !== undefined && Number.isFinite(declared) && received !== declared) {
    throw new RetryableError(`got ${received} of ${declared} bytes`);
  }
}

export function contentRangeStart(header: string | undefined): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

/** ETag (strong only: If-Range ignores weak ones) or Last-Modified, to resume only the same file. */
export function strongValidator(headers: http.IncomingHttpHeaders): string | undefined {
  const etag = headers.etag;
  if (etag && !etag.startsWith('W/')) return etag;
  return headers['last-modified'];
}
