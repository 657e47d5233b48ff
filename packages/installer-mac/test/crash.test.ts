// Crash safety: SIGKILL the worker at spread-out points; after recover() dstDir is exactly the old or the new tree.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { crashLoop } from './support/crash-harness.js';

test('after SIGKILLs spread over the swap (10 at least, in rounds of 20) and recover(), dstDir is exactly the old or the new tree', async () => {
  await withTempDir(async (workDir) => {
    // Rounds of 20 until 10 runs were really killed and both outcomes seen: how many runs finish before their
    // kill depends on how busy the machine is, which the kill window (recalibrated each round) follows.
    const stats = await crashLoop({ workDir, iterations: 20, stepDelayMs: 3, concurrency: 2, minKills: 10 });
    const summary = JSON.stringify(stats);
    assert.deepEqual(stats.failures, [], summary);
    assert.equal(stats.old + stats.new, stats.iterations, summary);
    // Stratified kill times: the first slices land before the swap, the last after it.
    assert.ok(stats.old >= 1, summary);
    assert.ok(stats.new >= 1, summary);
    assert.ok(stats.killed >= 10, summary);
    console.log(`crash loop: ${summary}`);
  });
});
