// Where `tufup publish` writes: the destination string (s3://BUCKET[/PREFIX] or a directory) and the one small
// interface both kinds of destination implement.
import { createReadStream } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { HashingStream } from '@tufup/common';
import { MetadataError } from '@tufup/metadata';
import { RepoError } from '../errors.js';

/** What a destination knows about one object, from a listing (size) and, on demand, its head. */
export interface RemoteObject {
  size: number;
}

export interface RemoteHead {
  size: number;
  /** The sha256 we stored with the object (`x-amz-meta-sha256`), or computed from the file for a directory. */
  sha256?: string;
  cacheControl?: string;
  contentType?: string;
}

/**
 * A local file's bytes as they are uploaded, checked on the way: each chunk is passed on only once the next one is
 * read, and the last only when size and sha256 match `expected`, so a file that is not what its metadata says
 * fails (HASH_MISMATCH) before any destination can complete the object. One read of the file, no second pass.
 */
export async function* verifiedFile(
  path: string,
  expected: { size: number; sha256: string },
  onBytes?: (done: number) => void,
): AsyncGenerator<Buffer> {
  const hashing = new HashingStream();
  let held: Buffer | undefined;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }).pipe(hashing)) {
    if (held) {
      yield held;
      onBytes?.(hashing.size - (chunk as Buffer).length);
    }
    held = chunk as Buffer;
  }
  const actual = hashing.digest();
  if (actual.size !== expected.size || actual.sha256 !== expected.sha256) {
    throw new MetadataError({
      code: 'HASH_MISMATCH',
      message: `${path} does not match its metadata (size ${actual.size}, sha256 ${actual.sha256.slice(0, 12)}…): run tufup verify`,
    });
  }
  if (held) yield held;
}

/** One object to write: its bytes (in memory, or a local file of `size` bytes) and its HTTP headers. */
export interface PutRequest {
  key: string;
  body: Buffer | { path: string };
  size: number;
  /** A file body is checked against it while it is written (see `verifiedFile`). */
  sha256: string;
  cacheControl: string;
  contentType: string;
  /** Bytes written so far (cumulative, for this object). */
  onBytes?: (done: number) => void;
  signal?: AbortSignal;
}

/** A publish destination. Keys are `/`-separated and relative to the destination's root (prefix). */
export interface Remote {
  /** For messages: `s3://bucket/prefix` or the directory. */
  readonly label: string;
  /** Fails with a coded error when the destination does not exist or can't be reached/used. */
  check(signal?: AbortSignal): Promise<void>;
  /** Every object below `under` (a key prefix ending in `/`), with its size. */
  list(under: string, signal?: AbortSignal): Promise<Map<string, RemoteObject>>;
  head(key: string, signal?: AbortSignal): Promise<RemoteHead | undefined>;
  /** The object's bytes, or undefined when absent. Only used for small files (timestamp, publish state). */
  get(key: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  /** Writes the object atomically: a reader sees the old bytes or the new, never a part. */
  put(req: PutRequest): Promise<void>;
  delete(key: string, signal?: AbortSignal): Promise<void>;
  close(): void;
}

export type Destination =
  | { kind: 's3'; bucket: string; prefix: string }
  | { kind: 'directory'; path: string };

/**
 * Parses DEST: `s3://BUCKET[/PREFIX]` (PREFIX without leading or trailing slashes), or a directory path (absolute,
 * or relative to `cwd`; `file://` is not accepted, to keep one spelling). Any other `scheme://` is DEST_INVALID.
 */
export function parseDestination(dest: string, cwd: string): Destination {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(dest);
  if (!scheme) {
    if (dest.trim() === '') throw new RepoError({ code: 'DEST_INVALID', message: 'DEST is empty' });
    return { kind: 'directory', path: isAbsolute(dest) ? dest : resolve(cwd, dest) };
  }
  if (scheme[1]?.toLowerCase() !== 's3') {
    throw new RepoError({
      code: 'DEST_INVALID',
      message: `unknown destination scheme "${scheme[1]}://" in ${dest}: use s3://BUCKET[/PREFIX] or a directory path`,
    });
  }
  const rest = dest.slice(scheme[0].length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new RepoError({
      code: 'DEST_INVALID',
      message: bucket
        ? `"${bucket}" is not a valid bucket name (3-63 characters: a-z, 0-9, dots and dashes)`
        : `no bucket in ${dest}: use s3://BUCKET[/PREFIX]`,
    });
  }
  if (prefix !== '' && prefix.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new RepoError({ code: 'DEST_INVALID', message: `bad prefix "${prefix}" in ${dest}` });
  }
  return { kind: 's3', bucket, prefix };
}
