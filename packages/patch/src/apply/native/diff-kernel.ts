// The WebAssembly decoder of difference bytes (built from assembly/diff-kernel.ts) and the buffers it works in.
import { readFileSync } from 'node:fs';
import { PatchError } from '../../errors.js';
import { SQUASH, STRETCH } from '../../format/model.js';
import type { RangeDecoder } from './range-decoder.js';

/** Where the build puts the module: the same path from src/apply/native (tests) and from dist/apply/native (the package). */
const WASM_URL = new URL('../../../wasm/diff-kernel.wasm', import.meta.url);

// The few WebAssembly types this file uses (the project's TypeScript libs do not declare the global).
interface WasmModule {
  readonly __brand: 'WebAssembly.Module';
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: object };
};

interface KernelExports {
  memory: { buffer: ArrayBuffer };
  tablesAt(): number;
  scratchStart(): number;
  reset(model: number): void;
  decodeDiff(
    old: number,
    out: number,
    n: number,
    frame: number,
    frameLength: number,
    range: number,
    code: number,
    pos: number,
  ): number;
  rangeAfter(): number;
  codeAfter(): number;
  posAfter(): number;
}

let compiled: WasmModule | undefined;

function kernelModule(): WasmModule {
  if (!compiled) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(WASM_URL);
    } catch (err) {
      throw new PatchError({
        code: 'IO_ERROR',
        message: `@tufup/patch is incomplete: cannot read its decoder ${WASM_URL.pathname} (a source checkout builds it with npm run build)`,
        cause: err,
      });
    }
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

/** Sizes of the buffers a decoding thread places in the kernel's memory. */
export interface KernelBuffers {
  frameBytes: number;
  windows: number;
  windowBytes: number;
  outputs: number;
  outputBytes: number;
}

/**
 * One decoding thread's kernel: its memory holds the model's tables and the thread's buffers (the frame being
 * decoded, the old-file windows, the output buffers), so difference bytes are decoded from the old bytes
 * into the output where they lie. Memory does not grow, so the views stay valid.
 */
export class DiffKernel {
  readonly frame: Uint8Array;
  readonly windows: Uint8Array[] = [];
  readonly outputs: Uint8Array[] = [];
  readonly #x: KernelExports;
  readonly #mem: ArrayBuffer;

  constructor(sizes: KernelBuffers) {
    const instance = new WebAssembly.Instance(kernelModule(), {
      env: {
        abort: () => {
          throw new Error('diff kernel aborted');
        },
      },
    });
    this.#x = instance.exports as unknown as KernelExports;
    this.#mem = this.#x.memory.buffer;
    const tables = this.#x.tablesAt();
    new Int16Array(this.#mem, tables, STRETCH.length).set(STRETCH);
    new Uint16Array(this.#mem, tables + STRETCH.byteLength, SQUASH.length).set(SQUASH);
    let at = this.#x.scratchStart();
    const take = (n: number) => {
      const view = new Uint8Array(this.#mem, at, n);
      at += n;
      return view;
    };
    const need =
      sizes.frameBytes + sizes.windows * sizes.windowBytes + sizes.outputs * sizes.outputBytes + at;
    if (need > this.#mem.byteLength) {
      throw new Error(`diff kernel memory holds ${this.#mem.byteLength} bytes; ${need} needed`);
    }
    this.frame = take(sizes.frameBytes);
    for (let i = 0; i < sizes.windows; i++) this.windows.push(take(sizes.windowBytes));
    for (let i = 0; i < sizes.outputs; i++) this.outputs.push(take(sizes.outputBytes));
  }

  /** A fresh model (2: compression ids 2 and 3; 3: id 4): call at the start of every segment. */
  reset(model: 2 | 3): void {
    this.#x.reset(model);
  }

  /**
   * Decodes n difference bytes from the frame `dec` reads (a view of `frame`), adding them to the old bytes
   * at old[oldAt..] and writing the new bytes to out[outAt..]; both views must lie in this kernel's memory.
   * False: the stream is corrupt.
   */
  decode(
    dec: RangeDecoder,
    old: Uint8Array,
    oldAt: number,
    out: Uint8Array,
    outAt: number,
    n: number,
  ): boolean {
    const x = this.#x;
    const frame = dec.buf;
    if (old.buffer !== this.#mem || out.buffer !== this.#mem || frame.buffer !== this.#mem) {
      throw new Error('diff kernel buffers must lie in its own memory');
    }
    if (oldAt + n > old.length || outAt + n > out.length)
      throw new Error('diff kernel call past its buffers');
    const status = x.decodeDiff(
      old.byteOffset + oldAt,
      out.byteOffset + outAt,
      n,
      frame.byteOffset,
      frame.length,
      dec.range,
      dec.code,
      Math.min(dec.pos, frame.length + 1),
    );
    dec.range = x.rangeAfter() >>> 0;
    dec.code = x.codeAfter() >>> 0;
    dec.pos = x.posAfter() >>> 0;
    return status === 0;
  }
}
