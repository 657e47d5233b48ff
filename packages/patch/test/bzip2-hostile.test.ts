// Hostile bzip2 input: bad headers, truncation, CRC damage, bombs, out-of-range block fields, seeded fuzzing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bzip2Decompress } from '../src/apply/bzip2/decoder.js';
import { bzip2Compress } from '../src/diff/bzip2/encoder.js';
import { PatchError } from '../src/errors.js';
import {
  assertPatchCode,
  randomBytesSeeded,
  runWithInput,
  seededRandom,
  wordsSeeded,
} from './bsdiff-support.js';

const decode = (data: Uint8Array, maxOutput = 1 << 20) => bzip2Decompress(data, { maxOutput });

/** Writes bits most-significant first, to build bzip2 streams field by field. */
class Bits {
  private readonly bytes: number[] = [];
  private acc = 0;
  private count = 0;
  put(n: number, value: number): this {
    for (let i = n - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >>> i) & 1);
      if (++this.count === 8) {
        this.bytes.push(this.acc);
        this.acc = 0;
        this.count = 0;
      }
    }
    return this;
  }
  done(): Uint8Array {
    const out = [...this.bytes];
    if (this.count > 0) out.push(this.acc << (8 - this.count));
    return Uint8Array.from(out);
  }
}

interface BlockFields {
  level?: number;
  randomised?: number;
  origPtr?: number;
  /** Byte values marked used in the symbol map (default: 'a'). */
  used?: number[];
  nGroups?: number;
  /** Selector MTF values, each written in unary. */
  selectors?: number[];
  /** Per table: the starting length, then per symbol the deltas to apply before its terminating 0 bit. */
  tables?: { start: number; deltas?: number[][] }[];
  /** Raw bits for the Huffman-coded data, as a string of 0/1. */
  data?: string;
}

/** A stream with one block whose header fields are as given (defaults make a valid header for 'a'). */
function craftStream(f: BlockFields): Uint8Array {
  const b = new Bits();
  b.put(8, 0x42)
    .put(8, 0x5a)
    .put(8, 0x68)
    .put(8, 0x30 + (f.level ?? 9));
  b.put(24, 0x314159).put(24, 0x265359).put(32, 0);
  b.put(1, f.randomised ?? 0).put(24, f.origPtr ?? 0);
  const used = f.used ?? [0x61];
  let used16 = 0;
  for (const c of used) used16 |= 0x8000 >>> (c >> 4);
  b.put(16, used16);
  for (let hi = 0; hi < 16; hi++) {
    if (!(used16 & (0x8000 >>> hi))) continue;
    let bits = 0;
    for (const c of used) if (c >> 4 === hi) bits |= 0x8000 >>> (c & 15);
    b.put(16, bits);
  }
  const nGroups = f.nGroups ?? 2;
  b.put(3, nGroups);
  const selectors = f.selectors ?? [0];
  b.put(15, selectors.length);
  for (const s of selectors) {
    for (let k = 0; k < s; k++) b.put(1, 1);
    b.put(1, 0);
  }
  const alphaSize = used.length + 2;
  // A valid default code for alphaSize 3: lengths 1, 2, 2.
  const tables = f.tables ?? Array.from({ length: nGroups }, () => ({ start: 1, deltas: [[], [+1], []] }));
  for (const t of tables) {
    b.put(5, t.start);
    for (let v = 0; v < alphaSize; v++) {
      for (const d of t.deltas?.[v] ?? []) b.put(2, d > 0 ? 2 : 3);
      b.put(1, 0);
    }
  }
  for (const bit of f.data ?? '') b.put(1, bit === '1' ? 1 : 0);
  // Then end-of-stream marker and a CRC, so only the field under test can be wrong.
  b.put(24, 0x177245).put(24, 0x385090).put(32, 0);
  return b.done();
}

test('crafted valid block decodes (the crafting helper is sound)', async () => {
  // Codes: RUNA=0, RUNB=10, EOB=11. MTF symbol 1 is not in a 1-byte alphabet; "0 11" = one 'a' then EOB.
  const stream = craftStream({ data: '011' });
  // Block CRC and stream CRC are 0 in the crafted stream, so the only complaint is the CRC.
  await assertPatchCode(() => decode(stream), 'CORRUPT_PATCH', /block CRC mismatch/);
});

test('streams without a BZh1..BZh9 header are CORRUPT_PATCH', async () => {
  for (const head of ['BZh0', 'BZx9', 'BZhA', '\x1f\x8b\x08\x00']) {
    const stream = Buffer.concat([Buffer.from(head, 'latin1'), bzip2Compress(Uint8Array.of(1)).subarray(4)]);
    await assertPatchCode(() => decode(stream), 'CORRUPT_PATCH', /not a bzip2 stream/);
  }
});

test('a stream cut at any byte is TRUNCATED_PATCH', async () => {
  const stream = bzip2Compress(wordsSeeded(seededRandom(1), 3000), { level: 1 });
  for (let cut = 0; cut < stream.length; cut++) {
    await assertPatchCode(() => decode(stream.subarray(0, cut)), 'TRUNCATED_PATCH');
  }
});

test('a damaged block CRC or stream CRC is CORRUPT_PATCH', async () => {
  const data = wordsSeeded(seededRandom(2), 20_000);
  const stream = Buffer.from(bzip2Compress(data, { level: 1 }));
  const badBlock = Buffer.from(stream);
  badBlock[12] = (badBlock[12] as number) ^ 0x10; // inside the block CRC (bytes 10..13)
  await assertPatchCode(() => decode(badBlock), 'CORRUPT_PATCH', /block CRC mismatch/);
  const badStream = Buffer.from(stream);
  const at = badStream.length - 2; // wholly inside the 32-bit stream CRC, before the padding bits
  badStream[at] = (badStream[at] as number) ^ 0x01;
  await assertPatchCode(() => decode(badStream), 'CORRUPT_PATCH', /stream CRC mismatch/);
});

test('a bzip2 bomb stops at maxOutput with DECOMPRESSION_LIMIT', async () => {
  const bomb = await runWithInput('bzip2', ['-9', '-c'], new Uint8Array(40 << 20));
  assert.ok(bomb.length < 200, `bomb is ${bomb.length} B`);
  const before = process.memoryUsage().arrayBuffers;
  await assertPatchCode(() => decode(bomb, 1 << 20), 'DECOMPRESSION_LIMIT');
  // A 40 MB result was never materialised: the decoder's buffers are a few MB.
  assert.ok(process.memoryUsage().arrayBuffers - before < 20 << 20);
});

test('origPtr outside the block is CORRUPT_PATCH', async () => {
  await assertPatchCode(
    () => decode(craftStream({ origPtr: 1, data: '011' })),
    'CORRUPT_PATCH',
    /origPtr 1 outside/,
  );
  await assertPatchCode(
    () => decode(craftStream({ origPtr: 0xffffff, data: '011' })),
    'CORRUPT_PATCH',
    /origPtr/,
  );
});

test('a block larger than its level allows is CORRUPT_PATCH', async () => {
  const stream = Buffer.from(
    await runWithInput('bzip2', ['-2', '-c'], randomBytesSeeded(seededRandom(4), 150_000)),
  );
  stream[3] = 0x31; // claim level 1: blocks of at most 100,000 bytes
  await assertPatchCode(() => decode(stream), 'CORRUPT_PATCH', /block longer than level 1/);
  // A zero run that overshoots the limit is refused as soon as it is read: RUNA x 20 is 2^20 - 1 bytes.
  const runs = craftStream({ level: 1, selectors: [0], data: '0'.repeat(20) + '11' });
  await assertPatchCode(() => decode(runs), 'CORRUPT_PATCH', /block longer than level 1/);
});

test('out-of-range block header fields are CORRUPT_PATCH', async () => {
  const cases: [string, BlockFields, RegExp][] = [
    ['randomised bit', { randomised: 1, data: '011' }, /randomised/],
    ['no byte values', { used: [], data: '011' }, /no byte values/],
    ['one table', { nGroups: 1, data: '011' }, /number of Huffman tables/],
    ['seven tables', { nGroups: 7, data: '011' }, /number of Huffman tables/],
    ['no selectors', { selectors: [], data: '011' }, /no selectors/],
    ['selector past the tables', { selectors: [2], data: '011' }, /selector out of range/],
    ['code length 0', { tables: [{ start: 0 }, { start: 0 }], data: '011' }, /code length out of range/],
    [
      'code length 21',
      { tables: [{ start: 20, deltas: [[+1]] }, { start: 1 }], data: '011' },
      /code length out of range/,
    ],
    ['over-subscribed code', { tables: [{ start: 1 }, { start: 1 }], data: '011' }, /over-subscribed/],
    [
      // Two byte values, all four codes 2 bits long: '10' is MTF position 1, 51 of them need 2 selectors.
      'more symbols than selectors',
      { used: [0x61, 0x62], tables: [{ start: 2 }, { start: 2 }], data: '10'.repeat(51) + '11' },
      /more symbols than selectors/,
    ],
  ];
  for (const [name, fields, message] of cases) {
    const err = await assertPatchCode(() => decode(craftStream(fields)), 'CORRUPT_PATCH', message);
    assert.ok(err.message.startsWith('bzip2:'), name);
  }
});

test('a code that an incomplete Huffman table does not assign is CORRUPT_PATCH', async () => {
  // Lengths 2, 2, 2 leave code 11 unassigned; table 0 codes RUNA=00 RUNB=01 EOB=10.
  const incomplete = { start: 2 };
  const stream = craftStream({ tables: [incomplete, incomplete], data: '00' + '11' });
  await assertPatchCode(() => decode(stream), 'CORRUPT_PATCH', /invalid Huffman code/);
});

test('seeded fuzz: 3000 mutated streams end in data or a coded error, never anything else', async () => {
  const rand = seededRandom(20261126);
  const seeds = [
    bzip2Compress(wordsSeeded(rand, 6000), { level: 1 }),
    bzip2Compress(randomBytesSeeded(rand, 3000), { level: 1 }),
    bzip2Compress(Buffer.concat([new Uint8Array(5000), wordsSeeded(rand, 2000)]), { level: 1 }),
    await runWithInput('bzip2', ['-1', '-c'], wordsSeeded(rand, 8000)),
  ];
  const seen = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const seed = seeds[i % seeds.length] as Uint8Array;
    const m = Buffer.from(seed);
    const kind = (rand() * 5) | 0;
    let input: Uint8Array = m;
    const at = 4 + ((rand() * (m.length - 4)) | 0);
    if (kind === 0) {
      const flips = 1 + ((rand() * 4) | 0);
      for (let k = 0; k < flips; k++) {
        const i = Math.min(m.length - 1, at + k * 7);
        m[i] = (m[i] as number) ^ (1 << ((rand() * 8) | 0));
      }
    } else if (kind === 1) m[at] = (rand() * 256) | 0;
    else if (kind === 2) input = m.subarray(0, at);
    else if (kind === 3)
      input = Buffer.concat([m.subarray(0, at), m.subarray(at - Math.min(at - 4, 40), at), m.subarray(at)]);
    else m.fill(0, at, Math.min(m.length, at + 1 + ((rand() * 16) | 0)));
    try {
      await decode(input, 64 << 10);
      seen.set('decoded', (seen.get('decoded') ?? 0) + 1);
    } catch (err) {
      assert.ok(err instanceof PatchError, `case ${i}: ${String(err)}`);
      assert.ok(['CORRUPT_PATCH', 'TRUNCATED_PATCH', 'DECOMPRESSION_LIMIT'].includes(err.code), err.code);
      seen.set(err.code, (seen.get(err.code) ?? 0) + 1);
    }
  }
  assert.ok((seen.get('CORRUPT_PATCH') ?? 0) > 1000, JSON.stringify([...seen]));
  assert.ok((seen.get('TRUNCATED_PATCH') ?? 0) > 100, JSON.stringify([...seen]));
});
