// End to end on real processes: an app asks for an update and exits, the worker swaps, the new version reports in.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { type AppConfig, INSTALLER_URL, readReport, startApp, waitFor } from './support/app.js';
import {
  expectedAfterPreserve,
  listTree,
  makeNewTree,
  makeOldTree,
  PRESERVE,
  sortedEntries,
} from './support/trees.js';

/** Installs 2.0 over 1.0 under `base` through a real app process; returns what a test checks. */
async function installThroughApp(
  base: string,
  names: { dst: string; src: string },
  extra: Partial<AppConfig> = {},
) {
  const dst = join(base, names.dst);
  const src = join(base, names.src);
  await makeOldTree(dst);
  await makeNewTree(src);
  const oldList = await listTree(dst);
  const newList = await listTree(src);
  const reportFile = join(base, 'report.jsonl');
  const config: AppConfig = {
    installerUrl: INSTALLER_URL,
    installFrom: '1.0',
    installVersion: '2.0',
    dstFromApp: '.',
    options: { preserve: PRESERVE },
    ...extra,
  };
  const app = startApp(join(dst, 'app.mjs'), reportFile, src, config, { cwd: dst });
  const lines = await waitFor('the relaunched 2.0 to report', () => {
    const r = readReport(reportFile);
    if (r.some((l) => l.error)) throw new Error(`app failed: ${JSON.stringify(r)} ${app.stderr()}`);
    return r.some((l) => l.version === '2.0') ? r : undefined;
  });
  const logFile = join(base, `.${names.dst}.tufup.log`);
  const log = await waitFor('the worker to log its result', async () => {
    const text = existsSync(logFile) ? await readFile(logFile, 'utf8') : '';
    return text.includes('result: ') ? text : undefined;
  });
  return {
    dst,
    src,
    oldList,
    newList,
    lines,
    log,
    logFile,
    config,
    stateDir: join(base, `.${names.dst}.tufup`),
  };
}

describe('installing through a real app process', () => {
  test('an app that never exits: the worker times out, logs why and leaves the old version untouched', async () => {
    await withTempDir(async (base) => {
      const dst = join(base, 'demo');
      const src = join(base, 'demo-2.0.staged');
      await makeOldTree(dst);
      await makeNewTree(src);
      const oldList = await listTree(dst);
      const reportFile = join(base, 'report.jsonl');
      const logFile = join(base, '.demo.tufup.log');
      const app = startApp(join(dst, 'app.mjs'), reportFile, src, {
        installerUrl: INSTALLER_URL,
        installFrom: '1.0',
        installVersion: '2.0',
        dstFromApp: '.',
        hang: true,
        options: { preserve: PRESERVE, waitTimeoutMs: 1_500 },
      });
      try {
        const log = await waitFor('the worker to give up', async () => {
          const text = existsSync(logFile) ? await readFile(logFile, 'utf8') : '';
          return text.includes('result: ') ? text : undefined;
        });
        assert.match(
          log,
          new RegExp(`gave up: process ${app.child.pid} was still running after 1500 ms \\(WAIT_TIMEOUT\\)`),
        );
        assert.match(log, /the installed version is untouched/);
        assert.match(log, /result: not installed/);
        assert.doesNotMatch(log, /relaunched/);
        assert.equal(app.child.exitCode, null, 'the app is still running');
        assert.deepEqual(sortedEntries(await listTree(dst)), sortedEntries(oldList));
        assert.equal(existsSync(src), false, 'the abandoned staged dir is deleted');
        assert.equal(existsSync(join(base, '.demo.tufup', 'journal.json')), false);
        assert.deepEqual(
          readReport(reportFile).map((l) => l.version ?? l.asked),
          ['1.0', '2.0'],
          'only the old app ran (it reported, then asked for 2.0)',
        );
      } finally {
        app.child.kill('SIGKILL');
      }
    });
  });

  test('the relaunched app is the new version, with the same argv and cwd; tree, modes, links and preserved paths match', async () => {
    await withTempDir(async (base) => {
      const r = await installThroughApp(base, { dst: 'demo', src: 'demo-2.0.staged' });
      const expected = expectedAfterPreserve(r.oldList, r.newList, PRESERVE);
      assert.deepEqual(sortedEntries(await listTree(r.dst)), sortedEntries(expected));
      // preserved: the old settings won over the new bundle's, the old-only db and the cache dir came along
      assert.equal(await readFile(join(r.dst, 'data', 'settings.json'), 'utf8'), '{"theme":"dark"}\n');
      assert.equal(await readFile(join(r.dst, 'data', 'user.db'), 'utf8'), 'user rows\n');
      assert.equal(expected.get('cache/ln'), 'link -> x.bin');
      // purge: a file only the old version had is gone
      assert.equal(existsSync(join(r.dst, 'lib', 'only-old.txt')), false);

      const [first, ...rest] = r.lines;
      assert.equal(first?.version, '1.0');
      const relaunched = rest.find((l) => l.version === '2.0');
      assert.ok(relaunched);
      assert.deepEqual(relaunched.argv, first?.argv);
      assert.equal(relaunched.cwd, r.dst);
      assert.notEqual(relaunched.pid, first?.pid);

      assert.equal(existsSync(r.src), false, 'the staged dir was moved into place');
      assert.deepEqual(await readdir(r.stateDir), [], 'no journal, lock or backup is left');
      assert.match(r.log, /^\S+Z \[info\] worker \d+: install demo 2\.0 from /m);
      assert.match(r.log, /process \d+ has exited/);
      assert.match(r.log, /preserved "cache"/);
      assert.match(r.log, /relaunched ".*" with 4 argument\(s\) as process \d+/);
      assert.match(r.log, /result: installed 2\.0/);
    });
  });

  test('an app that is its own worker (the single-executable pattern) installs, although the worker lives in dstDir', async () => {
    await withTempDir(async (base) => {
      const dst = join(base, 'demo');
      const r = await installThroughApp(
        base,
        { dst: 'demo', src: 'demo-2.0.staged' },
        {
          options: {
            preserve: PRESERVE,
            worker: {
              command: process.execPath,
              args: [join(dst, 'app.mjs'), '--tufup-installer-worker'],
              env: { TUFUP_TEST_INSTALLER_URL: INSTALLER_URL },
            },
          },
        },
      );
      assert.deepEqual(
        sortedEntries(await listTree(r.dst)),
        sortedEntries(expectedAfterPreserve(r.oldList, r.newList, PRESERVE)),
      );
      assert.match(r.log, /result: installed 2\.0/);
      assert.match(r.log, /^app\.mjs is acting as the installer worker$/m, 'the app itself was the worker');
    });
  });

  // Each character class that breaks or injects into shell scripts, in every path the installer touches.
  const hostile: [string, string][] = [
    ['a space', 'my app'],
    ['a single quote', "it's"],
    ['a double quote', 'say "hi"'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell expansion is the point
    ['a dollar', '$HOME$(touch INJECTED)${IFS}'],
    ['a backtick', '`touch INJECTED`'],
    ['a newline', 'line\nbreak'],
    ['all of them', ` '"$(touch INJECTED)\`touch INJECTED\`\n;|&<>*?`],
  ];
  for (const [what, name] of hostile) {
    test(`paths with ${what} neither break the install nor inject commands`, async () => {
      await withTempDir(async (root) => {
        const base = join(root, `parent ${name}`);
        await mkdir(base);
        const r = await installThroughApp(base, { dst: `app ${name}`, src: `staged ${name}` });
        assert.deepEqual(
          sortedEntries(await listTree(r.dst)),
          sortedEntries(expectedAfterPreserve(r.oldList, r.newList, PRESERVE)),
        );
        const relaunched = r.lines.find((l) => l.version === '2.0');
        assert.deepEqual(relaunched?.argv, r.lines[0]?.argv, 'relaunch arguments arrive byte for byte');
        assert.match(r.log, /result: installed 2\.0/);
        for (const dir of ['/', root, base, r.dst]) {
          assert.equal(
            existsSync(join(dir, 'INJECTED')),
            false,
            `nothing ran a command hidden in ${JSON.stringify(name)}`,
          );
        }
      });
    });
  }
});
