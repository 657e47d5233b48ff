// Positional file access and the segment writer: the I/O the apply core uses, on the calling thread and in workers.
import type { Hash } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { PatchError } from '../../errors.js';

/** New bytes are written in pieces of this size; old bytes are read in pieces no larger. */
export const PIECE = 1 << 20;

/**
 * Positional reads and writes, asynchronous through a FileHandle or blocking on a descriptor. The calling
 * thread writes the new file asynchronously (the page-cache work runs beside decoding) and reads the old
 * file blocking, like the workers do everything: a page-cache copy of a 128 KiB window costs less than a
 * hand-off to the I/O thread pool and back.
 */
export interface PositionalFile {
  /** Reads up to n bytes into buf[at..] from `position`; resolves to the count (0 at the end of the file). */
  read(buf: Uint8Array, at: number, n: number, position: number): Promise<number>;
  /** Writes up to n bytes of buf[at..] at `position`; resolves to the count written. */
  write(buf: Uint8Array, at: number, n: number, position: number): Promise<number>;
}

export function handleFile(fh: FileHandle): PositionalFile {
  return {
    read: async (buf, at, n, position) => (await fh.read(buf, at, n, position)).bytesRead,
    write: async (buf, at, n, position) => (await fh.write(buf, at, n, position)).bytesWritten,
  };
}

export function descriptorFile(fd: number): PositionalFile {
  return {
    read: async (buf, at, n, position) => readSync(fd, buf, at, n, position),
    write: async (buf, at, n, position) => writeSync(fd, buf, at, n, position),
  };
}

export async function readFully(file: PositionalFile, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const bytesRead = await file.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new PatchError({ code: 'TRUNCATED_PATCH', message: 'file ended early' });
    done += bytesRead;
  }
}

export async function readAt(
  file: PositionalFile,
  buf: Uint8Array,
  at: number,
  n: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < n) {
    const bytesRead = await file.read(buf, at + done, n - done, position + done);
    if (bytesRead === 0)
      throw new PatchError({ code: 'BASE_MISMATCH', message: 'old file shrank while being read' });
    done += bytesRead;
  }
}

/**
 * Writes one segment's bytes front to back from its start position. Two buffers take turns: one is filled
 * while the other is being written, and a buffer is handed back only after its write has finished, so no
 * byte can change between hashing (when a hash is given) and writing. `onWritten` hears, after each write
 * has finished, how many of the segment's bytes are in the file.
 */
export class SegmentWriter {
  readonly #file: PositionalFile;
  readonly #hash: Hash | undefined;
  readonly #onWritten: ((bytes: number) => void) | undefined;
  readonly #start: number;
  #position: number;
  #buffers: [Uint8Array, Uint8Array];
  #pending: Promise<unknown> = Promise.resolve();

  /** `buffers`: two PIECE-sized buffers a thread reuses for all its segments (one after the other). */
  constructor(
    file: PositionalFile,
    position: number,
    buffers: [Uint8Array, Uint8Array],
    opts: { hash?: Hash; onWritten?: (bytes: number) => void } = {},
  ) {
    this.#file = file;
    this.#start = position;
    this.#position = position;
    this.#buffers = buffers;
    this.#hash = opts.hash;
    this.#onWritten = opts.onWritten;
  }

  /** The buffer to fill next. */
  get buffer(): Uint8Array {
    return this.#buffers[0];
  }

  /** Starts writing the first `length` bytes of `buffer`; returns the other buffer once it is free. */
  async write(length: number): Promise<Uint8Array> {
    const [full, spare] = this.#buffers;
    await this.#pending;
    this.#hash?.update(full.subarray(0, length));
    const end = this.#position + length;
    this.#pending = writeAllAt(this.#file, full, length, this.#position).then(() =>
      this.#onWritten?.(end - this.#start),
    );
    this.#position = end;
    this.#buffers = [spare, full];
    return spare;
  }

  /** Waits for the last write; its error, if any, is thrown here. */
  async flush(): Promise<void> {
    await this.#pending;
  }

  /** Waits for the last write whatever its outcome (before the file is closed or removed). */
  async settle(): Promise<void> {
    await this.#pending.catch(() => {});
  }
}

async function writeAllAt(
  file: PositionalFile,
  buf: Uint8Array,
  length: number,
  position: number,
): Promise<void> {
  for (let done = 0; done < length; ) {
    done += await file.write(buf, done, length - done, position + done);
  }
}
