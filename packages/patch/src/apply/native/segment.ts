// The single-threaded apply core: decodes segments of a native patch into their stretches of the new file.
// It knows nothing of threads; apply/threads/ runs it on several threads, apply.ts on the calling thread alone.
import type { Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type BrotliDecompress, createBrotliDecompress } from 'node:zlib';
import { PatchError } from '../../errors.js';
import { EntryModel } from '../../format/model.js';
import {
  type DecodedHeader,
  hasFilterByte,
  LiteralFilter,
  MAX_FRAME_BYTES,
  type SegmentLayout,
} from '../../format/native.js';
import { readVarint } from '../../format/varint.js';
import {
  convertX86Operand,
  hasX86Operand,
  isX86Opcode,
  X86_INSTRUCTION_BYTES,
} from '../../format/x86-filter.js';
import { DiffKernel } from './diff-kernel.js';
import { PIECE, type PositionalFile, readFully, SegmentWriter } from './io.js';
import { OldFile } from './old-file.js';
import { RangeDecoder } from './range-decoder.js';

/**
 * Literal regions are read, and inflated, in pieces of this size. Each piece is a round trip through the I/O
 * thread pool, which decoding waits for: with zlib's default 16 KiB output pieces, @swc/core (10 MB of
 * literals) applied in 0.16-0.18 s, with 256 KiB in 0.11 s (1 MiB: 0.09-0.11 s, for more memory).
 */
export const LITERAL_CHUNK = 256 << 10;

function corrupt(message: string): PatchError {
  return new PatchError({ code: 'CORRUPT_PATCH', message: `native patch: ${message}` });
}

/** Reads the modelled region frame by frame; each frame is decoded from memory (at most MAX_FRAME_BYTES). */
class FrameReader {
  decoder: RangeDecoder | undefined;
  entriesLeft = 0;
  diffLeft = 0;
  #pos: number;
  readonly #end: number;
  readonly #patch: PositionalFile;
  /** MAX_FRAME_BYTES in the kernel's memory, where the kernel decodes difference bytes from. */
  readonly #buffer: Uint8Array;

  constructor(patch: PositionalFile, start: number, length: number, buffer: Uint8Array) {
    this.#patch = patch;
    this.#pos = start;
    this.#end = start + length;
    this.#buffer = buffer;
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
      const field = readVarint(head, at);
      if (typeof field === 'string') throw corrupt('bad frame header');
      fields.push(field.value);
      at = field.next;
    }
    const [bytes, entries, diffBytes] = fields as [number, number, number];
    if (bytes > MAX_FRAME_BYTES) throw corrupt(`frame of ${bytes} bytes exceeds ${MAX_FRAME_BYTES}`);
    if (entries === 0 && diffBytes === 0) throw corrupt('empty frame');
    if (this.#pos + at + bytes > this.#end) throw corrupt('frame runs past the modelled region');
    // One buffer for all frames: a frame is loaded only once the previous one is used up.
    const body = this.#buffer.subarray(0, bytes);
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

/**
 * Pulls literal bytes out of the brotli-compressed literal region, never more than declared, and undoes the
 * x86 filter when the region says it was used.
 */
class LiteralReader {
  /** Inflated bytes not handed out yet: #pending from #pendingAt on. */
  #pending: Buffer = Buffer.alloc(0);
  #pendingAt = 0;
  #produced = 0;
  readonly #declared: number;
  #chunks: AsyncIterator<Buffer> | undefined;
  readonly #streams: { destroy(): void; on(event: 'error', fn: () => void): unknown }[] = [];
  #error: Error | undefined;
  #regionLength = 0;
  #inflate: BrotliDecompress | undefined;
  readonly #patch: PositionalFile;
  readonly #start: number;
  readonly #length: number;
  readonly #filterByte: boolean;
  #x86 = false;
  /** Literal bytes handed out so far (the x86 filter's stream index). */
  #index = 0;
  /** An x86 operand already converted back, handed out before #pending. */
  readonly #carry = new Uint8Array(X86_INSTRUCTION_BYTES - 1);
  #carryAt = 0;
  #carryEnd = 0;

  readonly #memory: SharedLiterals | undefined;

  /**
   * The segment's own literal region (`start`, `length` in the patch), or with `memory` its slice of the
   * inflated shared region (its bytes and whether they are x86-filtered).
   */
  constructor(
    patch: PositionalFile,
    start: number,
    length: number,
    declared: number,
    filterByte: boolean,
    memory?: SharedLiterals,
  ) {
    this.#declared = declared;
    this.#patch = patch;
    this.#start = start;
    this.#length = length;
    this.#filterByte = filterByte;
    this.#memory = memory;
  }

  /** Reads the filter byte (compression ids 3 and 4) and starts inflating, or takes its slice of the shared region. */
  async open(): Promise<void> {
    if (this.#memory) {
      const { bytes, x86 } = this.#memory;
      this.#x86 = x86;
      this.#pending = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      this.#produced = bytes.length;
      return;
    }
    let start = this.#start;
    let length = this.#length;
    if (length === 0) return;
    if (this.#filterByte) {
      this.#x86 = await readFilterByte(this.#patch, start);
      start++;
      length--;
    }
    this.#regionLength = length;
    // Positional reads of our own: a FileHandle read stream would close the handle, which other segments
    // (and the caller) still use, when it is destroyed.
    const source = Readable.from(regionChunks(this.#patch, start, length), { objectMode: false });
    // Standard windows only (at most 16 MiB, what the writer uses): the large-window extension would let a
    // patch make each decoding thread hold a window of up to 1 GiB.
    const inflate = createBrotliDecompress({ chunkSize: LITERAL_CHUNK });
    this.#inflate = inflate;
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

  /**
   * Copies the next n literal bytes, which sit at new-file position newPos, into out[at..]. Returns a
   * promise only when it has to wait for more inflated bytes: an await per call cost @lightningcss (tens of
   * thousands of short literal runs) more than the copies.
   */
  read(out: Uint8Array, at: number, n: number, newPos: number): Promise<void> | undefined {
    const done = this.#copy(out, at, n, newPos, 0);
    if (done < n) return this.#readInflating(out, at, n, newPos, done);
    this.#index += n;
    return undefined;
  }

  async #readInflating(out: Uint8Array, at: number, n: number, newPos: number, done: number): Promise<void> {
    while (done < n) {
      // The inflated bytes ran out, or an x86 operand is cut by their end: append the next chunk.
      const rest = this.#pending.subarray(this.#pendingAt);
      const next = await this.#pull();
      this.#pending = rest.length === 0 ? next : Buffer.concat([rest, next]);
      this.#pendingAt = 0;
      done = this.#copy(out, at, n, newPos, done);
    }
    this.#index += n;
  }

  /**
   * Copies what it can of the read's bytes from done on, out of the bytes inflated so far; returns how far
   * it got. It stops before an opcode whose operand is not all inflated yet. Offsets into #pending, not
   * subarrays: x86 code has an opcode every few dozen bytes, and a Buffer per opcode kept the collector busy.
   */
  #copy(out: Uint8Array, at: number, n: number, newPos: number, done: number): number {
    const pending = this.#pending;
    while (done < n) {
      if (this.#carryAt < this.#carryEnd) {
        out[at + done++] = this.#carry[this.#carryAt++] as number;
        continue;
      }
      const from = this.#pendingAt;
      let take = Math.min(n - done, pending.length - from);
      if (take === 0) break;
      let opcode = false;
      if (this.#x86) {
        // Up to and including the next opcode; its operand is converted back before it is handed out.
        for (let k = 0; k < take; k++) {
          if (isX86Opcode(pending[from + k] as number)) {
            opcode = hasX86Operand(this.#index + done + k, this.#declared);
            if (opcode) take = k + 1;
            // Either way the scan ends: without room for an operand here, none is left for later bytes.
            break;
          }
        }
        if (opcode && pending.length - (from + take) < this.#carry.length) {
          // The operand is not all here: hand out the bytes before the opcode, and wait for more.
          take--;
          opcode = false;
          if (take === 0) break;
        }
      }
      if (take < 64) {
        for (let k = 0; k < take; k++) out[at + done + k] = pending[from + k] as number;
      } else {
        out.set(pending.subarray(from, from + take), at + done);
      }
      this.#pendingAt = from + take;
      done += take;
      if (opcode) this.#unfilterOperand(newPos + done - 1);
    }
    return done;
  }

  /** Takes the operand after the opcode at new-file position `position` into #carry, converted back. */
  #unfilterOperand(position: number): void {
    const carry = this.#carry;
    const from = this.#pendingAt;
    carry.set(this.#pending.subarray(from, from + carry.length));
    this.#pendingAt = from + carry.length;
    convertX86Operand(carry, 0, position, false);
    this.#carryAt = 0;
    this.#carryEnd = carry.length;
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
    if (
      this.#pending.length !== this.#pendingAt ||
      this.#carryAt !== this.#carryEnd ||
      this.#produced !== this.#declared
    ) {
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
      // The stream also ends (quietly) where the brotli data ends: what the decoder took must be the region.
      if (this.#inflate?.bytesWritten !== this.#regionLength) {
        throw corrupt('literal region holds bytes after the end of its brotli stream');
      }
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

/** A shared literal region inflated: the segments' literal bytes one after the other, and their filter. */
export interface SharedLiterals {
  bytes: Uint8Array;
  x86: boolean;
}

/**
 * Inflates the shared literal region (literal layout `shared`) whole, into shared memory when `threads`, so
 * every decoding thread reads its segments' bytes from it. Never more than the segments declare: more is
 * DECOMPRESSION_LIMIT, less or bytes after the brotli stream CORRUPT_PATCH (as for a segment's own region).
 */
export async function inflateSharedLiterals(
  patch: PositionalFile,
  h: DecodedHeader,
  threads: boolean,
  signal?: AbortSignal,
): Promise<SharedLiterals> {
  signal?.throwIfAborted();
  const declared = h.segments.reduce((n, s) => n + s.literalRawBytes, 0);
  let start = h.headerBytes;
  let length = h.sharedLiteralBytes;
  let x86 = false;
  if (hasFilterByte(h.compression)) {
    x86 = await readFilterByte(patch, start);
    start++;
    length--;
  }
  const bytes = new Uint8Array(threads ? new SharedArrayBuffer(declared) : new ArrayBuffer(declared));
  const inflate = createBrotliDecompress({ chunkSize: LITERAL_CHUNK });
  let produced = 0;
  try {
    await pipeline(
      Readable.from(regionChunks(patch, start, length), { objectMode: false }),
      inflate,
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          if (produced + chunk.length > declared) {
            throw new PatchError({
              code: 'DECOMPRESSION_LIMIT',
              message: `native patch: shared literal region inflates beyond its declared ${declared} bytes`,
            });
          }
          bytes.set(chunk, produced);
          produced += chunk.length;
        }
      },
      ...(signal ? [{ signal }] : []),
    );
  } catch (err) {
    if (err instanceof PatchError || (err as Error)?.name === 'AbortError') throw err;
    throw corrupt(`literal region does not decompress: ${(err as Error).message}`);
  }
  if (produced < declared) throw corrupt('literal region ended early');
  // The stream also ends (quietly) where the brotli data ends: what the decoder took must be the region.
  if (inflate.bytesWritten !== length)
    throw corrupt('literal region holds bytes after the end of its brotli stream');
  return { bytes, x86 };
}

/** The filter byte at the start of a literal region (compression ids 3 and 4): whether it says x86. */
async function readFilterByte(patch: PositionalFile, at: number): Promise<boolean> {
  const head = new Uint8Array(1);
  await readFully(patch, head, at);
  if (head[0] !== LiteralFilter.x86 && head[0] !== LiteralFilter.none) {
    throw corrupt(`unknown literal filter ${head[0]}`);
  }
  return head[0] === LiteralFilter.x86;
}

async function* regionChunks(file: PositionalFile, start: number, length: number): AsyncGenerator<Buffer> {
  for (let pos = start, end = start + length; pos < end; ) {
    const chunk = Buffer.allocUnsafe(Math.min(LITERAL_CHUNK, end - pos));
    await readFully(file, chunk, pos);
    pos += chunk.length;
    yield chunk;
  }
}

/**
 * What one decoding thread keeps for all the segments it decodes: the kernel, and in the kernel's memory the
 * frame buffer, the old file's windows and the two output buffers.
 */
export class SegmentDecoder {
  readonly kernel: DiffKernel;
  readonly old: OldFile;
  readonly outputs: [Uint8Array, Uint8Array];

  constructor(old: PositionalFile, oldSize: number) {
    this.kernel = new DiffKernel({
      frameBytes: MAX_FRAME_BYTES,
      windows: OldFile.SLOTS,
      windowBytes: OldFile.WINDOW,
      outputs: 2,
      outputBytes: PIECE,
    });
    this.old = new OldFile(old, oldSize, this.kernel.windows);
    this.outputs = [this.kernel.outputs[0] as Uint8Array, this.kernel.outputs[1] as Uint8Array];
  }
}

export interface SegmentJob {
  decoder: SegmentDecoder;
  patch: PositionalFile;
  oldSize: number;
  segment: SegmentLayout;
  writer: SegmentWriter;
  /**
   * Called after each piece of output is handed to the writer, with the segment's bytes so far: the place
   * to stop (by throwing) on abort or on another thread's failure, and to report progress.
   */
  checkpoint: (done: number) => void;
  /** The inflated shared literal region, when the patch has one. */
  literals?: SharedLiterals | undefined;
}

/**
 * Rebuilds one segment: a fresh model decodes its control entries and differences, literal bytes come from
 * its own brotli stream, and every bound is checked against the segment before a byte is read or written.
 */
export async function decodeSegment(job: SegmentJob): Promise<void> {
  const { segment: seg, writer, oldSize } = job;
  const end = seg.newLength;
  const { kernel, old } = job.decoder;
  const frames = new FrameReader(job.patch, seg.modelStart, seg.modelBytes, kernel.frame);
  const literals = new LiteralReader(
    job.patch,
    seg.literalStart,
    seg.literalBytes,
    seg.literalRawBytes,
    seg.literalFilterByte,
    job.literals && seg.sharedLiteralAt !== undefined
      ? {
          bytes: job.literals.bytes.subarray(seg.sharedLiteralAt, seg.sharedLiteralAt + seg.literalRawBytes),
          x86: job.literals.x86,
        }
      : undefined,
  );
  try {
    await literals.open();
    const model = new EntryModel();
    kernel.reset(seg.model);
    const cover = { cover: 0, oldPos: 0 };
    let out = writer.buffer;
    let outLen = 0;
    let produced = 0;
    let literalTotal = 0;
    let dec: RangeDecoder | undefined;
    const emit = async () => {
      out = await writer.write(outLen);
      outLen = 0;
      job.checkpoint(produced);
    };
    while (produced < end) {
      if (frames.entriesLeft === 0) dec = await frames.next();
      frames.entriesLeft--;
      const lit = model.codeLiteralLength(dec as RangeDecoder, 0);
      if (lit < 0 || lit > end - produced) throw corrupt('literal run past the end of its segment');
      literalTotal += lit;
      if (literalTotal > seg.literalRawBytes) throw corrupt('more literal bytes used than declared');
      for (let left = lit; left > 0; ) {
        const n = Math.min(left, PIECE - outLen);
        const inflating = literals.read(out, outLen, n, seg.newStart + produced);
        if (inflating) await inflating;
        outLen += n;
        produced += n;
        left -= n;
        if (outLen === PIECE) await emit();
      }
      if (produced === end) break;
      if (!model.codeCover(dec as RangeDecoder, 0, 0, seg.newStart + produced, cover))
        throw corrupt('bad cover');
      const oldPos = cover.oldPos;
      if (cover.cover > end - produced) throw corrupt('cover past the end of its segment');
      if (oldPos < 0 || oldPos > oldSize - cover.cover) throw corrupt('cover reads outside the old file');
      for (let done = 0; done < cover.cover; ) {
        if (frames.diffLeft === 0) dec = await frames.next();
        const want = Math.min(cover.cover - done, PIECE - outLen, frames.diffLeft);
        const v = await old.view(oldPos + done, want);
        const n = v.length;
        if (!kernel.decode(dec as RangeDecoder, v.bytes, v.offset, out, outLen, n)) {
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
    await writer.flush();
    frames.finish();
    await literals.finish();
  } finally {
    literals.close();
    await writer.settle();
  }
}

/** What a decoding thread needs to decode a run of segments, one after the other. */
export interface SegmentsJob {
  decoder: SegmentDecoder;
  patch: PositionalFile;
  out: PositionalFile;
  oldSize: number;
  /** The next segment this thread is to decode, or undefined when none is left. */
  next: () => SegmentLayout | undefined;
  /** Hashes the output as it is written (only for a thread that decodes every segment in order). */
  hash?: Hash;
  /** Throws when the thread must stop: called before each segment and after each piece of output. */
  stopIfNeeded: () => void;
  /** After each write has finished: how many of the segment's bytes are in the file. */
  onWritten?: (segment: number, bytes: number) => void;
  /** After each piece of output is handed to the writer: the segment's bytes so far. */
  onProgress: (segment: number, done: number) => void;
  /** The inflated shared literal region, when the patch has one. */
  literals?: SharedLiterals | undefined;
}

/**
 * Decodes segments until `next` has none left. When it returns or throws, every write it started has
 * settled, so the caller may close the files.
 */
export async function decodeSegments(job: SegmentsJob): Promise<void> {
  const { decoder, onWritten } = job;
  for (;;) {
    job.stopIfNeeded();
    const segment = job.next();
    if (!segment) return;
    await decodeSegment({
      decoder,
      patch: job.patch,
      oldSize: job.oldSize,
      segment,
      writer: new SegmentWriter(job.out, segment.newStart, decoder.outputs, {
        ...(job.hash ? { hash: job.hash } : {}),
        ...(onWritten ? { onWritten: (bytes: number) => onWritten(segment.index, bytes) } : {}),
      }),
      checkpoint: (done) => {
        job.stopIfNeeded();
        job.onProgress(segment.index, done);
      },
      literals: job.literals,
    });
  }
}
