// In-process checks of the pieces under the CLI: the config file format, passphrase sources, exit codes, progress.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ArchiveError } from '@tufup/archive';
import { CommonError, TufupError } from '@tufup/common';
import { MetadataError } from '@tufup/metadata';
import { normalizeSignArgs } from '../src/cli.js';
import { makeConfig, parseConfig, serializeConfig } from '../src/config.js';
import { EXIT, exitCodeFor, RepoError } from '../src/errors.js';
import { passphraseEnvVar, passphraseSource } from '../src/passphrase.js';
import { progressDisplay } from '../src/terminal.js';
import { FIXTURE } from './helpers.js';

test("python tufup's .tufup-repo-config reads and writes back byte for byte", async () => {
  const path = join(FIXTURE, '.tufup-repo-config');
  const text = await readFile(path, 'utf8');
  const config = parseConfig(text, path);
  assert.equal(config.appName, 'example_app');
  assert.equal(config.repoDir, join(FIXTURE, 'repository'));
  assert.equal(config.keysDir, join(FIXTURE, 'keystore'));
  assert.deepEqual(config.keyMap.root, ['root', 'root_three']);
  assert.deepEqual(config.thresholds, { root: 2, targets: 1, snapshot: 1, timestamp: 1 });
  // No patch_format key: a python tufup repository, whose clients apply BSDIFF40 only.
  assert.equal(config.patchFormat, 'bsdiff4');
  assert.equal(serializeConfig(config, path), text);
});

test('config: our extra key only when it differs from python tufup; unknown keys and Windows paths survive', () => {
  const path = '/work/app/.tufup-repo-config';
  const ours = makeConfig('/work/app', { appName: 'my_app', repoDir: 'out/repository' });
  const text = serializeConfig(ours, path);
  assert.match(text, /"patch_format": "native"/);
  assert.match(text, /"repo_dir": "out\/repository"/);
  assert.equal(serializeConfig(parseConfig(text, path), path), text);
  const withExtras = parseConfig(
    JSON.stringify({ app_name: 'a', repo_dir: 'sub\\repo', keys_dir: 'C:/keys', some_future_key: [1, 'é'] }),
    path,
  );
  assert.equal(withExtras.repoDir, '/work/app/sub/repo');
  const rewritten = serializeConfig(withExtras, path);
  assert.match(rewritten, /"some_future_key": \[\n {8}1,\n {8}"\\u00e9"\n {4}\]/);
  assert.throws(
    () => parseConfig('{"app_name": "a b"}', path),
    (e: RepoError) => e.code === 'CONFIG_INVALID',
  );
  assert.throws(
    () => parseConfig('{"app_name": "a", "thresholds": {"admin": 1}}', path),
    (e: RepoError) => e.code === 'CONFIG_INVALID',
  );
  assert.throws(
    () => parseConfig('not json', path),
    (e: RepoError) => e.code === 'CONFIG_INVALID',
  );
});

test('passphrases: per-key variable, then TUFUP_PASSPHRASE; without a terminal a missing one is a coded error', async () => {
  assert.equal(passphraseEnvVar('root_three'), 'TUFUP_PASSPHRASE_ROOT_THREE');
  assert.equal(passphraseEnvVar('my-key.v2'), 'TUFUP_PASSPHRASE_MY_KEY_V2');
  const both = passphraseSource({
    env: { TUFUP_PASSPHRASE_ROOT: 'specific', TUFUP_PASSPHRASE: 'general' },
    interactive: false,
  });
  assert.equal(await both.forKey('root'), 'specific');
  assert.equal(await both.forKey('targets'), 'general');
  assert.equal(both.canRetry('root'), false);
  const none = passphraseSource({ env: {}, interactive: false });
  await assert.rejects(
    none.forKey('root'),
    (e: RepoError) => e.code === 'PASSPHRASE_REQUIRED' && /TUFUP_PASSPHRASE_ROOT/.test(e.message),
  );
  await assert.rejects(
    passphraseSource({ env: { TUFUP_PASSPHRASE_NEW: '' }, interactive: false }).forNewKey('new'),
    (e: RepoError) => e.code === 'INVALID_ARGUMENT',
  );
});

test('sign -e takes a number only: "sign timestamp -e keystore" keeps keystore as the key dir', () => {
  assert.deepEqual(normalizeSignArgs(['sign', 'timestamp', '-e', 'keystore']), [
    'sign',
    'timestamp',
    '--expiration-days=default',
    'keystore',
  ]);
  assert.deepEqual(normalizeSignArgs(['sign', 'root', '-e', '30', 'k']), [
    'sign',
    'root',
    '--expiration-days=30',
    'k',
  ]);
  assert.deepEqual(normalizeSignArgs(['sign', 'root', 'k', '-e']), [
    'sign',
    'root',
    'k',
    '--expiration-days=default',
  ]);
  assert.deepEqual(normalizeSignArgs(['keys', 'k', '-e', 'add', 'root', 'd']), [
    'keys',
    'k',
    '-e',
    'add',
    'root',
    'd',
  ]);
});

test('exit codes follow the error family, whichever package threw', () => {
  assert.equal(exitCodeFor(new RepoError({ code: 'VERSION_NOT_NEWER', message: 'x' })), EXIT.INPUT);
  assert.equal(exitCodeFor(new MetadataError({ code: 'KEY_DECRYPTION_FAILED', message: 'x' })), EXIT.KEYS);
  assert.equal(exitCodeFor(new MetadataError({ code: 'INVALID_METADATA', message: 'x' })), EXIT.REPOSITORY);
  assert.equal(exitCodeFor(new TufupError({ code: 'SYMLINK_OUTSIDE_BUNDLE', message: 'x' })), EXIT.INPUT);
  assert.equal(exitCodeFor(new DOMException('stop', 'AbortError')), EXIT.INTERRUPTED);
  assert.equal(exitCodeFor(new TypeError('bug')), EXIT.INTERNAL);
  // The cases, once exit 1: input errors by the one table.
  assert.equal(exitCodeFor(new ArchiveError({ code: 'UNSUPPORTED_FILE_TYPE', message: 'x' })), EXIT.INPUT);
  assert.equal(exitCodeFor(new ArchiveError({ code: 'INVALID_OPTION', message: 'x' })), EXIT.INPUT);
  assert.equal(exitCodeFor(new MetadataError({ code: 'INVALID_EXPIRES', message: 'x' })), EXIT.USAGE);
  // A file that shrank while tufup hashed it (common's own code), once exit 1 as a bug.
  assert.equal(exitCodeFor(new CommonError({ code: 'FILE_CHANGED', message: 'x' })), EXIT.INPUT);
  // A code no package declares, and an object that merely has a code, are not ours: internal.
  assert.equal(exitCodeFor(new TufupError({ code: 'NO_SUCH_CODE', message: 'x' })), EXIT.INTERNAL);
  assert.equal(exitCodeFor(Object.assign(new Error('x'), { code: 'VERIFY_FAILED' })), EXIT.INTERNAL);
  // A system error that escaped wrapping is the environment's (disk, permissions), not a bug in the input.
  const enoent = Object.assign(new Error('ENOENT: x'), { code: 'ENOENT', errno: -2, syscall: 'open' });
  assert.equal(exitCodeFor(enoent), EXIT.REPOSITORY);
});

class Capture extends Writable {
  text = '';
  isTTY: boolean;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

test('progress: a redrawn bar on a terminal, a start and a done line per phase elsewhere', () => {
  const events = [
    { phase: 'archive', done: 0, total: 4096 },
    { phase: 'archive', done: 2048, total: 4096 },
    { phase: 'archive', done: 4096, total: 4096 },
    { phase: 'diff', done: 10, total: 100 },
    { phase: 'diff', done: 100, total: 100 },
  ];
  const plain = new Capture(false);
  const p = progressDisplay(plain as unknown as NodeJS.WriteStream);
  for (const e of events) p.onProgress(e);
  p.done();
  assert.equal(plain.text, 'archive: 4.0 KiB\narchive: done (4.0 KiB)\ndiff: 100 B\ndiff: done (100 B)\n');
  const tty = new Capture(true);
  const t = progressDisplay(tty as unknown as NodeJS.WriteStream);
  for (const e of events) t.onProgress(e);
  t.done();
  assert.match(tty.text, /\r\x1b\[2Karchive +\[#{28}\] 100% 4\.0 KiB \/ 4\.0 KiB/);
  assert.match(tty.text, /\r\x1b\[2Kdiff +\[#{28}\] 100%/);
  assert.ok(tty.text.endsWith('\n'));
});

test('progress without a TTY: a line at least every interval while a phase runs, from events or the timer', async () => {
  let clock = 0;
  const plain = new Capture(false);
  const p = progressDisplay(plain as unknown as NodeJS.WriteStream, { intervalMs: 1000, now: () => clock });
  p.onProgress({ phase: 'diff', done: 0, total: 1000 });
  // Events that come while the event loop is busy (a synchronous diff) print once the interval has passed.
  for (const [t, done] of [
    [400, 100],
    [999, 200],
    [1000, 300],
    [1500, 400],
    [2600, 500],
  ] as const) {
    clock = t;
    p.onProgress({ phase: 'diff', done, total: 1000 });
  }
  assert.equal(
    plain.text,
    'diff: 1000 B\ndiff: 30% (300 B / 1000 B), 1 s\ndiff: 50% (500 B / 1000 B), 3 s\n',
  );
  // Events that stall: the timer prints the last state again, and we wait for that line, not for a time.
  plain.text = '';
  clock = 3600;
  // The display's timer is unref'd (it never keeps a process alive); this one keeps the test alive meanwhile.
  const keepAlive = setInterval(() => {}, 1000);
  const line = await new Promise<string>((resolve) => {
    const write = plain.write.bind(plain);
    plain.write = ((chunk: string) => {
      resolve(chunk);
      return write(chunk);
    }) as typeof plain.write;
  });
  clearInterval(keepAlive);
  assert.equal(line, 'diff: 50% (500 B / 1000 B), 4 s\n');
  // The phase ends without a final event (the operation succeeded): a done line at its total.
  p.done(true);
  assert.match(plain.text, /diff: done \(1000 B\)\n$/);
});

test('progress on a TTY: a bar ends at 100 % when its phase ends, and stays where it was on failure', () => {
  const events = [
    { phase: 'diff', done: 0, total: 100 },
    { phase: 'diff', done: 100, total: 100 },
    // The encoder's last event is at 45 %: its phase is over when the next one starts.
    { phase: 'encode', done: 0, total: 200 },
    { phase: 'encode', done: 90, total: 200 },
    { phase: 'compress', done: 0, total: 50 },
    { phase: 'compress', done: 10, total: 50 },
  ];
  const tty = new Capture(true);
  const t = progressDisplay(tty as unknown as NodeJS.WriteStream, { now: () => 0 });
  for (const e of events) t.onProgress(e);
  t.done(true);
  assert.match(tty.text, /encode +\[#{28}\] 100% 200 B \/ 200 B\n/);
  assert.match(tty.text, /compress +\[#{28}\] 100% 50 B \/ 50 B\n$/);
  const failed = new Capture(true);
  const f = progressDisplay(failed as unknown as NodeJS.WriteStream, { now: () => 0 });
  for (const e of events.slice(0, 4)) f.onProgress(e);
  f.done(false);
  assert.doesNotMatch(failed.text, /encode +\[#{28}\] 100%/);
  assert.ok(failed.text.endsWith('\n'));
});
