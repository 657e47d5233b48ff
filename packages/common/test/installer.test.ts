// The helpers both installers share: the request shape check and the app's own command line.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type InstallRequest, installRequestProblem, withTempDir } from '@tufup/common';

const good: InstallRequest = { appName: 'demo', version: '2.0', srcDir: '/a/.staged', dstDir: '/a/app' };

test('installRequestProblem names the first malformed field, and nothing for a good request', () => {
  assert.equal(installRequestProblem(good), undefined);
  assert.equal(installRequestProblem({ ...good, pid: 42, relaunch: false }), undefined);
  const bad: [unknown, RegExp][] = [
    [null, /must be an object/],
    [{ ...good, appName: '' }, /appName/],
    [{ ...good, version: 3 }, /version/],
    [{ ...good, srcDir: '' }, /srcDir must be a path/],
    [{ ...good, dstDir: '/a/\0b' }, /dstDir must be a path/],
    [{ ...good, pid: 0 }, /pid must be a positive integer/],
    [{ ...good, pid: 1.5 }, /pid/],
  ];
  for (const [request, want] of bad) {
    assert.match(installRequestProblem(request as InstallRequest) ?? 'none', want, JSON.stringify(request));
  }
});

test('currentCommandLine gives the command line that starts this Node script again, flags included', async () => {
  await withTempDir(async (dir) => {
    const script = join(dir, 'show args.mjs');
    const common = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href;
    await writeFile(
      script,
      `const { currentCommandLine } = await import(${JSON.stringify(common)});\n` +
        'process.stdout.write(JSON.stringify(await currentCommandLine()));\n',
    );
    const out = execFileSync(process.execPath, ['--no-warnings', script, 'a b', '--x=1', ''], {
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out), {
      command: process.execPath,
      args: ['--no-warnings', script, 'a b', '--x=1', ''],
    });
  });
});
