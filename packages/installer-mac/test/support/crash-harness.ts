// Kill the worker with SIGKILL at spread-out random points, recover(), and check dstDir is exactly old or new.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { recover, startInstallWorker } from '@tufup/installer-mac';
import { isAlive } from './app.js';
import { expectedAfterPreserve, listTree, makeNewTree, makeOldTree, PRESERVE } from './trees.js';
import { seededRandom } from '../../../../test-support/random.js';

/** Above every pid_max (Linux ≤ 4194304, macOS 99998): a process that has certainly exited. */
export const GONE_PID = 4_194_305;

export interface CrashStats {
  seed: number;
  iterations: number;
  /** Worker killed while running. */
  killed: number;
  /** The worker had already finished when the kill came. */
  finishedFirst: number;
  old: number;
  new: number;
  /** Where the kill landed (from the journal and what existed) → final tree. */
  byPoint: Record<string, { old: number; new: number }>;
  /** recover()'s outcomes. */
  recoverOutcomes: Record<string, number>;
  /** Anything that was neither exactly old nor exactly new, or left debris: must stay empty. */
  failures: string[];
  windowMs: number;
}

const same = (a: Map<string, string>, b: Map<string, string>) =>
  a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

async function killPoint(stateDir: string, dst: string): Promise<string | undefined> {
  let phase: string | undefined;
  try {
    phase = (JSON.parse(await readFile(join(stateDir, 'journal.json'), 'utf8')) as { phase: string }).phase;
  } catch {
    return undefined; // no journal: before it was written or after it was removed (told apart by the result)
  }
  if (phase !== 'swapping') return phase;
  const backup = (await readdir(stateDir)).some((n) => n.startsWith('backup-'));
  if (!backup) return 'swapping: before the renames';
  return existsSync(dst) ? 'swapping: after both renames' : 'swapping: between the renames';
}

/**
 * Runs `iterations` installs of the fixture trees, each killed at a time drawn from its own slice of the
 * calibrated run time (stratified, so kills spread over every step), then recovers and compares full listings.
 */
export async function crashLoop(opts: {
  workDir: string;
  iterations: number;
  stepDelayMs: number;
  /**
   * Keep running rounds of `iterations` until at least this many runs were really killed mid-install and
   * both outcomes were seen (a tree left old, one made new). Each round recalibrates the kill window from
   * its runs that finished first, so on a machine whose load changes the kills still spread over the install.
   */
  minKills?: number;
  /** Installs run side by side (each in its own dirs); kill times are calibrated under the same load. */
  concurrency?: number;
  seed?: number;
  onProgress?: (i: number, stats: CrashStats) => void;
}): Promise<CrashStats> {
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  const random = seededRandom(seed);
  const stats: CrashStats = {
    seed,
    iterations: opts.iterations,
    killed: 0,
    finishedFirst: 0,
    old: 0,
    new: 0,
    byPoint: {},
    recoverOutcomes: {},
    failures: [],
    windowMs: 0,
  };

  const run = async (n: number | string, killAfterMs: number | undefined) => {
    const dir = join(opts.workDir, `run ${n}`);
    const dst = join(dir, 'app');
    const src = join(dir, 'staged');
    await makeOldTree(dst);
    await makeNewTree(src);
    const oldList = await listTree(dst);
    const newList = expectedAfterPreserve(oldList, await listTree(src), PRESERVE);
    const started = await startInstallWorker(
      { appName: 'demo', version: '2.0', srcDir: src, dstDir: dst, pid: GONE_PID, relaunch: false },
      {
        preserve: PRESERVE,
        stepDelayMs: opts.stepDelayMs,
        waitTimeoutMs: 5_000,
        logFile: join(dir, 'install.log'),
      },
    );
    const t0 = Date.now();
    let killed = false;
    if (killAfterMs !== undefined) {
      await sleep(killAfterMs);
      if (isAlive(started.pid)) {
        try {
          process.kill(started.pid, 'SIGKILL');
          killed = true;
        } catch {
          // It exited between the check and the kill: counted as finished.
        }
      }
    }
    while (isAlive(started.pid)) await sleep(1);
    const elapsed = Date.now() - t0;
    const point = killed ? await killPoint(started.stateDir, dst) : 'finished before the kill';
    const result = await recover(dst, { logFile: join(dir, 'install.log') });
    const after = await listTree(dst);
    const isOld = same(after, oldList);
    const isNew = same(after, newList);
    const debris = await readdir(started.stateDir).catch(() => []);
    await rm(dirname(started.requestFile), { recursive: true, force: true });
    return { dir, killed, point, result, isOld, isNew, debris, elapsed };
  };

  // Calibrate: how long an uninterrupted install takes from the worker's handshake to its exit, under the same
  // load as the kills (lanes side by side), after one warm-up run that fills the file cache.
  const lanes = Math.max(1, opts.concurrency ?? 1);
  const warm = await run('warm-up', undefined);
  await rm(warm.dir, { recursive: true, force: true });
  const calib = (
    await Promise.all(
      Array.from({ length: lanes }, async (_, l) => [
        await run(`calibration ${l}a`, undefined),
        await run(`calibration ${l}b`, undefined),
      ]),
    )
  ).flat();
  for (const c of calib) {
    if (!c.isNew) throw new Error('a calibration install did not produce the new tree');
    await rm(c.dir, { recursive: true, force: true });
  }
  const times = calib.map((c) => c.elapsed).sort((a, b) => a - b);
  stats.windowMs = Math.max(5, Math.round(times[Math.floor(times.length / 2)]! * 1.1));

  // Each run of a round gets its own slice of the window; the order is shuffled so lanes don't share a pattern.
  const round = async (first: number, count: number): Promise<number[]> => {
    const slots = Array.from({ length: count }, (_, i) => i);
    for (let i = slots.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [slots[i], slots[j]] = [slots[j]!, slots[i]!];
    }
    const finishedTimes: number[] = [];
    let next = 0;
    const lane = async () => {
      for (let k = next++; k < count; k = next++) {
        const t = await iteration(first + k, ((slots[k]! + random()) / count) * stats.windowMs);
        if (t !== undefined) finishedTimes.push(t);
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    return finishedTimes;
  };
  const iteration = async (i: number, killAfter: number): Promise<number | undefined> => {
    const r = await run(i, killAfter);
    if (r.killed) stats.killed++;
    else stats.finishedFirst++;
    const outcome = r.isOld ? 'old' : r.isNew ? 'new' : 'neither';
    const point = r.point ?? (r.isOld ? 'before the journal' : 'after the journal');
    if (outcome === 'neither')
      stats.failures.push(`run ${i} (killed at ${point}): tree is neither old nor new`);
    else {
      stats[outcome]++;
      stats.byPoint[point] ??= { old: 0, new: 0 };
      stats.byPoint[point][outcome]++;
    }
    stats.recoverOutcomes[r.result.outcome] = (stats.recoverOutcomes[r.result.outcome] ?? 0) + 1;
    if (r.debris.length > 0) stats.failures.push(`run ${i}: state dir not empty: ${r.debris.join(', ')}`);
    if ((r.result.outcome === 'rolled-back' && !r.isOld) || (r.result.outcome === 'completed' && !r.isNew)) {
      stats.failures.push(`run ${i}: recover() said ${r.result.outcome} but the tree is ${outcome}`);
    }
    if (stats.failures.length === 0) await rm(r.dir, { recursive: true, force: true });
    opts.onProgress?.(i, stats);
    return r.killed ? undefined : r.elapsed;
  };

  let runs = 0;
  do {
    const finished = await round(runs, opts.iterations);
    runs += opts.iterations;
    // Under a changing load the calibration drifts; runs that beat their kill show how long a run takes now.
    if (finished.length >= 3) stats.windowMs = Math.max(5, Math.round(Math.max(...finished) * 1.05));
  } while (!enough(stats, opts.minKills) && runs < 20 * opts.iterations);
  stats.iterations = runs;
  return stats;
}

/** Whether a crash loop asked for `minKills` has what it needs (see crashLoop's option). */
function enough(stats: CrashStats, minKills: number | undefined): boolean {
  return minKills === undefined || (stats.killed >= minKills && stats.old > 0 && stats.new > 0);
}
