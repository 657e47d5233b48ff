// Writes BSDIFF40 patches from the engine's covers, so a repository can serve python tufup clients.
import { readFile } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  HashingStream,
  type OnProgress,
  type SizeAndHash,
  throttleProgress,
  throwIfAborted,
  writeStreamAtomic,
} from '@tufup/common';
import { PatchError } from '../../errors.js';
import {
  BSDIFF40_HEADER_SIZE,
  BSDIFF40_MAGIC,
  CONTROL_TRIPLE_SIZE,
  writeSignMagnitude,
} from '../../format/bsdiff40.js';
import { Bzip2Encoder } from '../bzip2/encoder.js';
import { type Cover, findCovers } from '../engine/cover.js';

export interface WriteBsdiff40Options {
  /** bzip2 block size level 1..9 (default 9, as bsdiff uses). */
  level?: number;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

/** Bytes handed to a bzip2 encoder at a time: about one block, so abort and progress stay responsive. */
const FEED_CHUNK = 1 << 20;

/**
 * Writes a BSDIFF40 patch that turns `oldBuf` into `newBuf` using `covers` (sorted by newPos,
 * non-overlapping in new, inside both buffers). Each cover becomes one control triple: its bytes as
 * differences against old, the literal bytes up to the next cover as extra bytes, then the seek to the
 * next cover's old position. Returns the patch's size and sha256.
 */
export async function writeBsdiff40(
  oldBuf: Uint8Array,
  newBuf: Uint8Array,
  covers: readonly Cover[],
  outPath: string,
  opts: WriteBsdiff40Options = {},
): Promise<SizeAndHash> {
  checkCovers(oldBuf.length, newBuf.length, covers);
  const progress = throttleProgress(opts.onProgress);
  const total = newBuf.length;
  let done = 0;
  const level = opts.level === undefined ? {} : { level: opts.level };
  const onFed = (n: number) => {
    done += n;
    progress?.({ phase: 'compress', done, total, unit: 'bytes' });
  };

  const control = new StreamFeeder(new Bzip2Encoder(level), opts.signal, () => {});
  control.append(controlTriples(covers, newBuf.length));
  const controlParts = await control.finish();

  const diff = new StreamFeeder(new Bzip2Encoder(level), opts.signal, onFed);
  for (const c of covers) {
    for (let at = 0; at < c.length; ) {
      const room = diff.room();
      const n = Math.min(room.length, c.length - at);
      const o = c.oldPos + at;
      const m = c.newPos + at;
      for (let i = 0; i < n; i++) room[i] = (newBuf[m + i] as number) - (oldBuf[o + i] as number);
      await diff.commit(n);
      at += n;
    }
  }
  const diffParts = await diff.finish();

  const extra = new StreamFeeder(new Bzip2Encoder(level), opts.signal, onFed);
  let literalStart = 0;
  for (const c of covers) {
    await extra.appendAsync(newBuf.subarray(literalStart, c.newPos));
    literalStart = c.newPos + c.length;
  }
  await extra.appendAsync(newBuf.subarray(literalStart));
  const extraParts = await extra.finish();

  const header = new Uint8Array(BSDIFF40_HEADER_SIZE);
  header.set(BSDIFF40_MAGIC, 0);
  writeSignMagnitude(byteLength(controlParts), header, 8);
  writeSignMagnitude(byteLength(diffParts), header, 16);
  writeSignMagnitude(newBuf.length, header, 24);

  const hasher = new HashingStream();
  hasher.resume();
  async function* patchBytes(): AsyncGenerator<Uint8Array> {
    for (const part of [header, ...controlParts, ...diffParts, ...extraParts]) {
      hasher.write(part);
      yield part;
    }
  }
  try {
    await writeStreamAtomic(outPath, patchBytes(), opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new PatchError({ code: 'IO_ERROR', message: `writing ${outPath} failed`, cause: err });
  }
  hasher.end();
  progress?.({ phase: 'compress', done: total, total, unit: 'bytes' });
  return hasher.digest();
}

/**
 * Collects a stream's bytes into FEED_CHUNK pieces for its encoder, so many small covers cost one encoder
 * call per chunk, and lets the event loop run (abort, progress) between chunks.
 */
class StreamFeeder {
  private readonly buffer = new Uint8Array(FEED_CHUNK);
  private length = 0;
  private readonly parts: Uint8Array[] = [];

  constructor(
    private readonly encoder: Bzip2Encoder,
    private readonly signal: AbortSignal | undefined,
    private readonly onFed: (bytes: number) => void,
  ) {}

  /** Free space to write into; follow with `commit`. */
  room(): Uint8Array {
    return this.buffer.subarray(this.length);
  }

  async commit(n: number): Promise<void> {
    this.length += n;
    if (this.length === this.buffer.length) await this.flush();
  }

  /** Appends without yielding to the event loop (for the small control stream). */
  append(data: Uint8Array): void {
    for (const p of this.encoder.push(data)) this.parts.push(p);
  }

  async appendAsync(data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; ) {
      const room = this.room();
      const n = Math.min(room.length, data.length - at);
      room.set(data.subarray(at, at + n));
      await this.commit(n);
      at += n;
    }
  }

  async finish(): Promise<Uint8Array[]> {
    if (this.length > 0) await this.flush();
    for (const p of this.encoder.finish()) this.parts.push(p);
    return this.parts;
  }

  private async flush(): Promise<void> {
    throwIfAborted(this.signal);
    for (const p of this.encoder.push(this.buffer.subarray(0, this.length))) this.parts.push(p);
    this.onFed(this.length);
    this.length = 0;
    await yieldToEventLoop();
  }
}

/** The control stream: an optional leading triple for literals (or a seek) before the first cover, then one per cover. */
function controlTriples(covers: readonly Cover[], newSize: number): Uint8Array {
  const first = covers[0];
  const leading = first === undefined ? newSize > 0 : first.newPos > 0 || first.oldPos !== 0;
  const bytes = new Uint8Array((covers.length + (leading ? 1 : 0)) * CONTROL_TRIPLE_SIZE);
  let at = 0;
  const put = (add: number, copy: number, seek: number) => {
    writeSignMagnitude(add, bytes, at);
    writeSignMagnitude(copy, bytes, at + 8);
    writeSignMagnitude(seek, bytes, at + 16);
    at += CONTROL_TRIPLE_SIZE;
  };
  if (leading) put(0, first === undefined ? newSize : first.newPos, first === undefined ? 0 : first.oldPos);
  for (let k = 0; k < covers.length; k++) {
    const c = covers[k] as Cover;
    const next = covers[k + 1];
    const end = c.newPos + c.length;
    put(
      c.length,
      (next === undefined ? newSize : next.newPos) - end,
      next === undefined ? 0 : next.oldPos - (c.oldPos + c.length),
    );
  }
  return bytes;
}

function checkCovers(oldSize: number, newSize: number, covers: readonly Cover[]): void {
  let newEnd = 0;
  for (const c of covers) {
    const ok =
      Number.isSafeInteger(c.oldPos) &&
      Number.isSafeInteger(c.newPos) &&
      Number.isSafeInteger(c.length) &&
      c.length > 0 &&
      c.newPos >= newEnd &&
      c.oldPos >= 0 &&
      c.oldPos + c.length <= oldSize &&
      c.newPos + c.length <= newSize;
    if (!ok) {
      throw new PatchError({
        code: 'INVALID_ARGUMENT',
        message: `invalid cover {oldPos: ${c.oldPos}, newPos: ${c.newPos}, length: ${c.length}} (old ${oldSize} B, new ${newSize} B)`,
      });
    }
    newEnd = c.newPos + c.length;
  }
}

function byteLength(parts: Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

export interface CreateBsdiff40Options extends WriteBsdiff40Options {}

/** Diffs two files with the engine and writes the result as a BSDIFF40 patch. */
export async function createBsdiff40(
  oldPath: string,
  newPath: string,
  patchPath: string,
  opts: CreateBsdiff40Options = {},
): Promise<SizeAndHash> {
  throwIfAborted(opts.signal);
  const [oldBuf, newBuf] = await Promise.all([readInput(oldPath), readInput(newPath)]);
  const progress = throttleProgress(opts.onProgress);
  const covers = findCovers(oldBuf, newBuf, {
    onProgress: (scanned) =>
      progress?.({ phase: 'diff', done: scanned, total: newBuf.length, unit: 'bytes' }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return writeBsdiff40(oldBuf, newBuf, covers, patchPath, opts);
}

async function readInput(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new PatchError({ code: 'IO_ERROR', message: `cannot read ${path}`, cause: err });
  }
}
