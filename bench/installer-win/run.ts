// Long kill-run of @tufup/installer-win under wine: kill the install script at random points, recover(), count trees.
// Run: node --import tsx bench/installer-win/run.ts [--kills 50] [--concurrency 3]
import { rm } from 'node:fs/promises';
import { makeTempDir } from '@tufup/common';
import {
  installCaseOnce,
  KILL_TARGETS,
  type KillRun,
  killOffset,
  killRun,
  wineContext,
} from '../../packages/installer-win/test/support/harness.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number`);
  return v;
}

const kills = arg('kills', 50);
const concurrency = arg('concurrency', 3);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)] as number) : Number.NaN;
};

const t0 = Date.now();
const ctx = await wineContext();
console.log(`wine prefix and node.exe ready in ${Date.now() - t0} ms`);
const parent = await makeTempDir('tufup-win-bench-');
try {
  // Reference: three uninterrupted installs (app start -> relaunched new version reports, and until idle).
  const plain: Array<{ relaunchMs: number; idleMs: number }> = [];
  for (let i = 0; i < 3; i++) plain.push(await installCaseOnce(ctx, parent, `plain ${i}`));
  console.log(
    `uninterrupted install, median of 3: relaunched new version after ${median(plain.map((p) => p.relaunchMs))} ms, ` +
      `all processes gone after ${median(plain.map((p) => p.idleMs))} ms`,
  );

  const runs: KillRun[] = [];
  let next = 0;
  const worker = async () => {
    while (next < kills) {
      const i = next++;
      // Every step of the script's life gets kills: target i cycles, the offset into it is random.
      const target = KILL_TARGETS[i % KILL_TARGETS.length] as (typeof KILL_TARGETS)[number];
      const offsetMs = killOffset(target);
      const run = await killRun(ctx, parent, `kill ${i} &%!(é`, target, offsetMs);
      runs.push(run);
      console.log(
        `kill ${String(i + 1).padStart(3)}/${kills} at ${`${target} +${offsetMs} ms`.padEnd(24)} ` +
          `${run.position.padEnd(18)} killed ${run.scripts} script + ${run.killed - run.scripts} child procs  ` +
          `recover: ${run.recover.padEnd(11)} -> ${run.result}  (${run.ms} ms)`,
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  const byPosition = new Map<string, { old: number; new: number; neither: number }>();
  for (const r of runs) {
    const row = byPosition.get(r.position) ?? { old: 0, new: 0, neither: 0 };
    row[r.result]++;
    byPosition.set(r.position, row);
  }
  console.log('\nlast journal line when killed       old   new   neither');
  for (const [pos, row] of [...byPosition].sort()) {
    console.log(
      `  ${pos.padEnd(32)} ${String(row.old).padStart(4)} ${String(row.new).padStart(5)} ${String(row.neither).padStart(9)}`,
    );
  }
  const outcomes = new Map<string, number>();
  for (const r of runs) outcomes.set(r.recover, (outcomes.get(r.recover) ?? 0) + 1);
  const neither = runs.filter((r) => r.result === 'neither').length;
  console.log(`\nrecover() outcomes: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const missed = runs.filter((r) => r.scripts === 0).length;
  console.log(`kills that found the script already finished (not counted as crashes): ${missed}`);
  console.log(
    `kills: ${runs.length - missed}, install dir exactly old: ${runs.filter((r) => r.result === 'old').length}, ` +
      `exactly new: ${runs.filter((r) => r.result === 'new').length}, neither: ${neither}`,
  );
  console.log(
    `per kill run: median ${median(runs.map((r) => r.ms))} ms; total ${Math.round((Date.now() - t0) / 1000)} s`,
  );
  console.log(
    '\npython tufup (compared): its Windows batch overwrites in place with `robocopy /e /move`; wine 8 robocopy exits 16\n' +
      'without copying, so it cannot be killed side by side here. A kill during its copy leaves a mix of old and new files.',
  );
  if (neither > 0) process.exitCode = 1;
} finally {
  await rm(parent, { recursive: true, force: true });
}
