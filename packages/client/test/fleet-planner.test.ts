// The planner's fleet rules on synthetic target lists: release channels, staged rollout buckets, yanked
// releases and the one way down, and how they combine with pre-release channels and required releases.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { type AppTarget, inRollout, needsInstallId, rolloutBucket } from '../src/planner.js';
import { app, archive as archiveOf, patch, plan } from './support/targets.js';

function archive(version: string, extra: Partial<AppTarget> = {}, length = 1000): AppTarget {
  return archiveOf(version, length, extra);
}

const rollout = (installId: string) => ({ installId, appName: app });

describe('release channels', () => {
  const repo = [
    archive('1.0'),
    archive('1.1'),
    patch('1.1'),
    archive('1.2', { channel: 'beta' }),
    patch('1.2'),
  ];

  it('a stable client skips beta releases; a beta client sees beta and stable', () => {
    assert.equal(plan(repo)?.version, '1.1');
    assert.equal(plan(repo, { channel: 'beta' })?.version, '1.2');
    assert.equal(plan(repo, { channel: 'nightly' })?.version, '1.1');
  });

  it('a stable client going past a beta release patches through its tar (the chain ignores channels)', () => {
    const r = [...repo, archive('1.3'), patch('1.3')];
    const p = plan(r);
    assert.equal(p?.version, '1.3');
    assert.deepEqual(
      p?.patches.map((t) => t.version),
      ['1.1', '1.2', '1.3'],
    );
  });

  it('the PEP 440 pre-release filter still applies inside a channel', () => {
    const r = [archive('1.0'), archive('2.0b1', { channel: 'beta' }), patch('2.0b1')];
    assert.equal(plan(r, { channel: 'beta' }), undefined);
    assert.equal(plan(r, { channel: 'beta', pre: 'b' })?.version, '2.0b1');
  });
});

describe('staged rollout', () => {
  it('bucket: first 4 bytes of sha256(id:app:version), big-endian, mod 10000', () => {
    // sha256("00000000000000000000000000000000:app:2.0") computed independently of rolloutBucket
    const d = createHash('sha256').update('00000000000000000000000000000000:app:2.0').digest();
    assert.equal(
      rolloutBucket('0'.repeat(32), 'app', '2.0'),
      (d[0]! * 2 ** 24 + d[1]! * 2 ** 16 + d[2]! * 2 ** 8 + d[3]!) % 10000,
    );
  });

  it('10,000 install ids land within ±1 point of 10 % and 50 %, and nobody leaves as it grows', () => {
    // Fixed ids (as random as any, being hashes): random ones would miss ±1 point (2 sigma at 50 %) in 1 run of 20.
    const ids = Array.from({ length: 10_000 }, (_, i) =>
      createHash('sha256').update(`install ${i}`).digest('hex').slice(0, 32),
    );
    const target = (percent: number) => archive('2.0', { rolloutPercent: percent });
    const inAt = (percent: number) => new Set(ids.filter((id) => inRollout(target(percent), rollout(id))));
    let previous = new Set<string>();
    for (const percent of [0, 1, 10, 25, 50, 90, 100]) {
      const group = inAt(percent);
      if (percent === 10 || percent === 50) {
        const share = (group.size / ids.length) * 100;
        assert.ok(Math.abs(share - percent) <= 1, `${percent} %: ${share.toFixed(2)} % of installs`);
      }
      if (percent === 0) assert.equal(group.size, 0);
      if (percent === 100) assert.equal(group.size, ids.length);
      for (const id of previous) assert.ok(group.has(id), `${id} left the rollout at ${percent} %`);
      previous = group;
    }
  });

  it('outside the rollout: the newest release it is in; inside: the new one; halted (0): the previous', () => {
    const ids = Array.from({ length: 200 }, () => randomBytes(16).toString('hex'));
    const r = (percent: number) => [
      archive('1.0'),
      archive('1.1'),
      patch('1.1'),
      archive('1.2', { rolloutPercent: percent }),
      patch('1.2'),
    ];
    const out = ids.find((id) => rolloutBucket(id, app, '1.2') >= 5000)!;
    const inside = ids.find((id) => rolloutBucket(id, app, '1.2') < 5000)!;
    assert.equal(plan(r(50), { rollout: rollout(out) })?.version, '1.1');
    assert.equal(plan(r(50), { rollout: rollout(inside) })?.version, '1.2');
    assert.equal(plan(r(0), { rollout: rollout(inside) })?.version, '1.1');
    // without an install id a partial rollout is not offered (fail closed)
    assert.equal(plan(r(50))?.version, '1.1');
    assert.equal(plan(r(100))?.version, '1.2');
    assert.ok(needsInstallId(r(50)));
    assert.ok(!needsInstallId(r(0)) && !needsInstallId(r(100)));
  });

  it('a required release outside the rollout does not stop the walk; one inside does', () => {
    const id = '0'.repeat(32);
    const bucket = rolloutBucket(id, app, '1.1');
    const percentOut = Math.floor(bucket / 100); // bucket >= percent*100 → out
    const r = (percent: number) => [
      archive('1.0'),
      archive('1.1', { required: true, rolloutPercent: percent }),
      archive('1.2'),
    ];
    assert.equal(plan(r(percentOut), { rollout: rollout(id) })?.version, '1.2');
    assert.equal(plan(r(100), { rollout: rollout(id) })?.version, '1.1');
  });
});

describe('yanked releases', () => {
  it('a yanked release is never installed; the chain may pass through its tar', () => {
    const r = [archive('1.0'), archive('1.1', { yanked: true }), patch('1.1'), archive('1.2'), patch('1.2')];
    const p = plan(r);
    assert.equal(p?.version, '1.2');
    assert.deepEqual(
      p?.patches.map((t) => t.version),
      ['1.1', '1.2'],
    );
    assert.equal(plan(r.slice(0, 3)), undefined);
  });

  it('a client running a yanked release goes down to the newest eligible one by its full archive, saying why', () => {
    const r = [
      archive('1.0'),
      archive('1.1'),
      patch('1.1'),
      archive('1.2', { channel: 'beta' }),
      archive('2.0', { yanked: true, yankReason: 'corrupts settings' }),
      patch('2.0'),
    ];
    const p = plan(r, { currentVersion: '2.0' });
    assert.equal(p?.version, '1.1');
    assert.deepEqual(p?.patches, []);
    assert.equal(p?.fullArchiveReason, 'downgrade');
    assert.equal(p?.downloadSize, 1000);
    assert.deepEqual(p?.downgrade, { from: '2.0', reason: 'yanked', yankReason: 'corrupts settings' });
    assert.equal(plan(r, { currentVersion: '2.0', channel: 'beta' })?.version, '1.2');
    assert.equal(plan(r, { currentVersion: '2.0', allowDowngrade: false }), undefined);
  });

  it('a newer eligible release beats going down; a release that is not yanked never goes down', () => {
    const r = [archive('1.0'), archive('2.0', { yanked: true }), archive('2.1'), patch('2.1')];
    const p = plan(r, { currentVersion: '2.0' });
    assert.equal(p?.version, '2.1');
    assert.equal(p?.downgrade, undefined);
    assert.equal(plan([archive('1.0'), archive('2.0')], { currentVersion: '2.0' }), undefined);
    // rolled back to 0 % is not yanked: no way down
    assert.equal(
      plan([archive('1.0'), archive('2.0', { rolloutPercent: 0 })], { currentVersion: '2.0' }),
      undefined,
    );
  });

  it('nothing eligible below either: no plan', () => {
    const r = [archive('1.0', { yanked: true }), archive('2.0', { yanked: true })];
    assert.equal(plan(r, { currentVersion: '2.0' }), undefined);
  });
});
