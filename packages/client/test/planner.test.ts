// The update planner on synthetic target lists: channels, required releases, chains and full-archive rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppTarget } from '../src/planner.js';
import { archive, patch, plan } from './support/targets.js';

const names = (ts: readonly AppTarget[]) => ts.map((t) => t.filename);

// The shape of python tufup's own client test data: 2.0 required, 3.0rc0, and 4.0a0 whose patch is too big.
const pythonMatrixRepo = [
  archive('1.0'),
  archive('2.0', 1000, { required: true, user: { changes: ['required'] } }),
  patch('2.0'),
  archive('3.0rc0'),
  patch('3.0rc0'),
  archive('4.0a0'),
  patch('4.0a0', 900),
];

describe('planUpdate: channels × required (python tufup test matrix)', () => {
  for (const pre of [undefined, 'a', 'b', 'rc'] as const) {
    it(`stops at the required 2.0 on channel ${pre ?? 'final'}`, () => {
      const p = plan(pythonMatrixRepo, { pre });
      assert.equal(p?.version, '2.0');
      assert.equal(p.required, true);
      assert.deepEqual(names(p.patches), ['app-2.0.patch']);
      assert.deepEqual(p.custom, { changes: ['required'] });
    });
  }

  it('ignoreRequired on finals only: 2.0 is still the newest final, by 1 patch', () => {
    const p = plan(pythonMatrixRepo, { ignoreRequired: true });
    assert.equal(p?.version, '2.0');
    assert.deepEqual(names(p.patches), ['app-2.0.patch']);
  });

  it("ignoreRequired on 'a': 4.0a0 by the full archive because its patches exceed 0.8 × the archive", () => {
    const p = plan(pythonMatrixRepo, { ignoreRequired: true, pre: 'a' });
    assert.equal(p?.version, '4.0a0');
    assert.deepEqual(p.patches, []);
    assert.equal(p.fullArchiveReason, 'patches-too-large');
    assert.equal(p.downloadSize, 1000);
  });

  for (const pre of ['b', 'rc'] as const) {
    it(`ignoreRequired on '${pre}': 3.0rc0 by 2 patches`, () => {
      const p = plan(pythonMatrixRepo, { ignoreRequired: true, pre });
      assert.equal(p?.version, '3.0rc0');
      assert.deepEqual(names(p.patches), ['app-2.0.patch', 'app-3.0rc0.patch']);
      assert.equal(p.downloadSize, 200);
    });
  }

  it('a required release outside the channel does not stop the walk', () => {
    const repo = [
      archive('1.0'),
      archive('2.0a1', 1000, { required: true }),
      patch('2.0a1'),
      archive('2.0'),
      patch('2.0'),
    ];
    const p = plan(repo);
    assert.equal(p?.version, '2.0');
    assert.deepEqual(names(p.patches), ['app-2.0a1.patch', 'app-2.0.patch']);
  });

  it('the patch chain includes pre-release patches whatever the channel', () => {
    const repo = [archive('1.0'), archive('1.1b1'), patch('1.1b1'), archive('1.1'), patch('1.1')];
    assert.deepEqual(names(plan(repo)!.patches), ['app-1.1b1.patch', 'app-1.1.patch']);
  });

  it('counts .dev and .post releases as finals, as python tufup does', () => {
    const repo = [archive('1.0'), archive('1.0.post1'), patch('1.0.post1')];
    assert.equal(plan(repo)?.version, '1.0.post1');
    const dev = [archive('1.0'), archive('1.1.dev2'), patch('1.1.dev2')];
    assert.equal(plan(dev)?.version, '1.1.dev2');
  });

  it('returns undefined when up to date, or when only pre-releases are newer on the final channel', () => {
    assert.equal(plan([archive('1.0')]), undefined);
    assert.equal(plan([archive('0.9'), archive('1.0')]), undefined);
    assert.equal(plan([archive('1.0'), archive('1.1rc1'), patch('1.1rc1')]), undefined);
    assert.equal(
      plan([archive('1.0'), archive('1.1rc1'), patch('1.1rc1')], { pre: 'rc' })?.version,
      '1.1rc1',
    );
  });

  it('compares versions by PEP 440, not as strings', () => {
    const repo = [archive('1.0'), archive('1.10'), patch('1.10'), archive('1.9'), patch('1.9')];
    const p = plan(repo, { ignoreRequired: true });
    assert.equal(p?.version, '1.10');
    assert.deepEqual(names(p.patches), ['app-1.9.patch', 'app-1.10.patch']);
  });
});

describe('planUpdate: full archive instead of patches', () => {
  const repo = [archive('1.0'), archive('1.1'), patch('1.1', 400), archive('1.2'), patch('1.2', 400)];

  it('uses patches up to exactly 0.8 × the archive', () => {
    const p = plan(repo);
    assert.deepEqual(names(p!.patches), ['app-1.1.patch', 'app-1.2.patch']);
    assert.equal(p!.downloadSize, 800);
  });

  it('uses the archive when patches total more than 0.8 × the archive', () => {
    const big = [archive('1.0'), archive('1.1'), patch('1.1', 400), archive('1.2'), patch('1.2', 401)];
    assert.equal(plan(big)!.fullArchiveReason, 'patches-too-large');
  });

  it('uses the archive when patches are disabled', () => {
    assert.equal(plan(repo, { patch: false })!.fullArchiveReason, 'patches-disabled');
  });

  it('uses the archive when the current version is not cached', () => {
    assert.equal(plan(repo, { currentArchiveCached: false })!.fullArchiveReason, 'no-cached-archive');
  });

  it('uses the archive when a patch of the chain failed before', () => {
    const p = plan(repo, { failedPatches: new Set(['app-1.2.patch']) });
    assert.equal(p!.fullArchiveReason, 'patch-failed-before');
    assert.equal(p!.downloadSize, 1000);
    // A failed patch outside the chain changes nothing.
    assert.equal(plan(repo, { failedPatches: new Set(['app-0.9.patch']) })!.patches.length, 2);
  });

  it('uses the archive when there are no patches', () => {
    assert.equal(plan([archive('1.0'), archive('1.1')])!.fullArchiveReason, 'no-patches');
  });

  it('uses the archive when a release in the chain was published without a patch (--skip-patch)', () => {
    const skipped = [archive('1.0'), archive('1.1'), archive('1.2'), patch('1.2')];
    const p = plan(skipped);
    assert.equal(p!.version, '1.2');
    assert.equal(p!.fullArchiveReason, 'chain-not-contiguous');
  });

  it('uses the archive when the running version was never published', () => {
    const p = plan([archive('0.9'), archive('1.1'), patch('1.1')], { currentVersion: '1.0' });
    assert.equal(p!.fullArchiveReason, 'chain-not-contiguous');
  });

  it('accepts a chain whose first link starts at a running version published only as a patch target', () => {
    const p = plan([patch('1.0'), archive('1.1'), patch('1.1')], { currentVersion: '1.0' });
    assert.deepEqual(names(p!.patches), ['app-1.1.patch']);
  });

  it('honours a custom patch ratio', () => {
    assert.equal(plan(repo, { maxPatchRatio: 0.5 })!.fullArchiveReason, 'patches-too-large');
  });
});
