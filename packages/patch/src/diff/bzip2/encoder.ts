// bzip2 encoder: run-length pass, BWT, move-to-front with zero-run coding, multi-table Huffman, bit packing.
import { PatchError } from '../../errors.js';
import { GROUP_SIZE, RUNA, RUNB } from '../../format/bzip2.js';
import { BZIP2_CRC_TABLE, combineStreamCrc } from '../../format/bzip2-crc.js';
import { bwtForward } from './bwt.js';
import { canonicalCodes, huffmanLengths } from './huffman.js';

export interface Bzip2EncoderOptions {
  /** Block size in units of 100,000 bytes, 1..9 (default 9, as `bzip2 -9`). */
  level?: number;
}

const MAX_TABLES = 6;
/** Decoders accept codes up to 20 bits; staying at 17 like bzip2 leaves headroom and costs nothing measurable. */
const MAX_CODE_LENGTH = 17;
const TABLE_REFINEMENTS = 4;

/** Appends bits most-significant first to a growable byte buffer. */
class BitWriter {
  bytes = new Uint8Array(1 << 16);
  length = 0;
  private bitBuf = 0;
  private bitCount = 0;

  ensure(extraBytes: number): void {
    if (this.length + extraBytes + 8 <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + extraBytes + 8) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** Writes the low `n` bits of `value`, n <= 24. */
  bits(n: number, value: number): void {
    this.bitBuf = (this.bitBuf << n) | (value & ((1 << n) - 1));
    this.bitCount += n;
    while (this.bitCount >= 8) {
      this.bitCount -= 8;
      this.bytes[this.length++] = this.bitBuf >>> this.bitCount;
    }
    this.bitBuf &= (1 << this.bitCount) - 1;
  }

  u32(value: number): void {
    this.bits(16, value >>> 16);
    this.bits(16, value & 0xffff);
  }

  /** Pads the last partial byte with zero bits. */
  flushBits(): void {
    if (this.bitCount > 0) this.bits(8 - this.bitCount, 0);
  }

  /** The whole bytes written so far; the partial byte stays for later. */
  take(): Uint8Array {
    const out = this.bytes.slice(0, this.length);
    this.length = 0;
    return out;
  }
}

/**
 * Incremental bzip2 compressor. Feed it with `push`, end with `finish`; each returns the compressed bytes
 * that became ready (a whole block at a time). Output decodes with any bzip2 1.x decoder.
 */
export class Bzip2Encoder {
  readonly level: number;
  private readonly blockMax: number;
  private readonly block: Uint8Array;
  private nblock = 0;
  private runByte = -1;
  private runLength = 0;
  private blockCrc = 0xffffffff;
  private streamCrc = 0;
  private readonly out = new BitWriter();
  private finished = false;
  private lastColumn: Uint8Array | undefined;
  private mtfSymbols: Uint16Array | undefined;

  constructor(opts: Bzip2EncoderOptions = {}) {
    const level = opts.level ?? 9;
    if (!Number.isInteger(level) || level < 1 || level > 9) {
      throw new PatchError({ code: 'INVALID_ARGUMENT', message: `bzip2 level must be 1..9, got ${level}` });
    }
    this.level = level;
    // A run flush adds at most 5 bytes, so a block never exceeds level * 100000 (the decoders' limit).
    this.blockMax = level * 100000 - 19;
    this.block = new Uint8Array(level * 100000);
    this.out.bits(8, 0x42);
    this.out.bits(8, 0x5a);
    this.out.bits(8, 0x68);
    this.out.bits(8, 0x30 + level);
  }

  /** Compresses `data`; returns the compressed bytes completed so far (possibly none). */
  push(data: Uint8Array): Uint8Array[] {
    if (this.finished)
      throw new PatchError({ code: 'INVALID_ARGUMENT', message: 'bzip2 encoder already finished' });
    const ready: Uint8Array[] = [];
    let runByte = this.runByte;
    let runLength = this.runLength;
    for (let i = 0; i < data.length; i++) {
      const b = data[i] as number;
      if (b === runByte && runLength < 255) {
        runLength++;
        continue;
      }
      if (runLength > 0) {
        this.addRun(runByte, runLength);
        if (this.nblock >= this.blockMax) ready.push(this.compressBlock());
      }
      runByte = b;
      runLength = 1;
    }
    this.runByte = runByte;
    this.runLength = runLength;
    if (this.out.length > 0) ready.push(this.out.take());
    return ready;
  }

  /** Flushes the last block and writes the end-of-stream marker and stream CRC. */
  finish(): Uint8Array[] {
    if (this.finished) return [];
    const ready: Uint8Array[] = [];
    if (this.runLength > 0) {
      this.addRun(this.runByte, this.runLength);
      this.runLength = 0;
      this.runByte = -1;
    }
    if (this.nblock > 0) ready.push(this.compressBlock());
    const w = this.out;
    w.ensure(16);
    w.bits(24, 0x177245);
    w.bits(24, 0x385090);
    w.u32(this.streamCrc);
    w.flushBits();
    ready.push(w.take());
    this.finished = true;
    return ready;
  }

  private addRun(byte: number, count: number): void {
    const t = BZIP2_CRC_TABLE;
    let crc = this.blockCrc;
    for (let k = 0; k < count; k++) crc = (crc << 8) ^ (t[(crc >>> 24) ^ byte] as number);
    this.blockCrc = crc;
    const block = this.block;
    let n = this.nblock;
    const copies = Math.min(count, 4);
    for (let k = 0; k < copies; k++) block[n++] = byte;
    if (count >= 4) block[n++] = count - 4;
    this.nblock = n;
  }

  /** Encodes the current block into the bit writer and returns all whole bytes written. */
  private compressBlock(): Uint8Array {
    const n = this.nblock;
    const blockCrc = ~this.blockCrc >>> 0;
    this.streamCrc = combineStreamCrc(this.streamCrc, blockCrc);

    if (!this.lastColumn) this.lastColumn = new Uint8Array(this.block.length);
    const last = this.lastColumn;
    const origPtr = bwtForward(this.block, n, last);

    // Symbol map: only bytes present in the block get MTF positions.
    const inUse = new Uint8Array(256);
    for (let i = 0; i < n; i++) inUse[last[i] as number] = 1;
    const unseqToSeq = new Uint8Array(256);
    let nInUse = 0;
    for (let c = 0; c < 256; c++) if (inUse[c]) unseqToSeq[c] = nInUse++;
    const alphaSize = nInUse + 2;
    const eob = nInUse + 1;

    if (!this.mtfSymbols) this.mtfSymbols = new Uint16Array(this.block.length + 1);
    const mtfv = this.mtfSymbols;
    const freq = new Int32Array(alphaSize);
    const nMtf = moveToFrontWithZeroRuns(last, n, unseqToSeq, nInUse, mtfv, freq);
    mtfv[nMtf] = eob;
    freq[eob] = (freq[eob] as number) + 1;
    const nSymbols = nMtf + 1;

    const { nGroups, lengths, selectors, nSelectors } = chooseTables(mtfv, nSymbols, freq, alphaSize);

    const w = this.out;
    w.ensure(Math.ceil((nSymbols * MAX_CODE_LENGTH) / 8) + nSelectors + MAX_TABLES * alphaSize * 5 + 128);
    w.bits(24, 0x314159);
    w.bits(24, 0x265359);
    w.u32(blockCrc);
    w.bits(1, 0);
    w.bits(24, origPtr);

    let used16 = 0;
    for (let hi = 0; hi < 16; hi++) {
      for (let lo = 0; lo < 16; lo++) {
        if (inUse[hi * 16 + lo]) {
          used16 |= 0x8000 >>> hi;
          break;
        }
      }
    }
    w.bits(16, used16);
    for (let hi = 0; hi < 16; hi++) {
      if (!(used16 & (0x8000 >>> hi))) continue;
      let bits = 0;
      for (let lo = 0; lo < 16; lo++) if (inUse[hi * 16 + lo]) bits |= 0x8000 >>> lo;
      w.bits(16, bits);
    }

    w.bits(3, nGroups);
    w.bits(15, nSelectors);
    const order = [0, 1, 2, 3, 4, 5];
    for (let s = 0; s < nSelectors; s++) {
      const sel = selectors[s] as number;
      let j = 0;
      while (order[j] !== sel) j++;
      for (let k = j; k > 0; k--) order[k] = order[k - 1] as number;
      order[0] = sel;
      for (let k = 0; k < j; k++) w.bits(1, 1);
      w.bits(1, 0);
    }

    const codes: Int32Array[] = [];
    for (let t = 0; t < nGroups; t++) {
      const len = lengths[t] as Uint8Array;
      let cur = len[0] as number;
      w.bits(5, cur);
      for (let v = 0; v < alphaSize; v++) {
        const target = len[v] as number;
        while (cur < target) {
          w.bits(2, 2);
          cur++;
        }
        while (cur > target) {
          w.bits(2, 3);
          cur--;
        }
        w.bits(1, 0);
      }
      const code = new Int32Array(alphaSize);
      canonicalCodes(len, alphaSize, code);
      codes.push(code);
    }

    for (let s = 0, pos = 0; s < nSelectors; s++) {
      const t = selectors[s] as number;
      const len = lengths[t] as Uint8Array;
      const code = codes[t] as Int32Array;
      const end = Math.min(pos + GROUP_SIZE, nSymbols);
      for (; pos < end; pos++) {
        const sym = mtfv[pos] as number;
        w.bits(len[sym] as number, code[sym] as number);
      }
    }

    this.nblock = 0;
    this.blockCrc = 0xffffffff;
    return w.take();
  }
}

/**
 * Move-to-front over the block's symbol indices; runs of zeros (repeats of the front symbol) become
 * RUNA/RUNB digits of the run length in bijective base 2; other positions j become j+1.
 */
function moveToFrontWithZeroRuns(
  last: Uint8Array,
  n: number,
  unseqToSeq: Uint8Array,
  nInUse: number,
  out: Uint16Array,
  freq: Int32Array,
): number {
  const order = new Uint8Array(256);
  for (let i = 0; i < nInUse; i++) order[i] = i;
  let k = 0;
  let zeros = 0;
  const flushZeros = () => {
    let z = zeros - 1;
    for (;;) {
      const sym = z & 1 ? RUNB : RUNA;
      out[k++] = sym;
      freq[sym] = (freq[sym] as number) + 1;
      if (z < 2) break;
      z = (z - 2) >> 1;
    }
    zeros = 0;
  };
  for (let i = 0; i < n; i++) {
    const s = unseqToSeq[last[i] as number] as number;
    if (order[0] === s) {
      zeros++;
      continue;
    }
    if (zeros > 0) flushZeros();
    let j = 1;
    let prev = order[0] as number;
    order[0] = s;
    while (true) {
      const cur = order[j] as number;
      order[j] = prev;
      if (cur === s) break;
      prev = cur;
      j++;
    }
    out[k++] = j + 1;
    freq[j + 1] = (freq[j + 1] as number) + 1;
  }
  if (zeros > 0) flushZeros();
  return k;
}

/**
 * Picks the Huffman tables and, per 50-symbol group, which table codes it. Starts from tables that each
 * favour one slice of the alphabet (by frequency mass), then alternates: give each group its cheapest
 * table, rebuild each table from the groups it got.
 */
function chooseTables(mtfv: Uint16Array, nSymbols: number, freq: Int32Array, alphaSize: number) {
  const nGroups = nSymbols < 200 ? 2 : nSymbols < 600 ? 3 : nSymbols < 1200 ? 4 : nSymbols < 2400 ? 5 : 6;
  const nSelectors = Math.ceil(nSymbols / GROUP_SIZE);
  const lengths: Uint8Array[] = [];
  for (let t = 0; t < nGroups; t++) lengths.push(new Uint8Array(alphaSize));

  let remaining = nSymbols;
  let start = 0;
  for (let t = 0; t < nGroups; t++) {
    const share = remaining / (nGroups - t);
    let end = start;
    let mass = 0;
    while (end < alphaSize && (mass < share || end === start)) mass += freq[end++] as number;
    if (t === nGroups - 1) end = alphaSize;
    const len = lengths[t] as Uint8Array;
    for (let v = 0; v < alphaSize; v++) len[v] = v >= start && v < end ? 1 : 15;
    start = Math.min(end, alphaSize - 1);
    remaining -= mass;
  }

  const selectors = new Uint8Array(nSelectors);
  const tableFreq: Int32Array[] = [];
  for (let t = 0; t < nGroups; t++) tableFreq.push(new Int32Array(alphaSize));
  // Code lengths are <= 17, so a 50-symbol group costs < 1024 bits per table: three tables' costs fit in
  // one 32-bit sum (10 bits each) and a group's six costs take two additions per symbol.
  const packedLow = new Int32Array(alphaSize);
  const packedHigh = new Int32Array(alphaSize);
  const cost = new Int32Array(MAX_TABLES);
  for (let iter = 0; iter < TABLE_REFINEMENTS; iter++) {
    for (let v = 0; v < alphaSize; v++) {
      const len = (t: number) => (t < nGroups ? ((lengths[t] as Uint8Array)[v] as number) : 0);
      packedLow[v] = len(0) | (len(1) << 10) | (len(2) << 20);
      packedHigh[v] = len(3) | (len(4) << 10) | (len(5) << 20);
    }
    for (const f of tableFreq) f.fill(0);
    for (let s = 0, pos = 0; s < nSelectors; s++) {
      const end = Math.min(pos + GROUP_SIZE, nSymbols);
      let low = 0;
      let high = 0;
      for (let i = pos; i < end; i++) {
        const sym = mtfv[i] as number;
        low += packedLow[sym] as number;
        high += packedHigh[sym] as number;
      }
      cost[0] = low & 0x3ff;
      cost[1] = (low >>> 10) & 0x3ff;
      cost[2] = (low >>> 20) & 0x3ff;
      cost[3] = high & 0x3ff;
      cost[4] = (high >>> 10) & 0x3ff;
      cost[5] = (high >>> 20) & 0x3ff;
      let best = 0;
      for (let t = 1; t < nGroups; t++) if ((cost[t] as number) < (cost[best] as number)) best = t;
      selectors[s] = best;
      const f = tableFreq[best] as Int32Array;
      for (let i = pos; i < end; i++) f[mtfv[i] as number] = (f[mtfv[i] as number] as number) + 1;
      pos = end;
    }
    for (let t = 0; t < nGroups; t++) {
      huffmanLengths(tableFreq[t] as Int32Array, alphaSize, MAX_CODE_LENGTH, lengths[t] as Uint8Array);
    }
  }
  return { nGroups, lengths, selectors, nSelectors };
}

/** Compresses a whole buffer in one call. */
export function bzip2Compress(data: Uint8Array, opts: Bzip2EncoderOptions = {}): Uint8Array {
  const enc = new Bzip2Encoder(opts);
  const parts = [...enc.push(data), ...enc.finish()];
  return Buffer.concat(parts);
}
