// Streaming size + sha256, the pair that TUF metadata and tufup's custom metadata are made of.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

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
export async function hashFile(path: string, opts: { signal?: AbortSignal } = {}): Promise<SizeAndHash> {
  const hasher = new HashingStream();
  hasher.resume();
  await pipeline(
    createReadStream(path, { highWaterMark: 1 << 20 }),
    hasher,
    opts.signal ? { signal: opts.signal } : {},
  );
  return hasher.digest();
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
