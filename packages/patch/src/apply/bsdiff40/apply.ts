// Applies a BSDIFF40 patch as a stream: three bounded bzip2 decoders, the old file read through a window.
import { readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import {
  HashingStream,
  type OnProgress,
  type SizeAndHash,
  sameDigest,
  throttleProgress,
  throwIfAborted,
  writeStreamAtomic,
} from '@tufup/common';
import { PatchError } from '../../errors.js';
import {
  BSDIFF40_HEADER_SIZE,
  type Bsdiff40Header,
  CONTROL_TRIPLE_SIZE,
  parseBsdiff40Header,
  readSignMagnitude,
} from '../../format/bsdiff40.js';
import { type ByteSource, Bzip2Reader } from '../bzip2/decoder.js';

export interface ApplyBsdiff40Options {
  /** The size and sha256 the new file must have; checked before the file appears at `newPath`. */
  expect?: { size: number; sha256: string };
  /** Refuse patches that declare a larger new file (default: no limit beyond `expect.size`). */
  maxNewSize?: number;
  /** false: skip the fsyncs (see ApplyOptions.durable). */
  durable?: boolean;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

const OUTPUT_CHUNK = 1 << 20;
const OLD_WINDOW = 1 << 20;
const OLD_WINDOWS = 4;
const OLD_MIN_READ = 16 << 10;

/**
 * Rebuilds `newPath` from `oldPath` and a BSDIFF40 patch. Every control triple is checked before use:
 * negative lengths, output past the declared new size, and additions that read outside the old file are
 * CORRUPT_PATCH (bspatch reads such old bytes as zero; bsdiff never writes them, so they only come from a
 * damaged or hostile patch). Memory stays bounded whatever the file sizes; on any failure no file is left
 * at `newPath`.
 */
export async function applyBsdiff40(
  oldPath: string,
  patchPath: string,
  newPath: string,
  opts: ApplyBsdiff40Options = {},
): Promise<SizeAndHash> {
  throwIfAborted(opts.signal);
  const patch = await openForReading(patchPath, 'patch');
  let old: FileHandle | undefined;
  try {
    const patchSize = (await patch.stat()).size;
    const headerBytes = new Uint8Array(BSDIFF40_HEADER_SIZE);
    const { bytesRead } = await patch.read(headerBytes, 0, BSDIFF40_HEADER_SIZE, 0);
    const header = parseBsdiff40Header(headerBytes.subarray(0, bytesRead), patchSize);
    checkDeclaredSize(header.newSize, opts);
    old = await openForReading(oldPath, 'old file');
    const oldSize = (await old.stat()).size;
    const hasher = new HashingStream();
    hasher.resume();
    const output = rebuild(new OldFileWindow(old, oldSize), patch, patchSize, header, hasher, opts);
    // Pull the first chunk before the output file exists: most hostile patches fail right there.
    const first = await output.next();
    async function* chunks(): AsyncGenerator<Uint8Array> {
      if (first.done) return;
      yield first.value;
      yield* output;
    }
    try {
      await writeStreamAtomic(newPath, chunks(), {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.durable === false ? { durable: false } : {}),
      });
    } catch (err) {
      if (err instanceof PatchError || (err as Error).name === 'AbortError') throw err;
      throw new PatchError({ code: 'IO_ERROR', message: `writing ${newPath} failed`, cause: err });
    }
    return hasher.digest();
  } finally {
    await old?.close();
    await patch.close();
  }
}

function checkDeclaredSize(newSize: number, opts: ApplyBsdiff40Options): void {
  if (opts.maxNewSize !== undefined && newSize > opts.maxNewSize) {
    throw new PatchError({
      code: 'DECOMPRESSION_LIMIT',
      message: `BSDIFF40 patch declares a ${newSize}-byte file, more than the allowed ${opts.maxNewSize}`,
    });
  }
  if (opts.expect && opts.expect.size !== newSize) {
    throw new PatchError({
      code: 'OUTPUT_MISMATCH',
      message: `BSDIFF40 patch makes a ${newSize}-byte file, ${opts.expect.size} bytes were expected`,
    });
  }
}

async function* rebuild(
  old: OldFileWindow,
  patch: FileHandle,
  patchSize: number,
  header: Bsdiff40Header,
  hasher: HashingStream,
  opts: ApplyBsdiff40Options,
): AsyncGenerator<Uint8Array> {
  const { newSize } = header;
  const diffStart = BSDIFF40_HEADER_SIZE + header.controlLength;
  const extraStart = diffStart + header.diffLength;
  // bsdiff emits at most one triple per new byte plus one; anything beyond is a control-stream bomb.
  const maxTriples = 2 * newSize + 16;
  const control = new Bzip2Reader(rangeSource(patch, BSDIFF40_HEADER_SIZE, diffStart), {
    maxOutput: maxTriples * CONTROL_TRIPLE_SIZE,
  });
  const diff = new Bzip2Reader(rangeSource(patch, diffStart, extraStart), { maxOutput: newSize });
  const extra = new Bzip2Reader(rangeSource(patch, extraStart, patchSize), { maxOutput: newSize });
  const progress = throttleProgress(opts.onProgress);
  const triple = new Uint8Array(CONTROL_TRIPLE_SIZE);

  let out = new Uint8Array(Math.min(OUTPUT_CHUNK, Math.max(newSize, 1)));
  let outLength = 0;
  const takeOutput = (): Uint8Array => {
    const full = out.subarray(0, outLength);
    hasher.write(full);
    out = new Uint8Array(Math.min(OUTPUT_CHUNK, Math.max(newSize - newPos, 1)));
    outLength = 0;
    return full;
  };

  let newPos = 0;
  let oldPos = 0;
  let triples = 0;
  progress?.({ phase: 'apply', done: 0, total: newSize, unit: 'bytes' });
  while (newPos < newSize) {
    throwIfAborted(opts.signal);
    if (++triples > maxTriples) throw corrupt('control stream has more triples than the new file has bytes');
    const pendingTriple = readFast(control, triple, 0, CONTROL_TRIPLE_SIZE, 'control');
    if (pendingTriple) await pendingTriple;
    const add = readSignMagnitude(triple, 0);
    const copy = readSignMagnitude(triple, 8);
    const seek = readSignMagnitude(triple, 16);
    if (add === undefined || copy === undefined || seek === undefined)
      throw corrupt('control value out of range');
    if (add < 0 || copy < 0) throw corrupt(`negative length in control triple ${triples}`);
    if (add > newSize - newPos || copy > newSize - newPos - add) {
      throw corrupt(`control triple ${triples} writes past the declared new size ${newSize}`);
    }
    if (add > 0 && (oldPos < 0 || oldPos > old.size - add)) {
      throw corrupt(`control triple ${triples} reads outside the old file (${oldPos}+${add} of ${old.size})`);
    }

    for (let left = add; left > 0; ) {
      const piece = Math.min(left, out.length - outLength);
      const pendingDiff = readFast(diff, out, outLength, piece, 'diff');
      if (pendingDiff) await pendingDiff;
      const base = old.bytes(oldPos, piece);
      for (let i = 0; i < piece; i++)
        out[outLength + i] = (out[outLength + i] as number) + (base[i] as number);
      outLength += piece;
      oldPos += piece;
      newPos += piece;
      left -= piece;
      if (outLength === out.length) yield takeOutput();
    }
    for (let left = copy; left > 0; ) {
      const piece = Math.min(left, out.length - outLength);
      const pendingExtra = readFast(extra, out, outLength, piece, 'extra');
      if (pendingExtra) await pendingExtra;
      outLength += piece;
      newPos += piece;
      left -= piece;
      if (outLength === out.length) yield takeOutput();
    }
    oldPos += seek;
    if (!Number.isSafeInteger(oldPos)) throw corrupt('old file cursor out of range');
    progress?.({ phase: 'apply', done: newPos, total: newSize, unit: 'bytes' });
  }
  // Everything that can still fail runs before the last chunk is handed out, so a patch whose output
  // fits one chunk fails before any file is created.
  const last = out.subarray(0, outLength);
  hasher.write(last);
  await finishStream(control, 'control');
  await finishStream(diff, 'diff');
  await finishStream(extra, 'extra');
  hasher.end();
  await finished(hasher);
  const result = hasher.digest();
  if (opts.expect && (result.size !== opts.expect.size || !sameDigest(result.sha256, opts.expect.sha256))) {
    throw new PatchError({
      code: 'OUTPUT_MISMATCH',
      message: `BSDIFF40 result has sha256 ${result.sha256}, ${opts.expect.sha256} was expected`,
    });
  }
  if (newSize === 0) progress?.({ phase: 'apply', done: 0, total: 0, unit: 'bytes' });
  if (last.length > 0) yield last;
}

/** Like readStream, but returns undefined (no promise to await) when the block in hand has the bytes. */
function readFast(
  stream: Bzip2Reader,
  dst: Uint8Array,
  offset: number,
  length: number,
  name: string,
): Promise<void> | undefined {
  const got = stream.readSync(dst, offset, length);
  return got === length ? undefined : readStream(stream, dst, offset + got, length - got, name);
}

async function readStream(
  stream: Bzip2Reader,
  dst: Uint8Array,
  offset: number,
  length: number,
  name: string,
): Promise<void> {
  await namingStream(name, () => stream.readExactly(dst, offset, length));
}

/** Verifies the CRCs of what was read (see Bzip2Reader.finish), naming the stream in any error. */
async function finishStream(stream: Bzip2Reader, name: string): Promise<void> {
  await namingStream(name, () => stream.finish());
}

/** Runs a step on one of the three streams; a PatchError from it keeps its code and gains the stream's name. */
async function namingStream(name: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    if (err instanceof PatchError) {
      throw new PatchError({
        code: err.code,
        message: `BSDIFF40 ${name} stream: ${err.message}`,
        cause: err,
      });
    }
    throw err;
  }
}

function corrupt(message: string): PatchError {
  return new PatchError({ code: 'CORRUPT_PATCH', message: `BSDIFF40: ${message}` });
}

async function openForReading(path: string, what: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    throw new PatchError({ code: 'IO_ERROR', message: `cannot open the ${what} ${path}`, cause: err });
  }
}

/** One of the patch's three streams: reads from its own cursor, never outside [start, end). */
function rangeSource(file: FileHandle, start: number, end: number): ByteSource {
  let at = start;
  return {
    async read(dst, offset, length) {
      const want = Math.min(length, end - at);
      if (want <= 0) return 0;
      const { bytesRead } = await file.read(dst, offset, want, at);
      at += bytesRead;
      return bytesRead;
    },
  };
}

/**
 * Random access to the old file through a few cached windows. bsdiff's old reads mostly move forward but
 * can alternate between regions or jump about (many short matches), so a miss after a jump reads little,
 * and each miss that continues a window where it ended reads twice as much, up to 1 MiB. Reads are
 * synchronous: a patch of many short matches makes tens of thousands of small reads, and a thread-pool
 * round trip for each costs far more than the read (bspatch, for comparison, loads the whole old file).
 */
class OldFileWindow {
  // Buffers are allocated on first use and no larger than the old file.
  private readonly windows = Array.from({ length: OLD_WINDOWS }, () => ({
    bytes: new Uint8Array(0),
    start: 0,
    length: 0,
    used: 0,
    readSize: OLD_MIN_READ,
  }));
  private clock = 0;

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
  ) {}

  /** `length` (<= 1 MiB) bytes at `pos`, which the caller has checked lie inside the file. */
  bytes(pos: number, length: number): Uint8Array {
    let window: (typeof this.windows)[number] | undefined;
    let leastRecent = this.windows[0] as (typeof this.windows)[number];
    let continued: (typeof this.windows)[number] | undefined;
    for (const w of this.windows) {
      if (pos >= w.start && pos + length <= w.start + w.length) {
        window = w;
        break;
      }
      if (w.length > 0 && pos >= w.start && pos <= w.start + w.length) continued = w;
      if (w.used < leastRecent.used) leastRecent = w;
    }
    if (!window) {
      window = continued ?? leastRecent;
      window.readSize = continued ? Math.min(OLD_WINDOW, continued.readSize * 2) : OLD_MIN_READ;
      const want = Math.min(this.size - pos, Math.max(length, window.readSize));
      if (window.bytes.length < want)
        window.bytes = new Uint8Array(Math.min(OLD_WINDOW, Math.max(want, this.size)));
      let filled = 0;
      while (filled < want) {
        let bytesRead: number;
        try {
          bytesRead = readSync(this.file.fd, window.bytes, filled, want - filled, pos + filled);
        } catch (err) {
          throw new PatchError({ code: 'IO_ERROR', message: 'reading the old file failed', cause: err });
        }
        if (bytesRead === 0) {
          throw new PatchError({ code: 'IO_ERROR', message: 'the old file became shorter while being read' });
        }
        filled += bytesRead;
      }
      window.start = pos;
      window.length = filled;
    }
    window.used = ++this.clock;
    const at = pos - window.start;
    return window.bytes.subarray(at, at + length);
  }
}
