// Applies a native-format patch: checks the old file, streams the new file out, checks it, all in bounded memory.
import { createHash } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { constants as zc, createBrotliDecompress } from 'node:zlib';
import { fsyncDir, type OnProgress, sameDigest, siblingTempPath, throttleProgress } from '@tufup/common';
import { PatchError } from '../errors.js';
import { PatchModel } from './model.js';
import { decodeHeader, HEADER_BYTES, MAX_FRAME_BYTES, type NativeHeader } from './native-format.js';
import { RangeDecoder } from './range-decoder.js';

export interface ApplyOptions {
  /** The new file's size and sha256 as the caller's signed metadata states them. */
  expect?: { size: number; sha256: string };
  /**
   * The old file's size and sha256, as the caller has just verified them against its own signed metadata
   * (e.g. the client's cached tar, or the previous link of a patch chain). The native format then compares
   * its declared base with these instead of hashing the old file a second time; the size is still checked.
   * BSDIFF40 declares no base, so there it changes nothing.
   */
  oldVerified?: { size: number; sha256: string };
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

export interface ApplyResult {
  size: number;
  sha256: string;
}

/** New bytes are written in pieces of this size; old bytes are read in pieces no larger. */
const PIECE = 1 << 20;

function corrupt(message: string): PatchError {
  return new PatchError({ code: 'CORRUPT_PATCH', message: `native patch: ${message}` });
}

export async function applyNative(
  oldPath: string,
  patchPath: string,
  newPath: string,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  const progress = throttleProgress(opts.onProgress);
  const patch = await open(patchPath, 'r');
  let old: FileHandle | undefined;
  try {
    const patchSize = (await patch.stat()).size;
    const headBytes = new Uint8Array(Math.min(HEADER_BYTES, patchSize));
    await readFully(patch, headBytes, 0);
    const h = decodeHeader(headBytes, patchSize);
    if (opts.expect && (opts.expect.size !== h.newSize || !sameDigest(opts.expect.sha256, h.newSha256))) {
      throw new PatchError({
        code: 'OUTPUT_MISMATCH',
        message: `patch builds a file of ${h.newSize} bytes, sha256 ${h.newSha256}; expected ${opts.expect.size} bytes, sha256 ${opts.expect.sha256}`,
      });
    }
    old = await open(oldPath, 'r');
    await checkOldFile(old, h, opts.oldVerified, opts.signal, progress);
    const out = await OutputFile.create(newPath);
    let result: ApplyResult;
    try {
      result = await rebuild(old, patch, h, out, opts.signal, progress);
      await out.commit();
    } catch (err) {
      await out.discard();
      throw err;
    }
    return result;
  } finally {
    await old?.close();
    await patch.close();
  }
}

async function readFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new PatchError({ code: 'TRUNCATED_PATCH', message: 'file ended early' });
    done += bytesRead;
  }
}

async function checkOldFile(
  old: FileHandle,
  h: NativeHeader,
  verified: { size: number; sha256: string } | undefined,
  signal: AbortSignal | undefined,
  progress: OnProgress | undefined,
): Promise<void> {
  const size = (await old.stat()).size;
  if (size !== h.oldSize) {
    throw new PatchError({
      code: 'BASE_MISMATCH',
      message: `old file has ${size} bytes; the patch was made from one of ${h.oldSize} bytes`,
    });
  }
  if (verified) {
    if (verified.size !== size || !sameDigest(verified.sha256, h.oldSha256)) {
      throw new PatchError({
        code: 'BASE_MISMATCH',
        message: `old file is ${verified.size} bytes, sha256 ${verified.sha256}; the patch was made from ${h.oldSize} bytes, sha256 ${h.oldSha256}`,
      });
    }
    return;
  }
  const hash = createHash('sha256');
  // Two buffers: the next piece is read while the current one is hashed.
  const bufs = [new Uint8Array(Math.min(PIECE, size)), new Uint8Array(Math.min(PIECE, size))];
  const readPiece = (pos: number, buf: Uint8Array) => {
    const n = Math.min(buf.length, size - pos);
    return readAt(old, buf, 0, n, pos).then(() => n);
  };
  let pending = size > 0 ? readPiece(0, bufs[0] as Uint8Array) : undefined;
  for (let pos = 0, k = 0; pending; k ^= 1) {
    signal?.throwIfAborted();
    const n = await pending;
    const next = pos + n;
    pending = next < size ? readPiece(next, bufs[k ^ 1] as Uint8Array) : undefined;
    pending?.catch(() => {});
    hash.update((bufs[k] as Uint8Array).subarray(0, n));
    pos = next;
    progress?.({ phase: 'verify-old', done: pos, total: size, unit: 'bytes' });
  }
  const digest = hash.digest('hex');
  if (!sameDigest(digest, h.oldSha256)) {
    throw new PatchError({
      code: 'BASE_MISMATCH',
      message: `old file sha256 ${digest}; the patch was made from ${h.oldSha256}`,
    });
  }
}

/**
 * The new file, written to a sibling temp path and renamed into place only when complete. Two buffers
 * take turns: one is filled while the other is being written, and a buffer is handed back only after its
 * write has finished, so no byte can change between hashing and writing.
 */
class OutputFile {
  readonly #path: string;
  readonly #tmp: string;
  readonly #fh: FileHandle;
  #buffers: [Uint8Array, Uint8Array] = [new Uint8Array(PIECE), new Uint8Array(PIECE)];
  #pending: Promise<unknown> = Promise.resolve();

  private constructor(path: string, tmp: string, fh: FileHandle) {
    this.#path = path;
    this.#tmp = tmp;
    this.#fh = fh;
  }

  static async create(path: string): Promise<OutputFile> {
    const tmp = siblingTempPath(path);
    try {
      return new OutputFile(path, tmp, await open(tmp, 'wx', 0o644));
    } catch (err) {
      throw new PatchError({ code: 'IO_ERROR', message: `cannot create ${tmp}`, cause: err });
    }
  }

  /** The buffer to fill next. */
  get buffer(): Uint8Array {
    return this.#buffers[0];
  }

  /** Starts writing the first `length` bytes of `buffer`; returns the other buffer once it is free. */
  async write(length: number): Promise<Uint8Array> {
    const [full, spare] = this.#buffers;
    await this.#pending;
    this.#pending = this.#writeAll(full, length);
    this.#buffers = [spare, full];
    return spare;
  }

  async #writeAll(buf: Uint8Array, length: number): Promise<void> {
    for (let done = 0; done < length; ) {
      const { bytesWritten } = await this.#fh.write(buf, done, length - done);
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    await this.#pending;
  }

  async commit(): Promise<void> {
    await this.#pending;
    await this.#fh.sync();
    await this.#fh.close();
    await rename(this.#tmp, this.#path);
    await fsyncDir(dirname(this.#path));
  }

  async discard(): Promise<void> {
    await this.#pending.catch(() => {});
    await this.#fh.close().catch(() => {});
    await rm(this.#tmp, { force: true });
  }
}

/** Reads the modelled region frame by frame; each frame is decoded from memory (at most MAX_FRAME_BYTES). */
class FrameReader {
  decoder: RangeDecoder | undefined;
  entriesLeft = 0;
  diffLeft = 0;
  #pos: number;
  readonly #end: number;
  readonly #patch: FileHandle;

  constructor(patch: FileHandle, start: number, length: number) {
    this.#patch = patch;
    this.#pos = start;
    this.#end = start + length;
  }

  /** Loads the next frame; the current one must have been used up exactly. */
  async next(): Promise<RangeDecoder> {
    this.#checkUsedUp();
    if (this.#pos >= this.#end) throw corrupt('modelled region ended early');
    const head = new Uint8Array(Math.min(3 * 8, this.#end - this.#pos));
    await readFully(this.#patch, head, this.#pos);
    const fields: number[] = [];
    let at = 0;
    for (let f = 0; f < 3; f++) {
      let v = 0;
      let scale = 1;
      for (let k = 0; ; k++) {
        if (at >= head.length || k >= 8) throw corrupt('bad frame header');
        const b = head[at++] as number;
        v += (b & 0x7f) * scale;
        scale *= 128;
        if (!(b & 0x80)) break;
      }
      fields.push(v);
    }
    const [bytes, entries, diffBytes] = fields as [number, number, number];
    if (bytes > MAX_FRAME_BYTES) throw corrupt(`frame of ${bytes} bytes exceeds ${MAX_FRAME_BYTES}`);
    if (entries === 0 && diffBytes === 0) throw corrupt('empty frame');
    if (this.#pos + at + bytes > this.#end) throw corrupt('frame runs past the modelled region');
    const body = new Uint8Array(bytes);
    await readFully(this.#patch, body, this.#pos + at);
    this.#pos += at + bytes;
    this.entriesLeft = entries;
    this.diffLeft = diffBytes;
    this.decoder = new RangeDecoder(body);
    return this.decoder;
  }

  #checkUsedUp(): void {
    if (this.entriesLeft !== 0 || this.diffLeft !== 0)
      throw corrupt('frame counts disagree with its content');
    if (this.decoder && !this.decoder.finishedExactly())
      throw corrupt('frame length disagrees with its content');
  }

  /** At the end of the new file: everything read, the last frame used up exactly. */
  finish(): void {
    this.#checkUsedUp();
    if (this.#pos !== this.#end) throw corrupt('data after the last control entry');
  }
}

/** Pulls literal bytes out of the brotli-compressed literal region, never more than declared. */
class LiteralReader {
  #pending: Buffer = Buffer.alloc(0);
  #produced = 0;
  readonly #declared: number;
  readonly #chunks: AsyncIterator<Buffer> | undefined;
  readonly #streams: { destroy(): void; on(event: 'error', fn: () => void): unknown }[] = [];
  #error: Error | undefined;

  constructor(patch: FileHandle, start: number, length: number, declared: number) {
    this.#declared = declared;
    if (length === 0) return;
    const source = patch.createReadStream({
      start,
      end: start + length - 1,
      autoClose: false,
      highWaterMark: 1 << 16,
    });
    const inflate = createBrotliDecompress({ params: { [zc.BROTLI_DECODER_PARAM_LARGE_WINDOW]: 1 } });
    source.on('error', (err) => inflate.destroy(err));
    // Recorded here because the stream starts inflating before the first pull (when the iterator
    // would be listening); #pull reports it.
    inflate.on('error', (err) => {
      this.#error ??= err;
    });
    source.pipe(inflate);
    this.#streams.push(source, inflate);
    this.#chunks = inflate[Symbol.asyncIterator]();
  }

  /** Copies the next n literal bytes into out[at..]. */
  async read(out: Uint8Array, at: number, n: number): Promise<void> {
    let done = 0;
    while (done < n) {
      if (this.#pending.length === 0) this.#pending = await this.#pull();
      const take = Math.min(n - done, this.#pending.length);
      out.set(this.#pending.subarray(0, take), at + done);
      this.#pending = this.#pending.subarray(take);
      done += take;
    }
  }

  async #pull(): Promise<Buffer> {
    let next: IteratorResult<Buffer>;
    try {
      if (!this.#chunks) throw corrupt('literal bytes needed but none stored');
      if (this.#error) throw this.#error;
      next = await this.#chunks.next();
    } catch (err) {
      if (err instanceof PatchError) throw err;
      throw corrupt(`literal region does not decompress: ${(err as Error).message}`);
    }
    if (next.done) throw corrupt('literal region ended early');
    this.#produced += next.value.length;
    if (this.#produced > this.#declared) {
      throw new PatchError({
        code: 'DECOMPRESSION_LIMIT',
        message: `native patch: literal region inflates beyond its declared ${this.#declared} bytes`,
      });
    }
    return next.value;
  }

  /** At the end: all declared bytes used, and the compressed stream ends there. */
  async finish(): Promise<void> {
    if (this.#pending.length !== 0 || this.#produced !== this.#declared) {
      throw corrupt('literal region holds more bytes than the control entries use');
    }
    if (this.#chunks) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.#chunks.next();
      } catch (err) {
        throw corrupt(`literal region does not decompress: ${(err as Error).message}`);
      }
      if (!next.done) throw corrupt('literal region holds more bytes than declared');
    }
  }

  /** Stops both streams. Errors they raise after this belong to an apply that has already ended. */
  close(): void {
    for (const s of this.#streams) {
      s.on('error', () => {});
      s.destroy();
    }
  }
}

async function rebuild(
  old: FileHandle,
  patch: FileHandle,
  h: NativeHeader,
  output: OutputFile,
  signal: AbortSignal | undefined,
  progress: OnProgress | undefined,
): Promise<ApplyResult> {
  const frames = new FrameReader(patch, HEADER_BYTES, h.modelBytes);
  const literals = new LiteralReader(patch, HEADER_BYTES + h.modelBytes, h.literalBytes, h.literalRawBytes);
  try {
    const model = new PatchModel();
    const hash = createHash('sha256');
    const oldBuf = new Uint8Array(Math.min(PIECE, Math.max(h.oldSize, 1)));
    const oldFile = new OldFile(old, h.oldSize);
    const cover = { cover: 0, oldPos: 0 };
    let out = output.buffer;
    let outLen = 0;
    let produced = 0;
    let literalTotal = 0;
    let dec: RangeDecoder | undefined;
    const emit = async () => {
      hash.update(out.subarray(0, outLen));
      out = await output.write(outLen);
      outLen = 0;
      signal?.throwIfAborted();
      progress?.({ phase: 'apply', done: produced, total: h.newSize, unit: 'bytes' });
    };
    while (produced < h.newSize) {
      if (frames.entriesLeft === 0) dec = await frames.next();
      frames.entriesLeft--;
      const lit = model.codeLiteralLength(dec as RangeDecoder, 0);
      if (lit < 0 || lit > h.newSize - produced) throw corrupt('literal run past the end of the new file');
      literalTotal += lit;
      if (literalTotal > h.literalRawBytes) throw corrupt('more literal bytes used than declared');
      for (let left = lit; left > 0; ) {
        const n = Math.min(left, PIECE - outLen);
        await literals.read(out, outLen, n);
        outLen += n;
        produced += n;
        left -= n;
        if (outLen === PIECE) await emit();
      }
      if (produced === h.newSize) break;
      if (!model.codeCover(dec as RangeDecoder, 0, 0, produced, cover)) throw corrupt('bad cover');
      const oldPos = cover.oldPos;
      if (cover.cover > h.newSize - produced) throw corrupt('cover past the end of the new file');
      if (oldPos < 0 || oldPos > h.oldSize - cover.cover) throw corrupt('cover reads outside the old file');
      for (let done = 0; done < cover.cover; ) {
        if (frames.diffLeft === 0) dec = await frames.next();
        const n = Math.min(cover.cover - done, PIECE - outLen, frames.diffLeft);
        await oldFile.read(oldBuf, n, oldPos + done);
        if (!model.codeDiff(dec as RangeDecoder, oldBuf, 0, out, outLen, n, undefined)) {
          throw corrupt('bad difference run');
        }
        frames.diffLeft -= n;
        outLen += n;
        produced += n;
        done += n;
        if (outLen === PIECE) await emit();
      }
    }
    if (outLen > 0) await emit();
    await output.flush();
    frames.finish();
    await literals.finish();
    const sha256 = hash.digest('hex');
    if (!sameDigest(sha256, h.newSha256)) {
      throw new PatchError({
        code: 'OUTPUT_MISMATCH',
        message: `rebuilt file sha256 ${sha256}; the patch declares ${h.newSha256}`,
      });
    }
    return { size: produced, sha256 };
  } finally {
    literals.close();
  }
}

async function readAt(
  fh: FileHandle,
  buf: Uint8Array,
  at: number,
  n: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < n) {
    const { bytesRead } = await fh.read(buf, at + done, n - done, position + done);
    if (bytesRead === 0)
      throw new PatchError({ code: 'BASE_MISMATCH', message: 'old file shrank while being read' });
    done += bytesRead;
  }
}

interface OldWindow {
  index: number;
  buf: Uint8Array;
  len: number;
  ready: Promise<void>;
  used: number;
}

/**
 * Positional reads of the old file through four 1 MiB windows. Covers mostly move forward through old, so
 * loading a window also starts reading the next one: the read is done by the time decoding gets there.
 */
class OldFile {
  static readonly WINDOW = 1 << 20;
  static readonly SLOTS = 4;
  readonly #fh: FileHandle;
  readonly #size: number;
  readonly #slots: OldWindow[] = [];
  #clock = 0;

  constructor(fh: FileHandle, size: number) {
    this.#fh = fh;
    this.#size = size;
  }

  /** Copies old[position..position+n) into buf[0..n). */
  async read(buf: Uint8Array, n: number, position: number): Promise<void> {
    for (let done = 0; done < n; ) {
      const pos = position + done;
      const index = Math.floor(pos / OldFile.WINDOW);
      const slot = this.#slots.find((s) => s.index === index) ?? this.#load(index);
      slot.used = ++this.#clock;
      if ((index + 1) * OldFile.WINDOW < this.#size && !this.#slots.some((s) => s.index === index + 1)) {
        this.#load(index + 1);
      }
      await slot.ready;
      const off = pos - index * OldFile.WINDOW;
      const take = Math.min(n - done, slot.len - off);
      buf.set(slot.buf.subarray(off, off + take), done);
      done += take;
    }
  }

  #load(index: number): OldWindow {
    let slot = this.#slots.length < OldFile.SLOTS ? undefined : this.#leastRecent();
    const start = index * OldFile.WINDOW;
    const len = Math.min(OldFile.WINDOW, this.#size - start);
    if (!slot) {
      slot = { index, buf: new Uint8Array(OldFile.WINDOW), len, ready: Promise.resolve(), used: 0 };
      this.#slots.push(slot);
    }
    // A window still being filled is reused only after that read is over.
    const previous = slot.ready;
    const buf = slot.buf;
    slot.index = index;
    slot.len = len;
    slot.used = ++this.#clock;
    slot.ready = previous.catch(() => {}).then(() => readAt(this.#fh, buf, 0, len, start));
    // A read-ahead nobody waits for must not become an unhandled rejection; a waiter still sees the error.
    slot.ready.catch(() => {});
    return slot;
  }

  #leastRecent(): OldWindow {
    let best = this.#slots[0] as OldWindow;
    for (const s of this.#slots) if (s.used < best.used) best = s;
    return best;
  }
}
