// When a client must also read the history roles (the older releases of a delegated role): the rule in targets.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TargetFile } from '@tufjs/models';
import { makeArchiveCustom } from '@tufup/metadata';
import { needsOlderReleases } from '../src/targets.js';

const hash = '0'.repeat(64);

/** The listed archives of `my_app` for win-x64, each `[version, fleet fields]`. */
function listed(
  ...archives: Array<[string, Parameters<typeof makeArchiveCustom>[0]?]>
): Map<string, TargetFile> {
  return new Map(
    archives.map(([version, fields]) => {
      const path = `my_app-win-x64-${version}.tar.gz`;
      const custom = JSON.parse(JSON.stringify(makeArchiveCustom({ platform: 'win-x64', ...fields })));
      return [
        path,
        new TargetFile({ path, length: 1, hashes: { sha256: hash }, unrecognizedFields: { custom } }),
      ];
    }),
  );
}

const needs = (targets: Map<string, TargetFile>, current: string) =>
  needsOlderReleases(targets, 'my_app', current, 'win-x64');

describe('needsOlderReleases', () => {
  it('no release listed, or the current one older than every listed: the history is needed', () => {
    assert.equal(needs(new Map(), '1.0'), true);
    assert.equal(needs(listed(['3.0'], ['4.0']), '2.0'), true);
  });

  it('a current release that is listed and not yanked: the head suffices', () => {
    assert.equal(needs(listed(['3.0'], ['4.0']), '3.0'), false);
    assert.equal(needs(listed(['3.0'], ['4.0', { rolloutPercent: 0 }]), '4.0'), false);
  });

  it('a yanked current release with a plain older release listed: the head suffices', () => {
    assert.equal(needs(listed(['3.0'], ['4.0', { yanked: true }]), '4.0'), false);
  });

  it('a yanked current release with nothing plain below it listed: the history is needed', () => {
    assert.equal(needs(listed(['4.0', { yanked: true }]), '4.0'), true);
    assert.equal(needs(listed(['3.0', { yanked: true }], ['4.0', { yanked: true }]), '4.0'), true);
    assert.equal(needs(listed(['3.0', { rolloutPercent: 50 }], ['4.0', { yanked: true }]), '4.0'), true);
    assert.equal(needs(listed(['3.0', { channel: 'beta' }], ['4.0', { yanked: true }]), '4.0'), true);
  });
});
