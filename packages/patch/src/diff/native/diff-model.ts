// The model of difference bytes as the encoder codes them: the normative definition of that part of the
// modelled stream. Apply decodes it with the WebAssembly kernel (assembly/diff-kernel.ts), which makes the
// same prediction for every bit.
import { type BitCoder, bitLength, CHUNK, NumberCoder, SQUASH, STRETCH } from '../../format/model.js';

/** Initial probabilities: a difference byte is usually zero; a value bit is a coin toss. */
const Z_INIT = 8192;
const V_INIT = 32768;
/**
 * A zero flag whose third context predicts "non-zero" below this (out of 65536, about 1.6 %) is coded with
 * that prediction alone: most flags are that sure, and mixing them gains little (2.5 % of their bytes on
 * the node pair) for most of the decoding work.
 */
const SURE_ZERO = 1024;

function squash(d: number): number {
  if (d > 2047) d = 2047;
  if (d < -2048) d = -2048;
  return SQUASH[d + 2048] as number;
}

function stretch(p16: number): number {
  return STRETCH[p16 >>> 4] as number;
}

/**
 * Difference bytes of one segment, as the encoder codes them (all covers of a segment form one stream). The
 * decoder is the kernel (assembly/diff-kernel.ts, loaded by src/apply/native/diff-kernel.ts); FORMAT.md describes the model in words.
 */
export class DiffModel {
  /**
   * Model 3 (compression id 4): a zero flag coded with the third context alone that comes out zero leaves
   * the first two contexts as they were. They then learn from the flags the mixer needs, and decoding such a
   * flag touches one table instead of three (node pair: 1,173,785 -> 1,171,611 B). Model 2 (ids 2 and 3)
   * updates all three after every flag.
   */
  readonly #sureZeroKeepsMixed: boolean;

  /** `model`: 3 for compression id 4, 2 for ids 2 and 3 (format/native.ts's modelOf). */
  constructor(model: 2 | 3 = 3) {
    this.#sureZeroKeepsMixed = model === 3;
  }

  // Sets 0-7: lengths of all-zero chunk runs.
  readonly #numbers = new NumberCoder(8);
  // Zero-flag models inside non-zero chunks, mixed in the logistic domain. Probability tables hold
  // p XOR their initial value, so a fresh (all-zero, lazily mapped) array starts at the initial value.
  readonly #z0 = new Uint16Array(1 << 12);
  readonly #z1 = new Uint16Array(1 << 16);
  readonly #z2 = new Uint16Array(1 << 16);
  readonly #zMix = new Int32Array(32 * 4).fill(19660);
  // The candidate value of a non-zero difference byte, by (old byte, last non-zero difference), with a
  // confidence of 0 (none yet) to 3, and the mixed model of the flag "the value is the candidate".
  readonly #candidate = new Uint8Array(1 << 16);
  readonly #confidence = new Uint8Array(1 << 16);
  readonly #h0 = new Uint16Array(32);
  readonly #h1 = new Uint16Array(1 << 16);
  readonly #hMix = new Int32Array(4 * 2 * 3).fill(32768);
  // Value model of the other non-zero difference bytes (a bit tree by the last non-zero difference).
  readonly #v = new Uint16Array(1 << 17);

  // Stream state: previous old bytes, previous difference, zeros since the last non-zero one.
  #o1 = 0;
  #o2 = 0;
  #d1 = 0;
  #lastNonzero = 0;
  #zeroRun = 0;
  /** Difference bytes coded so far (chunk boundaries are multiples of CHUNK). */
  #pos = 0;
  /** Bytes left in the current all-zero span, and in the current non-zero chunk. */
  #zeroLeft = 0;
  #nonzeroLeft = 0;
  /** Set after a zero span: the chunk after it is non-zero by construction. */
  #nonzeroNext = false;
  #prevRunBits = 0;

  /**
   * Codes the n difference bytes new[nPos + i] - old[oPos + i] of a cover. `zeroChunksAhead` tells how many
   * all-zero chunks start at a chunk index of the stream.
   */
  encode(
    c: BitCoder,
    old: Uint8Array,
    oPos: number,
    neu: Uint8Array,
    nPos: number,
    n: number,
    zeroChunksAhead: (chunk: number) => number,
  ): void {
    let i = 0;
    while (i < n) {
      if (this.#zeroLeft > 0) {
        const take = Math.min(n - i, this.#zeroLeft);
        this.#o2 = take > 1 ? (old[oPos + i + take - 2] as number) : this.#o1;
        this.#o1 = old[oPos + i + take - 1] as number;
        this.#zeroRun += take;
        this.#d1 = 0;
        this.#zeroLeft -= take;
        this.#pos += take;
        i += take;
      } else if (this.#nonzeroLeft > 0) {
        const take = Math.min(n - i, this.#nonzeroLeft);
        this.#nonzeroChunkBytes(c, old, oPos + i, neu, nPos + i, take);
        this.#nonzeroLeft -= take;
        this.#pos += take;
        i += take;
      } else if (this.#nonzeroNext) {
        this.#nonzeroNext = false;
        this.#nonzeroLeft = CHUNK;
      } else {
        // A chunk boundary after a non-zero chunk: how many all-zero chunks come next (0: none).
        const run = zeroChunksAhead(this.#pos / CHUNK);
        this.#numbers.code(c, run, Math.min(this.#prevRunBits >> 1, 7));
        this.#prevRunBits = bitLength(run + 1);
        if (run === 0) {
          this.#nonzeroLeft = CHUNK;
        } else {
          this.#zeroLeft = run * CHUNK;
          this.#nonzeroNext = true;
        }
      }
    }
  }

  #nonzeroChunkBytes(
    c: BitCoder,
    old: Uint8Array,
    oPos: number,
    neu: Uint8Array,
    nPos: number,
    n: number,
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
      const d = ((neu[nPos + k] as number) - o) & 255;
      const zr = Math.min(zeroRun, 15);
      const i0 = (o1 << 4) | zr;
      const i1 = Math.imul((o2 << 16) | (o1 << 8) | o, 0x9e3779b1) >>> 16;
      const i2 = (zr << 12) | ((d1 >> 4) << 8) | o;
      const p0 = (z0[i0] as number) ^ Z_INIT;
      const p1 = (z1[i1] as number) ^ Z_INIT;
      const p2 = (z2[i2] as number) ^ Z_INIT;
      let nz: number;
      let keepMixed = false;
      if (p2 < SURE_ZERO) {
        // The third context alone is sure enough of a zero: coded with it, no mixing.
        nz = c.bit(d !== 0 ? 1 : 0, Math.max(p2, 32));
        keepMixed = nz === 0 && this.#sureZeroKeepsMixed;
      } else {
        const s0 = stretch(p0);
        const s1 = stretch(p1);
        const s2 = stretch(p2);
        const m = (zr * 2 + (d1 !== 0 ? 1 : 0)) * 4;
        const w0 = zMix[m] as number;
        const w1 = zMix[m + 1] as number;
        const w2 = zMix[m + 2] as number;
        const w3 = zMix[m + 3] as number;
        // Summed exactly in doubles, truncated, then wrapped to 32 bits by `| 0` (the kernel does the same in i64).
        const p = squash(((w0 * s0 + w1 * s1 + w2 * s2 + w3 * 256) / 65536) | 0);
        nz = c.bit(d !== 0 ? 1 : 0, p);
        const err = (nz << 12) - (p >>> 4);
        zMix[m] = w0 + ((s0 * err) >> 10);
        zMix[m + 1] = w1 + ((s1 * err) >> 10);
        zMix[m + 2] = w2 + ((s2 * err) >> 10);
        zMix[m + 3] = w3 + ((256 * err) >> 10);
      }
      if (!keepMixed) {
        z0[i0] = (nz ? p0 + ((65536 - p0) >> 4) : p0 - (p0 >> 4)) ^ Z_INIT;
        z1[i1] = (nz ? p1 + ((65536 - p1) >> 4) : p1 - (p1 >> 4)) ^ Z_INIT;
      }
      z2[i2] = (nz ? p2 + ((65536 - p2) >> 4) : p2 - (p2 >> 4)) ^ Z_INIT;
      if (nz) {
        this.#codeValue(c, d, o, zr, d1);
        this.#lastNonzero = d;
        zeroRun = 0;
      } else {
        zeroRun++;
      }
      d1 = d;
      o2 = o1;
      o1 = o;
    }
    this.#o1 = o1;
    this.#o2 = o2;
    this.#d1 = d1;
    this.#zeroRun = zeroRun;
  }

  /**
   * A non-zero difference byte: first, when its context has a candidate, whether it is that candidate;
   * otherwise its 8 bits, high to low, as a binary tree.
   */
  #codeValue(c: BitCoder, d: number, o: number, zr: number, d1: number): void {
    const last = this.#lastNonzero;
    const slot = (o << 8) | last;
    const candidate = this.#candidate[slot] as number;
    const confidence = this.#confidence[slot] as number;
    let hit = 0;
    if (confidence > 0) {
      const h0 = this.#h0;
      const h1 = this.#h1;
      const hMix = this.#hMix;
      const i0 =
        (confidence << 3) | ((candidate === last ? 1 : 0) << 2) | (zr > 3 ? 2 : 0) | (d1 !== 0 ? 1 : 0);
      const i1 = (o << 8) | candidate;
      const p0 = (h0[i0] as number) ^ V_INIT;
      const p1 = (h1[i1] as number) ^ V_INIT;
      const s0 = stretch(p0);
      const s1 = stretch(p1);
      const m = (confidence * 2 + (zr > 3 ? 1 : 0)) * 3;
      const w0 = hMix[m] as number;
      const w1 = hMix[m + 1] as number;
      const w2 = hMix[m + 2] as number;
      const p = squash(((w0 * s0 + w1 * s1 + w2 * 256) / 65536) | 0);
      hit = c.bit(d === candidate ? 1 : 0, p);
      const err = (hit << 12) - (p >>> 4);
      hMix[m] = w0 + ((s0 * err) >> 10);
      hMix[m + 1] = w1 + ((s1 * err) >> 10);
      hMix[m + 2] = w2 + ((256 * err) >> 10);
      h0[i0] = (hit ? p0 + ((65536 - p0) >> 4) : p0 - (p0 >> 4)) ^ V_INIT;
      h1[i1] = (hit ? p1 + ((65536 - p1) >> 4) : p1 - (p1 >> 4)) ^ V_INIT;
    }
    if (!hit) this.#codeTree(c, d, zr);
    // The candidate follows the values seen in its context; a value seen again gains confidence.
    if (d === candidate) {
      if (confidence < 3) this.#confidence[slot] = confidence + 1;
    } else if (confidence > 1) {
      this.#confidence[slot] = confidence - 1;
    } else {
      this.#candidate[slot] = d;
      this.#confidence[slot] = 1;
    }
  }

  #codeTree(c: BitCoder, d: number, zr: number): void {
    const v = this.#v;
    // The tree node is the low byte of each index, so one byte's 8 lookups share a few cache lines.
    const h = ((this.#lastNonzero << 1) | (zr > 3 ? 1 : 0)) << 8;
    let node = 1;
    for (let bi = 7; bi >= 0; bi--) {
      const i = h | node;
      const p = (v[i] as number) ^ V_INIT;
      const bit = c.bit((d >> bi) & 1, p);
      v[i] = (bit ? p + ((65536 - p) >> 4) : p - (p >> 4)) ^ V_INIT;
      node = (node << 1) | bit;
    }
  }
}
