// The WebAssembly kernel decodes exactly what DiffModel encodes, however the stream is cut into calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiffKernel } from '../src/apply/native/diff-kernel.js';
import { RangeDecoder } from '../src/apply/native/range-decoder.js';
import { DiffModel } from '../src/diff/native/diff-model.js';
import { RangeEncoder } from '../src/diff/native/range-encoder.js';
import { CHUNK } from '../src/format/model.js';
import { seeded } from './native-support.js';

const PIECE = 1 << 16;

/** Old bytes with machine-code-like structure, and new bytes with sparse, repetitive differences. */
function relocated(n: number, rand: () => number): { old: Uint8Array; neu: Uint8Array } {
  const old = new Uint8Array(n);
  for (let i = 0; i < n; i++) old[i] = rand() < 0.1 ? 0xe8 : Math.floor(rand() * 256);
  const neu = old.slice();
  const deltas = [1, 2, 0x10, 0xf0, 0xfe, 0xe0, Math.floor(rand() * 256)];
  for (let i = 0; i < n - 5; i++) {
    // After a "call" opcode the next byte often moves by one of a few deltas; elsewhere, rare noise.
    if (old[i] === 0xe8 && rand() < 0.7)
      neu[i + 1] = ((old[i + 1] as number) + (deltas[i % 3] as number)) & 255;
    else if (rand() < 0.002) neu[i] = Math.floor(rand() * 256);
  }
  // Long stretches with no difference at all, so zero-chunk runs of every length appear.
  for (let at = Math.floor(n / 7); at < n; at += Math.max(1, Math.floor(n / 5))) {
    neu.set(old.subarray(at, Math.min(n, at + Math.floor(n / 9))), at);
  }
  return { old, neu };
}

function encode(old: Uint8Array, neu: Uint8Array, model: 2 | 3 = 3): Uint8Array {
  const chunks = Math.ceil(old.length / CHUNK);
  const nonzero = new Uint8Array(chunks);
  for (let i = 0; i < old.length; i++) if (old[i] !== neu[i]) nonzero[Math.floor(i / CHUNK)] = 1;
  const ahead = (c: number) => {
    let k = c;
    while (k < chunks && !nonzero[k]) k++;
    return k - c;
  };
  const enc = new RangeEncoder();
  const diffs = new DiffModel(model);
  for (let p = 0; p < old.length; p += PIECE)
    diffs.encode(enc, old, p, neu, p, Math.min(PIECE, old.length - p), ahead);
  return enc.finish();
}

/** Decodes with the kernel in calls of the sizes `cut` gives, through its own old and output buffers. */
function decode(
  kernel: DiffKernel,
  old: Uint8Array,
  body: Uint8Array,
  cut: () => number,
  model: 2 | 3 = 3,
): Uint8Array {
  kernel.reset(model);
  kernel.frame.set(body);
  const dec = new RangeDecoder(kernel.frame.subarray(0, body.length));
  const [window] = kernel.windows as [Uint8Array];
  const [outBuf] = kernel.outputs as [Uint8Array];
  const out = new Uint8Array(old.length);
  for (let p = 0; p < old.length; ) {
    const n = Math.min(cut(), old.length - p, window.length);
    window.set(old.subarray(p, p + n));
    assert.ok(kernel.decode(dec, window, 0, outBuf, 0, n), `decodes at ${p}`);
    out.set(outBuf.subarray(0, n), p);
    p += n;
  }
  assert.ok(dec.finishedExactly(), 'the frame is used up exactly');
  return out;
}

/** A kernel with one old-file window and `outputs` output buffers of `bufferBytes` each. */
function kernelWith(frameBytes: number, bufferBytes: number, outputs: number): DiffKernel {
  return new DiffKernel({
    frameBytes,
    windows: 1,
    windowBytes: bufferBytes,
    outputs,
    outputBytes: bufferBytes,
  });
}

for (const model of [3, 2] as const) {
  test(`the kernel rebuilds what DiffModel ${model} encodes, in calls of any size`, () => {
    const rand = seeded(31);
    const kernel = kernelWith(1 << 20, 1 << 18, 1);
    for (const n of [1, CHUNK - 1, CHUNK, CHUNK + 1, 5000, 300_000]) {
      const { old, neu } = relocated(n, rand);
      const body = encode(old, neu, model);
      for (const [name, cut] of [
        ['whole', () => 1 << 18],
        ['1 byte', () => 1],
        ['odd', () => 1 + Math.floor(rand() * 37)],
        ['chunk', () => CHUNK],
      ] as const) {
        if (n > 5000 && name === '1 byte') continue;
        const out = decode(kernel, old, body, cut, model);
        assert.ok(Buffer.from(out).equals(neu), `${n} bytes, calls: ${name}`);
      }
    }
  });
}

test('relocated code packs far below one byte per non-zero difference', () => {
  const rand = seeded(32);
  // Code whose call targets all moved by the same delta: the difference after each opcode repeats.
  const old = new Uint8Array(400_000);
  for (let i = 0; i < old.length; i++) old[i] = rand() < 0.1 ? 0xe8 : Math.floor(rand() * 256);
  const neu = old.slice();
  for (let i = 0; i + 1 < old.length; i++) {
    if (old[i] === 0xe8 && old[i + 1] !== 0xe8) neu[i + 1] = ((old[i + 1] as number) + 0x10) & 255;
  }
  let nonzero = 0;
  for (let i = 0; i < old.length; i++) if (old[i] !== neu[i]) nonzero++;
  const body = encode(old, neu);
  // Placing each difference still costs (random code), but its value, after the first few, almost nothing.
  assert.ok(body.length < nonzero * 0.5, `${body.length} bytes for ${nonzero} non-zero differences`);
});

test('a garbage frame makes the kernel fail or decode something, never read or write outside its buffers', () => {
  const rand = seeded(33);
  const kernel = kernelWith(1 << 16, 1 << 16, 2);
  const [window] = kernel.windows as [Uint8Array];
  const [outBuf, guard] = kernel.outputs as [Uint8Array, Uint8Array];
  window.fill(7);
  for (let round = 0; round < 200; round++) {
    guard.fill(0xa5);
    kernel.reset(round % 2 ? 2 : 3);
    const len = Math.floor(rand() * 64);
    for (let i = 0; i < len; i++) kernel.frame[i] = Math.floor(rand() * 256);
    const dec = new RangeDecoder(kernel.frame.subarray(0, len));
    const n = 1 + Math.floor(rand() * 4096);
    kernel.decode(dec, window, 0, outBuf, 0, n);
    assert.ok(dec.pos <= Math.max(len + 1, 4), 'the position stops one past the end of the frame');
    assert.ok(
      guard.every((b) => b === 0xa5),
      'the next buffer is untouched',
    );
  }
  assert.throws(() => kernel.decode(new RangeDecoder(kernel.frame), window, 0, outBuf, 1, outBuf.length));
  assert.throws(() => kernel.decode(new RangeDecoder(new Uint8Array(8)), window, 0, outBuf, 0, 1));
});
