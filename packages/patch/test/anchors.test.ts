// Anchors (anchors.ts): long exact matches found before any index, the reduced old the index is built over,
// and the finder that answers from both, checked against the files themselves and a full suffix array; and
// the diff that uses them, through its patch.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import {
  AnchoredSearch,
  anchoredBytes,
  findAnchors,
  MIN_ANCHOR,
  oldTable,
  orderedTable,
  pieceLength,
  reducedPieces,
  reduceOld,
  tableEntries,
} from '../src/diff/engine/anchors.js';
import { usefulAnchors } from '../src/diff/engine/cover.js';
import { buildShortStrings } from '../src/diff/engine/short-strings.js';
import { SuffixSearch } from '../src/diff/engine/suffix-search.js';
import { apply, diff, diffBuffers } from '../src/index.js';
import { editedCopy, randomBytes, seeded, wordy } from './native-support.js';

function equalAt(a: Uint8Array, ap: number, b: Uint8Array, bp: number, len: number): boolean {
  return Buffer.from(a.buffer, a.byteOffset + ap, len).equals(Buffer.from(b.buffer, b.byteOffset + bp, len));
}

/** Checks what findAnchors promises; returns the anchors as triples. */
function checkAnchors(old: Uint8Array, neu: Uint8Array, anchors: Int32Array): [number, number, number][] {
  const out: [number, number, number][] = [];
  let end = 0;
  for (let i = 0; i < anchors.length; i += 3) {
    const [o, n, len] = [anchors[i] as number, anchors[i + 1] as number, anchors[i + 2] as number];
    assert.ok(len >= MIN_ANCHOR, `anchor ${i / 3}: ${len} bytes`);
    assert.ok(n >= end, 'sorted and disjoint in new');
    assert.ok(o >= 0 && o + len <= old.length && n + len <= neu.length, 'inside both files');
    assert.ok(equalAt(old, o, neu, n, len), 'an exact match');
    // As long as it extends: forward always, backward up to the previous anchor.
    assert.ok(
      o + len === old.length || n + len === neu.length || old[o + len] !== neu[n + len],
      'grown forward',
    );
    assert.ok(o === 0 || n === end || old[o - 1] !== neu[n - 1], 'grown backward');
    end = n + len;
    out.push([o, n, len]);
  }
  return out;
}

test('anchors are exact, maximal, sorted matches and cover the unchanged stretches of an edited copy', () => {
  const rand = seeded(11);
  for (const old of [randomBytes(400_000, rand), wordy(400_000, rand)]) {
    const neu = editedCopy(old, rand, 30);
    const found = findAnchors(old, neu);
    const anchors = checkAnchors(old, neu, found);
    // 30 edits leave about 31 unchanged stretches averaging 13 KB: all but a few hundred bytes near each
    // edit is anchored.
    assert.ok(anchoredBytes(found) > 0.9 * neu.length, `${anchors.length} anchors`);
  }
  // Nothing in common, a new file too short, an old file shorter than a window: no anchors.
  assert.equal(findAnchors(randomBytes(100_000, rand), randomBytes(100_000, rand)).length, 0);
  assert.equal(findAnchors(randomBytes(100_000, rand), new Uint8Array(MIN_ANCHOR - 1)).length, 0);
  assert.equal(findAnchors(new Uint8Array(10), new Uint8Array(100_000)).length, 0);
});

test("old's table filled region by region holds what filling it in position order does, in the same lookup order", () => {
  const rand = seeded(14);
  const text = wordy(40_000, rand);
  const inputs: Uint8Array[] = [
    // Repeated text: many copies of one window, of which the first four are kept.
    Buffer.concat([text, text, text, text, text, text]),
    randomBytes(200_000, rand),
    // Runs of zeros with islands of text.
    Buffer.concat([new Uint8Array(50_000), text.subarray(0, 5_000), new Uint8Array(50_000), text]),
  ];
  // Short random files: a 16-slot table with room for 12 samples, which some of them overflow (then the
  // table is filled in position order, and the samples past its room are left out).
  let overflowed = 0;
  for (let k = 0; k < 1_500; k++) inputs.push(randomBytes(256, rand));
  for (const old of inputs) {
    const fast = tableEntries(oldTable(old));
    const ordered = tableEntries(orderedTable(old));
    assert.deepEqual(fast, ordered);
    let entries = 0;
    for (const list of ordered.values()) {
      assert.ok(list.length <= 4, 'at most four copies of a window');
      assert.deepEqual(
        list,
        [...list].sort((a, b) => a - b),
        'copies in position order',
      );
      entries += list.length;
    }
    if (old.length === 256 && entries === 12) overflowed++;
  }
  assert.ok(overflowed > 0, 'some short files fill their table');
});

test('of two copies of a text in old, the anchor takes the one that matches on longer', () => {
  const rand = seeded(12);
  const text = wordy(50_000, rand);
  // old: [A = text][filler][B = text with its second half changed]; new: text with a small edit at 40 KB.
  const changed = Uint8Array.from(text);
  for (let i = 25_000; i < 50_000; i += 97) changed[i] = (changed[i] as number) ^ 0x55;
  const old = Buffer.concat([changed, randomBytes(10_000, rand), text]);
  const neu = Uint8Array.from(text);
  neu[40_000] = (neu[40_000] as number) ^ 1;
  const anchors = checkAnchors(old, neu, findAnchors(old, neu));
  const first = anchors[0] as [number, number, number];
  // Copy B (at 60,000) matches the first 40,000 bytes; copy A only the first 25,000.
  assert.deepEqual(first, [60_000, 0, 40_000]);
  // Runs of zeros in both (every window the same) are anchored once, not measured at every position.
  const zeros = new Uint8Array(300_000);
  assert.deepEqual(checkAnchors(zeros, zeros, findAnchors(zeros, zeros)), [[0, 0, 300_000]]);
});

test('the reduced old holds the unanchored bytes and a margin around where each changed stretch lies', () => {
  const rand = seeded(13);
  const old = wordy(300_000, rand);
  const neu = editedCopy(old, rand, 10);
  const anchors = findAnchors(old, neu);
  const pieces = reducedPieces(old.length, neu.length, anchors);
  const reduced = reduceOld(old, pieces);
  assert.equal(reduced.bytes.length, pieces.size);
  assert.ok(pieces.size < old.length / 2, `${pieces.size} of ${old.length} bytes kept`);
  const kept = new Uint8Array(old.length);
  let at = -1;
  for (let k = 0; k < reduced.start.length; k++) {
    const from = reduced.realStart[k] as number;
    const len = pieceLength(reduced.start, pieces.size, k);
    assert.ok(from > at && len > 0, 'pieces sorted, apart and not empty');
    assert.ok(equalAt(reduced.bytes, reduced.start[k] as number, old, from, len), 'a piece is old there');
    kept.fill(1, from, from + len);
    at = from + len;
  }
  const used = new Uint8Array(old.length);
  for (let i = 0; i < anchors.length; i += 3)
    used.fill(1, anchors[i] as number, (anchors[i] as number) + (anchors[i + 2] as number));
  for (let i = 0; i < old.length; i++) if (!used[i]) assert.equal(kept[i], 1, `unused old byte ${i} is kept`);
  // Beside each stretch of new between anchors, the old bytes next to both anchors stay (1024 of them).
  for (let i = 3; i < anchors.length; i += 3) {
    const prevEnd = (anchors[i - 2] as number) + (anchors[i - 1] as number);
    if ((anchors[i + 1] as number) === prevEnd) continue;
    const prevOldEnd = (anchors[i - 3] as number) + (anchors[i - 1] as number);
    for (const o of [prevOldEnd - 1, prevOldEnd - 1024, (anchors[i] as number) + 1023])
      if (o >= 0 && o < old.length) assert.equal(kept[o], 1, `old byte ${o} by a changed stretch is kept`);
  }
});

test('the anchored finder finds real matches: every anchor whole, elsewhere what the reduced old holds', () => {
  const rand = seeded(14);
  const old = wordy(200_000, rand);
  const neu = editedCopy(old, rand, 12);
  const anchors = findAnchors(old, neu);
  const reduced = reduceOld(old, reducedPieces(old.length, neu.length, anchors));
  const finder = new AnchoredSearch(
    anchors,
    reduced,
    new SuffixSearch(reduced.bytes, undefined, undefined, false, buildShortStrings(reduced.bytes)),
  );
  const alone = new SuffixSearch(reduced.bytes);
  const full = new SuffixSearch(old);
  const pieceAt = (r: number) => {
    let k = 0;
    while (k + 1 < reduced.start.length && (reduced.start[k + 1] as number) <= r) k++;
    return k;
  };
  let inside = 0;
  for (let k = 0; k < 3000; k++) {
    const pos = (rand() * neu.length) | 0;
    finder.search(neu, pos, neu.length, (rand() * old.length) | 0);
    const { matchPos, matchLength } = finder;
    assert.ok(equalAt(old, matchPos, neu, pos, matchLength), `a match at ${pos}`);
    full.search(neu, pos, neu.length, -1);
    assert.ok(matchLength <= full.matchLength || full.matchLength === 1 << 16, 'no longer than the longest');
    let anchor = -1;
    for (let i = 0; i < anchors.length; i += 3) {
      const n = anchors[i + 1] as number;
      if (pos >= n && pos < n + (anchors[i + 2] as number)) anchor = i;
    }
    if (anchor >= 0) {
      inside++;
      const end = (anchors[anchor + 1] as number) + (anchors[anchor + 2] as number);
      assert.ok(matchLength >= end - pos, 'the anchor, at least');
      assert.equal(finder.shortLength(neu, pos, neu.length), -1, 'no short answer inside an anchor');
    } else {
      // At least what the reduced old alone holds there, cut where its piece ends.
      alone.search(neu, pos, neu.length, -1);
      const piece = pieceAt(alone.matchPos);
      const pieceEnd =
        (reduced.start[piece] as number) + pieceLength(reduced.start, reduced.bytes.length, piece);
      assert.ok(matchLength >= Math.min(alone.matchLength, pieceEnd - alone.matchPos), `at ${pos}`);
      const short = finder.shortLength(neu, pos, neu.length);
      if (short >= 0) assert.ok(short < 4 && matchLength <= short, `short ${short}, search ${matchLength}`);
    }
  }
  assert.ok(inside > 2000 && inside < 3000, `${inside} of 3000 positions in anchors`);
});

test('runs of zeros in new against short runs in old are looked up once per run piece, not at every byte', () => {
  const rand = seeded(17);
  // Old: random bytes with four zero runs shorter than an anchor (the table keeps up to 4 copies of a window).
  const old = randomBytes(1 << 20, rand);
  for (const [at, len] of [
    [1000, 250],
    [5000, 100],
    [9000, 211],
    [20_000, 95],
  ] as const)
    old.fill(0, at, at + len);
  const neu = new Uint8Array(4 << 20);
  const stats = { lookups: 0 };
  assert.equal(findAnchors(old, neu, undefined, stats).length, 0);
  // Each lookup measures the short zero runs and skips as far as they reach: about one per 95 bytes.
  assert.ok(stats.lookups < neu.length / 64, `${stats.lookups} lookups for ${neu.length} zeros`);
});

test('the table holds samples from all of old: the last 16 KiB of a 24 MiB file is found', () => {
  const rand = seeded(18);
  const old = randomBytes(24 << 20, rand);
  const tail = old.subarray(old.length - (16 << 10));
  const anchors = checkAnchors(old, tail, findAnchors(old, tail));
  assert.deepEqual(anchors, [[old.length - (16 << 10), 0, 16 << 10]]);
});

/**
 * Anchored pairs of a few MB: in the first, anchors use nearly all of old (the rest gets a suffix array); in
 * the second, new copies only from the first 2.6 MB of old's 4 MiB (hash chains over all of old).
 */
function anchoredPairs(): { old: Uint8Array; neu: Uint8Array; rest: 'suffix-array' | 'hash-chains' }[] {
  const rand = seeded(15);
  const old = wordy(4 << 20, rand);
  const mostly: Uint8Array[] = [];
  for (let at = 0; at + 300_000 <= old.length; at += 300_000) {
    mostly.push(old.subarray(at + 1000, at + 210_000));
    mostly.push(editedCopy(old.subarray(at + 210_000, at + 300_000), rand, 3));
    mostly.push(randomBytes(190_000, rand));
  }
  const firstPart: Uint8Array[] = [];
  for (let k = 0; k < 16; k++) {
    firstPart.push(old.subarray(k * 150_000, k * 150_000 + 210_000));
    firstPart.push(randomBytes(150_000, rand));
  }
  return [
    { old, neu: Buffer.concat(mostly), rest: 'suffix-array' },
    { old, neu: Buffer.concat(firstPart), rest: 'hash-chains' },
  ];
}

test('an anchored diff is scanned on the calling thread: the same patch asked for 2 threads, and it rebuilds new', async () => {
  for (const { old, neu, rest } of anchoredPairs()) {
    const found = usefulAnchors(old, neu);
    assert.ok(found, 'the pair is anchored');
    assert.equal(found.plan.finder, rest);
    assert.equal(found.pieces === undefined, rest === 'hash-chains', 'chains index all of old');
    const one = await diffBuffers(old, neu);
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'old'), old);
      await writeFile(join(dir, 'new'), neu);
      const two = await diff(join(dir, 'old'), join(dir, 'new'), join(dir, 'patch'), { threads: 2 });
      assert.ok(Buffer.from(one).equals(await readFile(join(dir, 'patch'))), `${rest}: the same bytes`);
      assert.equal(two.size, one.length);
      await apply(join(dir, 'old'), join(dir, 'patch'), join(dir, 'out'));
      assert.ok(Buffer.from(neu).equals(await readFile(join(dir, 'out'))), `${rest}: rebuilt`);
    });
  }
});

test('a pair anchored below a tenth, or with nothing in common, is indexed whole', () => {
  const rand = seeded(16);
  const old = wordy(400_000, rand);
  const neu = Buffer.concat([old.subarray(0, 30_000), wordy(370_000, rand)]);
  assert.ok(anchoredBytes(findAnchors(old, neu)) >= 29_000);
  assert.equal(usefulAnchors(old, neu), undefined);
  assert.equal(usefulAnchors(old, randomBytes(400_000, rand)), undefined);
  assert.ok(usefulAnchors(old, Buffer.concat([old.subarray(0, 60_000), wordy(340_000, rand)])));
  assert.ok(usefulAnchors(old, editedCopy(old, rand, 5)));
});
