// The native format's adaptive model, the parts both sides use: the bit-coder interface, the number coder, the
// logistic tables and EntryModel, which codes control entries in diff and apply alike. Difference bytes are
// coded by DiffModel (src/diff/native/diff-model.ts) and decoded by the WebAssembly kernel.

/** Anything that turns probabilities into bits: apply's range decoder, diff's range encoder. */
export interface BitCoder {
  /**
   * Codes one bit whose probability of being 1 is p1 / 65536 (1 <= p1 <= 65535). The decoder ignores
   * `bit` and returns the decoded bit; the encoder writes `bit` and returns it.
   */
  bit(bit: number, p1: number): number;
}

/** Difference bytes are grouped in chunks; runs of all-zero chunks cost one coded number per run. */
export const CHUNK = 16;

/** How many recent diagonals a cover's old position can be coded against. */
const RECENT = 8;

/** Logistic tables of the mixers, also copied into the decoding kernel's memory. */
export const STRETCH = new Int16Array(4096);
export const SQUASH = new Uint16Array(4096);
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

/** An adaptive probability (16 bits) moved by 1/2^rate of the error after each bit. */
export function update(t: Uint16Array, i: number, bit: number, rate: number): void {
  const p = t[i] as number;
  t[i] = bit ? p + ((65536 - p) >> rate) : p - (p >> rate);
}

/** Adaptive Elias-gamma code for unsigned integers below 2^41, in one of `sets` context sets. */
export class NumberCoder {
  // [set][bit-length unary position] and [set][bit-length][mantissa bit index]
  readonly #unary: Uint16Array;
  readonly #mantissa: Uint16Array;

  // Both tables hold p XOR 32768, so a fresh all-zero array starts every probability at one half.
  constructor(sets: number) {
    this.#unary = new Uint16Array(sets * 64);
    this.#mantissa = new Uint16Array(sets * 64 * 64);
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
      const p = (this.#unary[i] as number) ^ 32768;
      const more = c.bit(n < nb ? 1 : 0, p);
      this.#unary[i] = (more ? p + ((65536 - p) >> 4) : p - (p >> 4)) ^ 32768;
      if (!more) break;
      n++;
      if (n > 41) return -1;
    }
    let r = 1;
    const m = (set * 64 + n) * 64;
    for (let k = n - 2; k >= 0; k--) {
      // top two mantissa bits adapt per length; lower ones per position only
      const i = m + (n - 2 - k < 2 ? n - 2 - k : 2 + k);
      const p = (this.#mantissa[i] as number) ^ 32768;
      const b = c.bit(Math.floor(x / 2 ** k) & 1, p);
      this.#mantissa[i] = (b ? p + ((65536 - p) >> 5) : p - (p >> 5)) ^ 32768;
      r = r * 2 + b;
    }
    return r - 1;
  }
}

export function bitLength(x: number): number {
  return x < 0x100000000 ? 32 - Math.clz32(x) : 32 + (32 - Math.clz32(Math.floor(x / 0x100000000)));
}

/**
 * Control entries of one segment: literal lengths and covers. Both sides call `codeLiteralLength` and
 * `codeCover` in patch order with the same arguments (decoding passes zeros for the values it does not know
 * yet), so every bit gets the same prediction.
 */
export class EntryModel {
  // Sets 0-7: literal lengths; 8-11: cover lengths; 12-19: diagonal residuals.
  readonly #numbers = new NumberCoder(20);
  readonly #flags = new Uint16Array(256).fill(32768);
  #prevLiteralBits = 0;
  readonly #recent = new Float64Array(RECENT);
  #prevPick = 0;
  #prevCoverBits = 0;
  #literalBits = 0;

  /** Codes the length of the literal run before the next cover (or before the end). -1: corrupt. */
  codeLiteralLength(c: BitCoder, literal: number): number {
    const lit = this.#numbers.code(c, literal, Math.min(this.#prevLiteralBits, 7));
    if (lit < 0) return -1;
    this.#literalBits = bitLength(lit + 1);
    this.#prevLiteralBits = this.#literalBits;
    return lit;
  }

  /**
   * Codes a cover's length (>= 1) and old position. The position is coded against one of the last
   * RECENT diagonals (old - new) as an index plus a residual: edits keep a diagonal or come back to one.
   * Decoding passes cover = 0, oldPos = 0 and reads `out`. False: corrupt.
   */
  codeCover(
    c: BitCoder,
    cover: number,
    oldPos: number,
    newPos: number,
    out: { cover: number; oldPos: number },
  ): boolean {
    const cov = this.#numbers.code(c, cover - 1, 8 + Math.min(this.#prevCoverBits >> 2, 3));
    if (cov < 0) return false;
    const recent = this.#recent;
    // Encoder: the candidate diagonal that leaves the cheapest residual.
    let pick = 0;
    if (cover > 0) {
      let bestCost = Number.POSITIVE_INFINITY;
      for (let k = 0; k < RECENT; k++) {
        const r = oldPos - newPos - (recent[k] as number);
        const cost = (r === 0 ? 1 : 2 * bitLength(Math.abs(r)) + 2) + (k === 0 ? 1 : 4);
        if (cost < bestCost) {
          bestCost = cost;
          pick = k;
        }
      }
    }
    const lb = Math.min(this.#literalBits, 15);
    const fk = lb * 2 + (this.#prevPick === 0 ? 0 : 1);
    const notFirst = c.bit(pick !== 0 ? 1 : 0, this.#flags[fk] as number);
    update(this.#flags, fk, notFirst, 4);
    let k = 0;
    if (notFirst) {
      // k - 1 in 0..6 as a 3-bit tree
      let node = 1;
      for (let bi = 2; bi >= 0; bi--) {
        const i = 64 + node * 2 + (this.#prevPick === 0 ? 0 : 1);
        const bit = c.bit(((pick - 1) >> bi) & 1, this.#flags[i] as number);
        update(this.#flags, i, bit, 4);
        node = node * 2 + bit;
      }
      k = (node & 7) + 1;
      if (k >= RECENT) return false;
    }
    const residual = oldPos - newPos - (recent[k] as number);
    const fz = 96 + lb * 2 + (k === 0 ? 0 : 1);
    const isZero = c.bit(residual === 0 ? 1 : 0, this.#flags[fz] as number);
    update(this.#flags, fz, isZero, 4);
    let r = 0;
    if (!isZero) {
      const fn = 128 + (k === 0 ? 0 : 1) * 16 + lb;
      const neg = c.bit(residual < 0 ? 1 : 0, this.#flags[fn] as number);
      update(this.#flags, fn, neg, 4);
      const set = 12 + neg * 2 + (k === 0 ? 0 : 1) + (this.#literalBits === 1 ? 4 : 0);
      const mag = this.#numbers.code(c, Math.abs(residual) - 1, set);
      if (mag < 0) return false;
      r = neg ? -(mag + 1) : mag + 1;
    }
    const diagonal = (recent[k] as number) + r;
    // Move the diagonal to the front of the recent list.
    let j = 0;
    while (j < RECENT - 1 && recent[j] !== diagonal) j++;
    for (; j > 0; j--) recent[j] = recent[j - 1] as number;
    recent[0] = diagonal;
    this.#prevPick = k;
    this.#prevCoverBits = bitLength(cov + 1);
    out.cover = cov + 1;
    out.oldPos = newPos + diagonal;
    return true;
  }
}
