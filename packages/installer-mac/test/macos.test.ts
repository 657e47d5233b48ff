// The macOS paths run on Linux with stand-in tools: quarantine release, `open -n` relaunch, admin rights via osascript.
import assert from 'node:assert/strict';
import { chmod, lchown, lstat, mkdir, readdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { formatLogLine } from '../src/log.js';
import { ELEVATE_SCRIPT, osascriptArgs, relaunchesThroughOpen } from '../src/macos.js';
import { isTranslocatedPath } from '../src/paths.js';
import { type AppConfig, INSTALLER_URL, readReport, startApp, WORKER_JS, waitFor } from './support/app.js';
import { readCalls, serveElevation, writeFakeTools } from './support/fakes.js';
import { expectedAfterPreserve, listTree, makeNewTree, makeOldTree, sortedEntries } from './support/trees.js';

const isRoot = process.getuid?.() === 0;
/** The app runs unprivileged: as nobody when the tests run as root, else as the test user with a read-only parent. */
const appUser = isRoot ? { uid: 65534, gid: 65534 } : undefined;

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await lchown(path, uid, gid);
  if ((await lstat(path)).isDirectory())
    for (const n of await readdir(path)) await chownTree(join(path, n), uid, gid);
}

async function waitForLog(logFile: string, pattern: RegExp): Promise<string> {
  return waitFor(`the log to match ${pattern}`, async () => {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    return pattern.test(text) ? text : undefined;
  });
}

describe('macOS pieces', () => {
  test('the admin-rights AppleScript is constant and every value travels as a separate argument', () => {
    const evil = `/Apps/x"; do shell script "touch /tmp/pwn" --'$(id)\`id\`\n`;
    const args = osascriptArgs('prompt "with" quotes', ['/usr/bin/node', evil, 'elevated-swap', '{"a":"b"}']);
    const script = args.filter((_, i) => i % 2 === 1 && args[i - 1] === '-e');
    assert.deepEqual(script, [...ELEVATE_SCRIPT]);
    assert.deepEqual(args.slice(ELEVATE_SCRIPT.length * 2), [
      'prompt "with" quotes',
      '/usr/bin/node',
      evil,
      'elevated-swap',
      '{"a":"b"}',
    ]);
    for (const line of ELEVATE_SCRIPT) assert.ok(!line.includes('/Apps'));
  });

  test('App Translocation paths are recognised with and without /private', () => {
    assert.ok(isTranslocatedPath('/private/var/folders/ab/cd_ef/T/AppTranslocation/1234-ABCD/d/Demo.app'));
    assert.ok(
      isTranslocatedPath('/var/folders/ab/cd_ef/T/AppTranslocation/1234-ABCD/d/Demo.app/Contents/MacOS/Demo'),
    );
    assert.ok(!isTranslocatedPath('/Applications/Demo.app'));
    assert.ok(!isTranslocatedPath('/Users/me/AppTranslocation/Demo.app'));
  });

  test('only a .app whose own executable is the relaunch command goes through open', () => {
    assert.ok(
      relaunchesThroughOpen('darwin', '/Applications/Demo.app', '/Applications/Demo.app/Contents/MacOS/Demo'),
    );
    assert.ok(!relaunchesThroughOpen('darwin', '/Applications/Demo.app', '/usr/local/bin/node'));
    assert.ok(!relaunchesThroughOpen('darwin', '/opt/demo', '/opt/demo/bin/demo'));
    assert.ok(
      !relaunchesThroughOpen('linux', '/Applications/Demo.app', '/Applications/Demo.app/Contents/MacOS/Demo'),
    );
  });

  test('log lines are one line each, newlines in paths escaped', () => {
    const line = formatLogLine('info', 'moved "a\nb"', new Date(0));
    assert.equal(line, '1970-01-01T00:00:00.000Z [info] moved "a\\nb"\n');
  });

  test('a .app bundle: quarantine cleared on the staged bundle, relaunched with open -n and the same args', async () => {
    await withTempDir(async (base) => {
      const root = await realpath(base);
      const dst = join(root, `My "Demo" $(x).app`);
      const src = join(root, 'Demo 2.0.app.staged');
      const macos = 'Contents/MacOS';
      await makeOldTree(dst, macos);
      await makeNewTree(src, macos);
      for (const tree of [dst, src]) {
        const exe = join(tree, macos, 'Demo');
        await writeFile(exe, `#!/bin/sh\nexec '${process.execPath}' "$(dirname "$0")/app.mjs" "$@"\n`);
        await chmod(exe, 0o755);
      }
      const oldList = await listTree(dst);
      const newList = await listTree(src);
      const record = join(root, 'calls.jsonl');
      const tools = await writeFakeTools(root, record, root);
      const reportFile = join(root, 'report.jsonl');
      const logFile = join(root, 'install.log');
      const config: AppConfig = {
        installerUrl: INSTALLER_URL,
        installFrom: '1.0',
        installVersion: '2.0',
        dstFromApp: '../..',
        relaunchBundleExecutable: 'Demo',
        options: {
          platform: 'darwin',
          preserve: ['data/settings.json'],
          logFile,
          commands: { xattr: tools.xattr, open: tools.open, osascript: join(root, 'no-osascript') },
        },
      };
      startApp(join(dst, macos, 'app.mjs'), reportFile, src, config);
      const lines = await waitFor('2.0 to report', () => {
        const r = readReport(reportFile);
        if (r.some((l) => l.error)) throw new Error(JSON.stringify(r));
        return r.some((l) => l.version === '2.0') ? r : undefined;
      });
      await waitForLog(logFile, /result: installed 2\.0/);
      assert.deepEqual(
        sortedEntries(await listTree(dst)),
        sortedEntries(expectedAfterPreserve(oldList, newList, ['data/settings.json'])),
      );
      const calls = await readCalls(record);
      assert.deepEqual(
        calls.map((c) => [c.tool, c.argv]),
        [
          ['xattr', ['-d', '-r', '-s', 'com.apple.quarantine', src]],
          ['open', ['-n', dst, '--args', ...(lines[0]?.argv ?? [])]],
        ],
      );
      assert.deepEqual(lines.find((l) => l.version === '2.0')?.argv, lines[0]?.argv);
    });
  });

  for (const mode of ['grant', 'cancel'] as const) {
    test(`an unwritable parent dir asks for admin rights through osascript (${mode === 'grant' ? 'granted: swapped as root, relaunched as the user' : 'cancelled: old version untouched'})`, async () => {
      await withTempDir(async (base) => {
        const root = await realpath(base);
        await chmod(root, 0o755);
        const apps = join(root, 'Applications');
        await mkdir(apps, { mode: 0o755 });
        const dst = join(apps, `Demo "β" $(touch x) 'q'`);
        const staging = join(root, 'staging');
        const shared = join(root, 'shared');
        for (const d of [staging, shared]) {
          await mkdir(d);
          await chmod(d, 0o777);
        }
        const src = join(staging, 'Demo 2.0');
        await makeOldTree(dst);
        await makeNewTree(src);
        if (appUser) await chownTree(src, appUser.uid, appUser.gid);
        const oldList = await listTree(dst);
        const newList = await listTree(src);
        const record = join(shared, 'calls.jsonl');
        const tools = await writeFakeTools(root, record, shared);
        if (!appUser) await chmod(apps, 0o555);
        const around = async <T>(fn: () => Promise<T>): Promise<T> => {
          if (appUser) return fn();
          await chmod(apps, 0o755);
          try {
            return await fn();
          } finally {
            await chmod(apps, 0o555);
          }
        };
        const broker = serveElevation(shared, mode, around);
        const reportFile = join(shared, 'report.jsonl');
        const logFile = join(shared, 'install.log');
        const preserve = ['data/settings.json'];
        try {
          const config: AppConfig = {
            installerUrl: INSTALLER_URL,
            installFrom: '1.0',
            installVersion: '2.0',
            dstFromApp: '.',
            options: {
              platform: 'darwin',
              preserve,
              logFile,
              commands: { xattr: tools.xattr, open: tools.open, osascript: tools.osascript },
            },
          };
          startApp(join(dst, 'app.mjs'), reportFile, src, config, { cwd: dst, ...appUser });
          const userUid = appUser?.uid ?? process.getuid?.();
          if (mode === 'grant') {
            const lines = await waitFor('2.0 to report', () => {
              const r = readReport(reportFile);
              if (r.some((l) => l.error)) throw new Error(JSON.stringify(r));
              return r.some((l) => l.version === '2.0') ? r : undefined;
            });
            const log = await waitForLog(logFile, /result: /);
            assert.match(log, /is not writable: asking for administrator rights through osascript/);
            assert.match(
              log,
              appUser ? /administrator-rights step \d+ \(uid 0\) swapping/ : /administrator-rights step \d+/,
            );
            assert.match(log, /result: installed 2\.0/);
            assert.deepEqual(
              sortedEntries(await listTree(dst)),
              sortedEntries(expectedAfterPreserve(oldList, newList, preserve)),
            );
            assert.deepEqual(
              lines.map((l) => l.uid).filter((u) => u !== undefined),
              [userUid, userUid],
              'relaunched as the user, not root',
            );
            assert.deepEqual(lines.find((l) => l.version === '2.0')?.argv, lines[0]?.argv);
            const xattr = (await readCalls(record)).filter((c) => c.tool === 'xattr');
            assert.deepEqual(
              xattr.map((c) => c.argv),
              [['-d', '-r', '-s', 'com.apple.quarantine', src]],
            );
            if (appUser) assert.equal(xattr[0]?.uid, 0, 'quarantine was cleared by the elevated step');
          } else {
            const lines = await waitFor('the relaunched 1.0 to fail its retry', () => {
              const r = readReport(reportFile);
              return r.some((l) => l.error) ? r : undefined;
            });
            const log = await waitForLog(logFile, /result: /);
            assert.match(log, /ELEVATION_FAILED\): the administrator password prompt was cancelled/);
            assert.match(log, /result: not installed/);
            assert.deepEqual(sortedEntries(await listTree(dst)), sortedEntries(oldList));
            // the old app came back, and its retry finds the staged dir deleted
            assert.deepEqual(
              lines.filter((l) => !l.asked).map((l) => l.version ?? l.error),
              ['1.0', '1.0', 'SOURCE_MISSING'],
            );
          }
          assert.equal(broker.calls.length, 1);
          const call = broker.calls[0]!;
          assert.deepEqual(call.script, [...ELEVATE_SCRIPT]);
          assert.match(call.prompt, /^demo needs administrator rights to install version 2\.0\.$/);
          assert.deepEqual(call.command.slice(0, 3), [process.execPath, WORKER_JS, 'elevated-swap']);
          const plan = JSON.parse(call.command[3]!) as { dstDir: string; srcDir: string };
          assert.equal(plan.dstDir, dst);
          assert.equal(plan.srcDir, src);
          for (const line of call.script)
            assert.ok(!line.includes('Demo'), 'no path is pasted into the script');
        } finally {
          await broker.stop();
          await chmod(apps, 0o755);
        }
      });
    });
  }
});
