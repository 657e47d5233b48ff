// Tests of target file names: python tufup's greedy parse, strict format, filtering and ordering.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  assertPlatform,
  buildTargetName,
  formatTargetName,
  isValidPlatform,
  parseTargetName,
  targetsForApp,
  tryParseTargetName,
} from '../src/index.js';
import { isArchive, isPatch } from '../src/target-names.js';
import { assertCode, FIXTURE, FIXTURE_METADATA } from './helpers.js';

test('every fixture target name parses and formats back to itself', async () => {
  const targets = JSON.parse(await readFile(`${FIXTURE_METADATA}/targets.json`, 'utf8')) as {
    signed: { targets: Record<string, unknown> };
  };
  const names = Object.keys(targets.signed.targets);
  const onDisk = (await readdir(`${FIXTURE}repository/targets`)).sort();
  assert.deepEqual([...names].sort(), onDisk);
  for (const filename of names) {
    const t = parseTargetName(filename);
    assert.equal(t.name, 'example_app');
    assert.equal(t.filename, filename);
    assert.equal(formatTargetName(t.name, t.version, t.kind), filename);
    assert.equal(isArchive(filename), t.kind === 'archive');
    assert.equal(isPatch(filename), t.kind === 'patch');
  }
});

test('the name is greedy as in tufup: app-2022-1.tar.gz is app-2022 version 1', () => {
  assert.deepEqual(parseTargetName('app-2022-1.tar.gz'), {
    name: 'app-2022',
    version: '1',
    kind: 'archive',
    filename: 'app-2022-1.tar.gz',
  });
  // The name cannot hold a '.', so the greedy match stops at the first one.
  assert.deepEqual(tryParseTargetName('app-1.0-1.patch'), {
    name: 'app',
    version: '1.0-1',
    kind: 'patch',
    filename: 'app-1.0-1.patch',
  });
  assert.equal(parseTargetName('my-app-3.0rc1.tar.gz').name, 'my-app');
  assert.equal(parseTargetName('my_app-v2.tar.gz').version, 'v2');
});

test('formatTargetName refuses a pair that would not parse back to itself', async () => {
  await assertCode(() => formatTargetName('app', '2022-1', 'archive'), 'INVALID_TARGET_NAME', /2022\.post1/);
  await assertCode(() => formatTargetName('app', '1-1', 'patch'), 'INVALID_TARGET_NAME');
  // ...while the pair the greedy parse does produce is fine
  assert.equal(formatTargetName('app-2022', '1', 'archive'), 'app-2022-1.tar.gz');
  assert.equal(formatTargetName('app', '2022.post1', 'patch'), 'app-2022.post1.patch');
});

test('formatTargetName rejects names outside [A-Za-z0-9_-]+ and invalid versions', async () => {
  for (const name of ['', 'my app', 'app/..', '../app', 'app.x', 'äpp', 'app\n']) {
    await assertCode(() => formatTargetName(name, '1.0', 'archive'), 'INVALID_TARGET_NAME');
  }
  for (const version of ['', '1.x.bogus', '1.0 ', '1.0/x']) {
    await assertCode(() => formatTargetName('app', version, 'archive'), 'INVALID_VERSION');
  }
  await assertCode(() => formatTargetName('app', '1.0', 'zip' as 'archive'), 'INVALID_TARGET_NAME');
});

test('parseTargetName rejects other suffixes, invalid versions and non-ASCII or path-like names', async () => {
  for (const bad of [
    'app-1.0.zip',
    'app-1.0.tar',
    'app-1.0.tar.gz.sig',
    'app.tar.gz',
    '-1.0.tar.gz',
    'app-1.x.bogus.tar.gz',
    'app-.tar.gz',
    'dir/app-1.0.tar.gz',
    '../app-1.0.tar.gz',
    'äpp-1.0.tar.gz',
    'my app-1.0.tar.gz',
    'app-1.0 .tar.gz',
    'app-1.0.patch.tar.gz.patch',
  ]) {
    assert.equal(tryParseTargetName(bad), undefined, bad);
    assert.equal(isArchive(bad) || isPatch(bad), false, bad);
    await assertCode(() => parseTargetName(bad), 'INVALID_TARGET_NAME');
  }
});

test('targetsForApp keeps one app, sorts by version with archives before patches, skips other files', () => {
  const files = [
    'example_app-3.0.patch',
    'other-9.0.tar.gz',
    'example_app-3.0.tar.gz',
    'README.md',
    'example_app-10.0.tar.gz',
    'example_app-3.0rc1.tar.gz',
    'example_app-2.0.tar.gz',
    'example_app-x-1.0.tar.gz',
    'example_app-3.0rc1.patch',
  ];
  assert.deepEqual(
    targetsForApp(files, 'example_app').map((t) => t.filename),
    [
      'example_app-2.0.tar.gz',
      'example_app-3.0rc1.tar.gz',
      'example_app-3.0rc1.patch',
      'example_app-3.0.tar.gz',
      'example_app-3.0.patch',
      'example_app-10.0.tar.gz',
    ],
  );
  assert.deepEqual(
    targetsForApp(files, 'example_app-x').map((t) => t.version),
    ['1.0'],
  );
  assert.deepEqual(targetsForApp(files, 'example'), []);
});

test('platform tokens: os-arch, and a platform build name reads back (python regex) as <app>-<platform>', async () => {
  for (const ok of [
    'linux-x64',
    'win-x64',
    'darwin-arm64',
    'linux-arm_64',
    'freebsd-x64',
    `a-${'b'.repeat(30)}`,
  ])
    assert.ok(isValidPlatform(ok), ok);
  for (const bad of [
    'linux',
    'Linux-x64',
    'win-x64-v2',
    '-x64',
    'win-',
    '1win-x64',
    'win_x64',
    `a-${'b'.repeat(31)}`,
    5,
  ])
    assert.ok(!isValidPlatform(bad), String(bad));
  await assertCode(() => assertPlatform('win64'), 'INVALID_PLATFORM');
  assert.equal(buildTargetName('my_app'), 'my_app');
  assert.equal(buildTargetName('my_app', 'win-x64'), 'my_app-win-x64');
  await assertCode(() => buildTargetName('my_app', 'WIN'), 'INVALID_PLATFORM');
  // python tufup: ^(?P<name>[\w-]+)-(?P<version>.+)(?P<suffix>\.tar\.gz|\.patch)$ (greedy name)
  const python = /^(?<name>[\w-]+)-(?<version>.+)(?<suffix>\.tar\.gz|\.patch)$/;
  for (const v of ['1.0', '2.0.1', '2.1rc1', '3.0.post1']) {
    for (const kind of ['archive', 'patch'] as const) {
      const name = formatTargetName(buildTargetName('my-app', 'darwin-arm64'), v, kind);
      assert.equal(python.exec(name)?.groups?.name, 'my-app-darwin-arm64', name);
      assert.equal(python.exec(name)?.groups?.version, v, name);
      assert.equal(tryParseTargetName(name)?.name, 'my-app-darwin-arm64');
    }
  }
  // a python client configured as `my-app` keeps only the platform-less ones
  const names = [
    'my-app-1.0.tar.gz',
    'my-app-win-x64-1.0.tar.gz',
    'my-app-linux-x64-1.0.tar.gz',
    'my-app-linux-x64-1.1.patch',
  ];
  assert.deepEqual(
    targetsForApp(names, 'my-app').map((t) => t.filename),
    ['my-app-1.0.tar.gz'],
  );
  assert.deepEqual(
    targetsForApp(names, 'my-app-linux-x64').map((t) => t.filename),
    ['my-app-linux-x64-1.0.tar.gz', 'my-app-linux-x64-1.1.patch'],
  );
});
