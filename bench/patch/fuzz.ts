// Long fuzz run of the native decoder: damaged patches must rebuild exactly or fail with a coded error.
//
//   node --import tsx bench/patch/fuzz.ts [--cases 100000] [--seed N]
//
// The same mutations and checks as the seeded CI test (packages/patch/test/native-fuzz.test.ts), many more
// cases, in batches with fresh seeds so a failure names a reproducible seed.
import { tmpdir } from 'node:os';
import { withTempDir } from '@tufup/common';
import { fuzzNative } from '../../packages/patch/test/native-support.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt;
const cases = arg('--cases', 100_000);
const seed = arg('--seed', Date.now() % 1_000_000);
const batch = 5000;

const started = Date.now();
const total: Record<string, number> = {};
let applied = 0;
let done = 0;
for (let b = 0; done < cases; b++) {
  const n = Math.min(batch, cases - done);
  const s = await withTempDir((dir) => fuzzNative(dir, n, seed + b), 'tufup-fuzz-', tmpdir());
  done += n;
  applied += s.applied;
  for (const [k, v] of Object.entries(s.byCode)) total[k] = (total[k] ?? 0) + v;
  process.stderr.write(`\r${done} / ${cases} cases (seeds ${seed}..${seed + b})`);
}
const seconds = (Date.now() - started) / 1000;
console.log(
  `\n${cases} damaged native patches in ${seconds.toFixed(0)} s, seeds ${seed}..: every one rebuilt the new file exactly (${applied}) or ended in a coded error:`,
);
for (const [k, v] of Object.entries(total).sort((a, b) => b[1] - a[1])) console.log(`  ${k}: ${v}`);
