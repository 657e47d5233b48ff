// Test helpers for the native format: seeded data, edited copies, hand-made (hostile) patches, checks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { PatchModel } from '../src/apply/model.js';
import {
  COMPRESSION_MODEL1_BROTLI,
  encodeHeader,
  NATIVE_VERSION,
  type NativeHeader,
} from '../src/apply/native-format.js';
import { PatchError, type PatchErrorCode } from '../src/errors.js';
import { RangeEncoder } from '../src/native/range-encoder.js';
import { brotliCompressSync } from 'node:zlib';

/** xorshift32: the same bytes on every run for a seed. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

export function randomBytes(n: number, rand: () => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

/** Text-like bytes (words from a small vocabulary), so matches and literals look like real files. */
export function wordy(n: number, rand: () => number): Uint8Array {
  const words = ['return', 'const ', 'function', '(x)', ' => ', '{', '}', ';\n', 'value', 'patch', '0x7f'];
  const out = new Uint8Array(n);
  for (let i = 0; i < n; ) {
    const w = words[(rand() * words.length) | 0] as string;
    for (let k = 0; k < w.length && i < n; k++) out[i++] = w.charCodeAt(k);
  }
  return out;
}

/** A copy of `src` with byte flips, insertions, deletions and a moved block: a typical new version. */
export function editedCopy(src: Uint8Array, rand: () => number, edits = 20): Uint8Array {
  let cur = Array.from(src);
  for (let e = 0; e < edits; e++) {
    const at = (rand() * cur.length) | 0;
    const kind = (rand() * 5) | 0;
    if (kind === 0) cur[at] = ((cur[at] ?? 0) + 1 + ((rand() * 254) | 0)) & 255;
    else if (kind === 1) cur.splice(at, 0, ...randomBytes(1 + ((rand() * 40) | 0), rand));
    else if (kind === 2) cur.splice(at, 1 + ((rand() * 40) | 0));
    else if (kind === 3) {
      // relocation-like: add a constant to every 4th byte of a stretch
      const delta = 1 + ((rand() * 200) | 0);
      for (let k = at; k < Math.min(cur.length, at + 400); k += 4) cur[k] = ((cur[k] ?? 0) + delta) & 255;
    } else {
      const len = Math.min(cur.length - at, 1 + ((rand() * 500) | 0));
      const block = cur.splice(at, len);
      const to = (rand() * cur.length) | 0;
      cur = [...cur.slice(0, to), ...block, ...cur.slice(to)];
    }
  }
  return Uint8Array.from(cur);
}

export async function assertCode(fn: () => Promise<unknown>, code: PatchErrorCode): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof PatchError, `expected a PatchError, got ${String(err)}`);
    assert.equal(err.code, code, `code of: ${err.message}`);
    return true;
  });
}

export async function assertDirHolds(dir: string, names: string[]): Promise<void> {
  assert.deepEqual((await readdir(dir)).sort(), [...names].sort());
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** One hand-made control entry: a literal run, then (unless last) a cover reading old from `oldPos`. */
export interface CraftedEntry {
  literal: number;
  cover?: number;
  oldPos?: number;
  /** The new bytes under the cover (encoded as differences against `oldUnder`); default: equal to old. */
  newUnder?: Uint8Array;
  oldUnder?: Uint8Array;
}

/**
 * Encodes a native patch from raw control entries with the real model and encoder, without checking them,
 * so tests can state anything a hostile patch could. Header fields default to consistent values.
 */
export function craftNative(opts: {
  old: Uint8Array;
  newSize: number;
  newSha256?: string;
  entries: CraftedEntry[];
  literal?: Uint8Array;
  literalRawBytes?: number;
  literalRegion?: Uint8Array;
  header?: Partial<NativeHeader>;
  /** Rewrites the frame header fields [bytes, entries, diffBytes]. */
  frameFields?: (f: [number, number, number]) => [number, number, number];
}): Uint8Array {
  const model = new PatchModel();
  const enc = new RangeEncoder();
  const scratch = { cover: 0, oldPos: 0 };
  let diffBytes = 0;
  let newPos = 0;
  for (const e of opts.entries) {
    model.codeLiteralLength(enc, e.literal);
    newPos += e.literal;
    if (e.cover === undefined) continue;
    model.codeCover(enc, e.cover, e.oldPos ?? 0, newPos, scratch);
    newPos += e.cover;
    const oldUnder = e.oldUnder ?? new Uint8Array(e.cover);
    const newUnder = e.newUnder ?? oldUnder;
    model.codeDiff(enc, oldUnder, 0, newUnder, 0, e.cover, () => 0);
    diffBytes += e.cover;
  }
  const body = opts.entries.length ? enc.finish() : new Uint8Array(0);
  let fields: [number, number, number] = [body.length, opts.entries.length, diffBytes];
  if (opts.frameFields) fields = opts.frameFields(fields);
  const head: number[] = [];
  for (let v of fields) {
    while (v >= 0x80) {
      head.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    head.push(v);
  }
  const frame = opts.entries.length ? Uint8Array.from([...head, ...body]) : new Uint8Array(0);
  const lit = opts.literal ?? new Uint8Array(0);
  const region = opts.literalRegion ?? (lit.length ? brotliCompressSync(lit) : new Uint8Array(0));
  const header = encodeHeader({
    version: NATIVE_VERSION,
    compression: COMPRESSION_MODEL1_BROTLI,
    oldSize: opts.old.length,
    oldSha256: sha256(opts.old),
    newSize: opts.newSize,
    newSha256: opts.newSha256 ?? '00'.repeat(32),
    modelBytes: frame.length,
    literalRawBytes: opts.literalRawBytes ?? lit.length,
    literalBytes: region.length,
    ...opts.header,
  });
  return Buffer.concat([header, frame, region]);
}
