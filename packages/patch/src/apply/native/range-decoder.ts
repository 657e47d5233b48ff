// Binary range decoder for the native format's modelled stream (the encoder is src/diff/native/range-encoder.ts).
import type { BitCoder } from '../../format/model.js';

/**
 * Decodes bits from one frame's bytes. Reading past the end of the frame yields zero bytes (and moves `pos`
 * past the end), so a truncated or forged frame is caught when the frame is finished (`finishedExactly`).
 * The state is public so the difference-byte kernel (diff-kernel.ts) can carry it on.
 */
export class RangeDecoder implements BitCoder {
  readonly buf: Uint8Array;
  pos = 0;
  range = 0xffffffff;
  code = 0;

  constructor(frame: Uint8Array) {
    this.buf = frame;
    for (let i = 0; i < 4; i++) this.code = ((this.code << 8) | this.next()) >>> 0;
  }

  next(): number {
    const b = this.pos < this.buf.length ? (this.buf[this.pos] as number) : 0;
    this.pos++;
    return b;
  }

  bit(_bit: number, p1: number): number {
    const bound = (this.range >>> 16) * p1;
    let b: number;
    if (this.code < bound) {
      this.range = bound;
      b = 1;
    } else {
      this.code -= bound;
      this.range -= bound;
      b = 0;
    }
    while (this.range < 0x1000000) {
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.next()) >>> 0;
    }
    return b;
  }

  /** True when the frame was consumed exactly: no byte missing and none left over. */
  finishedExactly(): boolean {
    return this.pos === this.buf.length;
  }
}
