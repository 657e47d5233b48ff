// The adaptive model of the native format's modelled stream: control entries and difference bytes.
// Shared by the decoder (apply) and the encoder (diff), so both sides make the same prediction for every bit.
import type { BitCoder } from './range-decoder.js';

/** Difference bytes are grouped in chunks; runs of all-zero chunks cost one coded number per run. */
export const CHUNK = 16;

const STRETCH = new Int16Array(4096);
const SQUASH = new Uint16Array(4096);
for (let i = 0; i < 4096; i++) {
  // squash: log-odds d in [-2048, 2047] (8 fractional bits) -> P(1) in 16 bits, kept away from 0 and 1.
  const d = (i - 2048) / 256;
  const p = Math.round(65536 / (1 + Math.exp(-d)));
  SQUASH[i] = Math.min(65535 - 31, Math.max(32, p));
}
for (let i = 0; i < 4096; i++) {
  // stretch: inverse of squash on a 12-bit probability grid.
  const p = (i + 0.5) / 4096;
  const d = Math.round(Math.log(p / (1 - p)) * 256);
  STRETCH[i] = Math.max(-2047, Math.min(2047, d));
}

function squash(d: number): number {
  if (d > 2047) d = 2047;
  if (d < -2048) d = -2048;
  return SQUASH[d + 2048] as number;
}

function stretch(p16: number): number {
  return STRETCH[p16 >>> 4] as number;
}

/** An adaptive probability (16 bits) moved by 1/2^rate of the error after each bit. */
function update(t: Uint16Array, i: number, bit: number, rate: number): void {
  const p = t[i] as number;
  t[i] = bit ? p + ((65536 - p) >> rate) : p - (p >> rate);
}

/** Adaptive Elias-gamma code for unsigned integers below 2^40, in context set `set` of `tables`. */
class NumberCoder {
  // [set][bit-length unary position] and [set][bit-length][mantissa bit index]
  readonly #unary: Uint16Array;
  readonly #mantissa: Uint16Array;

  constructor(sets: number) {
    this.#unary = new Uint16Array(sets * 64).fill(32768);
    this.#mantissa = new Uint16Array(sets * 64 * 64).fill(32768);
  }

  /** Codes v (0 <= v < 2^40). Decoding: pass v = 0 and use the result. */
  code(c: BitCoder, v: number, set: number): number {
    const x = v + 1;
    const nb = bitLength(x); // 1..41
    let n = 1;
    const u = set * 64;
    // unary: one "more" bit per extra bit of length
    for (;;) {
      const i = u + n;
      const more = c.bit(n < nb ? 1 : 0, this.#unary[i] as number);
      update(this.#unary, i, more, 4);
      if (!more) break;
      n++;
      if (n > 41) return -1;
    }
    let r = 1;
    const m = (set * 64 + n) * 64;
    for (let k = n - 2; k >= 0; k--) {
      // top two mantissa bits adapt per length; lower ones per position only
      const i = m + (n - 2 - k < 2 ? n - 2 - k : 2 + k);
      const b = c.bit(Math.floor(x / 2 ** k) & 1, this.#mantissa[i] as number);
      update(this.#mantissa, i, b, 5);
      r = r * 2 + b;
    }
    return r - 1;
  }
}

function bitLength(x: number): number {
  return x < 0x100000000 ? 32 - Math.clz32(x) : 32 + (32 - Math.clz32(Math.floor(x / 0x100000000)));
}

/**
 * The model state for one patch. Both sides call `codeLiteralLength`, `codeCover` and `codeDiff` in patch
 * order with the same arguments (decoding passes zeros for the values it does not know yet), so every bit
 * gets the same prediction. Tables total about 22 MB, allocated once per patch.
 */
export class PatchModel {
  readonly #numbers = new NumberCoder(24);
  readonly #flags = new Uint16Array(64).fill(32768);
  #prevLiteralBits = 0;
  #prevCoverBits = 0;
  #literalBits = 0;

  // Zero-flag models inside non-zero chunks, mixed in the logistic domain.
  readonly #z0 = new Uint16Array(1 << 16).fill(8192);
  readonly #z1 = new Uint16Array(1 << 20).fill(8192);
  readonly #z2 = new Uint16Array(1 << 20).fill(8192);
  readonly #zMix = new Int32Array(32 * 4).fill(19660);
  // Value models of non-zero difference bytes (bit trees), mixed.
  readonly #v0 = new Uint16Array(1 << 20).fill(32768);
  readonly #v1 = new Uint16Array(1 << 22).fill(32768);
  readonly #vMix = new Int32Array(8 * 3).fill(32768);

  // Difference-stream state: previous old bytes, previous difference, zeros since the last non-zero one.
  #o1 = 0;
  #o2 = 0;
  #d1 = 0;
  #lastNonzero = 0;
  #zeroRun = 0;
  /** Index of the current chunk in the whole difference stream, bytes left in it, and its kind. */
  #chunk = -1;
  #chunkLeft = 0;
  #chunkNonzero = false;
  /** Zero chunks still to come before the next non-zero chunk; whether the chunk after them is non-zero. */
  #zeroChunks = 0;
  #nonzeroNext = false;
  #prevRunBits = 0;

  /** Codes the length of the literal run before the next cover (or before the end). -1: corrupt. */
  codeLiteralLength(c: BitCoder, literal: number): number {
    const lit = this.#numbers.code(c, literal, Math.min(this.#prevLiteralBits, 7));
    if (lit < 0) return -1;
    this.#literalBits = bitLength(lit + 1);
    this.#prevLiteralBits = this.#literalBits;
    return lit;
  }

  /**
   * Codes a cover's length (>= 1) and diagonal shift: oldPos - (previous cover's old end + literal length),
   * which is 0 when an edit replaced as many bytes as it inserted. False: corrupt.
   */
  codeCover(c: BitCoder, cover: number, shift: number, out: { cover: number; shift: number }): boolean {
    const cov = this.#numbers.code(c, cover - 1, 8 + Math.min(this.#prevCoverBits >> 2, 3));
    if (cov < 0) return false;
    const lb = Math.min(this.#literalBits, 15);
    const fz = lb * 2 + (this.#prevCoverBits > 8 ? 1 : 0);
    const isZero = c.bit(shift === 0 ? 1 : 0, this.#flags[fz] as number);
    update(this.#flags, fz, isZero, 4);
    let s = 0;
    if (!isZero) {
      const fn = 32 + lb;
      const neg = c.bit(shift < 0 ? 1 : 0, this.#flags[fn] as number);
      update(this.#flags, fn, neg, 4);
      const mag = this.#numbers.code(c, Math.abs(shift) - 1, 12 + neg + (this.#literalBits === 1 ? 2 : 0));
      if (mag < 0) return false;
      s = neg ? -(mag + 1) : mag + 1;
    }
    this.#prevCoverBits = bitLength(cov + 1);
    out.cover = cov + 1;
    out.shift = s;
    return true;
  }

  /**
   * Codes n difference bytes of a cover. Encoding: buf[bPos..] holds the new bytes and `zeroChunksAhead`
   * tells how many all-zero chunks start at a chunk index. Decoding: buf[bPos..] receives the new bytes
   * (old + difference). old[oPos..oPos+n) are the old bytes under the cover. False: corrupt.
   */
  codeDiff(
    c: BitCoder,
    old: Uint8Array,
    oPos: number,
    buf: Uint8Array,
    bPos: number,
    n: number,
    zeroChunksAhead: ((chunk: number) => number) | undefined,
  ): boolean {
    const decoding = zeroChunksAhead === undefined;
    let i = 0;
    while (i < n) {
      if (this.#chunkLeft === 0 && !this.#startChunk(c, zeroChunksAhead)) return false;
      const take = Math.min(n - i, this.#chunkLeft);
      if (!this.#chunkNonzero) {
        if (decoding) buf.set(old.subarray(oPos + i, oPos + i + take), bPos + i);
        this.#o2 = take > 1 ? (old[oPos + i + take - 2] as number) : this.#o1;
        this.#o1 = old[oPos + i + take - 1] as number;
        this.#zeroRun += take;
        this.#d1 = 0;
      } else {
        this.#codeNonzeroChunkBytes(c, old, oPos + i, buf, bPos + i, take, decoding);
      }
      this.#chunkLeft -= take;
      i += take;
    }
    return true;
  }

  #startChunk(c: BitCoder, zeroChunksAhead: ((chunk: number) => number) | undefined): boolean {
    this.#chunk++;
    this.#chunkLeft = CHUNK;
    if (this.#zeroChunks > 0) {
      this.#zeroChunks--;
      this.#chunkNonzero = false;
      return true;
    }
    if (this.#nonzeroNext) {
      this.#nonzeroNext = false;
      this.#chunkNonzero = true;
      return true;
    }
    const ahead = zeroChunksAhead ? zeroChunksAhead(this.#chunk) : 0;
    const run = this.#numbers.code(c, ahead, 16 + Math.min(this.#prevRunBits >> 1, 7));
    if (run < 0) return false;
    this.#prevRunBits = bitLength(run + 1);
    if (run === 0) {
      this.#chunkNonzero = true;
    } else {
      this.#chunkNonzero = false;
      this.#zeroChunks = run - 1;
      this.#nonzeroNext = true;
    }
    return true;
  }

  #codeNonzeroChunkBytes(
    c: BitCoder,
    old: Uint8Array,
    oPos: number,
    buf: Uint8Array,
    bPos: number,
    n: number,
    decoding: boolean,
  ): void {
    const z0 = this.#z0;
    const z1 = this.#z1;
    const z2 = this.#z2;
    const zMix = this.#zMix;
    let o1 = this.#o1;
    let o2 = this.#o2;
    let d1 = this.#d1;
    let zeroRun = this.#zeroRun;
    for (let k = 0; k < n; k++) {
      const o = old[oPos + k] as number;
      const d = decoding ? 0 : ((buf[bPos + k] as number) - o) & 255;
      const zr = Math.min(zeroRun, 15);
      const i0 = (o1 << 4) | zr;
      const i1 = Math.imul((o2 << 16) | (o1 << 8) | o, 0x9e3779b1) >>> 12;
      const i2 = (zr << 16) | (d1 << 8) | o;
      const s0 = stretch(z0[i0] as number);
      const s1 = stretch(z1[i1] as number);
      const s2 = stretch(z2[i2] as number);
      const m = (zr * 2 + (d1 !== 0 ? 1 : 0)) * 4;
      const w0 = zMix[m] as number;
      const w1 = zMix[m + 1] as number;
      const w2 = zMix[m + 2] as number;
      const w3 = zMix[m + 3] as number;
      const dot = (w0 * s0 + w1 * s1 + w2 * s2 + w3 * 256) / 65536;
      const p = squash(dot | 0);
      const nz = c.bit(d !== 0 ? 1 : 0, p);
      const err = (nz << 12) - (p >>> 4);
      zMix[m] = w0 + ((s0 * err) >> 10);
      zMix[m + 1] = w1 + ((s1 * err) >> 10);
      zMix[m + 2] = w2 + ((s2 * err) >> 10);
      zMix[m + 3] = w3 + ((256 * err) >> 10);
      update(z0, i0, nz, 4);
      update(z1, i1, nz, 4);
      update(z2, i2, nz, 4);
      let value = 0;
      if (nz) {
        value = this.#codeValue(c, d, o, o1, zr);
        this.#lastNonzero = value;
        zeroRun = 0;
      } else {
        zeroRun++;
      }
      if (decoding) buf[bPos + k] = (o + value) & 255;
      d1 = value;
      o2 = o1;
      o1 = o;
    }
    this.#o1 = o1;
    this.#o2 = o2;
    this.#d1 = d1;
    this.#zeroRun = zeroRun;
  }

  #codeValue(c: BitCoder, d: number, o: number, o1: number, zr: number): number {
    const v0 = this.#v0;
    const v1 = this.#v1;
    const vMix = this.#vMix;
    // The tree node is the low byte of each index, so one byte's 8 lookups share a few cache lines.
    const h0 = ((this.#lastNonzero << 4) | zr) << 8;
    const h1 = ((o << 6) | (o1 >> 2)) << 8;
    let node = 1;
    for (let bi = 7; bi >= 0; bi--) {
      const i0 = h0 | node;
      const i1 = h1 | node;
      const s0 = stretch(v0[i0] as number);
      const s1 = stretch(v1[i1] as number);
      const m = bi * 3;
      const w0 = vMix[m] as number;
      const w1 = vMix[m + 1] as number;
      const w2 = vMix[m + 2] as number;
      const p = squash(((w0 * s0 + w1 * s1 + w2 * 256) / 65536) | 0);
      const bit = c.bit((d >> bi) & 1, p);
      const err = (bit << 12) - (p >>> 4);
      vMix[m] = w0 + ((s0 * err) >> 11);
      vMix[m + 1] = w1 + ((s1 * err) >> 11);
      vMix[m + 2] = w2 + ((256 * err) >> 11);
      update(v0, i0, bit, 4);
      update(v1, i1, bit, 4);
      node = (node << 1) | bit;
    }
    return node & 255;
  }
}
