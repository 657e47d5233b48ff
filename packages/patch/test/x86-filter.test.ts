// The x86 CALL/JMP filter of literal streams (compression ids 3 and 4): its transform, patches that use it,
// hostile filter bytes and streams, and id-2 and id-3 patches (difference model 2) that must still apply.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { withTempDir } from '@tufup/common';
import type { PatchErrorCode } from '../src/errors.js';
import {
  COMPRESSION_MODEL2_BROTLI,
  COMPRESSION_MODEL2_FILTERED_BROTLI,
  COMPRESSION_MODEL3_FILTERED_BROTLI,
  LiteralFilter,
  LiteralLayout,
  type NativeSegment,
} from '../src/format/native.js';
import { encodeHeader } from '../src/diff/native/header.js';
import { LITERAL_CHUNK } from '../src/apply/native/segment.js';
import { filterX86, type LiteralRun } from '../src/format/x86-filter.js';
import { apply, diffBuffers } from '../src/index.js';
import {
  assertCode,
  codeLike,
  diffBuffersModel2,
  headerOf,
  randomBytes,
  seeded,
  sha256,
} from './native-support.js';

/** A new file of code-like stretches between stretches copied from old: many literal runs, some cut mid-call. */
function interleaved(old: Uint8Array, rand: () => number, n: number): Uint8Array {
  const code = codeLike(n, rand);
  const parts: Uint8Array[] = [];
  for (let at = 0; at < n; ) {
    const take = Math.min(n - at, 1 + ((rand() * 3000) | 0));
    parts.push(code.subarray(at, at + take));
    at += take;
    const from = (rand() * (old.length - 600)) | 0;
    parts.push(old.subarray(from, from + 200 + ((rand() * 400) | 0)));
  }
  return Buffer.concat(parts);
}

async function roundTrip(old: Uint8Array, patch: Uint8Array, neu: Uint8Array, threads = 1): Promise<void> {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), old);
    await writeFile(join(dir, 'patch'), patch);
    const r = await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), { threads });
    assert.equal(r.sha256, sha256(neu));
    assert.deepEqual(await readFile(join(dir, 'out')), Buffer.from(neu));
  });
}

async function expectRejected(old: Uint8Array, patch: Uint8Array, code: PatchErrorCode): Promise<void> {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), old);
    await writeFile(join(dir, 'patch'), patch);
    await assertCode(() => apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out')), code);
  });
}

/** Segment k's literal region: where it starts, its literal bytes and its length. */
function literalRegion(patch: Uint8Array, k: number): { at: number; raw: number; length: number } {
  const h = headerOf(patch);
  let at = h.headerBytes;
  for (const [i, s] of h.segments.entries()) {
    if (i === k) return { at: at + s.modelBytes, raw: s.literalRawBytes, length: s.literalBytes };
    at += s.modelBytes + s.literalBytes;
  }
  throw new Error(`no segment ${k}`);
}

/** The patch with segment k's literal region replaced (its table entry's region length follows). */
function withLiteralRegion(patch: Uint8Array, k: number, region: Uint8Array): Uint8Array {
  const r = literalRegion(patch, k);
  const { headerBytes, ...h } = headerOf(patch);
  (h.segments[k] as NativeSegment).literalBytes = region.length;
  return Buffer.concat([
    encodeHeader(h),
    patch.subarray(headerBytes, r.at),
    region,
    patch.subarray(r.at + r.length),
  ]);
}

test('filterX86 undoes itself, whatever the runs, and makes calls to one target equal bytes', () => {
  const rand = seeded(5);
  for (let round = 0; round < 50; round++) {
    const n = 1 + ((rand() * 4000) | 0);
    // Mostly opcodes and small operands, so conversions, cut operands and skipped ones all occur.
    const stream = Uint8Array.from(randomBytes(n, rand), (b) =>
      b < 64 ? 0xe8 : b < 96 ? 0xe9 : b < 192 ? 0 : b,
    );
    const runs: LiteralRun[] = [];
    for (let left = n, pos = (rand() * 1e9) | 0; left > 0; ) {
      const length = Math.min(left, 1 + ((rand() * 40) | 0));
      runs.push({ newPos: pos, length });
      pos += length + 1 + ((rand() * 1000) | 0);
      left -= length;
    }
    const filtered = filterX86(stream, runs, true);
    assert.deepEqual(filterX86(filtered, runs, false), stream);
  }
  // Two calls to new-file position 1000, from positions 10 and 500 of two runs.
  const call = (from: number) => {
    const b = new Uint8Array(5);
    b[0] = 0xe8;
    new DataView(b.buffer).setInt32(1, 1000 - (from + 5), true);
    return b;
  };
  const filtered = filterX86(
    Buffer.concat([call(10), call(500)]),
    [
      { newPos: 10, length: 5 },
      { newPos: 500, length: 5 },
    ],
    true,
  );
  assert.deepEqual(filtered.subarray(1, 5), filtered.subarray(6, 10));
  assert.equal(new DataView(filtered.buffer).getInt32(1, true), 1000);
});

const rand = seeded(77);
const OLD = randomBytes(200_000, rand);
const NEW = interleaved(OLD, rand, 300_000);

test('code-like literals: the writer filters them (id 4) and apply rebuilds them, on one thread or several', async () => {
  const patch = await diffBuffers(OLD, NEW);
  assert.equal(patch[9], COMPRESSION_MODEL3_FILTERED_BROTLI);
  const r = literalRegion(patch, 0);
  assert.equal(patch[r.at], 1, 'the region starts with the x86 filter byte');
  await roundTrip(OLD, patch, NEW);
  // Several segments, on several threads: each segment's positions are new-file positions.
  const cut = await diffBuffers(OLD, NEW, { segments: 5 });
  // One shared region, filtered segment by segment: some segment's bytes end with an opcode whose operand
  // would run into the next segment's, which a filter over the whole stream would have converted.
  const h = headerOf(cut);
  assert.equal(h.literalLayout, LiteralLayout.shared);
  const stream = brotliDecompressSync(cut.subarray(h.headerBytes + 1, h.headerBytes + h.sharedLiteralBytes));
  let end = 0;
  let opcodeAtEnd = false;
  for (const s of h.segments) {
    end += s.literalRawBytes;
    for (let j = Math.max(0, end - 4); j < end; j++)
      if (stream[j] === 0xe8 || stream[j] === 0xe9) opcodeAtEnd = true;
  }
  assert.ok(opcodeAtEnd, 'a segment ends within an operand of its last opcode');
  assert.equal(cut[9], COMPRESSION_MODEL3_FILTERED_BROTLI);
  await roundTrip(OLD, cut, NEW, 3);
  // Reproducible: the same bytes again.
  assert.deepEqual(await diffBuffers(OLD, NEW, { segments: 5 }), cut);
});

test('id 3 (difference model 2, filtered literals), as earlier builds wrote it, still applies', async () => {
  const patch = await diffBuffersModel2(OLD, NEW);
  assert.equal(patch[9], COMPRESSION_MODEL2_FILTERED_BROTLI);
  assert.equal(patch[literalRegion(patch, 0).at], 1, 'the region starts with the x86 filter byte');
  await roundTrip(OLD, patch, NEW);
  const cut = await diffBuffersModel2(OLD, NEW, 5);
  assert.equal(cut[9], COMPRESSION_MODEL2_FILTERED_BROTLI);
  await roundTrip(OLD, cut, NEW, 3);
});

test('an x86 operand cut by the end of a piece of inflated literals is put back together', async () => {
  // 600 kB of code-like literals inflate in pieces of LITERAL_CHUNK bytes. With these seeds an operand
  // straddles the first piece's end: the opcode is the piece's last byte (seed 4), or its third-last (seed 6).
  for (const [seed, opcodeBeforeEnd] of [
    [4, 1],
    [6, 3],
  ] as const) {
    const r = seeded(seed);
    const old = randomBytes(100_000, r);
    const neu = codeLike(600_000, r);
    const patch = await diffBuffers(old, neu);
    const region = literalRegion(patch, 0);
    const literals = brotliDecompressSync(patch.subarray(region.at + 1, region.at + region.length));
    let straddling = 0;
    for (let i = 0; i + 5 <= literals.length; i++) {
      if (literals[i] !== 0xe8 && literals[i] !== 0xe9) continue;
      if (i < LITERAL_CHUNK && i + 5 > LITERAL_CHUNK) straddling = LITERAL_CHUNK - i;
      i += 4;
    }
    assert.equal(straddling, opcodeBeforeEnd, `seed ${seed}`);
    await roundTrip(old, patch, neu);
  }
});

test('text literals stay unfiltered: filter byte 0 under id 4; model 2 writes id 2, with no filter byte', async () => {
  const r2 = seeded(3);
  const old = randomBytes(50_000, r2);
  const neu = Buffer.concat([
    old.subarray(0, 20_000),
    Buffer.from('plain words, no calls here. '.repeat(800)),
  ]);
  const patch = await diffBuffers(old, neu);
  assert.equal(patch[9], COMPRESSION_MODEL3_FILTERED_BROTLI);
  assert.equal(patch[literalRegion(patch, 0).at], 0, 'the region starts with filter byte 0');
  await roundTrip(old, patch, neu);
  const id2 = await diffBuffersModel2(old, neu);
  assert.equal(id2[9], COMPRESSION_MODEL2_BROTLI);
  assert.equal(id2.length, patch.length - 1, 'the same patch without the filter byte');
  await roundTrip(old, id2, neu);
});

test('hostile: unknown filter byte, a wrong one, a cut filtered stream, an unknown compression id', async () => {
  const patch = await diffBuffers(OLD, NEW, { segments: 2, literalLayout: 'per-segment' });
  assert.equal(patch[9], COMPRESSION_MODEL3_FILTERED_BROTLI);
  const r = literalRegion(patch, 1);
  const bad = Uint8Array.from(patch);
  bad[r.at] = 2;
  await expectRejected(OLD, bad, 'CORRUPT_PATCH');
  // "Not filtered" on filtered bytes: everything decodes, the output is wrong and never appears.
  const none = Uint8Array.from(patch);
  none[r.at] = 0;
  await expectRejected(OLD, none, 'OUTPUT_MISMATCH');
  // A region of the filter byte alone, then streams that end inside the last operand or before it (all
  // opcodes, so every byte but the last four is one whose operand is needed).
  await expectRejected(OLD, withLiteralRegion(patch, 1, Uint8Array.of(1)), 'CORRUPT_PATCH');
  for (const cut of [1, 2, 4, 100]) {
    const stream = new Uint8Array(r.raw - cut).fill(0xe8);
    const region = Buffer.concat([Uint8Array.of(1), brotliCompressSync(stream)]);
    await expectRejected(OLD, withLiteralRegion(patch, 1, region), 'CORRUPT_PATCH');
  }
  // Far more bytes than declared: a decompression bomb.
  const bomb = Buffer.concat([
    Uint8Array.of(1),
    brotliCompressSync(new Uint8Array(r.raw + (1 << 20)).fill(0xe8)),
  ]);
  await expectRejected(OLD, withLiteralRegion(patch, 1, bomb), 'DECOMPRESSION_LIMIT');
  const id = Uint8Array.from(patch);
  id[9] = 5;
  await expectRejected(OLD, id, 'UNSUPPORTED_VERSION');
});

test('an id-2 patch written before the x86 filter existed still applies', async () => {
  const dir = new URL('./fixtures/native-id2/', import.meta.url);
  const [old, patch, neu] = await Promise.all(['old', 'patch', 'new'].map((f) => readFile(new URL(f, dir))));
  assert.equal(patch?.[9], COMPRESSION_MODEL2_BROTLI);
  await roundTrip(old as Uint8Array, patch as Uint8Array, neu as Uint8Array);
});

/** The files fixtures/native-v2-id3/ and fixtures/native-v3-shared/ were made from. */
function fixtureFiles(): { old: Uint8Array; neu: Uint8Array } {
  const r = seeded(2612);
  const old = randomBytes(16_000, r);
  const code = codeLike(24_000, r);
  const parts: Uint8Array[] = [];
  for (let at = 0, k = 0; at < code.length; k++) {
    parts.push(code.subarray(at, at + 1500), old.subarray(k * 700, k * 700 + 500));
    at += 1500;
  }
  return { old, neu: Buffer.concat(parts) };
}

test('a version 2 patch (fixed-field header) with x86-filtered literals in two segments still applies', async () => {
  // Written by the version 2 writer.
  const { old, neu } = fixtureFiles();
  const patch = await readFile(new URL('./fixtures/native-v2-id3/patch', import.meta.url));
  assert.equal(patch[8], 2);
  assert.equal(patch[9], COMPRESSION_MODEL2_FILTERED_BROTLI);
  assert.equal(headerOf(patch).segments.length, 2);
  await roundTrip(old, patch, neu);
  await roundTrip(old, patch, neu, 2);
});

test('a version 3 patch with a shared, x86-filtered literal region in two segments applies', async () => {
  // Written by the first version 3 writer: pins the layout apart from this build's writer and reader.
  const { old, neu } = fixtureFiles();
  const patch = await readFile(new URL('./fixtures/native-v3-shared/patch', import.meta.url));
  const h = headerOf(patch);
  assert.deepEqual(
    [h.version, h.compression, h.literalLayout, h.segments.length, patch[h.headerBytes]],
    [3, COMPRESSION_MODEL3_FILTERED_BROTLI, LiteralLayout.shared, 2, LiteralFilter.x86],
  );
  await roundTrip(old, patch, neu);
  await roundTrip(old, patch, neu, 2);
});
