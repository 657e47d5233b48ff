// bzip2 interoperability: Debian's bzip2 decodes what we encode, we decode what it encodes, CRCs agree.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { test } from 'node:test';
import { Bzip2Reader, bzip2Decompress } from '../src/apply/bzip2/decoder.js';
import { bwtForward } from '../src/diff/bzip2/bwt.js';
import { bzip2Compress } from '../src/diff/bzip2/encoder.js';
import { bzip2Crc } from '../src/format/bzip2-crc.js';
import { randomBytesSeeded, runWithInput, seededRandom, wordsSeeded } from './bsdiff-support.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Runs of every length around the run-length stage's limits (4 and 255), and the byte after a run. */
function runLengthEdges(): Uint8Array {
  const out: number[] = [];
  for (let len = 1; len <= 262; len++) {
    for (let k = 0; k < len; k++) out.push(len & 0xff);
    out.push(len & 1 ? 0x41 : (len + 1) & 0xff);
  }
  return Uint8Array.from(out);
}

async function nodeBinarySlice(bytes: number): Promise<Uint8Array> {
  const fh = await open(process.execPath, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 4 << 20);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function samples(): Promise<[string, Uint8Array][]> {
  const rand = seededRandom(42);
  return [
    ['empty', new Uint8Array(0)],
    ['one byte', Uint8Array.of(0x7a)],
    ['all byte values', Uint8Array.from({ length: 256 }, (_, i) => i)],
    ['random 150 kB', randomBytesSeeded(rand, 150_000)],
    ['words 400 kB', wordsSeeded(rand, 400_000)],
    ['zeros 250 kB', new Uint8Array(250_000)],
    ['run-length edges', runLengthEdges()],
    ['period 2', Uint8Array.from({ length: 60_000 }, (_, i) => (i & 1 ? 0x62 : 0x61))],
    ['period 7 with a tail', Uint8Array.from({ length: 70_003 }, (_, i) => (i < 70_000 ? (i % 7) * 37 : 1))],
    ['node binary 300 kB', await nodeBinarySlice(300_000)],
  ];
}

test('bzip2 -d decodes our output byte-exactly at levels 1, 5 and 9', async () => {
  for (const [name, data] of await samples()) {
    for (const level of [1, 5, 9]) {
      const compressed = bzip2Compress(data, { level });
      assert.equal(String.fromCharCode(...compressed.subarray(0, 4)), `BZh${level}`);
      const decoded = await runWithInput('bzip2', ['-dc'], compressed);
      assert.equal(sha256(decoded), sha256(data), `${name} at level ${level}`);
    }
  }
});

test('we decode bzip2 -1 and -9 output byte-exactly', async () => {
  for (const [name, data] of await samples()) {
    for (const level of [1, 9]) {
      const compressed = await runWithInput('bzip2', [`-${level}`, '-c'], data);
      const decoded = await bzip2Decompress(compressed, { maxOutput: data.length });
      assert.equal(sha256(decoded), sha256(data), `${name} at level ${level}`);
    }
  }
});

test('a multi-block stream round-trips through Debian bzip2 both ways', async () => {
  const rand = seededRandom(7);
  const data = Buffer.concat([
    wordsSeeded(rand, 500_000),
    randomBytesSeeded(rand, 120_000),
    new Uint8Array(90_000),
  ]);
  const ours = bzip2Compress(data, { level: 1 });
  assert.equal(sha256(await runWithInput('bzip2', ['-dc'], ours)), sha256(data));
  const theirs = await runWithInput('bzip2', ['-1', '-c'], data);
  assert.equal(sha256(await bzip2Decompress(theirs, { maxOutput: data.length })), sha256(data));
  assert.equal(sha256(await bzip2Decompress(ours, { maxOutput: data.length })), sha256(data));
});

test('our block CRC equals the CRC bzip2 stores in the block header', async () => {
  const rand = seededRandom(3);
  for (const data of [Uint8Array.of(1, 2, 3), wordsSeeded(rand, 5000), randomBytesSeeded(rand, 20_000)]) {
    const theirs = await runWithInput('bzip2', ['-9', '-c'], data);
    // 'BZh9' (4 bytes) + block magic (6 bytes), then the block CRC as a big-endian 32-bit value.
    const stored = Buffer.from(theirs).readUInt32BE(10);
    assert.equal(bzip2Crc(data), stored);
  }
});

test('decoding from a source that returns a few bytes per read gives the same bytes', async () => {
  const rand = seededRandom(11);
  const data = Buffer.concat([wordsSeeded(rand, 150_000), randomBytesSeeded(rand, 30_000)]);
  const compressed = await runWithInput('bzip2', ['-2', '-c'], data);
  let at = 0;
  const reader = new Bzip2Reader({
    async read(dst, offset, length) {
      const n = Math.min(length, compressed.length - at, 1 + ((rand() * 13) | 0));
      dst.set(compressed.subarray(at, at + n), offset);
      at += n;
      return n;
    },
  });
  const out = new Uint8Array(data.length);
  let got = 0;
  while (got < out.length) {
    const n = await reader.read(out, got, Math.min(out.length - got, 1 + ((rand() * 5000) | 0)));
    assert.ok(n > 0, `stream ended early at ${got}`);
    got += n;
  }
  assert.equal(await reader.read(new Uint8Array(1), 0, 1), 0, 'no bytes after the data');
  assert.ok(reader.ended);
  assert.equal(sha256(out), sha256(data));
});

test('our encoder compresses text within 2% of bzip2 -9', async () => {
  const data = wordsSeeded(seededRandom(5), 800_000);
  const ours = bzip2Compress(data, { level: 9 }).length;
  const theirs = (await runWithInput('bzip2', ['-9', '-c'], data)).length;
  assert.ok(ours <= theirs * 1.02, `ours ${ours} B, bzip2 ${theirs} B`);
});

test('the BWT equals a naive sort of all rotations, for small alphabets and periodic blocks', () => {
  const rand = seededRandom(12);
  const blocks: Uint8Array[] = [
    Uint8Array.of(5, 5, 5, 5),
    Uint8Array.of(1, 0),
    Uint8Array.of(2, 1, 2, 1, 2, 1),
  ];
  for (let i = 0; i < 400; i++) {
    const n = 2 + ((rand() * 60) | 0);
    const alphabet = 1 + ((rand() * 4) | 0);
    const period = rand() < 0.3 ? 1 + ((rand() * 5) | 0) : n;
    const unit = Array.from({ length: period }, () => (rand() * alphabet) | 0);
    blocks.push(Uint8Array.from({ length: n }, (_, k) => unit[k % period] as number));
  }
  for (const block of blocks) {
    const n = block.length;
    const rotation = (s: number) => Array.from({ length: n }, (_, k) => block[(s + k) % n] as number);
    const order = Array.from({ length: n }, (_, s) => s).sort((a, b) => {
      const x = rotation(a);
      const y = rotation(b);
      for (let k = 0; k < n; k++) if (x[k] !== y[k]) return (x[k] as number) - (y[k] as number);
      return 0;
    });
    const last = new Uint8Array(n);
    const origPtr = bwtForward(block, n, last);
    assert.deepEqual(
      [...last],
      order.map((s) => block[(s + n - 1) % n]),
      `block ${[...block]}`,
    );
    // Row origPtr must be a rotation equal to the block itself (equal rotations may swap rows).
    assert.deepEqual(rotation(order[origPtr] as number), [...block], `origPtr of ${[...block]}`);
  }
});
