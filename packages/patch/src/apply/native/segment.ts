// The single-threaded apply core: decodes segments of a native patch into their stretches of the new file.
// It knows nothing of threads; apply/threads/ runs it on several threads, apply.ts on the calling thread alone.
import type { Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type BrotliDecompress, createBrotliDecompress } from 'node:zlib';
import { PatchError } from '../../errors.js';
import { EntryModel } from '../../format/model.js';
import { LiteralFilter, MAX_FRAME_BYTES, type SegmentLayout } from '../../format/native.js';
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
  #pending: Buffer = Buffer.alloc(0);
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

  constructor(patch: PositionalFile, start: number, length: number, declared: number, filterByte: boolean) {
    this.#declared = declared;
    this.#patch = patch;
    this.#start = start;
    this.#length = length;
    this.#filterByte = filterByte;
  }

  /** Reads the filter byte (compression id 3) and starts inflating. */
  async open(): Promise<void> {
    let start = this.#start;
    let length = this.#length;
    if (length === 0) return;
    if (this.#filterByte) {
      const head = new Uint8Array(1);
      await readFully(this.#patch, head, start);
      if (head[0] === LiteralFilter.x86) this.#x86 = true;
      else if (head[0] !== LiteralFilter.none) throw corrupt(`unknown literal filter ${head[0]}`);
      start++;
      length--;
    }
    this.#regionLength = length;
    // Positional reads of our own: a FileHandle read stream would close the handle, which other segments
    // (and the caller) still use, when it is destroyed.
    const source = Readable.from(regionChunks(this.#patch, start, length), { objectMode: false });
    // Standard windows only (at most 16 MiB, what the writer uses): the large-window extension would let a
    // patch make each decoding thread hold a window of up to 1 GiB.
    const inflate = createBrotliDecompress();
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

  /** Copies the next n literal bytes, which sit at new-file position newPos, into out[at..]. */
  async read(out: Uint8Array, at: number, n: number, newPos: number): Promise<void> {
    let done = 0;
    while (done < n) {
      if (this.#carryAt < this.#carryEnd) {
        out[at + done++] = this.#carry[this.#carryAt++] as number;
        continue;
      }
      if (this.#pending.length === 0) this.#pending = await this.#pull();
      let take = Math.min(n - done, this.#pending.length);
      let opcode = false;
      if (this.#x86) {
        // Up to and including the next opcode; its operand is converted back before it is handed out.
        for (let k = 0; k < take; k++) {
          if (isX86Opcode(this.#pending[k] as number)) {
            opcode = hasX86Operand(this.#index + done + k, this.#declared);
            if (opcode) take = k + 1;
            // Either way the scan ends: without room for an operand here, none is left for later bytes.
            break;
          }
        }
      }
      out.set(this.#pending.subarray(0, take), at + done);
      this.#pending = this.#pending.subarray(take);
      done += take;
      if (opcode) {
        // Rarely is the operand cut by the end of an inflated chunk; an await per call would add up.
        while (this.#pending.length < this.#carry.length)
          this.#pending = Buffer.concat([this.#pending, await this.#pull()]);
        this.#unfilterOperand(newPos + done - 1);
      }
    }
    this.#index += n;
  }

  /** Takes the operand after the opcode at new-file position `position` into #carry, converted back. */
  #unfilterOperand(position: number): void {
    const carry = this.#carry;
    carry.set(this.#pending.subarray(0, carry.length));
    this.#pending = this.#pending.subarray(carry.length);
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
    if (this.#pending.length !== 0 || this.#carryAt !== this.#carryEnd || this.#produced !== this.#declared) {
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

async function* regionChunks(file: PositionalFile, start: number, length: number): AsyncGenerator<Buffer> {
  for (let pos = start, end = start + length; pos < end; ) {
    const chunk = Buffer.allocUnsafe(Math.min(1 << 16, end - pos));
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
  );
  try {
    await literals.open();
    const model = new EntryModel();
    kernel.reset();
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
        await literals.read(out, outLen, n, seg.newStart + produced);
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
    });
  }
}
