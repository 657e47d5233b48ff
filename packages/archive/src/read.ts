// Reading archives as a stream of tar bytes: gzip detection, decompression, the byte limit, and gunzipToTar.
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  HashingStream,
  type OnProgress,
  type SizeAndHash,
  TufupError,
  throttleProgress,
} from '@tufup/common';
import { ArchiveError, asArchiveError, io } from './errors.js';
import { type StreamStages, writeStagesAtomic } from './file-io.js';

const READ_CHUNK = 1024 * 1024;
const GUNZIP_CHUNK = 128 * 1024;

export interface GunzipToTarOptions {
  /** Refuse (SIZE_LIMIT_EXCEEDED) once the tar grows past this many bytes: pass the signed tar size. */
  maxBytes?: number;
  /** Progress in bytes of the .tar.gz read, phase 'gunzip'. */
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

/**
 * Decompress `tarGzPath` into `tarPath` (atomically) without extracting it, returning the tar's size and
 * sha256: the client patches tars, and checks them against tufup's tar_size / tar_hash.
 */
export async function gunzipToTar(
  tarGzPath: string,
  tarPath: string,
  opts: GunzipToTarOptions = {},
): Promise<SizeAndHash> {
  checkMaxBytes(opts.maxBytes);
  const hash = new HashingStream();
  try {
    const total = (await io(`reading ${tarGzPath}`, () => stat(tarGzPath))).size;
    const stages = tarByteStages(tarGzPath, {
      gzip: true,
      total,
      phase: 'gunzip',
      maxBytes: opts.maxBytes,
      onProgress: opts.onProgress,
    });
    await writeStagesAtomic(tarPath, [...stages, hash], opts.signal);
  } catch (err) {
    throw asReadError(err, tarGzPath);
  }
  const { size, sha256 } = hash.digest();
  return { size, sha256 };
}

/** True when the file starts with the gzip magic bytes (1f 8b); anything else is read as a plain tar. */
export async function isGzipFile(path: string): Promise<boolean> {
  const fh = await io(`opening ${path}`, () => open(path, 'r'));
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await io(`reading ${path}`, () => fh.read(magic, 0, 2, 0));
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

export interface TarByteOptions {
  gzip: boolean;
  /** Size of the file, for progress. */
  total: number;
  phase: string;
  maxBytes: number | undefined;
  onProgress: OnProgress | undefined;
}

/** The streams that turn an archive file into tar bytes: read (with progress), gunzip when gzipped, limit. */
export function tarByteStages(path: string, opts: TarByteOptions): StreamStages {
  const stages: StreamStages = [
    createReadStream(path, { highWaterMark: READ_CHUNK }),
    new ProgressCounter(opts.phase, opts.total, opts.onProgress),
  ];
  if (opts.gzip) stages.push(createGunzip({ chunkSize: GUNZIP_CHUNK }));
  if (opts.maxBytes !== undefined) stages.push(new ByteLimit(opts.maxBytes));
  return stages;
}

export function checkMaxBytes(maxBytes: number | undefined): void {
  if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
    throw new ArchiveError({
      code: 'INVALID_OPTION',
      message: `maxBytes must be a whole number ≥ 0, got ${maxBytes}`,
    });
  }
}

/** Fails the stream once more than `max` bytes have passed: stops gzip bombs and oversized tars early. */
export class ByteLimit extends Transform {
  #seen = 0;

  constructor(private readonly max: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.max) {
      cb(
        new ArchiveError({
          code: 'SIZE_LIMIT_EXCEEDED',
          message: `archive holds more than the ${this.max} bytes of tar allowed`,
        }),
      );
      return;
    }
    cb(null, chunk);
  }
}

/** Reports bytes passing through as progress of `phase`. */
class ProgressCounter extends Transform {
  #done = 0;
  readonly #report: OnProgress | undefined;

  constructor(
    private readonly phase: string,
    private readonly total: number,
    onProgress: OnProgress | undefined,
  ) {
    super();
    this.#report = throttleProgress(onProgress);
    this.#report?.({ phase, done: 0, total, unit: 'bytes' });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#done += chunk.length;
    this.#report?.({ phase: this.phase, done: this.#done, total: this.total, unit: 'bytes' });
    cb(null, chunk);
  }
}

/** zlib and tar parse failures become CORRUPT_ARCHIVE; our errors and aborts pass; the rest is IO_ERROR. */
export function asReadError(err: unknown, path: string): unknown {
  if (err instanceof TufupError || (err instanceof Error && err.name === 'AbortError')) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new ArchiveError({
      code: 'CORRUPT_ARCHIVE',
      message: `${path} is not a valid gzip stream: ${(err as Error).message}`,
      cause: err,
    });
  }
  return asArchiveError(err, `reading ${path}`);
}
