// What the installer refuses before it touches anything, each ending in the error's code.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { type MacInstallerOptions, startInstallWorker } from '@tufup/installer-mac';
import { isAlive, writeLockRecord } from './support/app.js';
import { GONE_PID } from './support/crash-harness.js';
import { listTree, makeNewTree, makeOldTree, sortedEntries } from './support/trees.js';

async function scene(base: string) {
  const root = await realpath(base);
  const dst = join(root, 'app');
  const src = join(root, 'staged');
  await makeOldTree(dst);
  await makeNewTree(src);
  return {
    root,
    dst,
    src,
    request: {
      appName: 'demo',
      version: '2.0',
      srcDir: src,
      dstDir: dst,
      pid: GONE_PID,
      relaunch: false as const,
    },
  };
}

async function refuses(
  base: string,
  code: string,
  tweak: (
    s: Awaited<ReturnType<typeof scene>>,
  ) => Promise<{ request?: object; options?: MacInstallerOptions } | undefined>,
) {
  const s = await scene(base);
  const t = (await tweak(s)) ?? {};
  const oldList = existsSync(s.dst) ? await listTree(s.dst) : new Map();
  await assert.rejects(
    startInstallWorker({ ...s.request, ...(t.request ?? {}) } as typeof s.request, t.options ?? {}),
    (err: unknown) => {
      assert.equal((err as { code?: string }).code, code, String(err));
      return true;
    },
  );
  // nothing touched: the app, the staged tree, no state dir, no log beside the app
  if (existsSync(s.dst)) assert.deepEqual(sortedEntries(await listTree(s.dst)), sortedEntries(oldList));
  assert.equal(existsSync(join(s.root, '.app.tufup')), false);
  assert.equal(existsSync(join(s.root, '.app.tufup.log')), false);
  return s;
}

const TRANSLOCATED =
  '/private/var/folders/zq/x8k2m1t93_abcdef/T/AppTranslocation/0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0/d/Demo.app';

describe('checks before anything is touched', () => {
  test('Windows is refused: UNSUPPORTED_PLATFORM', async () => {
    await withTempDir((base) =>
      refuses(base, 'UNSUPPORTED_PLATFORM', async () => ({ options: { platform: 'win32' } })),
    );
  });

  test('a malformed request is refused: INVALID_REQUEST', async () => {
    for (const request of [
      { pid: -1 },
      { appName: '' },
      { relaunch: { command: '', args: [] } },
      { relaunch: { command: 'x', args: [1] } },
    ]) {
      await withTempDir((base) => refuses(base, 'INVALID_REQUEST', async () => ({ request })));
    }
    await withTempDir((base) =>
      refuses(base, 'INVALID_REQUEST', async () => ({ options: { waitTimeoutMs: 0 } })),
    );
  });

  test('an app running from an App Translocation path is refused on macOS: APP_TRANSLOCATED', async () => {
    await withTempDir((base) =>
      refuses(base, 'APP_TRANSLOCATED', async () => ({
        request: { dstDir: TRANSLOCATED },
        options: { platform: 'darwin' },
      })),
    );
    await withTempDir((base) =>
      refuses(base, 'APP_TRANSLOCATED', async () => ({
        request: { relaunch: { command: `${TRANSLOCATED}/Contents/MacOS/Demo`, args: [] } },
        options: { platform: 'darwin' },
      })),
    );
    // The same path elsewhere is just a missing directory: the check is macOS-only.
    await withTempDir((base) =>
      refuses(base, 'DESTINATION_MISSING', async () => ({
        request: { dstDir: TRANSLOCATED },
        options: { platform: 'linux' },
      })),
    );
  });

  test('a missing staged dir: SOURCE_MISSING; an install dir that is a symlink: DESTINATION_MISSING', async () => {
    await withTempDir((base) =>
      refuses(base, 'SOURCE_MISSING', async (s) => ({ request: { srcDir: join(s.root, 'nope') } })),
    );
    await withTempDir((base) =>
      refuses(base, 'DESTINATION_MISSING', async (s) => {
        const link = join(s.root, 'app-link');
        await symlink(s.dst, link);
        return { request: { dstDir: link } };
      }),
    );
  });

  test('overlapping paths and escaping preserve entries: UNSAFE_PATH', async () => {
    await withTempDir((base) =>
      refuses(base, 'UNSAFE_PATH', async (s) => ({ request: { srcDir: join(s.dst, 'lib') } })),
    );
    await withTempDir((base) =>
      refuses(base, 'UNSAFE_PATH', async (s) => ({ request: { dstDir: join(s.src, 'bin') } })),
    );
    await withTempDir((base) =>
      refuses(base, 'UNSAFE_PATH', async (s) => ({ options: { stateDir: join(s.dst, 'state') } })),
    );
    await withTempDir((base) =>
      refuses(base, 'UNSAFE_PATH', async (s) => ({ options: { logFile: join(s.dst, 'install.log') } })),
    );
    // A state dir below a dangling link: its nearest existing ancestor is the link, which leads nowhere.
    await withTempDir((base) =>
      refuses(base, 'UNSAFE_PATH', async (s) => {
        await symlink(join(s.root, 'gone'), join(s.root, 'dangling'));
        return { options: { stateDir: join(s.root, 'dangling', 'state') } };
      }),
    );
    for (const entry of ['../outside', 'data/../../outside', '/etc/passwd', 'a\\b', './data']) {
      await withTempDir((base) =>
        refuses(base, 'UNSAFE_PATH', async () => ({ options: { preserve: [entry] } })),
      );
    }
  });

  test('a preserve path through a symlink in the new or the old tree: PRESERVE_UNSAFE', async () => {
    await withTempDir(async (base) => {
      const outside = join(await realpath(base), 'outside');
      const s = await refuses(base, 'PRESERVE_UNSAFE', async (sc) => {
        await mkdir(outside);
        await import('node:fs/promises').then((fs) => fs.rm(join(sc.src, 'data'), { recursive: true }));
        await symlink(outside, join(sc.src, 'data'));
        return { options: { preserve: ['data/settings.json'] } };
      });
      assert.deepEqual(await readdir(outside), [], 'nothing was written through the link');
      assert.ok(existsSync(s.src));
    });
    await withTempDir((base) =>
      refuses(base, 'PRESERVE_UNSAFE', async (s) => {
        await symlink('data', join(s.dst, 'data-link'));
        return { options: { preserve: ['data-link/settings.json'] } };
      }),
    );
  });

  test('a staged dir on another volume: CROSS_DEVICE', async () => {
    assert.notEqual((await stat('/dev/shm')).dev, (await stat(await realpath(process.cwd()))).dev);
    await withTempDir(
      (shm) =>
        withTempDir((base) =>
          refuses(base, 'CROSS_DEVICE', async () => {
            await makeNewTree(join(shm, 'staged'));
            return { request: { srcDir: join(shm, 'staged') } };
          }),
        ),
      'tufup-',
      '/dev/shm',
    );
  });

  test('a worker that cannot start or dies before confirming: WORKER_START_FAILED, no request file left', async () => {
    await withTempDir(async (tmp) => {
      const saved = process.env.TMPDIR;
      process.env.TMPDIR = tmp;
      try {
        await withTempDir((base) =>
          refuses(base, 'WORKER_START_FAILED', async (s) => ({
            options: {
              worker: { command: join(s.root, 'no-such-node'), args: [] },
              logFile: join(s.root, 'log'),
            },
          })),
        );
        await withTempDir((base) =>
          refuses(base, 'WORKER_START_FAILED', async (s) => ({
            options: {
              worker: { command: process.execPath, args: ['-e', 'process.exit(7)'] },
              logFile: join(s.root, 'log'),
            },
          })),
        );
      } finally {
        if (saved === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = saved;
      }
      assert.deepEqual(await readdir(tmp), [], 'the private request dirs were removed');
    });
  });
});

describe('refusals inside the worker', () => {
  test('another installer holding the lock: INSTALL_BUSY in the log, old version untouched', async () => {
    await withTempDir(async (base) => {
      const s = await scene(base);
      const oldList = await listTree(s.dst);
      const stateDir = join(s.root, '.app.tufup');
      await mkdir(stateDir);
      await writeLockRecord(join(stateDir, 'lock'), process.pid);
      const logFile = join(s.root, 'install.log');
      const started = await startInstallWorker(s.request, { logFile });
      while (isAlive(started.pid)) await new Promise((r) => setTimeout(r, 10));
      const log = await readFile(logFile, 'utf8');
      assert.match(log, /\[INSTALL_BUSY\]/);
      assert.match(log, /result: not installed/);
      assert.deepEqual(sortedEntries(await listTree(s.dst)), sortedEntries(oldList));
      assert.equal(existsSync(s.src), false, 'the abandoned staged dir is deleted');
    });
  });
});
