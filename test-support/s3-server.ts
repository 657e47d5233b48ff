// A real S3-compatible server (s3rver) on 127.0.0.1 for tests and benches: a fresh data dir, one bucket, its own
// port; `stop()` closes it and removes the data. Credentials are s3rver's fixed test account.
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  }) as { run(): Promise<AddressInfo>; close(): Promise<void> };
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
