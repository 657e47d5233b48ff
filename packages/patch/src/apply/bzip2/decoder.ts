// bzip2 decoder for untrusted input: every header field is range-checked, memory is fixed by the block size.
import { PatchError } from '../../errors.js';
import { GROUP_SIZE, RUNA, RUNB } from '../../format/bzip2.js';
import { BZIP2_CRC_TABLE, combineStreamCrc } from '../../format/bzip2-crc.js';

/** Where compressed bytes come from: like FileHandle.read, returns 0 at the end. */
export interface ByteSource {
  read(dst: Uint8Array, offset: number, length: number): Promise<number>;
}

export interface Bzip2ReaderOptions {
  /** Decoded bytes allowed in total; more is a DECOMPRESSION_LIMIT error (default: no limit). */
  maxOutput?: number;
}

const MAX_CODE_LENGTH = 20;
const MAX_ALPHA = 258;
/** bzip2 1.0.8 reads up to 32767 selectors but only 18002 can ever be used (900001 symbols / 50). */
const MAX_SELECTORS = 18002;
const FAST_BITS = 10;

/** Canonical Huffman decoding table: a 10-bit lookup for short codes, per-length ranges for longer ones. */
interface HuffmanTable {
  /** (symbol << 5) | length for codes of length <= FAST_BITS, 0 where a longer (or no) code starts. */
  fast: Int32Array;
  maxLength: number;
  firstCode: Int32Array;
  countOfLength: Int32Array;
  offsetOfLength: Int32Array;
  symbolsByCode: Uint16Array;
}

function corrupt(message: string): PatchError {
  return new PatchError({ code: 'CORRUPT_PATCH', message: `bzip2: ${message}` });
}

/** Upper bound of one compressed block's size, so a block can be decoded from one buffered window. */
function maxCompressedBlockBytes(level: number): number {
  const symbolBits = (level * 100000 + 1) * MAX_CODE_LENGTH;
  const selectorBits = 32767 * 7;
  const tableBits = 6 * MAX_ALPHA * 40;
  return Math.ceil((symbolBits + selectorBits + tableBits + 4096) / 8) + 64;
}

/**
 * Streaming bzip2 decoder over a `ByteSource`. Decodes one block at a time and expands the final
 * run-length stage lazily, so a small input can never force a large allocation: memory is the block
 * array (4 bytes per block byte) plus an input window of one maximal compressed block.
 */
export class Bzip2Reader {
  private readonly source: ByteSource;
  private readonly maxOutput: number;
  private input = new Uint8Array(0);
  private pos = 0;
  private end = 0;
  private eof = false;
  private bitBuf = 0;
  private bitCount = 0;

  private state: 'start' | 'header' | 'block' | 'end' = 'start';
  private level = 0;
  private blockMax = 0;
  private tt: Uint32Array = new Uint32Array(0);
  private streamCrc = 0;
  private produced = 0;

  // The block being emitted: position in the inverse-BWT walk and the run-length decoder's state.
  private tPos = 0;
  private left = 0;
  private lastByte = -1;
  private runLength = 0;
  private repeat = 0;
  private crc = 0;
  private storedBlockCrc = 0;

  constructor(source: ByteSource, opts: Bzip2ReaderOptions = {}) {
    this.source = source;
    this.maxOutput = opts.maxOutput ?? Number.POSITIVE_INFINITY;
  }

  /** Total decoded bytes handed out so far. */
  get bytesOut(): number {
    return this.produced;
  }

  /** True once the end-of-stream marker and its CRC have been read and checked. */
  get ended(): boolean {
    return this.state === 'end';
  }

  /** Decodes up to `length` bytes into `dst`; returns how many, 0 only at the end of the stream. */
  async read(dst: Uint8Array, offset: number, length: number): Promise<number> {
    if (length <= 0) return 0;
    for (;;) {
      if (this.state === 'block') {
        const allowed = this.maxOutput - this.produced;
        if (allowed <= 0) {
          if (this.emit(new Uint8Array(1), 0, 1) > 0) throw this.limitError();
        } else {
          const n = this.emit(dst, offset, Math.min(length, allowed));
          if (n > 0) {
            this.produced += n;
            return n;
          }
        }
        this.finishBlock();
        continue;
      }
      if (this.state === 'end') return 0;
      if (this.state === 'start') {
        await this.fill(4);
        this.readStreamHeader();
        continue;
      }
      await this.fill(maxCompressedBlockBytes(this.level));
      this.readBlockOrEnd();
    }
  }

  /**
   * Checks what the reader has passed over without handing out: the rest of the block in hand is
   * decoded (not returned, at most one block's worth of CPU) so its CRC is verified, and when the stream
   * ends after it, the end-of-stream marker and stream CRC are too. Later blocks are not decoded:
   * unread data after the last byte wanted is tolerated, as bspatch tolerates it.
   */
  async finish(): Promise<void> {
    if (this.state === 'block') {
      const scratch = new Uint8Array(1 << 16);
      while (this.emit(scratch, 0, scratch.length) > 0);
      this.finishBlock();
    }
    if (this.state === 'start') {
      await this.fill(4);
      this.readStreamHeader();
    }
    if (this.state !== 'header') return;
    await this.fill(maxCompressedBlockBytes(this.level));
    const { pos, bitBuf, bitCount } = this;
    const hi = this.bits(24);
    const lo = this.bits(24);
    this.pos = pos;
    this.bitBuf = bitBuf;
    this.bitCount = bitCount;
    if (hi === 0x177245 && lo === 0x385090) this.readBlockOrEnd();
  }

  /**
   * Decodes up to `length` bytes from the block in hand without waiting; 0 when the next step needs
   * input or a check (then use `read`). Lets callers that read many small pieces skip a promise each.
   */
  readSync(dst: Uint8Array, offset: number, length: number): number {
    if (this.state !== 'block' || length <= 0) return 0;
    const allowed = this.maxOutput - this.produced;
    if (allowed <= 0) return 0;
    const n = this.emit(dst, offset, Math.min(length, allowed));
    this.produced += n;
    return n;
  }

  /** Reads exactly `length` bytes or throws TRUNCATED_PATCH. */
  async readExactly(dst: Uint8Array, offset: number, length: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const n = await this.read(dst, offset + done, length - done);
      if (n === 0) {
        throw new PatchError({
          code: 'TRUNCATED_PATCH',
          message: `bzip2 stream ended after ${this.produced} bytes, ${length - done} more were needed`,
        });
      }
      done += n;
    }
  }

  private limitError(): PatchError {
    return new PatchError({
      code: 'DECOMPRESSION_LIMIT',
      message: `bzip2 stream decodes to more than the allowed ${this.maxOutput} bytes`,
    });
  }

  /**
   * Makes at least `want` unread bytes available in the window (fewer only at the end of the source).
   * The window grows on demand, so a short stream never costs a maximal block's worth of memory.
   */
  private async fill(want: number): Promise<void> {
    if (this.end - this.pos >= want || this.eof) return;
    this.input.copyWithin(0, this.pos, this.end);
    this.end -= this.pos;
    this.pos = 0;
    while (!this.eof && this.end < want) {
      if (this.end === this.input.length) {
        const grown = new Uint8Array(Math.min(Math.max(this.input.length * 2, 1 << 16), want + (1 << 16)));
        grown.set(this.input.subarray(0, this.end));
        this.input = grown;
      }
      let n: number;
      try {
        n = await this.source.read(this.input, this.end, this.input.length - this.end);
      } catch (err) {
        throw new PatchError({ code: 'IO_ERROR', message: 'reading a bzip2 stream failed', cause: err });
      }
      if (n === 0) this.eof = true;
      this.end += n;
    }
  }

  private bits(n: number): number {
    while (this.bitCount < n) {
      this.bitBuf = (this.bitBuf << 8) | (this.pos < this.end ? (this.input[this.pos] as number) : 0);
      this.pos++;
      this.bitCount += 8;
    }
    this.bitCount -= n;
    return (this.bitBuf >>> this.bitCount) & ((1 << n) - 1);
  }

  /** Bits past the end of the input read as zeros; this turns having used any of them into an error. */
  private checkOverrun(what: string): void {
    if (this.pos * 8 - this.bitCount > this.end * 8) {
      throw new PatchError({ code: 'TRUNCATED_PATCH', message: `bzip2 stream is truncated in ${what}` });
    }
  }

  /** The error for a bad field: TRUNCATED_PATCH when the field was read from past the end, else CORRUPT_PATCH. */
  private failure(message: string, pos = this.pos, bitCount = this.bitCount): PatchError {
    if (pos * 8 - bitCount > this.end * 8) {
      return new PatchError({ code: 'TRUNCATED_PATCH', message: `bzip2 stream is truncated (${message})` });
    }
    return corrupt(message);
  }

  private readStreamHeader(): void {
    const b = this.bits(8);
    const z = this.bits(8);
    const h = this.bits(8);
    const level = this.bits(8) - 0x30;
    this.checkOverrun('the stream header');
    if (b !== 0x42 || z !== 0x5a || h !== 0x68 || level < 1 || level > 9) {
      throw corrupt('not a bzip2 stream (bad "BZh1".."BZh9" header)');
    }
    this.level = level;
    this.blockMax = level * 100000;
    this.state = 'header';
  }

  private readBlockOrEnd(): void {
    const hi = this.bits(24);
    const lo = this.bits(24);
    if (hi === 0x177245 && lo === 0x385090) {
      const stored = ((this.bits(16) << 16) | this.bits(16)) >>> 0;
      this.checkOverrun('the end-of-stream marker');
      if (stored !== this.streamCrc) {
        throw this.failure(`stream CRC mismatch (stored ${hex(stored)}, computed ${hex(this.streamCrc)})`);
      }
      this.state = 'end';
      return;
    }
    if (hi !== 0x314159 || lo !== 0x265359) throw this.failure('bad block magic');
    this.decodeBlock();
  }

  private decodeBlock(): void {
    this.storedBlockCrc = ((this.bits(16) << 16) | this.bits(16)) >>> 0;
    if (this.bits(1) !== 0)
      throw this.failure('randomised blocks (written by bzip2 before 0.9.5) are not supported');
    const origPtr = this.bits(24);

    const seqToUnseq = new Uint8Array(256);
    let nInUse = 0;
    const used16 = this.bits(16);
    for (let hi = 0; hi < 16; hi++) {
      if (!(used16 & (0x8000 >>> hi))) continue;
      const used = this.bits(16);
      for (let lo = 0; lo < 16; lo++) if (used & (0x8000 >>> lo)) seqToUnseq[nInUse++] = hi * 16 + lo;
    }
    if (nInUse === 0) throw this.failure('block uses no byte values');
    const alphaSize = nInUse + 2;
    const eob = nInUse + 1;

    const nGroups = this.bits(3);
    if (nGroups < 2 || nGroups > 6) throw this.failure(`invalid number of Huffman tables (${nGroups})`);
    const nSelectorsRead = this.bits(15);
    if (nSelectorsRead < 1) throw this.failure('no selectors');
    const nSelectors = Math.min(nSelectorsRead, MAX_SELECTORS);
    const selectors = new Uint8Array(nSelectors);
    const order = [0, 1, 2, 3, 4, 5];
    for (let i = 0; i < nSelectorsRead; i++) {
      let j = 0;
      while (this.bits(1) === 1) {
        j++;
        if (j >= nGroups) throw this.failure('selector out of range');
      }
      if (i >= nSelectors) continue;
      const v = order[j] as number;
      for (let k = j; k > 0; k--) order[k] = order[k - 1] as number;
      order[0] = v;
      selectors[i] = v;
    }

    const tables: HuffmanTable[] = [];
    const lengths = new Uint8Array(alphaSize);
    for (let t = 0; t < nGroups; t++) {
      let cur = this.bits(5);
      for (let v = 0; v < alphaSize; v++) {
        for (;;) {
          if (cur < 1 || cur > MAX_CODE_LENGTH) throw this.failure('Huffman code length out of range');
          if (this.bits(1) === 0) break;
          cur += this.bits(1) === 0 ? 1 : -1;
        }
        lengths[v] = cur;
      }
      const table = buildTable(lengths, alphaSize);
      if (!table) throw this.failure('over-subscribed Huffman table');
      tables.push(table);
    }
    this.checkOverrun('the block header');

    // Huffman + zero-run + move-to-front decoding into tt's low bytes; all bounds checked per symbol.
    // The block array grows with the block (up to the level's maximum), so short streams stay small.
    let tt = this.tt;
    const blockMax = this.blockMax;
    const counts = new Int32Array(256);
    const mtf = new Uint8Array(256);
    for (let i = 0; i < 256; i++) mtf[i] = i;
    const input = this.input;
    const end = this.end;
    let pos = this.pos;
    let bitBuf = this.bitBuf;
    let bitCount = this.bitCount;
    let nblock = 0;
    let run = 0;
    let runWeight = 1;
    let groupIndex = 0;
    let groupLeft = 0;
    let table = tables[0] as HuffmanTable;
    let fast = table.fast;
    for (;;) {
      if (groupLeft === 0) {
        if (groupIndex >= nSelectors) throw this.failure('more symbols than selectors', pos, bitCount);
        table = tables[selectors[groupIndex++] as number] as HuffmanTable;
        fast = table.fast;
        groupLeft = GROUP_SIZE;
      }
      groupLeft--;
      while (bitCount <= 24) {
        bitBuf = (bitBuf << 8) | (pos < end ? (input[pos] as number) : 0);
        pos++;
        bitCount += 8;
      }
      const entry = fast[(bitBuf >>> (bitCount - FAST_BITS)) & ((1 << FAST_BITS) - 1)] as number;
      let sym: number;
      if (entry !== 0) {
        bitCount -= entry & 31;
        sym = entry >>> 5;
      } else {
        sym = -1;
        for (let len = FAST_BITS + 1; len <= table.maxLength; len++) {
          const d = ((bitBuf >>> (bitCount - len)) & ((1 << len) - 1)) - (table.firstCode[len] as number);
          if (d >= 0 && d < (table.countOfLength[len] as number)) {
            sym = table.symbolsByCode[(table.offsetOfLength[len] as number) + d] as number;
            bitCount -= len;
            break;
          }
        }
        if (sym < 0) throw this.failure('invalid Huffman code', pos, bitCount);
      }
      if (sym <= RUNB) {
        if (run === 0) runWeight = 1;
        run += (sym === RUNA ? 1 : 2) * runWeight;
        runWeight *= 2;
        if (nblock + run > blockMax)
          throw this.failure(`block longer than level ${this.level} allows`, pos, bitCount);
        continue;
      }
      if (run > 0) {
        const uc = seqToUnseq[mtf[0] as number] as number;
        counts[uc] = (counts[uc] as number) + run;
        if (nblock + run > tt.length) tt = grownBlock(tt, nblock, nblock + run, blockMax);
        tt.fill(uc, nblock, nblock + run);
        nblock += run;
        run = 0;
      }
      if (sym === eob) break;
      const j = sym - 1;
      const v = mtf[j] as number;
      for (let k = j; k > 0; k--) mtf[k] = mtf[k - 1] as number;
      mtf[0] = v;
      if (nblock >= tt.length) {
        if (nblock >= blockMax)
          throw this.failure(`block longer than level ${this.level} allows`, pos, bitCount);
        tt = grownBlock(tt, nblock, nblock + 1, blockMax);
      }
      const uc = seqToUnseq[v] as number;
      counts[uc] = (counts[uc] as number) + 1;
      tt[nblock++] = uc;
    }
    this.tt = tt;
    this.pos = pos;
    this.bitBuf = bitBuf;
    this.bitCount = bitCount;
    this.checkOverrun('block data');
    if (origPtr >= nblock) throw this.failure(`origPtr ${origPtr} outside the block of ${nblock} bytes`);

    // Inverse BWT: link each position to its successor in the upper 24 bits, keeping the byte in the low 8.
    const next = new Int32Array(256);
    for (let c = 0, sum = 0; c < 256; c++) {
      next[c] = sum;
      sum += counts[c] as number;
    }
    for (let i = 0; i < nblock; i++) {
      const uc = (tt[i] as number) & 0xff;
      const at = next[uc] as number;
      tt[at] = ((tt[at] as number) | (i << 8)) >>> 0;
      next[uc] = at + 1;
    }
    this.tPos = (tt[origPtr] as number) >>> 8;
    this.left = nblock;
    this.lastByte = -1;
    this.runLength = 0;
    this.repeat = 0;
    this.crc = 0xffffffff;
    this.state = 'block';
  }

  /** Emits up to `length` bytes of the current block (undoing the initial run-length stage). */
  private emit(dst: Uint8Array, offset: number, length: number): number {
    const tt = this.tt;
    const crcTable = BZIP2_CRC_TABLE;
    let tPos = this.tPos;
    let left = this.left;
    let lastByte = this.lastByte;
    let runLength = this.runLength;
    let repeat = this.repeat;
    let crc = this.crc;
    let n = 0;
    while (n < length) {
      if (repeat > 0) {
        const k = Math.min(repeat, length - n);
        dst.fill(lastByte, offset + n, offset + n + k);
        for (let i = 0; i < k; i++) crc = (crc << 8) ^ (crcTable[(crc >>> 24) ^ lastByte] as number);
        n += k;
        repeat -= k;
        continue;
      }
      if (left === 0) break;
      tPos = tt[tPos] as number;
      const b = tPos & 0xff;
      tPos >>>= 8;
      left--;
      if (runLength === 4) {
        repeat = b;
        runLength = 0;
        continue;
      }
      if (b === lastByte) runLength++;
      else {
        lastByte = b;
        runLength = 1;
      }
      dst[offset + n++] = b;
      crc = (crc << 8) ^ (crcTable[(crc >>> 24) ^ b] as number);
    }
    this.tPos = tPos;
    this.left = left;
    this.lastByte = lastByte;
    this.runLength = runLength;
    this.repeat = repeat;
    this.crc = crc;
    return n;
  }

  private finishBlock(): void {
    const computed = ~this.crc >>> 0;
    if (computed !== this.storedBlockCrc) {
      throw corrupt(`block CRC mismatch (stored ${hex(this.storedBlockCrc)}, computed ${hex(computed)})`);
    }
    this.streamCrc = combineStreamCrc(this.streamCrc, computed);
    this.state = 'header';
  }
}

/** A larger block array holding the first `used` entries: at least `need`, doubling, at most `max`. */
function grownBlock(tt: Uint32Array, used: number, need: number, max: number): Uint32Array {
  const grown = new Uint32Array(Math.min(max, Math.max(need, tt.length * 2, 1 << 16)));
  grown.set(tt.subarray(0, used));
  return grown;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** Builds the decoding table for one set of code lengths; undefined for an over-subscribed code. */
function buildTable(lengths: Uint8Array, alphaSize: number): HuffmanTable | undefined {
  const countOfLength = new Int32Array(MAX_CODE_LENGTH + 2);
  let maxLength = 0;
  for (let v = 0; v < alphaSize; v++) {
    const l = lengths[v] as number;
    countOfLength[l] = (countOfLength[l] as number) + 1;
    if (l > maxLength) maxLength = l;
  }
  // Kraft: sum of 2^-len must not exceed 1, or two symbols would share a code.
  let kraft = 0;
  for (let l = 1; l <= MAX_CODE_LENGTH; l++)
    kraft += (countOfLength[l] as number) * 2 ** (MAX_CODE_LENGTH - l);
  if (kraft > 2 ** MAX_CODE_LENGTH) return undefined;

  const firstCode = new Int32Array(MAX_CODE_LENGTH + 2);
  const offsetOfLength = new Int32Array(MAX_CODE_LENGTH + 2);
  for (let l = 1, code = 0, offset = 0; l <= MAX_CODE_LENGTH; l++) {
    firstCode[l] = code;
    offsetOfLength[l] = offset;
    code = (code + (countOfLength[l] as number)) << 1;
    offset += countOfLength[l] as number;
  }
  const symbolsByCode = new Uint16Array(alphaSize);
  const fill = new Int32Array(MAX_CODE_LENGTH + 2);
  const fast = new Int32Array(1 << FAST_BITS);
  for (let v = 0; v < alphaSize; v++) {
    const l = lengths[v] as number;
    const rank = fill[l] as number;
    fill[l] = rank + 1;
    symbolsByCode[(offsetOfLength[l] as number) + rank] = v;
    if (l <= FAST_BITS) {
      const code = (firstCode[l] as number) + rank;
      const from = code << (FAST_BITS - l);
      const to = (code + 1) << (FAST_BITS - l);
      fast.fill((v << 5) | l, from, to);
    }
  }
  return { fast, maxLength, firstCode, countOfLength, offsetOfLength, symbolsByCode };
}

/** Decodes a whole in-memory bzip2 stream; `maxOutput` bounds the result. */
export async function bzip2Decompress(data: Uint8Array, opts: { maxOutput: number }): Promise<Uint8Array> {
  let at = 0;
  const reader = new Bzip2Reader(
    {
      async read(dst, offset, length) {
        const n = Math.min(length, data.length - at);
        dst.set(data.subarray(at, at + n), offset);
        at += n;
        return n;
      },
    },
    { maxOutput: opts.maxOutput },
  );
  const parts: Uint8Array[] = [];
  for (;;) {
    const chunk = new Uint8Array(1 << 20);
    const n = await reader.read(chunk, 0, chunk.length);
    if (n === 0) break;
    parts.push(chunk.subarray(0, n));
  }
  return Buffer.concat(parts);
}
