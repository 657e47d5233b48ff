import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  TufupError,
  causeChain,
  isAbortError,
  isInsideOrSame,
  isNoSpace,
  isTufupError,
  nearestExisting,
  pathExists,
  readFileOrUndefined,
  readdirOrEmpty,
  tryLockFile,
  withTempDir,
  wrapError,
} from '@tufup/common';

class DemoError extends TufupError<'DEMO_FAILED' | 'DEMO_FULL'> {}

test('isTufupError recognises our errors only, not Node system errors that also carry a code', async () => {
  const sys = await readFile('/nonexistent/tufup').catch((e: unknown) => e);
  assert.equal((sys as { code?: string }).code, 'ENOENT');
  assert.equal(isTufupError(sys), false);
  assert.equal(isTufupError(Object.assign(new Error('x'), { code: 'LOOKS_LIKE_OURS' })), false);
  assert.equal(isTufupError(new DemoError({ code: 'DEMO_FAILED', message: 'm' })), true);
});

test('wrapError keeps ours and aborts as they are and wraps anything else with its cause', () => {
  const ours = new DemoError({ code: 'DEMO_FAILED', message: 'already ours' });
  assert.equal(wrapError(ours, DemoError, 'DEMO_FAILED', 'ctx'), ours);
  const abort = new DOMException('stop', 'AbortError');
  assert.equal(wrapError(abort, DemoError, 'DEMO_FAILED', 'ctx'), abort);
  assert.ok(isAbortError(abort));
  const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  const wrapped = wrapError(full, DemoError, 'DEMO_FAILED', 'writing x', (e) =>
    isNoSpace(e) ? 'DEMO_FULL' : undefined,
  ) as DemoError;
  assert.ok(wrapped instanceof DemoError);
  assert.equal(wrapped.code, 'DEMO_FULL');
  assert.equal(wrapped.message, 'writing x: no space left on device');
  assert.deepEqual(causeChain(wrapped), [wrapped, full]);
});

test('isInsideOrSame is lexical containment, not a string prefix', () => {
  assert.ok(isInsideOrSame('/a/b', '/a/b'));
  assert.ok(isInsideOrSame('/a/b/c/../d', '/a/b'));
  assert.ok(!isInsideOrSame('/a/bc', '/a/b'));
  assert.ok(!isInsideOrSame('/a/b/../c', '/a/b'));
  assert.ok(!isInsideOrSame('/a', '/a/b'));
  assert.ok(isInsideOrSame('/a/b/..foo', '/a/b'));
});

test('the may-not-exist reads say undefined or [] only for a missing path', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'f.txt');
    assert.equal(await readFileOrUndefined(file, 'utf8'), undefined);
    assert.equal(await pathExists(file), false);
    assert.deepEqual(await readdirOrEmpty(join(dir, 'none')), []);
    await writeFile(file, 'hi');
    assert.equal(await readFileOrUndefined(file, 'utf8'), 'hi');
    assert.deepEqual(await readFileOrUndefined(file), Buffer.from('hi'));
    assert.equal(await readFileOrUndefined(join(file, 'below'), 'utf8'), undefined); // ENOTDIR
    await assert.rejects(readFileOrUndefined(dir), { code: 'EISDIR' });
    await symlink(join(dir, 'gone'), join(dir, 'dangling'));
    assert.equal(await pathExists(join(dir, 'dangling')), true);
    assert.equal(await nearestExisting(join(dir, 'x', 'y', 'z')), dir);
    assert.equal(await nearestExisting(file), file);
  });
});

test('a lock file is held by one taker, released only by its holder, and taken over from a dead process', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, '.lock');
    const first = await tryLockFile(path, { command: 'first' });
    assert.equal(first.held, false);
    const second = await tryLockFile(path, { command: 'second' });
    assert.ok(second.held);
    assert.equal(second.held && second.holder?.command, 'first');
    assert.equal(second.held && second.holder?.pid, process.pid);
    if (first.held) return;
    await first.lock.release();
    await first.lock.release();
    const third = await tryLockFile(path);
    assert.equal(third.held, false);
    if (third.held) return;
    assert.equal(third.lock.tookOverStale, false);
    await third.lock.release();

    // A real process takes the lock and is killed: its lock is stale and is taken over.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { tryLockFile } from '@tufup/common'; const r = await tryLockFile(${JSON.stringify(path)}, { command: 'child' }); process.stdout.write(r.held ? 'held' : 'locked'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const said = await new Promise<string>((resolve) => child.stdout.once('data', (d) => resolve(String(d))));
    assert.equal(said, 'locked');
    const whileAlive = await tryLockFile(path);
    assert.ok(whileAlive.held);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const after = await tryLockFile(path, { command: 'after' });
    assert.equal(after.held, false);
    if (!after.held) {
      assert.equal(after.lock.tookOverStale, true);
      await after.lock.release();
    }
  });
});

test('a torn lock is held while fresh and taken over once it is old', async () => {
  await withTempDir(async (dir) => {
    await mkdir(dir, { recursive: true });
    const path = join(dir, '.lock');
    await writeFile(path, '{"pid": 12');
    const fresh = await tryLockFile(path);
    assert.ok(fresh.held);
    assert.equal(fresh.held && fresh.holder, undefined);
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    const taken = await tryLockFile(path);
    assert.equal(taken.held, false);
    if (!taken.held) await taken.lock.release();
    assert.equal(await pathExists(path), false);
  });
});

test("another host's lock is held while younger than staleAfterMs, and taken over once older", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, '.lock');
    const record = (minutesAgo: number) =>
      JSON.stringify({
        pid: process.pid, // alive here, but on another host it says nothing
        host: `not-${hostname()}`,
        started: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
        command: 'elsewhere',
        token: '0123456789abcdef',
      });
    await writeFile(path, record(2));
    const withoutAge = await tryLockFile(path);
    assert.ok(withoutAge.held, 'without staleAfterMs it cannot be checked: held');
    const young = await tryLockFile(path, { staleAfterMs: 5 * 60_000 });
    assert.ok(young.held);
    assert.equal(young.held && young.holder?.command, 'elsewhere');
    const taken = await tryLockFile(path, { staleAfterMs: 60_000 });
    assert.equal(taken.held, false);
    if (!taken.held) {
      assert.equal(taken.lock.tookOverStale, true);
      await taken.lock.release();
    }
    assert.equal(await pathExists(path), false);
  });
});
