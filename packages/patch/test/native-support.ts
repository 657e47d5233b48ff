// Test helpers for the native format: seeded data, edited copies, hand-made (hostile) patches, checks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { brotliCompressSync } from 'node:zlib';
import { decodeHeader } from '../src/apply/native/header.js';
import { findCovers } from '../src/diff/engine/cover.js';
import { DiffModel } from '../src/diff/native/diff-model.js';
import { encodeHeader } from '../src/diff/native/header.js';
import { RangeEncoder } from '../src/diff/native/range-encoder.js';
import { encodeNativePatch } from '../src/diff/native/write.js';
import { PatchError, type PatchErrorCode } from '../src/errors.js';
import { EntryModel } from '../src/format/model.js';
import {
  COMPRESSION_MODEL2_BROTLI,
  type DecodedHeader,
  LiteralLayout,
  MAX_HEADER_BYTES,
  NATIVE_VERSION,
  NATIVE_VERSION_FIXED_HEADER,
  type NativeHeader,
  type NativeSegment,
  V2_FIXED_HEADER_BYTES,
  V2_SEGMENT_ENTRY_BYTES,
} from '../src/format/native.js';

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

/**
 * Machine-code-like bytes: filler from a few opcodes, and CALL/JMP instructions to a few targets (so their
 * relative operands differ from place to place but the targets repeat).
 */
export function codeLike(n: number, rand: () => number): Uint8Array {
  const out = new Uint8Array(n);
  const targets = Array.from({ length: 24 }, () => (rand() * n) | 0);
  const filler = [0x48, 0x89, 0xc7, 0x8b, 0x45, 0xf8, 0x31, 0xc0, 0x5d, 0xc3, 0x90, 0x0f, 0x1f];
  for (let i = 0; i < n; ) {
    if (rand() < 0.12 && i + 5 <= n) {
      out[i] = rand() < 0.8 ? 0xe8 : 0xe9;
      const rel = ((targets[(rand() * targets.length) | 0] as number) - (i + 5)) | 0;
      new DataView(out.buffer).setInt32(i + 1, rel, true);
      i += 5;
    } else out[i++] = filler[(rand() * filler.length) | 0] as number;
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

/** One hand-made segment: its control entries and literal bytes, and anything a hostile patch could state. */
export interface CraftedSegment {
  entries: CraftedEntry[];
  /** New bytes the table declares for it (default: the bytes its entries produce). */
  newLength?: number;
  literal?: Uint8Array;
  literalRawBytes?: number;
  literalRegion?: Uint8Array;
  /** Rewrites the frame header fields [bytes, entries, diffBytes]. */
  frameFields?: (f: [number, number, number]) => [number, number, number];
}

function craftSegment(old: Uint8Array, seg: CraftedSegment, newStart: number) {
  const model = new EntryModel();
  const diffs = new DiffModel(2);
  const enc = new RangeEncoder();
  const scratch = { cover: 0, oldPos: 0 };
  let diffBytes = 0;
  let newPos = newStart;
  for (const e of seg.entries) {
    model.codeLiteralLength(enc, e.literal);
    newPos += e.literal;
    if (e.cover === undefined) continue;
    model.codeCover(enc, e.cover, e.oldPos ?? 0, newPos, scratch);
    newPos += e.cover;
    const pos = e.oldPos ?? 0;
    const inside = pos >= 0 && pos + e.cover <= old.length;
    const oldUnder = e.oldUnder ?? (inside ? old.subarray(pos, pos + e.cover) : new Uint8Array(e.cover));
    const newUnder = e.newUnder ?? oldUnder;
    diffs.encode(enc, oldUnder, 0, newUnder, 0, e.cover, () => 0);
    diffBytes += e.cover;
  }
  const body = seg.entries.length ? enc.finish() : new Uint8Array(0);
  let fields: [number, number, number] = [body.length, seg.entries.length, diffBytes];
  if (seg.frameFields) fields = seg.frameFields(fields);
  const head: number[] = [];
  for (let v of fields) {
    while (v >= 0x80) {
      head.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    head.push(v);
  }
  const frame = seg.entries.length ? Uint8Array.from([...head, ...body]) : new Uint8Array(0);
  const lit = seg.literal ?? new Uint8Array(0);
  const region = seg.literalRegion ?? (lit.length ? brotliCompressSync(lit) : new Uint8Array(0));
  const table: NativeSegment = {
    newLength: seg.newLength ?? newPos - newStart,
    modelBytes: frame.length,
    literalRawBytes: seg.literalRawBytes ?? lit.length,
    literalBytes: region.length,
  };
  return { table, parts: [frame, region] };
}

/**
 * Encodes a native patch from raw control entries with the real model and encoder, without checking them,
 * so tests can state anything a hostile patch could. Header fields default to consistent values. One
 * segment (declared to rebuild all `newSize` bytes) from the top-level fields, or the given `segments`.
 */
export function craftNative(
  opts: {
    old: Uint8Array;
    newSize: number;
    newSha256?: string;
    segments?: CraftedSegment[];
    header?: Partial<NativeHeader>;
  } & Partial<CraftedSegment>,
): Uint8Array {
  const segments = opts.segments ?? [{ entries: [], newLength: opts.newSize, ...opts }];
  const tables: NativeSegment[] = [];
  const bodies: Uint8Array[] = [];
  let newStart = 0;
  for (const seg of segments) {
    const { table, parts } = craftSegment(opts.old, seg, newStart);
    tables.push(table);
    bodies.push(...parts);
    newStart += table.newLength;
  }
  const header = encodeHeader({
    version: NATIVE_VERSION,
    compression: COMPRESSION_MODEL2_BROTLI,
    literalLayout: LiteralLayout.perSegment,
    sharedLiteralBytes: 0,
    oldSize: opts.old.length,
    oldSha256: sha256(opts.old),
    newSize: opts.newSize,
    newSha256: opts.newSha256 ?? '00'.repeat(32),
    segments: tables,
    ...opts.header,
  });
  return Buffer.concat([header, ...bodies]);
}

/** A well-formed native patch's header as apply reads it, with the bytes it takes. */
export function headerOf(patch: Uint8Array): DecodedHeader {
  return decodeHeader(patch.subarray(0, MAX_HEADER_BYTES), patch.length);
}

/** A header in version 2's layout (8-byte little-endian fields, 32 bytes a segment), as writers before 3 made it. */
export function encodeV2Header(h: NativeHeader): Uint8Array {
  if (h.literalLayout !== LiteralLayout.perSegment) throw new Error('version 2 has no shared literal region');
  const out = new Uint8Array(V2_FIXED_HEADER_BYTES + h.segments.length * V2_SEGMENT_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  const u64 = (at: number, v: number) => view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
  out.set(encodeHeader(h).subarray(0, 10), 0);
  u64(12, h.oldSize);
  out.set(Buffer.from(h.oldSha256, 'hex'), 20);
  u64(52, h.newSize);
  out.set(Buffer.from(h.newSha256, 'hex'), 60);
  u64(92, h.segments.length);
  for (const [i, s] of h.segments.entries()) {
    const at = V2_FIXED_HEADER_BYTES + i * V2_SEGMENT_ENTRY_BYTES;
    for (const [k, v] of [s.newLength, s.modelBytes, s.literalRawBytes, s.literalBytes].entries()) {
      u64(at + 8 * k, v);
    }
  }
  return out;
}

/**
 * The patch with its header written again after `edit` changed its fields: in version 3's layout, or in
 * version 2's when `edit` sets version 2. The regions after the header stay as they are.
 */
export function withHeader(patch: Uint8Array, edit: (h: NativeHeader) => void): Uint8Array {
  const { headerBytes, ...h } = headerOf(patch);
  edit(h);
  const head = h.version === NATIVE_VERSION_FIXED_HEADER ? encodeV2Header(h) : encodeHeader(h);
  return Buffer.concat([head, patch.subarray(headerBytes)]);
}

/** The same patch in version 2's header layout (what version 2 writers made of the same regions). */
export function asVersion2(patch: Uint8Array): Uint8Array {
  return withHeader(patch, (h) => {
    h.version = NATIVE_VERSION_FIXED_HEADER;
  });
}

/** One random damage to a patch: flipped bits, overwritten or inserted bytes, a cut, a swapped region. */
export function mutatePatch(patch: Uint8Array, rand: () => number): Uint8Array {
  const out = Uint8Array.from(patch);
  const at = () => (rand() * out.length) | 0;
  let h: DecodedHeader | undefined;
  try {
    h = headerOf(out);
  } catch {
    // already damaged: any header field edit below is skipped
  }
  const head = h?.headerBytes ?? 0;
  // Most damage lands past the header, where the decoders (not the header checks) must catch it.
  const bodyAt = () => head + ((rand() * Math.max(1, out.length - head)) | 0);
  switch ((rand() * 7) | 0) {
    case 0: {
      const n = 1 + ((rand() * 4) | 0);
      for (let k = 0; k < n; k++) {
        const i = bodyAt();
        if (i < out.length) out[i] = (out[i] as number) ^ (1 << ((rand() * 8) | 0));
      }
      return out;
    }
    case 1: {
      const i = bodyAt();
      const n = Math.min(out.length - i, 1 + ((rand() * 16) | 0));
      for (let k = 0; k < n; k++) out[i + k] = (rand() * 256) | 0;
      return out;
    }
    case 2:
      return out.subarray(0, at());
    case 3: {
      const i = bodyAt();
      const extra = randomBytes(1 + ((rand() * 8) | 0), rand);
      return Buffer.concat([out.subarray(0, i), extra, out.subarray(i)]);
    }
    case 4: {
      // A header field (a size, the segment count, a segment's lengths) gets a nearby value or a random
      // one up to 2^64, written in version 3's layout or, half the time, version 2's.
      if (!h) return out;
      const v2 = h.literalLayout === LiteralLayout.perSegment && rand() < 0.5;
      const count = h.segments.length;
      return withHeader(out, (f) => {
        if (v2) f.version = NATIVE_VERSION_FIXED_HEADER;
        const pick = (rand() * (3 + 4 * count)) | 0;
        const fresh = (cur: number) =>
          rand() < 0.5
            ? Math.max(0, cur + ((rand() * 64) | 0) - 32)
            : Math.floor(rand() * 2 ** 53) * 2 ** ((rand() * 12) | 0);
        if (pick === 0) f.oldSize = fresh(f.oldSize);
        else if (pick === 1) f.newSize = fresh(f.newSize);
        else if (pick === 2) {
          // fewer segments, or copies of the last (a count within what a header can hold)
          const n = Math.min(64, Math.max(0, count + ((rand() * 5) | 0) - 2));
          while (f.segments.length > n) f.segments.pop();
          while (f.segments.length < n)
            f.segments.push({ ...(f.segments.at(-1) ?? h.segments[0]) } as NativeSegment);
        } else {
          const s = f.segments[((pick - 3) / 4) | 0] as NativeSegment;
          const key = (['newLength', 'modelBytes', 'literalRawBytes', 'literalBytes'] as const)[
            (pick - 3) % 4
          ] as 'newLength' | 'modelBytes' | 'literalRawBytes' | 'literalBytes';
          s[key] = fresh(s[key]);
        }
      });
    }
    case 5: {
      const i = at();
      if (i < out.length) out[i] = (out[i] as number) ^ (1 << ((rand() * 8) | 0));
      return out;
    }
    default: {
      // two stretches of the body swapped
      const a = bodyAt();
      const b = bodyAt();
      const n = Math.min(32, out.length - Math.max(a, b));
      for (let k = 0; k < n; k++) {
        const t = out[a + k] as number;
        out[a + k] = out[b + k] as number;
        out[b + k] = t;
      }
      return out;
    }
  }
}

/** The codes a damaged native patch may end in. */
export const DAMAGE_CODES = new Set([
  'UNSUPPORTED_FORMAT',
  'UNSUPPORTED_VERSION',
  'BASE_MISMATCH',
  'CORRUPT_PATCH',
  'TRUNCATED_PATCH',
  'DECOMPRESSION_LIMIT',
  'OUTPUT_MISMATCH',
]);

export interface FuzzStats {
  cases: number;
  applied: number;
  byCode: Record<string, number>;
}

/**
 * Applies `cases` randomly damaged copies of native patches (a few kinds of change) in `dir`. Every case
 * must either rebuild exactly the new file or end in a PatchError with one of DAMAGE_CODES, and leave no
 * file behind. Throws on the first case that does anything else (with its seed and index).
 */
export async function fuzzNative(dir: string, cases: number, seed: number): Promise<FuzzStats> {
  const { apply, diffBuffers, PatchError } = await import('../src/index.js');
  const { writeFile, readFile, readdir, rm } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const rand = seeded(seed);
  const bin = randomBytes(24_000, rand);
  const text = wordy(20_000, rand);
  const binNew = editedCopy(bin, rand, 12);
  // New code between old code: its literals are x86-filtered (compression id 3).
  const code = codeLike(16_000, rand);
  const codeNew = Buffer.concat([code.subarray(0, 8000), codeLike(8000, rand), code.subarray(8000)]);
  // [old, new, segments, model]: those with several segments are applied on worker threads too; model 2
  // is what ids 2 and 3 (earlier builds) decode with, 3 what the writer uses (id 4).
  const pairs = [
    [bin, binNew, 1, 3],
    [text, editedCopy(text, rand, 12), 1, 3],
    [randomBytes(3000, rand), randomBytes(2000, rand), 1, 3],
    [bin, bin, 1, 3],
    [bin, binNew, 3, 3],
    [text, editedCopy(text, rand, 12), 2, 3],
    [code, codeNew, 2, 3],
    // Model 2 (ids 2 and 3, as earlier builds wrote them), and a literal region per segment (the small
    // pairs above with more than one segment share one).
    [bin, binNew, 1, 2],
    [code, codeNew, 2, 2],
    [bin, binNew, 3, 3, 'per-segment'],
    [code, codeNew, 2, 3, 'per-segment'],
  ] as const;
  const bases = [];
  for (const [i, [o, n, segments, model, layout]] of pairs.entries()) {
    await writeFile(join(dir, `old${i}`), o);
    const opts = { segments, ...(layout ? { literalLayout: layout } : {}) };
    const patch = model === 2 ? await diffBuffersModel2(o, n, segments) : await diffBuffers(o, n, opts);
    bases.push({ old: join(dir, `old${i}`), patch, sha: sha256(n) });
  }
  const stats: FuzzStats = { cases, applied: 0, byCode: {} };
  const patchPath = join(dir, 'patch');
  const outPath = join(dir, 'out');
  for (let c = 0; c < cases; c++) {
    const base = bases[c % bases.length] as (typeof bases)[number];
    let damaged = mutatePatch(base.patch, rand);
    if (rand() < 0.3) damaged = mutatePatch(damaged, rand);
    await writeFile(patchPath, damaged);
    try {
      // Every 32nd case decodes its segments on worker threads (each start costs a few milliseconds).
      const r = await apply(base.old, patchPath, outPath, { threads: c % 32 === 31 ? 3 : 1 });
      if (r.sha256 !== base.sha || sha256(await readFile(outPath)) !== base.sha) {
        throw new Error(`fuzz case ${c} (seed ${seed}): a damaged patch rebuilt a wrong file`);
      }
      stats.applied++;
      await rm(outPath);
    } catch (err) {
      if (!(err instanceof PatchError) || !DAMAGE_CODES.has(err.code)) {
        throw new Error(`fuzz case ${c} (seed ${seed}): unexpected ${String(err)}`, { cause: err });
      }
      stats.byCode[err.code] = (stats.byCode[err.code] ?? 0) + 1;
    }
    // A leftover file stays until the end, so looking now and then (and at the end) catches every one.
    if (c % 64 === 63 || c === cases - 1) {
      const left = (await readdir(dir)).filter((f) => !/^old\d+$|^patch$/.test(f));
      if (left.length) throw new Error(`fuzz cases up to ${c} (seed ${seed}): left ${left.join(', ')}`);
    }
  }
  return stats;
}

/**
 * The patch earlier builds wrote (difference model 2: compression id 3 when a segment's literals are
 * x86-filtered, else id 2), so tests can check that such patches still apply.
 */
export async function diffBuffersModel2(
  old: Uint8Array,
  neu: Uint8Array,
  segments?: number,
): Promise<Uint8Array> {
  const covers = findCovers(old, neu);
  const parts = await encodeNativePatch(old, neu, covers, {
    model: 2,
    ...(segments !== undefined ? { segments: { count: segments } } : {}),
  });
  return Buffer.concat(parts);
}
