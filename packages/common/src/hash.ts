// Streaming size + sha256, the pair that TUF metadata and tufup's custom metadata are made of.
import { createHash, type Hash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { CommonError } from './errors.js';

export interface SizeAndHash {
  size: number;
  sha256: string;
}

/** A pass-through stream that counts bytes and hashes them (sha256, and sha512 when asked) on the way. */
export class HashingStream extends Transform {
  #size = 0;
  readonly #sha256: Hash = createHash('sha256');
  readonly #sha512: Hash | undefined;
  #result: (SizeAndHash & { sha512?: string }) | undefined;

  constructor(opts: { sha512?: boolean } = {}) {
    super();
    this.#sha512 = opts.sha512 ? createHash('sha512') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#size += chunk.length;
    this.#sha256.update(chunk);
    this.#sha512?.update(chunk);
    cb(null, chunk);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** Final size and digests; only valid once the stream has ended. */
  digest(): SizeAndHash & { sha512?: string } {
    if (!this.#result) {
      this.#result = { size: this.#size, sha256: this.#sha256.digest('hex') };
      if (this.#sha512) this.#result.sha512 = this.#sha512.digest('hex');
    }
    return this.#result;
  }
}

/** Size and sha256 of a file, streamed (bounded memory whatever the size). */
export async function hashFile(path: string, opts: HashOpenFileOptions = {}): Promise<SizeAndHash> {
  const fh = await open(path, 'r');
  try {
    return await hashOpenFile(fh, opts);
  } finally {
    await fh.close();
  }
}

export interface HashOpenFileOptions {
  signal?: AbortSignal;
  /** Called after each piece with the bytes hashed so far. */
  onBytes?: (done: number) => void;
}

const HASH_PIECE = 1 << 20;

/**
 * Size and sha256 of an open file from its start to its end (its size when called; a file that gets shorter
 * meanwhile is CommonError FILE_CHANGED), read through two
 * reused buffers: the next piece is read while the current one is hashed. Fresh buffers per piece (as a
 * read stream makes) cost more than the hashing on large files.
 */
export async function hashOpenFile(fh: FileHandle, opts: HashOpenFileOptions = {}): Promise<SizeAndHash> {
  const size = (await fh.stat()).size;
  const hash = createHash('sha256');
  const bufs = [new Uint8Array(Math.min(HASH_PIECE, size)), new Uint8Array(Math.min(HASH_PIECE, size))];
  const readPiece = async (pos: number, buf: Uint8Array): Promise<number> => {
    const n = Math.min(buf.length, size - pos);
    for (let done = 0; done < n; ) {
      const { bytesRead } = await fh.read(buf, done, n - done, pos + done);
      if (bytesRead === 0) {
        throw new CommonError({
          code: 'FILE_CHANGED',
          message: `the file shrank while being hashed (it ended at ${pos + done} of its ${size} bytes)`,
        });
      }
      done += bytesRead;
    }
    return n;
  };
  let pending = size > 0 ? readPiece(0, bufs[0] as Uint8Array) : undefined;
  try {
    for (let pos = 0, k = 0; pending; k ^= 1) {
      opts.signal?.throwIfAborted();
      const n = await pending;
      const next = pos + n;
      pending = next < size ? readPiece(next, bufs[k ^ 1] as Uint8Array) : undefined;
      hash.update((bufs[k] as Uint8Array).subarray(0, n));
      pos = next;
      opts.onBytes?.(pos);
    }
  } finally {
    await pending?.catch(() => {});
  }
  return { size, sha256: hash.digest('hex') };
}

/** Constant-time-ish comparison of two hex digests (case-insensitive). */
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  for (let i = 0; i < x.length; i++) diff |= x.charCodeAt(i) ^ y.charCodeAt(i);
  return diff === 0;
}
