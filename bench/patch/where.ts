// Where a native patch's bytes and a diff's seconds go on one pair of files: the engine's covers, literal
// versus difference bytes, the modelled region against the literal region, and per-part timings.
//
//   node --import tsx bench/patch/where.ts OLD NEW
import { readFile } from 'node:fs/promises';
import { decodeHeader } from '../../packages/patch/src/apply/native/header.js';
import { chooseIndexed, findCovers } from '../../packages/patch/src/diff/engine/cover.js';
import { encodeNativePatch } from '../../packages/patch/src/diff/native/write.js';

const [oldPath, newPath] = process.argv.slice(2);
if (!oldPath || !newPath) throw new Error('usage: where.ts OLD NEW');
const old = await readFile(oldPath);
const neu = await readFile(newPath);
// The index the scan searches (anchors are found here once more, apart from the timings below).
const indexed = chooseIndexed(old, neu, {});
const plan = indexed.plan;
let t = performance.now();
const covers = findCovers(old, neu);
const coverMs = performance.now() - t;
let covered = 0;
let nonzero = 0;
let short = 0;
const lengths: number[] = [];
for (const c of covers) {
  covered += c.length;
  lengths.push(c.length);
  if (c.length < 64) short++;
  for (let i = 0; i < c.length; i++) if (old[c.oldPos + i] !== neu[c.newPos + i]) nonzero++;
}
lengths.sort((a, b) => a - b);
t = performance.now();
const parts = await encodeNativePatch(old, neu, covers);
const encodeMs = performance.now() - t;
const whole = Buffer.concat(parts);
const { segments, sharedLiteralBytes } = decodeHeader(whole, whole.length);
let model = 0;
let litRaw = 0;
let litBytes = sharedLiteralBytes;
for (const s of segments) {
  model += s.modelBytes;
  litRaw += s.literalRawBytes;
  litBytes += s.literalBytes;
}
const f = (n: number) => n.toLocaleString('en');
console.log(
  JSON.stringify(
    {
      old: f(old.length),
      new: f(neu.length),
      finder: plan.finder,
      anchored: indexed.anchored !== undefined,
      stride: plan.stride,
      covers: f(covers.length),
      coversUnder64B: f(short),
      medianCover: f(lengths[Math.floor(lengths.length / 2)] ?? 0),
      coveredBytes: f(covered),
      nonzeroDiffBytes: f(nonzero),
      literalBytes: f(litRaw),
      segments: segments.length,
      modelledRegion: f(model),
      literalRegion: f(litBytes),
      patch: f(parts.reduce((s, p) => s + p.length, 0)),
      modelledBitsPerCoveredByte: ((8 * model) / Math.max(1, covered)).toFixed(3),
      modelledBitsPerNonzeroDiff: ((8 * model) / Math.max(1, nonzero)).toFixed(2),
      literalRatio: (litBytes / Math.max(1, litRaw)).toFixed(3),
      coverSeconds: (coverMs / 1000).toFixed(1),
      encodeSeconds: (encodeMs / 1000).toFixed(1),
    },
    null,
    1,
  ),
);
