// Patches cut into segments: exact rebuilds on one thread and on workers, a hostile segment table, a
// failing or aborted worker leaves nothing behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { withTempDir } from '@tufup/common';
import { applyThreads, runnableThreads } from '../src/apply/native/apply.js';
import { encodeHeader } from '../src/diff/native/header.js';
import { PatchError, type PatchErrorCode } from '../src/errors.js';
import { LiteralLayout, type NativeSegment } from '../src/format/native.js';
import { apply, diff, diffBuffers } from '../src/index.js';
import {
  assertCode,
  assertDirHolds,
  asVersion2,
  craftNative,
  editedCopy,
  headerOf,
  randomBytes,
  seeded,
  sha256,
  withHeader,
  wordy,
} from './native-support.js';

const rand = seeded(2024);
const OLD = randomBytes(200_000, rand);
const NEW = editedCopy(OLD, rand, 60);

/** n pseudo-random bytes, fast (the seeded generator is too slow for tens of MiB). */
function randomFill(n: number): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = 0x2545f491;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return out;
}

function segmentCount(patch: Uint8Array): number {
  return headerOf(patch).segments.length;
}

async function applyIn(dir: string, old: Uint8Array, patch: Uint8Array, opts = {}) {
  await writeFile(join(dir, 'old'), old);
  await writeFile(join(dir, 'patch'), patch);
  return apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'), opts);
}

async function expectRejected(patch: Uint8Array, code: PatchErrorCode, opts = {}): Promise<void> {
  await withTempDir(async (dir) => {
    await assertCode(() => applyIn(dir, OLD, patch, opts), code);
    await assertDirHolds(dir, ['old', 'patch']);
  });
}

test('a patch in 1 to 7 segments rebuilds the same file on one thread and on 2 or 4 worker threads', async () => {
  let single = 0;
  for (const segments of [1, 2, 3, 7]) {
    const patch = await diffBuffers(OLD, NEW, { segments });
    assert.equal(segmentCount(patch), segments);
    if (segments === 1) single = patch.length;
    // Restarting the model costs a little per segment, never much.
    assert.ok(
      patch.length < single + segments * 400,
      `${segments} segments: ${patch.length} vs ${single} bytes`,
    );
    for (const threads of [1, 2, 4]) {
      await withTempDir(async (dir) => {
        const events: number[] = [];
        const r = await applyIn(dir, OLD, patch, {
          threads,
          expect: { size: NEW.length, sha256: sha256(NEW) },
          onProgress: (e: { phase: string; done: number }) => e.phase === 'apply' && events.push(e.done),
        });
        assert.deepEqual(r, { size: NEW.length, sha256: sha256(NEW) });
        assert.ok(
          Buffer.from(NEW).equals(await readFile(join(dir, 'out'))),
          `${segments} segments, ${threads} threads`,
        );
        assert.equal(events.at(-1), NEW.length, 'progress ends at the total');
        assert.deepEqual(
          events,
          [...events].sort((a, b) => a - b),
          'progress never goes back',
        );
        assert.deepEqual((await readdir(dir)).sort(), ['old', 'out', 'patch']);
      });
    }
  }
});

test('segments cut through covers, literal runs and text alike', async () => {
  const text = wordy(150_000, rand);
  const edited = editedCopy(text, rand, 30);
  const grown = Buffer.concat([edited, randomBytes(5000, rand), text.subarray(0, 20_000)]);
  for (const neu of [edited, grown, randomBytes(90_000, rand)]) {
    const patch = await diffBuffers(text, neu, { segments: 5 });
    await withTempDir(async (dir) => {
      const r = await applyIn(dir, text, patch, { threads: 3 });
      assert.equal(r.sha256, sha256(neu));
    });
  }
});

test('segment table: a count of 0 or above 64, lengths that do not add up, an empty segment, are CORRUPT_PATCH', async () => {
  const written = await diffBuffers(OLD, NEW, { segments: 3, literalLayout: 'per-segment' });
  // Both header layouts: version 3's varints, and version 2's fixed fields (older patches).
  for (const patch of [written, asVersion2(written)]) {
    const edited = (edit: (segments: NativeSegment[]) => void) => withHeader(patch, (h) => edit(h.segments));
    const first = (segments: NativeSegment[]) => segments[0] as NativeSegment;
    await expectRejected(
      edited((segments) => segments.splice(0)),
      'CORRUPT_PATCH',
    );
    await expectRejected(
      edited((segments) => {
        while (segments.length < 65) segments.push({ ...first(segments) });
      }),
      'CORRUPT_PATCH',
    );
    // Two segments declared: the third's regions are left over after the declared end.
    await expectRejected(
      edited((segments) => segments.splice(2)),
      'CORRUPT_PATCH',
    );
    // Lengths moved between segments (the total still adds up): the segments' contents disagree.
    await expectRejected(
      edited(([a, b]) => {
        (a as NativeSegment).newLength++;
        (b as NativeSegment).newLength--;
      }),
      'CORRUPT_PATCH',
    );
    await expectRejected(
      edited(([, , c]) => {
        (c as NativeSegment).newLength++;
      }),
      'CORRUPT_PATCH',
    );
    await expectRejected(
      edited(([, b]) => {
        (b as NativeSegment).literalRawBytes = 10 ** 9;
      }),
      'CORRUPT_PATCH',
    );
    // Region lengths moved between segments: each segment's regions end in the wrong place.
    await expectRejected(
      edited(([a, b]) => {
        (a as NativeSegment).modelBytes += 3;
        (b as NativeSegment).modelBytes -= 3;
      }),
      'CORRUPT_PATCH',
    );
  }
  const empty = craftNative({
    old: OLD,
    newSize: 10,
    newSha256: sha256(OLD.subarray(0, 10)),
    segments: [{ entries: [{ literal: 0, cover: 10, oldPos: 0 }] }, { entries: [], newLength: 0 }],
  });
  await expectRejected(empty, 'CORRUPT_PATCH');
});

test('crafted segments: each decodes against its own start; a cover past its segment end is CORRUPT_PATCH', async () => {
  const want = Buffer.concat([OLD.subarray(100, 150), OLD.subarray(0, 30)]);
  const twoSegments = craftNative({
    old: OLD,
    newSize: 80,
    newSha256: sha256(want),
    segments: [
      { entries: [{ literal: 0, cover: 50, oldPos: 100 }] },
      { entries: [{ literal: 0, cover: 30, oldPos: 0 }] },
    ],
  });
  for (const threads of [1, 2]) {
    await withTempDir(async (dir) => {
      assert.equal((await applyIn(dir, OLD, twoSegments, { threads })).sha256, sha256(want));
    });
  }
  const spill = craftNative({
    old: OLD,
    newSize: 80,
    segments: [
      { entries: [{ literal: 0, cover: 60, oldPos: 100 }], newLength: 50 },
      { entries: [{ literal: 0, cover: 30, oldPos: 0 }] },
    ],
  });
  await expectRejected(spill, 'CORRUPT_PATCH', { threads: 1 });
  await expectRejected(spill, 'CORRUPT_PATCH', { threads: 2 });
});

test('a corrupt last segment ends the apply with its code and leaves nothing, whichever thread decodes it', async () => {
  const patch = await diffBuffers(OLD, NEW, { segments: 4 });
  const h = headerOf(patch);
  const at = h.headerBytes + h.segments.slice(0, 3).reduce((n, s) => n + s.modelBytes + s.literalBytes, 0);
  // Bytes of the last segment's first frame body: only the worker that decodes it can notice.
  for (const k of [8, 20, 40]) {
    const bad = Uint8Array.from(patch);
    bad[at + k] = (bad[at + k] as number) ^ 0x5a;
    await withTempDir(async (dir) => {
      await assert.rejects(
        () => applyIn(dir, OLD, bad, { threads: 4 }),
        (err: { code?: string }) => ['CORRUPT_PATCH', 'OUTPUT_MISMATCH'].includes(err.code ?? ''),
      );
      await assertDirHolds(dir, ['old', 'patch']);
    });
  }
});

test('an abort while workers decode rejects with AbortError and leaves nothing', async () => {
  const big = randomBytes(4_000_000, rand);
  const bigNew = Uint8Array.from(big);
  // A difference every 64 bytes keeps the decoders busy long enough to be stopped halfway.
  for (let i = 0; i < bigNew.length; i += 64) bigNew[i] = (bigNew[i] as number) ^ 0x21;
  const patch = await diffBuffers(big, bigNew, { segments: 4 });
  await withTempDir(async (dir) => {
    const ac = new AbortController();
    await assert.rejects(
      applyIn(dir, big, patch, {
        threads: 4,
        signal: ac.signal,
        onProgress: (e: { phase: string; done: number }) => {
          if (e.phase === 'apply' && e.done > 0) ac.abort();
        },
      }),
      { name: 'AbortError' },
    );
    await assertDirHolds(dir, ['old', 'patch']);
  });
});

test('a wrong base is BASE_MISMATCH while workers are already decoding, and leaves nothing', async () => {
  const patch = await diffBuffers(OLD, NEW, { segments: 4 });
  const other = Uint8Array.from(OLD);
  other[OLD.length - 1] = (other[OLD.length - 1] as number) ^ 1;
  await withTempDir(async (dir) => {
    await assertCode(() => applyIn(dir, other, patch, { threads: 4 }), 'BASE_MISMATCH');
    await assertDirHolds(dir, ['old', 'patch']);
  });
});

test('a one-segment patch on 2 threads (the worker only hashes): same file, both checks, wrong base refused', async () => {
  const old = randomFill(17 << 20);
  // One cover over the whole old file, every chunk coded as non-zero: the decoder has real work to do.
  const patch = craftNative({
    old,
    newSize: old.length,
    newSha256: sha256(old),
    entries: [{ literal: 0, cover: old.length, oldPos: 0 }],
  });
  await withTempDir(async (dir) => {
    const phases = new Set<string>();
    const r = await applyIn(dir, old, patch, {
      threads: 2,
      onProgress: (e: { phase: string }) => phases.add(e.phase),
    });
    assert.deepEqual(r, { size: old.length, sha256: sha256(old) });
    assert.ok(Buffer.from(old).equals(await readFile(join(dir, 'out'))));
    assert.deepEqual([...phases].sort(), ['apply', 'verify-old']);
  });
  const other = Uint8Array.from(old);
  other[old.length >> 1] = (other[old.length >> 1] as number) ^ 1;
  await withTempDir(async (dir) => {
    await assertCode(() => applyIn(dir, other, patch, { threads: 2 }), 'BASE_MISMATCH');
    await assertDirHolds(dir, ['old', 'patch']);
  });
  // The same patch with a declared hash the output does not have.
  const lying = craftNative({
    old,
    newSize: old.length,
    newSha256: sha256(other),
    entries: [{ literal: 0, cover: old.length, oldPos: 0 }],
  });
  await withTempDir(async (dir) => {
    await assertCode(() => applyIn(dir, old, lying, { threads: 2 }), 'OUTPUT_MISMATCH');
    await assertDirHolds(dir, ['old', 'patch']);
  });
});

test('applyThreads: 1 for a file under 16 MiB; else 2 unless the 1-minute load says every core is busy', () => {
  const big = 100 << 20;
  assert.equal(applyThreads((16 << 20) - 1, 8, 0), 1);
  assert.equal(applyThreads(big, 2, 0), 2);
  // One core looks busy (maybe only our own earlier work, which the load average still counts): two threads
  // are no slower then, and much faster when that core is in fact free.
  assert.equal(applyThreads(big, 2, 0.9), 2);
  assert.equal(applyThreads(big, 2, 1.2), 2);
  assert.equal(applyThreads(big, 2, 1.99), 2);
  // Every core busy: a second decoding thread would only take turns.
  assert.equal(applyThreads(big, 2, 2), 1);
  assert.equal(applyThreads(big, 2, 5), 1);
  assert.equal(applyThreads(big, 1, 0), 1);
  assert.equal(applyThreads(big, 8, 2.5), 2);
  assert.equal(applyThreads(big, 8, 8.5), 1);
  assert.equal(applyThreads(big, 2, Number.NaN), 1);
});

test('applyThreads: a busy 1-minute load is overruled when few threads are runnable right now', () => {
  const big = 100 << 20;
  // The load average still counts work that has just ended; only this thread is running now.
  assert.equal(applyThreads(big, 2, 2.5, 1), 2);
  assert.equal(applyThreads(big, 2, 2.5, 2), 2);
  // Two other threads running on 2 cores: busy by both signals.
  assert.equal(applyThreads(big, 2, 2.5, 3), 1);
  assert.equal(applyThreads(big, 2, Number.NaN, 9), 1);
  // A burst of runnable threads does not make a quiet average busy.
  assert.equal(applyThreads(big, 2, 0.5, 9), 2);
  // A busy average on 8 cores with only 3 other threads runnable now: two threads.
  assert.equal(applyThreads(big, 8, 9, 4), 2);
  // Small files stay on one thread whatever the load.
  assert.equal(applyThreads((16 << 20) - 1, 8, 0, 1), 1);
  const now = runnableThreads();
  if (now !== undefined) assert.ok(Number.isInteger(now) && now >= 1, `runnable ${now}`);
});

test('workers start in an app run with node --input-type=module -e (they do not inherit that option)', async () => {
  const patch = await diffBuffers(OLD, NEW, { segments: 2 });
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'patch'), patch);
    // The built package, as an app imports it (npm test builds before testing).
    const entry = new URL('../dist/index.js', import.meta.url).href;
    const [o, p, out] = ['old', 'patch', 'out'].map((f) => JSON.stringify(join(dir, f)));
    const code = `import { apply } from ${JSON.stringify(entry)};
      const r = await apply(${o}, ${p}, ${out}, { threads: 3 });
      process.stdout.write(r.sha256);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, sha256(NEW));
  });
});

test('a wrong base that throws the decoders off is still BASE_MISMATCH on every thread count', async () => {
  const text = wordy(1_500_000, rand);
  const patch = await diffBuffers(text, editedCopy(text, rand, 100), { segments: 4 });
  // Changed everywhere: the decoders' contexts go astray long before the old file's hash is done.
  const bad = Uint8Array.from(text);
  for (let i = 0; i < bad.length; i += 997) bad[i] = (bad[i] as number) ^ 0x55;
  for (const threads of [1, 2, 3, 4]) {
    await withTempDir(async (dir) => {
      await assertCode(() => applyIn(dir, bad, patch, { threads }), 'BASE_MISMATCH');
      await assertDirHolds(dir, ['old', 'patch']);
    });
  }
});

test('an onProgress that throws fails the apply (IO_ERROR, its error as the cause) on every thread count, leaving nothing', async () => {
  const patch = await diffBuffers(OLD, NEW, { segments: 3 });
  for (const phase of ['verify-old', 'apply']) {
    for (const threads of [1, 2, 3]) {
      await withTempDir(async (dir) => {
        const thrown = new Error(`callback threw at ${phase}`);
        await assert.rejects(
          applyIn(dir, OLD, patch, {
            threads,
            onProgress: (e: { phase: string }) => {
              if (e.phase === phase) throw thrown;
            },
          }),
          (err) => err instanceof PatchError && err.code === 'IO_ERROR' && err.cause === thrown,
          `${phase}, ${threads} threads`,
        );
        await assertDirHolds(dir, ['old', 'patch']);
      });
    }
  }
});

test('threads must be a positive integer', async () => {
  const patch = await diffBuffers(OLD, NEW);
  for (const threads of [0, -1, 1.5, Number.NaN])
    await expectRejected(patch, 'INVALID_ARGUMENT', { threads });
});

test('the writer keeps small patches in one segment and cuts heavy ones into at most 8 covering the new file', async () => {
  const { planSegments } = await import('../src/diff/native/segments.js');
  const { findCovers } = await import('../src/diff/engine/cover.js');
  const small = planSegments(OLD, NEW, findCovers(OLD, NEW));
  assert.equal(small.length, 1);
  // 12 MB where every 8th byte differs: far more decoding than one segment should hold.
  const heavyOld = randomBytes(12_000_000, rand);
  const heavyNew = Uint8Array.from(heavyOld);
  for (let i = 0; i < heavyNew.length; i += 8) heavyNew[i] = (heavyNew[i] as number) ^ 0x40;
  const covers = [{ oldPos: 0, newPos: 0, length: heavyNew.length }];
  const heavy = planSegments(heavyOld, heavyNew, covers);
  assert.ok(heavy.length > 1 && heavy.length <= 8, `${heavy.length} segments`);
  assert.equal(heavy[0]?.start, 0);
  assert.equal(heavy.at(-1)?.end, heavyNew.length);
  for (const [i, seg] of heavy.entries()) {
    if (i > 0) assert.equal(seg.start, heavy[i - 1]?.end);
    assert.equal(
      seg.covers.reduce((n, c) => n + c.length, 0),
      seg.end - seg.start,
      'the one cover is split exactly at the cuts',
    );
    for (const c of seg.covers) assert.equal(c.oldPos, c.newPos, 'a split cover keeps its diagonal');
  }
});

/** The patch with its shared literal region replaced by `region` (the header's length for it follows). */
function withSharedRegion(patch: Uint8Array, region: Uint8Array): Uint8Array {
  const { headerBytes, ...h } = headerOf(patch);
  const rest = patch.subarray(headerBytes + h.sharedLiteralBytes);
  return Buffer.concat([encodeHeader({ ...h, sharedLiteralBytes: region.length }), region, rest]);
}

test('a shared literal region: the same file on 1, 2 and 4 threads as with a region per segment', async () => {
  const shared = await diffBuffers(OLD, NEW, { segments: 4 });
  const own = await diffBuffers(OLD, NEW, { segments: 4, literalLayout: 'per-segment' });
  assert.equal(headerOf(shared).literalLayout, LiteralLayout.shared, 'small literal streams share a region');
  assert.equal(headerOf(own).literalLayout, LiteralLayout.perSegment);
  assert.ok(headerOf(shared).segments.every((s) => s.literalBytes === 0));
  for (const patch of [shared, own]) {
    for (const threads of [1, 2, 4]) {
      await withTempDir(async (dir) => {
        const r = await applyIn(dir, OLD, patch, { threads });
        assert.equal(r.sha256, sha256(NEW));
        assert.deepEqual(await readFile(join(dir, 'out')), Buffer.from(NEW));
      });
    }
  }
});

test('a hostile shared literal region or layout byte ends in its code before any output, on 1 and 3 threads', async () => {
  const patch = await diffBuffers(OLD, NEW, { segments: 4 });
  const h = headerOf(patch);
  // The region: a filter byte (compression id 4), then the brotli stream.
  const filter = patch.subarray(h.headerBytes, h.headerBytes + 1);
  const literals = brotliDecompressSync(
    patch.subarray(h.headerBytes + 1, h.headerBytes + h.sharedLiteralBytes),
  );
  assert.equal(
    literals.length,
    h.segments.reduce((n, s) => n + s.literalRawBytes, 0),
  );
  const cases: [Uint8Array, PatchErrorCode][] = [];
  const layout = Uint8Array.from(patch);
  layout[10] = 2;
  cases.push([layout, 'UNSUPPORTED_VERSION']);
  // A segment with a region of its own under the shared layout.
  // (the last segment's, with its byte at the end, so nothing else moves).
  const own = withHeader(patch, (f) => {
    (f.segments.at(-1) as NativeSegment).literalBytes = 1;
  });
  cases.push([Buffer.concat([own, Uint8Array.of(0)]), 'CORRUPT_PATCH']);
  // More literal bytes than a shared region may hold (apply would try to allocate them all).
  const huge = 2 ** 40;
  cases.push([
    withHeader(patch, (f) => {
      f.newSize += huge;
      const s = f.segments[0] as NativeSegment;
      s.newLength += huge;
      s.literalRawBytes = huge;
    }),
    'CORRUPT_PATCH',
  ]);
  // Literal bytes declared but no shared region (its length 0, its bytes left over).
  cases.push([
    withHeader(patch, (f) => {
      f.sharedLiteralBytes = 0;
    }),
    'CORRUPT_PATCH',
  ]);
  // Literal lengths moved between segments (the total still adds up): the slices are cut in the wrong places.
  cases.push([
    withHeader(patch, (f) => {
      (f.segments[0] as NativeSegment).literalRawBytes += 3;
      (f.segments[1] as NativeSegment).literalRawBytes -= 3;
    }),
    'CORRUPT_PATCH',
  ]);
  // Regions that inflate to more, or fewer, bytes than the segments use; bytes after the brotli stream; no brotli.
  const region = (stream: Uint8Array) => withSharedRegion(patch, Buffer.concat([filter, stream]));
  cases.push([
    region(brotliCompressSync(Buffer.concat([literals, Uint8Array.of(7)]))),
    'DECOMPRESSION_LIMIT',
  ]);
  cases.push([region(brotliCompressSync(literals.subarray(1))), 'CORRUPT_PATCH']);
  cases.push([region(Buffer.concat([brotliCompressSync(literals), Uint8Array.of(0)])), 'CORRUPT_PATCH']);
  cases.push([region(randomBytes(64, seeded(5))), 'CORRUPT_PATCH']);
  // An unknown filter byte; the filter byte alone.
  cases.push([
    withSharedRegion(patch, Buffer.concat([Uint8Array.of(2), brotliCompressSync(literals)])),
    'CORRUPT_PATCH',
  ]);
  cases.push([withSharedRegion(patch, filter), 'CORRUPT_PATCH']);
  // A shared region (brotli of nothing) in a patch whose segments take no literal bytes.
  const noLiterals = Uint8Array.from(OLD);
  for (let i = 0; i < noLiterals.length; i += 997) noLiterals[i] = ((noLiterals[i] as number) + 1) & 255;
  const covered = await diffBuffers(OLD, noLiterals, { segments: 3 });
  const c = headerOf(covered);
  assert.ok(c.segments.every((s) => s.literalRawBytes === 0));
  const empty = Buffer.concat([Uint8Array.of(0), brotliCompressSync(new Uint8Array(0))]);
  const { headerBytes: coveredHeader, ...fields } = c;
  cases.push([
    Buffer.concat([
      encodeHeader({ ...fields, literalLayout: LiteralLayout.shared, sharedLiteralBytes: empty.length }),
      empty,
      covered.subarray(coveredHeader),
    ]),
    'CORRUPT_PATCH',
  ]);
  for (const [bad, code] of cases) {
    await expectRejected(bad, code, { threads: 1 });
    await expectRejected(bad, code, { threads: 3 });
  }
  // The region's own bytes, written back: the same patch, which applies.
  assert.deepEqual(
    withSharedRegion(patch, patch.subarray(h.headerBytes, h.headerBytes + h.sharedLiteralBytes)),
    patch,
  );
});

test('segment encoding on 2 and 3 threads: workers claim segments, the patch is the one thread writes, progress only grows', async () => {
  const { findCovers } = await import('../src/diff/engine/cover.js');
  const { planSegments } = await import('../src/diff/native/segments.js');
  const { startSegmentEncoding } = await import('../src/diff/native/encode-parallel.js');
  const inShared = (b: Uint8Array) => {
    const s = new Uint8Array(new SharedArrayBuffer(b.length));
    s.set(b);
    return s;
  };
  const old = inShared(OLD);
  const neu = inShared(NEW);
  const planned = planSegments(old, neu, findCovers(old, neu), { count: 6 });
  const frames = (streams: { frames: Uint8Array[] }[]) => Buffer.concat(streams.flatMap((s) => s.frames));
  const one = startSegmentEncoding(old, neu, planned, { threads: 1 });
  assert.equal(one.workers, 0);
  const expected = frames(await one.finish());
  for (const threads of [2, 3]) {
    const seen: number[] = [];
    const encoding = startSegmentEncoding(old, neu, planned, {
      threads,
      onProgress: (done) => seen.push(done),
    });
    assert.equal(encoding.workers, threads - 1, 'one worker per thread beyond this one');
    assert.ok(frames(await encoding.finish()).equals(expected), `${threads} threads`);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      'progress never goes back',
    );
    assert.ok((seen.at(-1) ?? 0) <= NEW.length);
  }
  // Unshared buffers (diffBuffers' callers) or fewer than 4 segments stay on this thread.
  assert.equal(startSegmentEncoding(OLD, NEW, planned, { threads: 3 }).workers, 0);
  assert.equal(startSegmentEncoding(old, neu, planned.slice(0, 3), { threads: 3 }).workers, 0);
  // And the patch diff writes from files is the one diffBuffers writes in memory.
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'old'), OLD);
    await writeFile(join(dir, 'new'), NEW);
    for (const threads of [1, 3]) {
      await diff(join(dir, 'old'), join(dir, 'new'), join(dir, `p${threads}`), { threads });
    }
    assert.deepEqual(await readFile(join(dir, 'p3')), await readFile(join(dir, 'p1')));
  });
});

test('an abort while workers encode segments rejects with the AbortError', async () => {
  const { findCovers } = await import('../src/diff/engine/cover.js');
  const { planSegments } = await import('../src/diff/native/segments.js');
  const { startSegmentEncoding } = await import('../src/diff/native/encode-parallel.js');
  // Large enough that the calling thread reports progress (every MiB) before its segments run out.
  const big = randomFill(8 << 20);
  const old = new Uint8Array(new SharedArrayBuffer(big.length));
  old.set(big);
  const neu = new Uint8Array(new SharedArrayBuffer(big.length));
  neu.set(big);
  for (let i = 0; i < neu.length; i += 7) neu[i] = (neu[i] as number) ^ 1;
  const planned = planSegments(old, neu, findCovers(old, neu), { count: 4 });
  const controller = new AbortController();
  const encoding = startSegmentEncoding(old, neu, planned, {
    threads: 2,
    onProgress: () => controller.abort(),
    signal: controller.signal,
  });
  assert.equal(encoding.workers, 1);
  await assert.rejects(encoding.finish(), { name: 'AbortError' });
});
