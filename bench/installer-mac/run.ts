// Crash bench: SIGKILL the installer mid-install at ≥ 200 spread-out points and count old/new/broken trees, ours
// beside an in-place "purge + copy over" install (python tufup's macOS approach), which has nothing to recover from.
// Run (after npm run build): node --import tsx bench/installer-mac/run.ts [--kills 200] [--round 100] [--delay 3]
//   [--lanes 2] [--seed N]. Rounds of stratified kill times repeat until --kills runs were really killed mid-install.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { crashLoop } from '../../packages/installer-mac/test/support/crash-harness.js';
import { listTree, makeNewTree, makeOldTree } from '../../packages/installer-mac/test/support/trees.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '200' },
    round: { type: 'string', default: '100' },
    delay: { type: 'string', default: '3' },
    lanes: { type: 'string', default: '2' },
    seed: { type: 'string' },
  },
});
const kills = Number(values.kills);
const roundSize = Number(values.round);
const delay = Number(values.delay);
const lanes = Number(values.lanes);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const BASELINE = join(dirname(fileURLToPath(import.meta.url)), 'inplace-copy.mjs');

const same = (a: Map<string, string>, b: Map<string, string>) =>
  a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/** The baseline under the same stratified kills: old, new, or neither (no recovery exists for it). */
async function baselineLoop(workDir: string, runs: number) {
  const counts = { old: 0, new: 0, neither: 0, finishedFirst: 0 };
  const run = async (n: number | string, killAfter: number | undefined) => {
    const dir = join(workDir, `baseline ${n}`);
    const dst = join(dir, 'app');
    const src = join(dir, 'staged');
    await makeOldTree(dst);
    await makeNewTree(src);
    const oldList = await listTree(dst);
    const newList = await listTree(src);
    const child = spawn(process.execPath, [BASELINE, src, dst, String(delay)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    const t0 = Date.now();
    let killed = false;
    if (killAfter !== undefined) {
      await new Promise((r) => setTimeout(r, killAfter));
      killed = child.kill('SIGKILL') && child.exitCode === null;
    }
    await exited;
    const elapsed = Date.now() - t0;
    const after = await listTree(dst).catch(() => new Map<string, string>());
    await rm(dir, { recursive: true, force: true });
    return {
      killed,
      elapsed,
      outcome: same(after, oldList) ? 'old' : same(after, newList) ? 'new' : 'neither',
    } as const;
  };
  const calib = await Promise.all(
    Array.from({ length: lanes }, (_, l) => run(`calibration ${l}`, undefined)),
  );
  const times = calib.map((c) => c.elapsed).sort((a, b) => a - b);
  const windowMs = Math.max(5, Math.round(times[Math.floor(times.length / 2)]! * 1.1));
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let i = next++; i < runs; i = next++) {
        const r = await run(i, ((i + Math.random()) / runs) * windowMs);
        counts[r.outcome]++;
        if (!r.killed) counts.finishedFirst++;
      }
    }),
  );
  return { ...counts, windowMs };
}

const workDir = await mkdtemp(join(tmpdir(), 'tufup-bench-installer-'));
try {
  console.log(
    `installer-mac crash bench: ≥ ${kills} SIGKILLs mid-install, rounds of ${roundSize} stratified kill times, ` +
      `step delay ${delay} ms, ${lanes} lanes, seed ${seed}`,
  );
  const t0 = Date.now();
  let shown = 0;
  const ours = await crashLoop({
    workDir,
    iterations: roundSize,
    minKills: kills,
    stepDelayMs: delay,
    concurrency: lanes,
    seed,
    onProgress: (_i, s) => {
      const done = s.old + s.new + s.failures.length;
      if (done - shown >= 50) {
        shown = done;
        process.stderr.write(`  ours: ${done} runs, ${s.killed}/${kills} killed mid-install\n`);
      }
    },
  });
  const oursSecs = ((Date.now() - t0) / 1000).toFixed(1);
  const t1 = Date.now();
  const base = await baselineLoop(workDir, ours.iterations);
  const baseSecs = ((Date.now() - t1) / 1000).toFixed(1);

  const row = (name: string, cols: (string | number)[]) =>
    console.log(name.padEnd(40) + cols.map((c) => String(c).padStart(9)).join(''));
  console.log('');
  row('', ['runs', 'killed', 'old', 'new', 'neither', 'window', 'time']);
  row('@tufup/installer-mac, then recover()', [
    ours.iterations,
    ours.killed,
    ours.old,
    ours.new,
    ours.failures.length,
    `${ours.windowMs}ms`,
    `${oursSecs}s`,
  ]);
  row('in-place purge + copy over (tufup mac)', [
    ours.iterations,
    ours.iterations - base.finishedFirst,
    base.old,
    base.new,
    base.neither,
    `${base.windowMs}ms`,
    `${baseSecs}s`,
  ]);
  console.log('\nours, by where the kill landed (final tree):');
  for (const [point, c] of Object.entries(ours.byPoint)) {
    console.log(`  ${point.padEnd(36)} old ${String(c.old).padStart(4)}   new ${String(c.new).padStart(4)}`);
  }
  console.log(`recover() outcomes: ${JSON.stringify(ours.recoverOutcomes)}`);
  if (ours.failures.length > 0) {
    console.log(`FAILURES:\n  ${ours.failures.join('\n  ')}`);
    process.exitCode = 1;
  }
} finally {
  await rm(workDir, { recursive: true, force: true });
}
