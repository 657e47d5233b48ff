// isDelegatedPath's shortcut for prefix globs answers exactly as @tufjs/models' DelegatedRole.isDelegatedPath.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delegatedRoleJson, isDelegatedPath, makeDelegations } from '../src/delegations.js';

const role = (paths: string[]) => {
  const d = makeDelegations({}, [delegatedRoleJson({ name: 'r', keyids: [], threshold: 1, paths })]);
  const entry = d?.roles?.r;
  assert.ok(entry);
  return entry;
};

test('isDelegatedPath agrees with DelegatedRole.isDelegatedPath on prefix globs and everything else', () => {
  const patterns = [
    ['app-win-x64-*'],
    ['app-win-x64-*', 'app-linux-x64-*'],
    ['app.v2+x-*'],
    ['a*'],
    ['app-*-x64-*'],
    ['app-win-x64-?.tar.gz'],
    ['!app-*'],
    ['.app-*'],
    ['*'],
    ['app-win-x64-1.0.tar.gz'],
    ['dir/app-*'],
  ];
  const paths = [
    'app-win-x64-1.0.tar.gz',
    'app-win-x64-1.0.patch',
    'app-win-x64-',
    'app-win-x64',
    'app-linux-x64-2.0.tar.gz',
    'app-win-arm64-1.0.tar.gz',
    'xapp-win-x64-1.0.tar.gz',
    'APP-win-x64-1.0.tar.gz',
    'app.v2+x-1.tar.gz',
    'appv2+x-1.tar.gz',
    '.app-1.tar.gz',
    'a',
    'app-win-x64-1.tar.gz',
    'dir/app-1.tar.gz',
    'app-win-x64-1.0/inner.tar.gz',
    'ünï-app-1.tar.gz',
    '',
  ];
  let shortcuts = 0;
  for (const p of patterns) {
    const entry = role(p);
    for (const path of paths) {
      assert.equal(isDelegatedPath(entry, path), entry.isDelegatedPath(path), `${JSON.stringify(p)} ${path}`);
      if (p.every((x) => /^[A-Za-z0-9_][A-Za-z0-9_.+-]*\*$/.test(x)) && !path.includes('/')) shortcuts++;
    }
  }
  assert.ok(shortcuts > 50, 'the shortcut was exercised');
});
