// Reading archives as a stream of tar bytes: gzip detection, decompression, the byte limit, and gunzipToTar.
import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  HashingStream,
  type OnProgress,
  type SizeAndHash,
  errnoCode,
  throttleProgress,
  throwIfAborted,
  wrapError,
} from '@tufup/common';
import { ArchiveError, io } from './errors.js';
import { type StreamStages, writeStagesAtomic, writeStagesScratch } from './file-io.js';
import type { ByteSource } from './tar-reader.js';

const READ_CHUNK = 1024 * 1024;
const GUNZIP_CHUNK = 128 * 1024;

export interface GunzipToTarOptions {
  /** Refuse (SIZE_LIMIT_EXCEEDED) once the tar grows past this many bytes: pass the signed tar size. */
  maxBytes?: number;
  /** Progress in bytes of the .tar.gz read, phase 'gunzip'. */
  onProgress?: OnProgress;
  signal?: AbortSignal;
  /**
   * false: `tarPath` is a scratch file of the caller's (a fresh name, deleted after use), so skip the fsync
   * and rename that make a kept file survive a power cut; it is still created exclusively and removed on
   * failure. Default true.
   */
  durable?: boolean;
}

/**
 * Decompress `tarGzPath` into `tarPath` (atomically, unless `durable` is false) without extracting it,
 * returning the tar's size and sha256: the client patches tars, and checks them against tufup's tar_size /
 * tar_hash.
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
    if (opts.durable === false) await writeStagesScratch(tarPath, [...stages, hash], opts.signal);
    else await writeStagesAtomic(tarPath, [...stages, hash], opts.signal);
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

type SourceOptions = Omit<TarByteOptions, 'gzip'> & { signal: AbortSignal | undefined };

/**
 * A plain file as a ByteSource: two buffers allocated once take turns, the next piece being read while the
 * caller works on the current one (fresh buffers per read would cost a page fault per 4 KiB first touched).
 * Counts against `maxBytes` and reports progress like tarByteStages does.
 */
export class FileByteSource implements ByteSource {
  readonly #fh: FileHandle;
  readonly #path: string;
  readonly #buffers: [Buffer, Buffer];
  readonly #opts: SourceOptions;
  readonly #report: OnProgress | undefined;
  #turn: 0 | 1 = 0;
  #position = 0;
  #pending: Promise<number> | undefined;
  #ended = false;

  private constructor(fh: FileHandle, path: string, opts: SourceOptions) {
    this.#fh = fh;
    this.#path = path;
    this.#opts = opts;
    const size = Math.min(READ_CHUNK, Math.max(opts.total, 512));
    this.#buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
    this.#report = throttleProgress(opts.onProgress);
    this.#report?.({ phase: opts.phase, done: 0, total: opts.total, unit: 'bytes' });
  }

  static async open(path: string, opts: SourceOptions): Promise<FileByteSource> {
    return new FileByteSource(await io(`opening ${path}`, () => open(path, 'r')), path, opts);
  }

  async read(): Promise<Buffer | undefined> {
    throwIfAborted(this.#opts.signal);
    if (this.#ended) return undefined;
    const filling = this.#pending ?? this.#fill(this.#turn);
    this.#pending = undefined;
    const n = await filling;
    if (n === 0) {
      this.#ended = true;
      return undefined;
    }
    const piece = this.#buffers[this.#turn].subarray(0, n);
    // The caller gave back the other buffer by calling read() again: fill it while this one is used.
    this.#turn = this.#turn === 0 ? 1 : 0;
    this.#pending = this.#fill(this.#turn);
    this.#pending.catch(() => {});
    return piece;
  }

  /** Wait for a read still in flight, then close the file. */
  async close(): Promise<void> {
    await this.#pending?.catch(() => {});
    this.#pending = undefined;
    await this.#fh.close();
  }

  async #fill(turn: 0 | 1): Promise<number> {
    const buffer = this.#buffers[turn];
    const { bytesRead } = await io(`reading ${this.#path}`, () =>
      this.#fh.read(buffer, 0, buffer.length, this.#position),
    );
    this.#position += bytesRead;
    const { maxBytes } = this.#opts;
    if (maxBytes !== undefined && this.#position > maxBytes) throw sizeLimitExceeded(maxBytes);
    this.#report?.({ phase: this.#opts.phase, done: this.#position, total: this.#opts.total, unit: 'bytes' });
    return bytesRead;
  }
}

/** The last stage of a stream pipeline as a ByteSource (each chunk is fresh, so reuse is not a concern). */
export function streamByteSource(stream: Readable): ByteSource {
  const chunks = stream[Symbol.asyncIterator]();
  return {
    async read() {
      const next = await chunks.next();
      return next.done ? undefined : (next.value as Buffer);
    },
  };
}

function sizeLimitExceeded(max: number): ArchiveError {
  return new ArchiveError({
    code: 'SIZE_LIMIT_EXCEEDED',
    message: `archive holds more than the ${max} bytes of tar allowed`,
  });
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
      cb(sizeLimitExceeded(this.max));
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
  return errnoCode(err)?.startsWith('Z_')
    ? wrapError(err, ArchiveError, 'CORRUPT_ARCHIVE', `${path} is not a valid gzip stream`)
    : wrapError(err, ArchiveError, 'IO_ERROR', `reading ${path}`);
}
