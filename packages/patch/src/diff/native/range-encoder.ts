// Binary range encoder, the exact inverse of src/apply/native/range-decoder.ts.
import type { BitCoder } from '../../format/model.js';

export class RangeEncoder implements BitCoder {
  #out: Uint8Array = new Uint8Array(1 << 16);
  #len = 0;
  // low is kept below 2^32 plus a possible carry, so it stays an exact double.
  #low = 0;
  #range = 0xffffffff;
  #cache = 0;
  #cacheSize = 1;

  bit(bit: number, p1: number): number {
    const bound = (this.#range >>> 16) * p1;
    if (bit) {
      this.#range = bound;
    } else {
      this.#low += bound;
      this.#range -= bound;
    }
    while (this.#range < 0x1000000) {
      this.#range = (this.#range << 8) >>> 0;
      this.#shiftLow();
    }
    return bit;
  }

  #shiftLow(): void {
    const low = this.#low;
    if (low < 0xff000000 || low >= 0x100000000) {
      const carry = low >= 0x100000000 ? 1 : 0;
      let c = this.#cache;
      do {
        this.#push((c + carry) & 0xff);
        c = 0xff;
      } while (--this.#cacheSize !== 0);
      this.#cache = (low >>> 24) & 0xff;
    }
    this.#cacheSize++;
    this.#low = (low & 0x00ffffff) * 256;
  }

  #push(byte: number): void {
    if (this.#len === this.#out.length) {
      const bigger = new Uint8Array(this.#out.length * 2);
      bigger.set(this.#out);
      this.#out = bigger;
    }
    this.#out[this.#len++] = byte;
  }

  /** Bytes written so far (an underestimate by at most a few bytes until `finish`). */
  get length(): number {
    return this.#len + this.#cacheSize;
  }

  /** Flushes and returns the frame's bytes; the encoder is reset for a new frame. */
  finish(): Uint8Array {
    for (let i = 0; i < 5; i++) this.#shiftLow();
    // The first byte out is always the initial cache (0): the decoder's 4-byte start skips it implicitly.
    const bytes = this.#out.slice(1, this.#len);
    this.#len = 0;
    this.#low = 0;
    this.#range = 0xffffffff;
    this.#cache = 0;
    this.#cacheSize = 1;
    return bytes;
  }
}
