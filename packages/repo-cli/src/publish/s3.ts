// The S3 destination (AWS S3 and S3-compatible services: R2, MinIO, B2, GCS's interoperability API), through the
// AWS SDK. Credentials come from the SDK's default chain and never pass through our code or our messages.
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { causeChain, isAbortError, isTufupError } from '@tufup/common';
import { RepoError, type RepoErrorCode } from '../errors.js';
import { type PutRequest, type Remote, type RemoteHead, type RemoteObject, verifiedFile } from './remote.js';

/** Files from this size up go as multipart uploads (parts of PART_SIZE, uploaded 4 at a time). */
export const MULTIPART_THRESHOLD = 16 * 1024 * 1024;
export const PART_SIZE = 8 * 1024 * 1024;

export interface S3Options {
  bucket: string;
  prefix: string;
  /** An S3-compatible endpoint (implies path-style addressing: http://host/bucket/key). */
  endpoint?: string;
  region?: string;
}

/** Listed (at most one key) to check the bucket and the credentials. */
const CHECK_KEY = 'metadata/timestamp.json';

export class S3Remote implements Remote {
  readonly label: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(opts: S3Options) {
    this.#bucket = opts.bucket;
    this.#prefix = opts.prefix ? `${opts.prefix}/` : '';
    this.label = `s3://${opts.bucket}${opts.prefix ? `/${opts.prefix}` : ''}`;
    this.#client = new S3Client({
      region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      // S3-compatible services differ in what they understand: path-style addressing, and checksums only where
      // the API requires them (the SDK's default streams bodies aws-chunked with a trailing checksum, which some
      // store verbatim). Every byte is checked by its sha256 in signed metadata anyway.
      ...(opts.endpoint
        ? {
            endpoint: opts.endpoint,
            forcePathStyle: true,
            requestChecksumCalculation: 'WHEN_REQUIRED' as const,
            responseChecksumValidation: 'WHEN_REQUIRED' as const,
          }
        : {}),
      maxAttempts: 3,
    });
  }

  async check(signal?: AbortSignal): Promise<void> {
    // A one-key listing rather than HeadBucket: it needs only the permission publish needs anyway, and its error
    // has a body that names the problem (NoSuchBucket, InvalidAccessKeyId...).
    await this.#call('check', () =>
      this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: `${this.#prefix}${CHECK_KEY}` }),
        {
          abortSignal: signal,
        },
      ),
    );
  }

  async list(under: string, signal?: AbortSignal): Promise<Map<string, RemoteObject>> {
    const out = new Map<string, RemoteObject>();
    let token: string | undefined;
    do {
      const page = await this.#call('list', () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: this.#prefix + under,
            ...(token ? { ContinuationToken: token } : {}),
          }),
          { abortSignal: signal },
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key) out.set(o.Key.slice(this.#prefix.length), { size: o.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async head(key: string, signal?: AbortSignal): Promise<RemoteHead | undefined> {
    try {
      const h = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }),
        {
          abortSignal: signal,
        },
      );
      return {
        size: h.ContentLength ?? 0,
        ...(h.Metadata?.sha256 ? { sha256: h.Metadata.sha256 } : {}),
        ...(h.CacheControl ? { cacheControl: h.CacheControl } : {}),
        ...(h.ContentType ? { contentType: h.ContentType } : {}),
      };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.#wrap(err, `head ${key}`);
    }
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    try {
      const r = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }),
        {
          abortSignal: signal,
        },
      );
      return r.Body ? Buffer.from(await r.Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.#wrap(err, `get ${key}`);
    }
  }

  async put(req: PutRequest): Promise<void> {
    const params = {
      Bucket: this.#bucket,
      Key: this.#prefix + req.key,
      CacheControl: req.cacheControl,
      ContentType: req.contentType,
      Metadata: { sha256: req.sha256 },
    };
    if (req.size >= MULTIPART_THRESHOLD && !Buffer.isBuffer(req.body)) {
      const path = req.body.path;
      // The body's own failure (a hash mismatch) is the error to report, not what aborting the upload then says.
      let bodyError: unknown;
      const body = Readable.from(
        (async function* () {
          try {
            yield* verifiedFile(path, req);
          } catch (err) {
            bodyError = err;
            throw err;
          }
        })(),
      );
      await this.#call(`upload ${req.key}`, async () => {
        const upload = new Upload({
          client: this.#client,
          params: { ...params, Body: body },
          partSize: PART_SIZE,
          queueSize: 4,
          leavePartsOnError: false,
          ...(req.signal ? { abortController: abortControllerFor(req.signal) } : {}),
        });
        upload.on('httpUploadProgress', (p) => {
          if (p.loaded !== undefined) req.onBytes?.(p.loaded);
        });
        await upload.done().catch((err: unknown) => {
          throw bodyError ?? err;
        });
      });
    } else {
      // Below the multipart size a file is read (and checked) whole first: the SDK sends a stream body without
      // listening for its errors, and a body that is known complete and right is simplest to reason about.
      let body: Buffer;
      if (Buffer.isBuffer(req.body)) body = req.body;
      else {
        const chunks: Buffer[] = [];
        for await (const chunk of verifiedFile(req.body.path, req)) chunks.push(chunk);
        body = Buffer.concat(chunks);
      }
      await this.#call(`upload ${req.key}`, () =>
        this.#client.send(new PutObjectCommand({ ...params, Body: body, ContentLength: req.size }), {
          abortSignal: req.signal,
        }),
      );
    }
    req.onBytes?.(req.size);
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.#call(`delete ${key}`, () =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), {
        abortSignal: signal,
      }),
    );
  }

  close(): void {
    this.#client.destroy();
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#wrap(err, what);
    }
  }

  /** A coded one-line error from an SDK error: its name and status decide the code; no header or secret is kept. */
  #wrap(err: unknown, what: string): Error {
    if (isAbortError(err)) return err as Error;
    // Ours (a body that failed its hash check), also when the SDK wrapped it.
    const own = causeChain(err).find(isTufupError);
    if (own) return own as Error;
    const e = err as {
      name?: string;
      message?: string;
      code?: string;
      $metadata?: { httpStatusCode?: number };
    };
    const status = e.$metadata?.httpStatusCode;
    const name = e.name ?? 'Error';
    let code: RepoErrorCode = 'REMOTE_ERROR';
    let detail = `${name}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
    if (name === 'NoSuchBucket' || (what === 'check' && status === 404) || name === 'NotFound') {
      code = 'REMOTE_NOT_FOUND';
      detail = `bucket ${this.#bucket} does not exist`;
    } else if (
      status === 403 ||
      status === 401 ||
      ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'CredentialsProviderError'].includes(
        name,
      )
    ) {
      code = 'REMOTE_ACCESS_DENIED';
      if (name === 'CredentialsProviderError')
        detail = 'no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)';
      else detail = `access denied: ${detail} (check the credentials and the bucket's policy)`;
    } else if (isNetworkError(err)) {
      code = 'REMOTE_UNREACHABLE';
    }
    return new RepoError({ code, message: `${this.label}: ${what}: ${detail.split('\n')[0]}`, cause: err });
  }
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

function isNetworkError(err: unknown): boolean {
  for (
    let cur = err as { code?: unknown; cause?: unknown; name?: string; errors?: unknown[] } | undefined;
    cur;
  ) {
    if (typeof cur.code === 'string' && NETWORK_CODES.has(cur.code)) return true;
    if (cur.name === 'TimeoutError') return true;
    if (Array.isArray(cur.errors) && cur.errors.some(isNetworkError)) return true;
    cur = cur.cause as typeof cur;
  }
  return false;
}

function abortControllerFor(signal: AbortSignal): AbortController {
  const ac = new AbortController();
  if (signal.aborted) ac.abort(signal.reason);
  else signal.addEventListener('abort', () => ac.abort(signal.reason), { once: true });
  return ac;
}
