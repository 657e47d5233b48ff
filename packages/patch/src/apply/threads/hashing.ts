// The hashing of a threaded apply, done by the first decode worker beside its decoding: the old file first
// (unless the caller vouched for it), then the new file in order, piece by piece as the decoders report
// pieces written. Hashing on a thread that also decodes leaves no thread idle while it waits for output.
import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import { PatchError } from '../../errors.js';
import { PIECE } from '../native/io.js';
import { type DecodeProgress, StopRequested } from './shared-state.js';

const oldShrank = new PatchError({ code: 'BASE_MISMATCH', message: 'old file shrank while being hashed' });
const newShrank = new PatchError({ code: 'IO_ERROR', message: 'output file shrank while being hashed' });

/** Follows the decoders through the new file, hashing what they have written, in file order. */
export class FollowingHasher {
  readonly #state: DecodeProgress;
  readonly #outFd: number;
  readonly #segments: readonly { newStart: number; newLength: number }[];
  readonly #buf = new Uint8Array(PIECE);
  readonly #hash: Hash = createHash('sha256');
  /** The segment being hashed, and how many of its bytes are hashed. */
  #segment = 0;
  #done = 0;

  constructor(
    state: DecodeProgress,
    outFd: number,
    segments: readonly { newStart: number; newLength: number }[],
  ) {
    this.#state = state;
    this.#outFd = outFd;
    this.#segments = segments;
  }

  /** Hashes whatever the decoders have written beyond what is hashed, without waiting for more. */
  catchUp(): void {
    while (this.#step()) {}
  }

  /** Hashes the rest of the new file, sleeping while the other decoders write it; its sha256. */
  finish(): string {
    while (this.#segment < this.#segments.length) {
      const seen = this.#state.version();
      if (this.#state.stopped()) throw new StopRequested();
      if (!this.#step()) this.#state.waitForChange(seen);
    }
    return this.#hash.digest('hex');
  }

  /** Hashes one more piece if one is written (or moves past a finished segment); false: nothing to do yet. */
  #step(): boolean {
    const segment = this.#segments[this.#segment];
    if (!segment) return false;
    if (this.#done === segment.newLength) {
      this.#segment++;
      this.#done = 0;
      return true;
    }
    const written = this.#state.written(this.#segment);
    if (written <= this.#done) return false;
    const n = Math.min(PIECE, written - this.#done);
    this.#hash.update(readAt(this.#outFd, this.#buf, n, segment.newStart + this.#done, newShrank));
    this.#done += n;
    return true;
  }
}

/** The old file's sha256, read through `fd` in pieces; `onProgress` after each; stops on a stop-all. */
export function hashOldFile(
  fd: number,
  size: number,
  state: DecodeProgress,
  onProgress: (done: number) => void,
): string {
  const hash = createHash('sha256');
  const buf = new Uint8Array(PIECE);
  for (let pos = 0; pos < size; ) {
    // Only a stop-all ends it: when a decoder fails on a wrong base, this hash names the real cause.
    if (state.allStopped()) throw new StopRequested();
    const n = Math.min(PIECE, size - pos);
    hash.update(readAt(fd, buf, n, pos, oldShrank));
    pos += n;
    onProgress(pos);
  }
  return hash.digest('hex');
}

/** n bytes at `position` into buf; a file that ends early is `short` (it changed while being read). */
function readAt(fd: number, buf: Uint8Array, n: number, position: number, short: PatchError): Uint8Array {
  for (let done = 0; done < n; ) {
    const got = readSync(fd, buf, done, n - done, position + done);
    if (got === 0) throw short;
    done += got;
  }
  return buf.subarray(0, n);
}
