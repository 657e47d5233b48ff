// A real S3-compatible server (s3rver) on 127.0.0.1 for tests and benches: a fresh data dir, one bucket, its own
// port; `stop()` closes it and removes the data. Credentials are s3rver's fixed test account.
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';

/** s3rver's built-in account: the only credentials it accepts. */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' } as const;

export interface S3Server {
  /** `http://127.0.0.1:PORT`: the value of `--endpoint`. */
  endpoint: string;
  bucket: string;
  /** The bucket over plain anonymous HTTP (path style), e.g. what a client's base URL points at. */
  bucketUrl: string;
  /** The environment a `tufup publish` child needs (credentials, region). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startS3Server(bucket = 'updates', port = 0): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'tufup-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  }) as { run(): Promise<AddressInfo>; close(): Promise<void>; store: Store };
  makePutsAtomic(server.store);
  const addr = await server.run();
  const endpoint = `http://127.0.0.1:${addr.port}`;
  return {
    endpoint,
    bucket,
    bucketUrl: `${endpoint}/${bucket}`,
    env: { ...S3RVER_CREDENTIALS, AWS_REGION: 'us-east-1' },
    stop: async () => {
      await server.close().catch(() => {});
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The part of s3rver's FilesystemStore that `makePutsAtomic` replaces or wraps. */
interface Store {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: { bucket: string; key: string; content: Readable | Buffer; metadata: unknown }): Promise<{
    size: number;
    md5: string;
  }>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  copyObject(srcBucket: string, srcKey: string, bucket: string, key: string, ...rest: unknown[]): Promise<unknown>;
  deleteObject(bucket: string, key: string): Promise<unknown>;
}

/**
 * S3 replaces an object atomically: a GET sees the old bytes or the new ones, never a mix. s3rver writes objects in
 * place (truncate, then stream) and reports a PUT done before the bytes are flushed, so a client polling during a
 * publish could read half a file — a failure of the test server, not of what is tested. Here a PUT streams into a
 * temporary file and renames it over the object, and PUTs, copies, deletes and the start of a GET (the size, then
 * the open) take turns per key, as on S3.
 */
function makePutsAtomic(store: Store): void {
  const tails = new Map<string, Promise<unknown>>();
  const inTurn = <T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> => {
    const id = `${bucket}/${key}`;
    const run = (tails.get(id) ?? Promise.resolve()).then(work, work);
    const tail = run.catch(() => {});
    tails.set(id, tail);
    void tail.then(() => {
      if (tails.get(id) === tail) tails.delete(id);
    });
    return run;
  };
  const { getObject, copyObject, deleteObject } = store;
  store.putObject = (object) =>
    inTurn(object.bucket, object.key, async () => {
      const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
      const partial = store.getResourcePath(object.bucket, object.key, `partial-${randomUUID()}`);
      await mkdir(dirname(objectPath), { recursive: true });
      const md5 = createHash('md5');
      let size = 0;
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          md5.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
      try {
        await pipeline(source, counted, createWriteStream(partial));
        await rename(partial, objectPath);
      } catch (err) {
        await rm(partial, { force: true });
        throw err;
      }
      const digest = md5.digest('hex');
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      return { size, md5: digest };
    });
  store.getObject = (bucket, key, options) => inTurn(bucket, key, () => getObject.call(store, bucket, key, options));
  store.copyObject = (srcBucket, srcKey, bucket, key, ...rest) =>
    inTurn(bucket, key, () => copyObject.call(store, srcBucket, srcKey, bucket, key, ...rest));
  store.deleteObject = (bucket, key) => inTurn(bucket, key, () => deleteObject.call(store, bucket, key));
}
