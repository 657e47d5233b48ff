// Long fuzz run of the untrusted-input decoders: mutated bzip2 streams and BSDIFF40 patches (default 100,000 each).
// Run: node --import tsx bench/bzip2/fuzz.ts [--bzip2 N] [--bsdiff N] [--seed S]
import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@tufup/common';
import { applyBsdiff40 } from '../../packages/patch/src/apply/bsdiff40/apply.js';
import { bzip2Decompress } from '../../packages/patch/src/apply/bzip2/decoder.js';
import { createBsdiff40 } from '../../packages/patch/src/diff/bsdiff40/write.js';
import { bzip2Compress } from '../../packages/patch/src/diff/bzip2/encoder.js';
import { PatchError } from '../../packages/patch/src/errors.js';
import {
  editedCopy,
  randomBytesSeeded,
  seededRandom,
  wordsSeeded,
} from '../../packages/patch/test/bsdiff-support.js';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const bzip2Cases = arg('--bzip2', 100_000);
const bsdiffCases = arg('--bsdiff', 100_000);
const rand = seededRandom(arg('--seed', 1));

/** One random mutation: bit flip, byte set, truncation, duplicated range, zeroed range or spliced bytes. */
function mutate(src: Uint8Array): Uint8Array {
  const m = Buffer.from(src);
  const at = (rand() * m.length) | 0;
  switch ((rand() * 6) | 0) {
    case 0:
      for (let k = 0, n = 1 + ((rand() * 4) | 0); k < n; k++) {
        const i = (rand() * m.length) | 0;
        m[i] = (m[i] as number) ^ (1 << ((rand() * 8) | 0));
      }
      return m;
    case 1:
      m[at] = (rand() * 256) | 0;
      return m;
    case 2:
      return m.subarray(0, at);
    case 3:
      return Buffer.concat([m.subarray(0, at), m.subarray(Math.max(0, at - 64), at), m.subarray(at)]);
    case 4:
      m.fill(0, at, Math.min(m.length, at + 1 + ((rand() * 32) | 0)));
      return m;
    default:
      return Buffer.concat([
        m.subarray(0, at),
        randomBytesSeeded(rand, 1 + ((rand() * 16) | 0)),
        m.subarray(at),
      ]);
  }
}

const counts = new Map<string, number>();
const count = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
let unexpected = 0;

const started = performance.now();
const seeds = [
  bzip2Compress(wordsSeeded(rand, 20_000), { level: 1 }),
  bzip2Compress(randomBytesSeeded(rand, 5_000), { level: 2 }),
  bzip2Compress(Buffer.concat([new Uint8Array(30_000), wordsSeeded(rand, 3_000)]), { level: 9 }),
  execFileSync('bzip2', ['-1', '-c'], { input: wordsSeeded(rand, 12_000) }),
];
for (let i = 0; i < bzip2Cases; i++) {
  try {
    await bzip2Decompress(mutate(seeds[i % seeds.length] as Uint8Array), { maxOutput: 1 << 20 });
    count('bzip2: decoded');
  } catch (err) {
    if (err instanceof PatchError) count(`bzip2: ${err.code}`);
    else {
      unexpected++;
      console.error(`bzip2 case ${i}:`, err);
    }
  }
}
const bzip2Secs = (performance.now() - started) / 1000;

const dir = await makeTempDir('tufup-fuzz-');
const oldBytes = wordsSeeded(rand, 30_000);
await writeFile(join(dir, 'old'), oldBytes);
await writeFile(join(dir, 'new'), editedCopy(rand, oldBytes));
await createBsdiff40(join(dir, 'old'), join(dir, 'new'), join(dir, 'good.patch'), { level: 1 });
const good = await readFile(join(dir, 'good.patch'));
const bsdiffStarted = performance.now();
for (let i = 0; i < bsdiffCases; i++) {
  await writeFile(join(dir, 'p'), mutate(good));
  try {
    await applyBsdiff40(join(dir, 'old'), join(dir, 'p'), join(dir, `out`), { maxNewSize: 1 << 20 });
    count('bsdiff: applied');
  } catch (err) {
    if (err instanceof PatchError) count(`bsdiff: ${err.code}`);
    else {
      unexpected++;
      console.error(`bsdiff case ${i}:`, err);
    }
  }
}
const leftovers = (await readdir(dir)).filter((f) => !['old', 'new', 'good.patch', 'p', 'out'].includes(f));
const bsdiffSecs = (performance.now() - bsdiffStarted) / 1000;

console.log(`bzip2: ${bzip2Cases} mutated streams in ${bzip2Secs.toFixed(1)} s`);
console.log(`BSDIFF40: ${bsdiffCases} mutated patches in ${bsdiffSecs.toFixed(1)} s`);
for (const [k, v] of [...counts].sort()) console.log(`  ${k.padEnd(32)} ${v}`);
console.log(`unexpected (not a PatchError): ${unexpected}; files left behind: ${leftovers.length}`);
if (unexpected > 0 || leftovers.length > 0) process.exitCode = 1;
